"""Up to the hardware boundary with this TensorRT version's real bindings, and the one-sentence errors there.

``trt.Builder(logger)`` / ``trt.Runtime(logger)`` return NULL over the stub
libraries, as the real library does without a usable GPU: every command and
the ``trt`` runner must stop there with exit code 2 and write nothing.
"""

from __future__ import annotations

import re

import pytest
import tensorrt as trt
from click.testing import CliRunner

from alexnet_deploy.cli import main
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.registry import available, open_runner
from alexnet_deploy.runtimes.trt import TrtRunner
from alexnet_deploy.runtimes.trt_env import make_logger, new_builder, new_runtime
from tests.builders import engine_with_sidecar, tiny_onnx

V = re.escape(trt.__version__)
NO_GPU = f"TensorRT {V} is installed but found no usable NVIDIA GPU here"


def test_builder_and_runtime_stop_at_the_boundary_with_one_sentence():
    logger = make_logger(trt)
    with pytest.raises(BackendError, match=NO_GPU + ".*build engines"):
        new_builder(trt, logger)
    with pytest.raises(BackendError, match=NO_GPU + ".*run engines"):
        new_runtime(trt, logger)


def test_other_type_errors_stay_bugs():
    with pytest.raises(TypeError, match="incompatible constructor arguments"):
        new_builder(trt, "not a logger")


@pytest.mark.parametrize("flags", [[], ["--fp16"], ["--batch", "2:4:8", "--workspace", "1G", "--opt-level", "5"]])
def test_build_engine_exits_2_at_the_boundary_and_writes_nothing(tmp_path, flags):
    onnx_path = tiny_onnx(tmp_path / "models" / "alexnet.onnx")
    out = tmp_path / "models" / "alexnet.engine"
    result = CliRunner().invoke(main, ["build-engine", "--onnx", str(onnx_path), "--out", str(out), *flags])
    assert result.exit_code == 2, result.output
    assert re.search(NO_GPU, result.output) and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["alexnet.onnx"]  # no engine, sidecar, fp16


def test_runner_checks_the_sidecar_then_stops_at_the_boundary(tmp_path):
    ours = tmp_path / "ours.engine"
    engine_with_sidecar(ours, tensorrt_version=trt.__version__)
    with pytest.raises(BackendError, match=NO_GPU + ".*run engines"):
        TrtRunner(ours)
    other = "11.4.0.106" if trt.__version__.startswith("10.") else "10.3.0"
    theirs = tmp_path / "theirs.engine"
    engine_with_sidecar(theirs, tensorrt_version=other)
    with pytest.raises(BackendError, match=f"built with TensorRT {re.escape(other)} and this machine has "
                                           f"TensorRT {V}; rebuild it with alexnet-deploy build-engine"):
        TrtRunner(theirs)
    bare = tmp_path / "bare.engine"
    bare.write_bytes(b"someone else's plan")
    with pytest.raises(BackendError, match="has no sidecar bare.engine.json.*--trust-engine"):
        TrtRunner(bare)
    with pytest.raises(BackendError, match=NO_GPU):
        TrtRunner(bare, trust_engine=True)


def test_registry_and_env_say_tensorrt_is_here_but_no_gpu(tmp_path):
    reason = available()["trt"].reason
    assert re.match(f"TensorRT {V} is installed but there is no usable NVIDIA GPU here", reason), reason
    engine = tmp_path / "m.engine"
    engine_with_sidecar(engine, tensorrt_version=trt.__version__)
    with pytest.raises(BackendError, match=f"trt cannot run here: TensorRT {V} is installed but there is no usable"):
        open_runner("trt", engine)
    result = CliRunner().invoke(main, ["env"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"tensorrt\s+{V}", result.output)
    said = rf"\n  trt\s+unavailable: TensorRT {V} is installed but there is no usable NVIDIA GPU"
    assert re.search(said, result.output), result.output
