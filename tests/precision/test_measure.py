"""The INT8 report's scoring: verify's rows against the fp32 model, on real onnxruntime sessions."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from alexnet_deploy.data.labelled import LabelledSet
from alexnet_deploy.precision.measure import ScoreBoard, top1
from tests.builders import tiny_model

CLASSES = ["c0", "c1", "c2", "c3"]


def test_rows_are_verify_rows_against_the_first_model(tmp_path):
    fp32 = tiny_model(tmp_path / "a.onnx", seed=0)
    other = tiny_model(tmp_path / "b.onnx", seed=1)  # stands in for a model that lost accuracy
    rng = np.random.default_rng(0)
    images = rng.normal(size=(12, 3, 32, 32)).astype(np.float32)
    reference = ort.InferenceSession(str(fp32)).run(None, {"input": images})[0]
    labels = reference.argmax(1)  # the fp32 model is right on every image
    val = LabelledSet(images=images, labels=labels, source="test images")
    board = ScoreBoard(val, CLASSES)
    first = board.add("fp32", fp32, precision="fp32")
    assert first and first.top1 == 100.0 and first.agreement == 100.0 and first.stats.max_abs == 0
    row = board.add("int8", other.read_bytes(), precision="int8")
    candidate = ort.InferenceSession(str(other)).run(None, {"input": images})[0]
    hits = 100 * (candidate.argmax(1) == labels).mean()
    assert row.top1 == pytest.approx(top1(other, val, CLASSES)) == pytest.approx(hits)
    assert row.top1_change == pytest.approx(row.top1 - 100.0)
    assert row.stats.max_abs == pytest.approx(np.abs(candidate - reference).max(), rel=1e-6)
    assert row.agreement == pytest.approx(100 * (candidate.argmax(1) == labels).mean())
    assert bool(row) == (row.top1_change >= -1.0)  # the int8 limit: a drop of at most 1 pp
    assert set(board.rows) == {"fp32", "int8"} and board.rows["int8"].runner["artifact"] == "int8"
