"""The per-layer probe engine's source: the ONNX file the sidecar names, unchanged since the build."""

from __future__ import annotations

import dataclasses

import pytest

from alexnet_deploy.artifacts.engine_sidecar import read_sidecar, write_sidecar
from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths
from alexnet_deploy.engine.cache import onnx_digest
from alexnet_deploy.engine.probe import open_engine_probe, source_onnx
from alexnet_deploy.errors import BackendError, DeployError
from alexnet_deploy.verify.provenance import describe_artifact
from tests.builders import engine_with_sidecar, tiny_onnx


def _engine(tmp_path, onnx_path, recorded):
    engine = tmp_path / "engines" / "m.int8.engine"
    engine_with_sidecar(engine, precision="int8")
    sidecar = read_sidecar(engine)
    digest = onnx_digest(onnx_path, check_external_data_paths(onnx_path))
    write_sidecar(engine, dataclasses.replace(sidecar, onnx=str(recorded), onnx_sha256=digest))
    return engine


def test_the_recorded_path_or_the_same_name_beside_the_engine(tmp_path):
    onnx_path = tiny_onnx(tmp_path / "models" / "m.onnx")
    engine = _engine(tmp_path, onnx_path, onnx_path)
    assert source_onnx(engine, read_sidecar(engine)) == onnx_path
    beside = tiny_onnx(tmp_path / "engines" / "m.onnx")
    moved = _engine(tmp_path, beside, tmp_path / "elsewhere" / "m.onnx")
    assert source_onnx(moved, read_sidecar(moved)) == beside


def test_a_changed_or_missing_source_is_refused(tmp_path):
    onnx_path = tiny_onnx(tmp_path / "models" / "m.onnx")
    engine = _engine(tmp_path, onnx_path, onnx_path)
    tiny_onnx(onnx_path, seed=5)  # other weights under the same name
    with pytest.raises(BackendError, match="changed since the engine was built"):
        source_onnx(engine, read_sidecar(engine))
    onnx_path.unlink()
    with pytest.raises(BackendError, match="which is not there"):
        source_onnx(engine, read_sidecar(engine))


def test_without_tensorrt_the_probe_stops_with_one_sentence(tmp_path):
    from alexnet_deploy.core.environment import tensorrt_version

    if tensorrt_version() != "not installed":
        pytest.skip("TensorRT is installed here")
    onnx_path = tiny_onnx(tmp_path / "models" / "m.onnx")
    engine = _engine(tmp_path, onnx_path, onnx_path)
    with pytest.raises(DeployError, match="tensorrt"):
        open_engine_probe(describe_artifact(engine), "trt", ["c1"], tmp_path)
