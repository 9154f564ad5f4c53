"""verify() on real models and runners: passing rows, eval's figures, a numpy cross-check, and broken
models named layer by layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alexnet_deploy.verify.run import VerifyConfig, verify
from tests.builders import change_lrn_beta, scale_weight_scale

pytestmark = pytest.mark.slow  # exports, calibrates and runs a 57M-parameter net on two backends


@pytest.fixture(scope="module")
def passing(verify_setup):
    s = verify_setup
    return verify(s["checkpoint"], [s["fp32"], s["int8"]], s["data"],
                  config=VerifyConfig(backends=("ort-cpu", "openvino")))


def test_fp32_and_int8_pass_on_onnxruntime_and_openvino(passing):
    assert passing, passing.failures()
    assert [(Path(r.artifact).name, r.backend, r.precision) for r in passing.rows] == [
        ("alexnet.onnx", "ort-cpu", "fp32"), ("alexnet.onnx", "openvino", "fp32"),
        ("alexnet.int8.onnx", "ort-cpu", "int8"), ("alexnet.int8.onnx", "openvino", "int8")]
    assert passing.warnings == [] and passing.images == 100 and passing.labelled
    for row in passing.rows:
        names = [c.name for c in row.checks]
        if row.precision == "fp32":
            assert names == ["non-finite logits", "max |logit err| / max |logit|",
                             "top-1 agreement (near-ties agree)"]
            assert row.stats.max_abs_over_scale < 1e-4 and row.agreement == 100.0 and row.stats.cosine_min > 0.9999
        else:
            assert names == ["non-finite logits", "top-1 drop"] and row.top1_change >= -1.0
            assert row.stats.cosine_min > 0.8  # an untrained net: INT8 moves its small logits a lot
        assert row.runner["backend"] == row.backend and row.histogram is not None
        assert 0 < row.stats.max_abs < np.inf


def test_the_reference_row_equals_eval(passing, verify_setup):
    from alexnet_deploy.verify.accuracy import evaluate_checkpoint

    expected = evaluate_checkpoint(verify_setup["checkpoint"], verify_setup["data"], device="cpu")
    got = passing.reference.accuracy
    assert (got.top1, got.top5, got.count, got.topk) == (expected.top1, expected.top5, expected.count, expected.topk)
    assert [(c.name, c.correct, c.total) for c in got.per_class] == \
        [(c.name, c.correct, c.total) for c in expected.per_class]
    assert got.top1 == 1.0  # the split is labelled by the reference itself


def test_max_errors_equal_an_independent_numpy_computation(passing, verify_setup):
    import onnxruntime as ort
    import torch

    from alexnet_deploy.artifacts.checkpoint import load_checkpoint
    from alexnet_deploy.data.images import preprocess_files

    folder = verify_setup["data"] / "val"
    files = [f for d in sorted(p for p in folder.iterdir()) for f in sorted(d.iterdir())]
    x = preprocess_files(files, input_size=67, resize=67, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    with torch.no_grad():
        reference = load_checkpoint(verify_setup["checkpoint"]).build_model()(torch.from_numpy(x)).numpy()
    candidate = ort.InferenceSession(str(verify_setup["int8"])).run(None, {"input": x})[0]
    absolute = np.abs(candidate.astype(np.float64) - reference)
    relative = absolute / np.where(reference == 0, 2.220446049250313e-16, np.abs(reference))
    row = next(r for r in passing.rows if r.precision == "int8" and r.backend == "ort-cpu")
    assert row.stats.elements == reference.size
    assert row.stats.max_abs == pytest.approx(absolute.max(), rel=1e-5)
    assert row.stats.max_rel == pytest.approx(relative.max(), rel=1e-5)
    assert row.stats.mean_abs == pytest.approx(absolute.mean(), rel=1e-5)


@pytest.fixture(scope="module")
def broken(verify_setup, tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    int8 = scale_weight_scale(verify_setup["int8"], root / "scaled.int8.onnx", module="features.4", factor=50)
    fp32 = change_lrn_beta(verify_setup["fp32"], root / "beta.onnx", module="features.6", beta=0.5)
    config = VerifyConfig(backends=("ort-cpu",), per_layer=True, layer_images=4)
    return verify(verify_setup["checkpoint"], [int8, fp32], verify_setup["data"], config=config)


def test_an_int8_weight_scale_times_50_fails_and_its_layer_is_named_first(broken):
    row = broken.rows[0]
    assert not row and any("top-1 drop" in f for f in row.failures())
    report = row.layers
    assert report.first_failing == "features.4", report.describe()
    first = report.row("features.4")
    assert first.kind == "Conv2d" and first.sqnr_db < 0 < report.min_sqnr_db
    # Every layer before it is healthy INT8.
    before = report.layers[: report.layers.index(first)]
    assert before and all(layer.passed and layer.sqnr_db > 20 for layer in before)
    assert "first past tolerance: features.4 (Conv2d" in report.describe()


def test_an_lrn_with_another_beta_fails_and_is_named_first(broken):
    row = broken.rows[1]
    assert not row and any("max |logit err|" in f for f in row.failures())
    report = row.layers
    assert report.first_failing == "features.6" and report.row("features.6").kind == "LocalResponseNorm"
    before = report.layers[: [layer.module for layer in report.layers].index("features.6")]
    assert all(layer.passed and layer.sqnr_db > 100 for layer in before)
    assert report.worst and report.row(report.worst).sqnr_db <= report.row("features.6").sqnr_db
    assert not broken and len(broken.failures()) >= 2


def test_the_result_round_trips_through_json(broken):
    from alexnet_deploy.verify.result import VerifyResult

    again = VerifyResult.from_json(broken.to_json())
    assert again.to_dict() == broken.to_dict()
    assert again.rows[0].layers.first_failing == "features.4" and not again


@pytest.mark.gpu
def test_the_reference_on_cuda_gives_the_same_rows(verify_setup, passing):
    s = verify_setup
    on_gpu = verify(s["checkpoint"], [s["fp32"]], s["data"],
                    config=VerifyConfig(backends=("ort-cpu",), reference_device="cuda", per_layer=True,
                                        layer_images=2))
    assert on_gpu and on_gpu.reference.backend == "torch-cuda"
    assert on_gpu.reference.accuracy.top1 == passing.reference.accuracy.top1
    assert on_gpu.rows[0].layers.first_failing == ""  # hooks on CUDA modules feed the same comparison
