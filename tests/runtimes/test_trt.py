"""The trt runner: which engines it refuses before loading, its registry entry, and (with a GPU and
TensorRT) real builds run against onnxruntime, batch profiles and the timing split."""

from __future__ import annotations

import time

import numpy as np
import pytest
from click.testing import CliRunner

from alexnet_deploy.artifacts.engine_sidecar import read_sidecar
from alexnet_deploy.cli import main
from alexnet_deploy.errors import BackendError, InputError, MissingDependencyError
from alexnet_deploy.runtimes.registry import BACKENDS, available, open_runner
from alexnet_deploy.runtimes.trt import TrtRunner, refuse_reason
from tests.builders import TINY_SIZE, engine_with_sidecar, tiny_onnx


def test_refuse_reason_before_anything_is_loaded(tmp_path):
    engine = tmp_path / "m.engine"
    sidecar = engine_with_sidecar(engine, tensorrt_version="10.3.0")
    assert refuse_reason(engine, sidecar, tensorrt_version="10.3.0", trust_engine=False) == ""
    other = refuse_reason(engine, sidecar, tensorrt_version="11.4.0.106", trust_engine=True)
    assert "built with TensorRT 10.3.0 and this machine has TensorRT 11.4.0.106" in other  # trust is for no sidecar
    engine.write_bytes(b"another plan")
    assert "rebuild it" in refuse_reason(engine, sidecar, tensorrt_version="10.3.0", trust_engine=False)
    assert "has no sidecar m.engine.json" in refuse_reason(engine, None, tensorrt_version="10.3.0", trust_engine=False)
    assert "--trust-engine" in refuse_reason(engine, None, tensorrt_version="10.3.0", trust_engine=False)
    assert refuse_reason(engine, None, tensorrt_version="10.3.0", trust_engine=True) == ""


def test_registry_entry():
    backend = BACKENDS["trt"]
    assert backend.kinds == ("engine",) and backend.device == "cuda"
    assert backend.runner == "alexnet_deploy.runtimes.trt:TrtRunner"
    assert "tensorrt-cu12" in backend.install and "tensorrt-cu13" in backend.install


@pytest.mark.skipif("trt" in {n for n, a in available().items() if a.ok}, reason="TensorRT runs here")
def test_without_tensorrt_the_runner_is_unavailable_with_the_install_line(tmp_path):
    engine = tmp_path / "m.engine"
    engine_with_sidecar(engine)
    assert available()["trt"].reason.startswith("tensorrt is not installed (pip install tensorrt-cu1")
    with pytest.raises(BackendError, match="trt cannot run here: tensorrt is not installed"):
        open_runner("trt", engine)
    with pytest.raises(MissingDependencyError, match="the trt backend needs it"):
        TrtRunner(engine)
    with pytest.raises(BackendError, match="trt runs a TensorRT engine, not an ONNX model"):
        open_runner("trt", tmp_path / "model.onnx")


def test_runner_refuses_what_is_not_an_engine_file(tmp_path):
    with pytest.raises(BackendError, match="runs engine files"):
        TrtRunner(b"bytes")
    with pytest.raises(InputError, match="does not exist"):
        TrtRunner(tmp_path / "missing.engine")


# ---- with an NVIDIA GPU and TensorRT (skipped elsewhere) ----

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """fp32 engine of the tiny model (batch 1:4:8), built through the CLI."""
    root = tmp_path_factory.mktemp("trt")
    onnx_path = tiny_onnx(root / "alexnet.onnx")
    engine = root / "alexnet.fp32.engine"
    result = CliRunner().invoke(main, ["build-engine", "--onnx", str(onnx_path), "--batch", "1:4:8",
                                       "--workspace", "256M", "--timing-cache", str(root / "trt.cache"),
                                       "--out", str(engine)])
    assert result.exit_code == 0, result.output
    return onnx_path, engine, result


@pytest.mark.gpu
@pytest.mark.trt
def test_engine_matches_onnxruntime_and_times_the_split(built):
    import onnxruntime as ort

    onnx_path, engine, _ = built
    x = np.random.default_rng(0).normal(size=(5, 3, TINY_SIZE, TINY_SIZE)).astype(np.float32)
    reference = ort.InferenceSession(str(onnx_path)).run(None, {"input": x})[0]
    with open_runner("trt", engine) as runner:
        assert runner.max_batch == 8 and runner.fixed_batch is None and runner.precision == "fp32"
        got = runner.infer({"input": x})["logits"]
        np.testing.assert_allclose(got, reference, rtol=1e-2, atol=1e-3)  # TF32 convolutions
        assert runner.infer({"input": x[:1]})["logits"].shape == (1, 3)  # a new shape, rebound
        timing = runner.timed({"input": x}, 5)
        assert len(timing.total) == len(timing.compute) == 5 and min(timing.compute) > 0
        assert np.allclose(timing.total, np.add(np.add(timing.h2d, timing.compute), timing.d2h))
        with pytest.raises(BackendError, match="at most 8"):
            runner.infer({"input": np.zeros((9, 3, TINY_SIZE, TINY_SIZE), np.float32)})


@pytest.mark.gpu
@pytest.mark.trt
def test_second_build_is_a_cache_hit_and_the_sidecar_describes_the_engine(built):
    onnx_path, engine, first = built
    sidecar = read_sidecar(engine)
    assert sidecar.options["batch"] == [1, 4, 8] and sum(sidecar.layer_precisions.values()) == len(sidecar.layers)
    start = time.perf_counter()
    again = CliRunner().invoke(main, ["build-engine", "--onnx", str(onnx_path), "--batch", "1:4:8",
                                      "--workspace", "256M", "--out", str(engine)])
    assert again.exit_code == 0 and "Engine cache hit" in again.output
    assert time.perf_counter() - start < 10


@pytest.mark.gpu
@pytest.mark.trt
@pytest.mark.slow
def test_int8_engine_runs_int8_layers(tmp_path):
    from PIL import Image

    onnx_path = tiny_onnx(tmp_path / "alexnet.onnx")
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(1)
    for i in range(32):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(calib / f"{i:02d}.png")
    result = CliRunner().invoke(main, ["build-engine", "--onnx", str(onnx_path), "--int8", "--calib", str(calib)])
    assert result.exit_code == 0, result.output
    sidecar = read_sidecar(tmp_path / "alexnet.int8.engine")
    assert sidecar.precision == "int8" and sidecar.layer_precisions.get("INT8", 0) > 0
