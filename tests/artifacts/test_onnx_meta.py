"""ModelMeta round trips, missing metadata, and refusal of escaping external-data paths."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from alexnet_deploy.cli import main
from alexnet_deploy.errors import InputError
from alexnet_deploy.runtimes.ort import open_session
from alexnet_deploy.runtimes.registry import open_runner
from alexnet_deploy.artifacts.onnx_meta import (
    IR_VERSION,
    ModelMeta,
    check_external_data_paths,
    describe_onnx,
    exporter_versions,
    load_onnx,
    read_meta,
    write_meta,
)

META = ModelMeta(
    arch="paper",
    class_names=("cat", "dog", "a \"quoted\", name"),
    input_size=227,
    resize=256,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    source_sha256="ab" * 32,
    versions=exporter_versions(),
    extra={"fp16.kept_fp32": '[{"node": "n"}]'},
)


def _add_model(weight: np.ndarray) -> onnx.ModelProto:
    """logits = mean over the image of each of its 3 channels + w: a model small enough to build by hand,
    with the input and output shapes META describes (3x227x227 images, 3 classes)."""
    size = META.input_size
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"], name="pool"),
         helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
         helper.make_node("Add", ["flat", "w"], ["logits"], name="add")],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, weight.shape[0]])],
        [numpy_helper.from_array(weight.astype(np.float32), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=IR_VERSION)


def _with_external(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    """Point the weight at an external file by hand, as a crafted model would."""
    tensor = model.graph.initializer[0]
    raw = numpy_helper.to_array(tensor).tobytes()
    tensor.ClearField("float_data")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        tensor.external_data.add(key=key, value=value)
    return model


def test_meta_round_trip_through_a_file(tmp_path):
    model = _add_model(np.arange(3))
    write_meta(model, META)
    write_meta(model, META)  # rewriting replaces, never duplicates
    keys = [p.key for p in model.metadata_props]
    assert len(keys) == len(set(keys))
    assert all(k.startswith("alexnet_deploy.") for k in keys)
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    back = read_meta(path)
    assert back == META
    assert back.num_classes == 3
    assert set(back.versions) >= {"torch", "onnx", "onnxscript", "alexnet-deploy"}


def test_with_stage_merges_extra_and_sets_precision():
    staged = META.with_stage(precision="int8", extra={"int8.method": "entropy"})
    assert staged.precision == "int8"
    assert staged.extra == {**META.extra, "int8.method": "entropy"}
    with pytest.raises(ValueError):
        META.with_stage(precision="fp8", extra={})


def test_model_without_metadata_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "foreign.onnx"
    onnx.save_model(_add_model(np.ones(3)), path)
    with pytest.raises(InputError, match="was not made by `alexnet-deploy export`"):
        read_meta(path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 2
    assert "was not made by `alexnet-deploy export`" in result.output
    assert "Traceback" not in result.output


def test_corrupt_metadata_and_non_onnx_files_are_input_errors(tmp_path):
    model = _add_model(np.ones(3))
    write_meta(model, META)
    for prop in model.metadata_props:
        if prop.key == "alexnet_deploy.class_names":
            prop.value = "[not json"
    with pytest.raises(InputError, match="corrupt alexnet-deploy metadata"):
        read_meta(model)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\x00 not a protobuf \x12\x34" * 10)
    with pytest.raises(InputError):
        check_external_data_paths(junk)
    with pytest.raises(InputError, match="does not exist"):
        read_meta(tmp_path / "missing.onnx")


def test_info_shows_hand_made_external_data_model(tmp_path):
    weight = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    (tmp_path / "w.bin").write_bytes(weight.tobytes())
    model = _with_external(_add_model(weight), "w.bin")
    write_meta(model, META)
    onnx.save_model(model, tmp_path / "ok.onnx")
    assert check_external_data_paths(tmp_path / "ok.onnx") == [(tmp_path / "w.bin").resolve()]
    session = open_session(tmp_path / "ok.onnx")
    out = session.run(None, {"input": np.zeros((1, 3, 227, 227), np.float32)})[0]
    np.testing.assert_array_equal(out[0], weight)
    info = describe_onnx(tmp_path / "ok.onnx")
    assert info["external_data"] == ["w.bin"] and info["precision"] == "fp32"
    result = CliRunner().invoke(main, ["info", str(tmp_path / "ok.onnx")])
    assert result.exit_code == 0, result.output
    assert "a \"quoted\", name" in result.output and "extra.fp16.kept_fp32" in result.output


@pytest.mark.parametrize(
    "location, why",
    [
        ("../secret.bin", "climbs out"),
        ("sub/../../secret.bin", "climbs out"),
        ("/etc/hostname", "absolute path"),
        ("link.bin", "symlink leading outside"),
        ("", "is empty"),
    ],
)
def test_escaping_external_data_is_refused_by_every_loader(tmp_path, location, why):
    folder = tmp_path / "models"
    folder.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(3, np.float32).tobytes())
    os.symlink(secret, folder / "link.bin")
    model = _with_external(_add_model(np.ones(3)), location)
    write_meta(model, META)
    path = folder / "evil.onnx"
    onnx.save_model(model, path)
    with pytest.raises(InputError, match=why):
        check_external_data_paths(path)
    with pytest.raises(InputError, match=why):
        load_onnx(path)
    with pytest.raises(InputError, match=why):
        open_session(path)
    with pytest.raises(InputError, match=why):
        open_runner("ort-cpu", path)
    with pytest.raises(InputError, match=why):
        describe_onnx(path)
    result = CliRunner().invoke(main, ["convert", "--model", str(path)])
    assert result.exit_code == 2 and why in result.output and "Traceback" not in result.output


def test_missing_external_file_is_named(tmp_path):
    model = _with_external(_add_model(np.ones(3)), "gone.bin")
    onnx.save_model(model, tmp_path / "m.onnx")
    with pytest.raises(InputError, match="gone.bin.*missing"):
        check_external_data_paths(tmp_path / "m.onnx")
