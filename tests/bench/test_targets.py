"""What the benchmark reads from an artifact before timing it, and finding its checkpoint by hash."""

from __future__ import annotations

from dataclasses import replace

import onnx
import pytest

from alexnet_deploy.bench.targets import HashCache, describe_artifact, find_checkpoint
from alexnet_deploy.core.fsutil import sha256_file
from alexnet_deploy.errors import InputError
from tests.builders import engine_with_sidecar, tiny_model


def test_an_onnx_model_gives_size_batch_hash_and_metadata(tmp_path):
    path = tiny_model(tmp_path / "tiny.onnx")
    info = describe_artifact(path, hashes=HashCache())
    assert (info.kind, info.input_size, info.fixed_batch, info.precision) == ("onnx", 32, None, "fp32")
    assert info.sha256 == sha256_file(path) and info.bytes == path.stat().st_size
    assert info.meta["arch"] == "tiny" and "class_names" not in info.meta and info.source_sha256 == ""


def test_a_model_without_metadata_still_runs_and_a_fixed_batch_is_read(tmp_path):
    model = onnx.load(str(tiny_model(tmp_path / "tiny.onnx")))
    del model.metadata_props[:]
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    onnx.save(model, str(tmp_path / "bare.onnx"))
    info = describe_artifact(tmp_path / "bare.onnx", hashes=HashCache())
    assert info.fixed_batch == 4 and info.precision == "unknown" and info.meta == {}


def test_inputs_that_are_not_square_images_are_refused(tmp_path):
    model = onnx.load(str(tiny_model(tmp_path / "tiny.onnx")))
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_param = "W"
    onnx.save(model, str(tmp_path / "wide.onnx"))
    with pytest.raises(InputError, match=r"square images \(N, 3, S, S\)"):
        describe_artifact(tmp_path / "wide.onnx", hashes=HashCache())


def test_an_engine_without_its_sidecar_is_refused(tmp_path):
    (tmp_path / "model.engine").write_bytes(b"engine bytes")
    with pytest.raises(InputError, match="no readable sidecar"):
        describe_artifact(tmp_path / "model.engine", hashes=HashCache())


def test_the_checkpoint_is_found_by_hash_trying_the_likely_name_first(tmp_path):
    (tmp_path / "alexnet.last.pt").write_bytes(b"optimizer state too" * 100)
    (tmp_path / "alexnet.pt").write_bytes(b"the weights")
    (tmp_path / "other.pth").write_bytes(b"someone else's")
    model = tmp_path / "alexnet.fp16.onnx"
    model.write_bytes(b"")
    hashes = HashCache()
    assert find_checkpoint(sha256_file(tmp_path / "alexnet.pt"), [model], hashes=hashes) == tmp_path / "alexnet.pt"
    assert tmp_path / "alexnet.last.pt" not in hashes  # never read: the likely one matched first
    assert find_checkpoint(sha256_file(tmp_path / "other.pth"), [model], hashes=hashes) == tmp_path / "other.pth"
    assert find_checkpoint("0" * 64, [model], hashes=hashes) is None
    assert find_checkpoint("", [model], hashes=hashes) is None


def test_an_engine_is_described_by_its_sidecar(tmp_path):
    sidecar = engine_with_sidecar(tmp_path / "model.int8.engine", precision="int8")
    info = describe_artifact(tmp_path / "model.int8.engine", hashes=HashCache())
    assert (info.kind, info.precision, info.input_size) == ("engine", "int8", 16)
    assert (info.min_batch, info.max_batch, info.fixed_batch) == (1, 32, None)
    assert info.source_sha256 == "c" * 64 and info.meta["tensorrt"] == sidecar.tensorrt_version


def test_metadata_that_the_graph_contradicts_is_refused(tmp_path):
    from alexnet_deploy.artifacts.onnx_meta import read_meta, write_meta

    model = onnx.load(str(tiny_model(tmp_path / "tiny.onnx")))
    write_meta(model, replace(read_meta(model), class_names=("a", "b")))  # the graph has 4 logits
    onnx.save(model, str(tmp_path / "lying.onnx"))
    with pytest.raises(InputError, match="lying.onnx"):
        describe_artifact(tmp_path / "lying.onnx", hashes=HashCache())
