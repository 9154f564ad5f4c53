"""What artifacts say about themselves, and the checks against the checkpoint (warnings vs user errors)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from alexnet_deploy.artifacts.layer_map import LAYERS_KEY, LayerTensor, encode_layers
from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.errors import InputError
from alexnet_deploy.verify.provenance import check_belongs, describe_artifact
from tests.builders import engine_with_sidecar, tiny_meta, tiny_onnx

LAYERS = [LayerTensor("features.0", "Conv2d", "c1"), LayerTensor("classifier.0", "Linear", "logits")]


def _check(info, checkpoint=None):
    return check_belongs(info, checkpoint=checkpoint or tiny_meta(), checkpoint_path="ckpt.pt",
                         checkpoint_sha256="c" * 64)


def test_an_onnx_model_from_this_checkpoint_gives_no_warning(tmp_path):
    path = tiny_onnx(tmp_path / "m.onnx", meta=tiny_meta("int8", **{LAYERS_KEY: encode_layers(LAYERS)}))
    info = describe_artifact(path)
    assert (info.kind, info.precision, info.layers) == ("onnx", "int8", tuple(LAYERS))
    assert _check(info) == []


def test_engines_are_described_by_their_sidecar(tmp_path):
    engine = tmp_path / "m.fp16.engine"
    engine_with_sidecar(engine, precision="fp16")
    sidecar = engine.with_name(engine.name + ".json")
    raw = json.loads(sidecar.read_text())
    raw["model"]["extra"][LAYERS_KEY] = encode_layers(LAYERS)
    sidecar.write_text(json.dumps(raw))
    info = describe_artifact(engine)
    assert (info.kind, info.precision, info.layers, info.source_onnx) == ("engine", "fp16", tuple(LAYERS),
                                                                          "models/alexnet.onnx")
    assert _check(info) == []
    bare = tmp_path / "bare.engine"
    bare.write_bytes(b"plan")
    unknown = describe_artifact(bare)
    assert unknown.precision == "unknown" and "has no sidecar" in _check(unknown)[0]


def test_another_source_other_names_or_preprocessing_warn(tmp_path):
    meta = dataclasses.replace(tiny_meta(), source_sha256="d" * 64, class_names=("x", "y", "z"), mean=(0.5,) * 3)
    warnings = _check(describe_artifact(tiny_onnx(tmp_path / "m.onnx", meta=meta)))
    assert len(warnings) == 3
    assert "made from another checkpoint (sha256 dddddddddddd" in warnings[0]
    assert "names its classes differently" in warnings[1] and "other preprocessing" in warnings[2]
    unsourced = dataclasses.replace(tiny_meta(), source_sha256="")
    assert "does not record the checkpoint" in _check(describe_artifact(tiny_onnx(tmp_path / "u.onnx",
                                                                                  meta=unsourced)))[0]


def test_another_class_count_or_input_size_is_a_user_error(tmp_path):
    info = describe_artifact(tiny_onnx(tmp_path / "m.onnx"))
    with pytest.raises(InputError, match="has 3 classes and ckpt.pt has 4"):
        _check(info, dataclasses.replace(tiny_meta(), class_names=("a", "b", "c", "d")))
    with pytest.raises(InputError, match="takes 16 px inputs and ckpt.pt takes 32 px"):
        _check(info, dataclasses.replace(tiny_meta(), input_size=32))
    with pytest.raises(InputError, match="does not exist"):
        describe_artifact(tmp_path / "gone.onnx")
    with pytest.raises(InputError, match="not a model this tool knows"):
        describe_artifact(tmp_path / "m.txt")
    assert read_meta(tmp_path / "m.onnx").precision == "fp32"
