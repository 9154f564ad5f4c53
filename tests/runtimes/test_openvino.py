"""The openvino runner's settings: latency hint, threads, f32 for fp32 models, the INT8 layout it was given."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_deploy.precision.quantize import QuantizeConfig, build_int8
from alexnet_deploy.runtimes.base import logits
from alexnet_deploy.runtimes.openvino import compile_config
from alexnet_deploy.runtimes.registry import available, open_runner
from tests.builders import SIZE, tiny_model, write_images


def test_compile_config_pins_f32_only_for_fp32_models():
    assert compile_config(precision="fp32", threads=2, hint="LATENCY") == {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": "f32"}
    assert compile_config(precision="int8", threads=None, hint="THROUGHPUT") == {"PERFORMANCE_HINT": "THROUGHPUT"}


def test_runner_reports_what_it_compiled_and_runs_the_cpu_int8_layout(tmp_path):
    if not available()["openvino"].ok:
        pytest.skip(available()["openvino"].reason)
    model = tiny_model(tmp_path / "tiny.onnx")
    calib = write_images(tmp_path / "calib", 8)[0].parent
    int8 = build_int8(model, calib, tmp_path / "tiny.int8-cpu.onnx", layout="cpu",
                      config=QuantizeConfig(min_images=4, num_images=8), cache_dir=tmp_path / "cache")
    x = np.random.default_rng(0).normal(size=(6, 3, SIZE, SIZE)).astype(np.float32)
    with open_runner("openvino", str(model), threads=2) as fp32:
        described = fp32.describe()
        assert described["hint"] == "LATENCY" and described["inference_num_threads"] == "2"
        assert described["inference_precision_hint"] == "f32" and described["num_streams"] == "1"
        reference = logits(fp32, x)
    with open_runner("openvino", int8.out, threads=2) as runner, open_runner("ort-cpu", int8.out) as ort_runner:
        assert runner.precision == "int8" and runner.describe()["int8_layout"] == "cpu"
        got, ort_got = logits(runner, x), logits(ort_runner, x)
    scale = np.abs(reference).max()
    assert np.abs(got - reference).max() < 0.2 * scale and np.abs(got - ort_got).max() < 0.1 * scale
