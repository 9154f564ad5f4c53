"""The engine sidecar: round trip, damage, runtime checks, and `alexnet-deploy info` without TensorRT."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from alexnet_deploy.artifacts.engine_sidecar import (
    EngineSidecar,
    describe_engine,
    engine_problem,
    read_sidecar,
    runtime_problem,
    sidecar_path,
)
from alexnet_deploy.cli import main
from alexnet_deploy.errors import InputError
from tests.builders import engine_with_sidecar


def test_round_trip_and_key_parts(tmp_path):
    engine = tmp_path / "alexnet.int8.engine"
    written = engine_with_sidecar(engine, precision="int8", layer_precisions={"FP32": 5, "INT8": 3})
    assert sidecar_path(engine).name == "alexnet.int8.engine.json"
    again = read_sidecar(engine)
    assert again == written and isinstance(again, EngineSidecar)
    assert again.key_parts() == {"onnx_sha256": "o" * 64, "tensorrt_version": "10.3.0", "gpu_name": "Orin",
                                 "compute_capability": "8.7", "options": written.options}
    assert read_sidecar(tmp_path / "none.engine") is None


@pytest.mark.parametrize("damage, message", [
    ("{oops", "not readable JSON"),
    ("[1, 2]", "not an engine sidecar"),
    (json.dumps({"key": "k"}), "lacks or garbles engine_sha256"),
])
def test_damaged_sidecar_is_a_user_error(tmp_path, damage, message):
    engine = tmp_path / "m.engine"
    engine_with_sidecar(engine)
    sidecar_path(engine).write_text(damage)
    with pytest.raises(InputError, match=message):
        read_sidecar(engine)


def test_newer_format_is_refused(tmp_path):
    engine = tmp_path / "m.engine"
    engine_with_sidecar(engine)
    raw = json.loads(sidecar_path(engine).read_text())
    sidecar_path(engine).write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(InputError, match="newer alexnet-deploy"):
        read_sidecar(engine)


def test_runtime_problem_names_version_then_compute_capability(tmp_path):
    sidecar = engine_with_sidecar(tmp_path / "m.engine", tensorrt_version="10.3.0", compute_capability="8.7")
    assert runtime_problem(sidecar, tensorrt_version="10.3.0", compute_capability="8.7") == ""
    assert runtime_problem(sidecar, tensorrt_version="10.3.0", compute_capability=None) == ""
    assert "built with TensorRT 10.3.0 and this machine has TensorRT 11.4.0.106" in runtime_problem(
        sidecar, tensorrt_version="11.4.0.106", compute_capability="8.7")
    assert "built for compute capability 8.7 (Orin) and this GPU has 9.0" in runtime_problem(
        sidecar, tensorrt_version="10.3.0", compute_capability="9.0")


def test_engine_problem_checks_size_and_hash(tmp_path):
    engine = tmp_path / "m.engine"
    sidecar = engine_with_sidecar(engine, payload=b"12345678")
    assert engine_problem(engine, sidecar) == ""
    engine.write_bytes(b"1234567")
    assert "has 7 bytes and its sidecar describes 8" in engine_problem(engine, sidecar)
    engine.write_bytes(b"87654321")
    assert "sha256 differs" in engine_problem(engine, sidecar)
    engine.unlink()
    assert "does not exist" in engine_problem(engine, sidecar)


def test_describe_engine_from_the_sidecar_alone(tmp_path):
    engine = tmp_path / "m.engine"
    engine_with_sidecar(engine)
    info = describe_engine(engine)
    assert info["tensorrt_version"] == "10.3.0" and info["engine_matches_sidecar"] == "yes"
    assert info["class_names"] == ["a", "b", "c"] and info["model.arch"] == "paper"
    engine.unlink()  # the sidecar still describes what was built
    assert describe_engine(sidecar_path(engine))["engine_present"] is False
    with pytest.raises(InputError, match="does not exist"):
        describe_engine(tmp_path / "nothing.engine")
    (tmp_path / "bare.engine").write_bytes(b"x")
    with pytest.raises(InputError, match="has no sidecar bare.engine.json"):
        describe_engine(tmp_path / "bare.engine")


def test_info_prints_the_sidecar(tmp_path):
    engine = tmp_path / "alexnet.int8.engine"
    engine_with_sidecar(engine, precision="int8", layer_precisions={"FP32": 5, "INT8": 3})
    result = CliRunner().invoke(main, ["info", str(engine)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if line.strip())
    assert lines["tensorrt_version"] == "10.3.0" and lines["compute_capability"] == "8.7"
    assert lines["precision"] == "int8" and lines["layer_precisions"] == '{"FP32": 5, "INT8": 3}'
    assert lines["class_names"] == "a, b, c"


def test_info_on_an_engine_needs_no_tensorrt(tmp_path):
    """In a process where importing tensorrt fails, info still reads the engine's sidecar."""
    engine = tmp_path / "m.engine"
    engine_with_sidecar(engine)
    script = ("import sys; sys.modules['tensorrt'] = None; sys.modules['tensorrt_bindings'] = None\n"
              "from alexnet_deploy.cli import main\n"
              f"sys.argv = ['alexnet-deploy', 'info', {str(engine)!r}]\n"
              "main()")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "engine_matches_sidecar   yes" in run.stdout
