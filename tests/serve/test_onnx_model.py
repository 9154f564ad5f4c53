import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper

from alexnet_deploy.artifacts.onnx_meta import IR_VERSION, ModelMeta, write_meta
from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.config import render_config
from alexnet_deploy.serve.onnx_model import plan_onnx
from alexnet_deploy.serve.spec import TritonOptions
from alexnet_deploy.serve.triton import export_repository
from tests.builders import PRE, tiny_model, tiny_onnx, triton_schema


def parsed(model):
    return text_format.Parse(render_config(model), triton_schema().ModelConfig())


def test_dynamic_batch_lets_triton_batch_with_dims_from_the_file(tmp_path):
    plan = plan_onnx(tiny_model(tmp_path / "alexnet.int8.onnx", classes=5), TritonOptions(max_batch_size=16))
    config = parsed(plan.model)
    assert (config.name, config.platform, config.backend) == ("alexnet_int8_onnx", "onnxruntime_onnx", "onnxruntime")
    assert config.max_batch_size == 16
    assert [(i.name, list(i.dims)) for i in config.input] == [("input", [3, 32, 32])]
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [("logits", [5], "labels.txt")]
    schema = triton_schema()
    assert config.input[0].data_type == config.output[0].data_type == schema.TYPE_FP32
    assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds == 100
    assert [(g.count, g.kind) for g in config.instance_group] == [(1, schema.ModelInstanceGroup.KIND_GPU)]
    assert plan.class_names == ("c0", "c1", "c2", "c3", "c4")


@pytest.mark.parametrize("batch", [1, 4])
def test_a_fixed_batch_gets_max_batch_size_0_and_full_shapes(tmp_path, batch):
    plan = plan_onnx(tiny_onnx(tmp_path / "fixed.onnx", batch=batch), TritonOptions())
    config = parsed(plan.model)
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [batch, 3, 16, 16]
    assert list(config.output[0].dims) == [batch, 3]
    assert not config.HasField("dynamic_batching")


def test_data_types_come_from_the_file_and_cpu_instances_are_asked_for(tmp_path):
    from dataclasses import replace

    from onnxruntime.transformers.float16 import convert_float_to_float16

    from alexnet_deploy.artifacts.onnx_meta import read_meta

    fp32 = onnx.load(str(tiny_model(tmp_path / "plain.onnx")))
    half = convert_float_to_float16(fp32, keep_io_types=True, op_block_list=["LRN"])  # fp16 inside, fp32 I/O
    write_meta(half, replace(read_meta(fp32), precision="fp16"))
    onnx.save(half, str(tmp_path / "half.onnx"))
    plan = plan_onnx(tmp_path / "half.onnx", TritonOptions(onnx_kind="cpu", instances=3))
    config = parsed(plan.model)
    schema = triton_schema()
    assert [(g.count, g.kind) for g in config.instance_group] == [(3, schema.ModelInstanceGroup.KIND_CPU)]
    assert [(t.name, t.data_type) for t in config.input] == [("input", schema.TYPE_FP32)]
    assert [(t.name, t.data_type, list(t.dims)) for t in config.output] == [("logits", schema.TYPE_FP32, [4])]
    assert plan.model.precision == "fp16"


def test_a_graph_its_metadata_does_not_describe_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["pixels"], ["scores"])], "half",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT16, ["batch", 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT16, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = IR_VERSION
    write_meta(model, ModelMeta(arch="tiny", class_names=("a", "b", "c"), precision="fp16", **PRE))
    onnx.save(model, str(tmp_path / "half.onnx"))
    with pytest.raises(InputError, match="has inputs \\['pixels'\\] and outputs \\['scores'\\]"):
        plan_onnx(tmp_path / "half.onnx", TritonOptions(onnx_kind="cpu", instances=3))


def test_external_data_travels_with_the_model_and_the_copy_runs(tmp_path):
    source = tmp_path / "src"
    (source / "weights").mkdir(parents=True)
    proto = onnx.load(str(tiny_model(tmp_path / "plain.onnx")))
    onnx.save_model(proto, str(source / "alexnet.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights/alexnet.bin", size_threshold=0)
    result = export_repository([source / "alexnet.onnx"], tmp_path / "repo")
    version = tmp_path / "repo" / "alexnet_onnx" / "1"
    assert result.models[0].files == ["1/model.onnx", "1/weights/alexnet.bin"]
    assert (version / "weights" / "alexnet.bin").read_bytes() == (source / "weights" / "alexnet.bin").read_bytes()
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    served = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    original = ort.InferenceSession(str(tmp_path / "plain.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(served.run(None, {"input": x})[0], original.run(None, {"input": x})[0])


def test_an_onnx_model_without_our_metadata_is_refused(tmp_path):
    proto = onnx.load(str(tiny_model(tmp_path / "tiny.onnx")))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "foreign.onnx"))
    with pytest.raises(InputError, match="no alexnet-deploy metadata"):
        plan_onnx(tmp_path / "foreign.onnx", TritonOptions())


def test_class_names_that_do_not_match_the_output_are_refused(tmp_path):
    proto = onnx.load(str(tiny_model(tmp_path / "tiny.onnx", classes=4)))
    write_meta(proto, ModelMeta(arch="tiny", class_names=("a", "b", "c"), **PRE))
    onnx.save(proto, str(tmp_path / "mismatch.onnx"))
    with pytest.raises(InputError, match="but its metadata names 3 classes"):
        plan_onnx(tmp_path / "mismatch.onnx", TritonOptions())
