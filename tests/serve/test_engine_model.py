"""Engines are described by their sidecar alone: the plan bytes here are opaque, as Triton's host would see them."""

from dataclasses import replace

import pytest
from google.protobuf import text_format

from alexnet_deploy.artifacts.engine_sidecar import write_sidecar
from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.config import render_config
from alexnet_deploy.serve.engine_model import plan_engine
from alexnet_deploy.serve.spec import TritonOptions
from tests.builders import TINY_CLASSES, engine_with_sidecar, triton_schema


def engine(path, *, profile=None, outputs=None):
    """An engine whose sidecar says 1:8:32 at 3x16x16 (tests.builders), or the ``profile`` given."""
    sidecar = engine_with_sidecar(path, precision="int8", payload=b"serialized plan of " + path.name.encode())
    changes = {}
    if profile is not None:
        changes["profile"] = dict(zip(("min", "opt", "max"), map(list, profile)))
    if outputs is not None:
        changes["output_names"] = list(outputs)
    if changes:
        write_sidecar(path, replace(sidecar, **changes))
    return path


def parsed(model):
    return text_format.Parse(render_config(model), triton_schema().ModelConfig())


def test_a_profile_from_1_batches_up_to_its_max_preferring_its_opt(tmp_path):
    plan = plan_engine(engine(tmp_path / "alexnet.int8.engine"), TritonOptions())
    config, schema = parsed(plan.model), triton_schema()
    assert (config.name, config.platform, config.backend) == ("alexnet_int8_trt", "tensorrt_plan", "tensorrt")
    assert config.max_batch_size == 32
    assert list(config.dynamic_batching.preferred_batch_size) == [8]
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [("input", schema.TYPE_FP32, [3, 16, 16])]
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [("logits", [3], "labels.txt")]
    assert [(g.count, g.kind) for g in config.instance_group] == [(1, schema.ModelInstanceGroup.KIND_GPU)]
    assert plan.sources == {"1/model.plan": tmp_path / "alexnet.int8.engine"}
    assert "TensorRT 10.3.0" in plan.model.needs and "8.7" in plan.model.needs
    assert plan.class_names == TINY_CLASSES and plan.model.precision == "int8"


def test_the_batch_option_caps_an_engine_at_its_profile(tmp_path):
    path = engine(tmp_path / "a.plan")
    assert plan_engine(path, TritonOptions(max_batch_size=16)).model.max_batch_size == 16
    assert plan_engine(path, TritonOptions(max_batch_size=64)).model.max_batch_size == 32
    assert parsed(plan_engine(path, TritonOptions(max_batch_size=4)).model).dynamic_batching.preferred_batch_size == []


def test_a_fixed_batch_engine_gets_max_batch_size_0_and_full_shapes(tmp_path):
    fixed = ((4, 3, 16, 16),) * 3
    config = parsed(plan_engine(engine(tmp_path / "fixed.engine", profile=fixed), TritonOptions()).model)
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [4, 3, 16, 16] and list(config.output[0].dims) == [4, 3]
    assert not config.HasField("dynamic_batching")


def test_a_profile_that_starts_above_1_is_refused(tmp_path):
    path = engine(tmp_path / "big.engine", profile=((2, 3, 16, 16), (8, 3, 16, 16), (16, 3, 16, 16)))
    with pytest.raises(InputError, match="rebuild it with --batch 1:8:16"):
        plan_engine(path, TritonOptions())


def test_an_engine_without_sidecar_is_refused(tmp_path):
    (tmp_path / "bare.engine").write_bytes(b"plan")
    with pytest.raises(InputError, match="has no sidecar bare.engine.json"):
        plan_engine(tmp_path / "bare.engine", TritonOptions())


def test_an_engine_its_sidecar_does_not_describe_is_refused(tmp_path):
    path = engine(tmp_path / "swapped.engine")
    path.write_bytes(b"another plan of the same length as the first one!"[: path.stat().st_size])
    with pytest.raises(InputError, match="does not describe it"):
        plan_engine(path, TritonOptions())


def test_an_engine_with_several_outputs_is_refused(tmp_path):
    with pytest.raises(InputError, match="has 2 outputs"):
        plan_engine(engine(tmp_path / "two.engine", outputs=("logits", "features")), TritonOptions())
