from google.protobuf import text_format

from alexnet_deploy.serve.config import render_config
from alexnet_deploy.serve.spec import TensorConfig, TritonModel
from tests.builders import triton_schema


def model(**changes):
    fields = dict(
        name="m", artifact="m.onnx", platform="onnxruntime_onnx", backend="onnxruntime", max_batch_size=8,
        preferred_batch_sizes=[4], inputs=[TensorConfig("input", "TYPE_FP32", [3, -1, -1])],
        outputs=[TensorConfig("logits", "TYPE_FP32", [10], "labels.txt")], instance_kind="KIND_CPU",
        instance_count=2, max_queue_delay_us=250, num_classes=10, precision="fp32", files=["1/model.onnx"],
    )
    return TritonModel(**{**fields, **changes})


def test_every_field_reaches_tritons_schema():
    schema = triton_schema()
    config = text_format.Parse(render_config(model()), schema.ModelConfig())
    assert list(config.input[0].dims) == [3, -1, -1]
    assert config.output[0].label_filename == "labels.txt"
    assert list(config.dynamic_batching.preferred_batch_size) == [4]
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, schema.ModelInstanceGroup.KIND_CPU)]


def test_tensor_names_from_the_file_are_quoted_so_they_survive_parsing():
    odd = 'x"y\\z\nw'
    text = render_config(model(inputs=[TensorConfig(odd, "TYPE_FP32", [3])],
                               outputs=[TensorConfig("o", "TYPE_FP16", [2])]))
    config = text_format.Parse(text, triton_schema().ModelConfig())
    assert config.input[0].name == odd
    assert config.output[0].data_type == triton_schema().TYPE_FP16


def test_several_tensors_and_no_batching():
    tensors = [TensorConfig(f"t{i}", "TYPE_INT64", [1, i + 1]) for i in range(3)]
    config = text_format.Parse(render_config(model(max_batch_size=0, inputs=tensors, outputs=tensors)),
                               triton_schema().ModelConfig())
    assert [t.name for t in config.input] == ["t0", "t1", "t2"] and len(config.output) == 3
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
