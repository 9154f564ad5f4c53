"""verify on TensorRT engines: rows through the trt runner, and per-layer through a probe engine (GPU + TensorRT)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alexnet_deploy.cli import main
from tests.builders import scale_weight_scale

pytestmark = [pytest.mark.gpu, pytest.mark.trt, pytest.mark.slow]


def _engine(onnx_path, out):
    result = CliRunner().invoke(main, ["build-engine", "--onnx", str(onnx_path), "--batch", "1:8:32",
                                       "--workspace", "1G", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_an_int8_engine_passes_and_a_broken_one_is_named_layer_by_layer(verify_setup, tmp_path):
    s = verify_setup
    good = _engine(s["int8"], tmp_path / "good.int8.engine")
    broken_onnx = scale_weight_scale(s["int8"], tmp_path / "scaled.int8.onnx", module="features.4", factor=50)
    broken = _engine(broken_onnx, tmp_path / "scaled.int8.engine")
    ok = CliRunner().invoke(main, ["verify", "--checkpoint", str(s["checkpoint"]), str(good), "--data", str(s["data"]),
                                   "--backend", "trt", "--max-drop", "int8=2"])
    assert ok.exit_code == 0, ok.output
    result = CliRunner().invoke(main, ["verify", "--checkpoint", str(s["checkpoint"]), str(broken), "--data",
                                       str(s["data"]), "--backend", "trt", "--per-layer", "--layer-images", "4",
                                       "--json", str(tmp_path / "v.json")])
    assert result.exit_code == 1, result.output
    layers = json.loads((tmp_path / "v.json").read_text())["rows"][0]["layers"]
    assert layers["first_failing"] == "features.4", layers
