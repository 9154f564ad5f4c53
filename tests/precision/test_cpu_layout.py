"""The CPU INT8 layout: its QDQ structure, what onnxruntime fuses it into, and the TensorRT layout left as it was."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from alexnet_deploy.precision.calibration import ImageCalibrationReader, calibrate, find_calibration_set
from alexnet_deploy.precision.cpu_layout import (
    GUARD_TAG,
    cpu_layout_problems,
    cpu_quantizable_nodes,
    quantize_cpu_from_ranges,
)
from alexnet_deploy.precision.lrn_lowering import is_lowered
from alexnet_deploy.precision.qdq import OP_TYPES
from alexnet_deploy.precision.quantize import CALIBRATED_OP_TYPES, quantize_from_ranges
from tests.builders import PRE, SIZE, tiny_model, write_images


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny Conv-ReLU-LRN-Pool-... model, ranges calibrated on 16 real images, and its CPU-layout model."""
    root = tmp_path_factory.mktemp("cpu_layout")
    path = tiny_model(root / "tiny.onnx")
    calib = find_calibration_set(write_images(root / "calib", 16)[0].parent, num_images=16, min_images=4,
                                 input_size=SIZE)

    def reader():
        return ImageCalibrationReader(calib, input_size=SIZE, resize=PRE["resize"], mean=PRE["mean"], std=PRE["std"],
                                      batch_size=8)

    ranges = calibrate(path, reader(), method="minmax", op_types=CALIBRATED_OP_TYPES)
    images = np.concatenate([reader().get_next()["input"], reader()._load(8, 16)])
    return {"path": path, "ranges": ranges, "images": images, "reader": reader,
            "model": quantize_cpu_from_ranges(path, ranges)}


def _inits(model):
    return {t.name: t for t in model.graph.initializer}


def test_qdq_structure_quantized_outputs_and_zero_points(tiny):
    model = tiny["model"]
    inits = _inits(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = lambda name: [n for n in model.graph.node if name in n.input]  # noqa: E731
    assert cpu_layout_problems(model) == []
    assert not [n for n in model.graph.node if n.op_type in ("LRN", "Relu")]  # LRN lowered, ReLU in the quantization
    layers = [n for n in model.graph.node if n.op_type in OP_TYPES and not is_lowered(n)]
    assert [n.name for n in layers] == ["conv1", "conv2", "fc1", "fc2"]
    for layer in layers:
        act, weight, bias = (producer[name] for name in layer.input)
        assert act.op_type == weight.op_type == bias.op_type == "DequantizeLinear"
        assert inits[act.input[2]].data_type == TensorProto.UINT8
        q_weight = inits[weight.input[0]]
        assert q_weight.data_type == TensorProto.INT8 and not numpy_helper.to_array(inits[weight.input[2]]).any()
        assert list(inits[weight.input[1]].dims) == [q_weight.dims[0]]  # per output channel
        # 7-bit weights: the u8 x s8 pair sums of AVX2 kernels cannot saturate int16.
        assert np.abs(numpy_helper.to_array(q_weight)).max() <= 64
        assert inits[bias.input[0]].data_type == TensorProto.INT32
        if layer.name != "fc2":  # quantized outputs: what lets onnxruntime fuse QLinearConv / QGemm
            assert [c.op_type for c in consumers(layer.output[0])] == ["QuantizeLinear"]
    for q in (n for n in model.graph.node if n.op_type == "QuantizeLinear"):
        zero_point = inits[q.input[2]]
        assert zero_point.data_type == TensorProto.UINT8
        if q.input[0] != "input":  # every quantized activation after the input follows a ReLU: zero point 0
            assert int(numpy_helper.to_array(zero_point)) == 0, q.name
    assert producer["logits"].op_type == "Gemm"  # the logits stay float


def test_lowered_lrn_and_the_pool_after_it_stay_float(tiny):
    model = tiny["model"]
    producer = {o: n for n in model.graph.node for o in n.output}
    window = next(n for n in model.graph.node if is_lowered(n) and n.op_type == "Conv")
    assert window.input[1] in _inits(model)  # a float band matrix, not a dequantized one
    pool = next(n for n in model.graph.node if n.name == "pool1")
    assert is_lowered(producer[pool.input[0]])
    guard = next(n for n in model.graph.node if n.input and n.input[0] == pool.output[0])
    assert guard.op_type == "Max" and guard.doc_string == GUARD_TAG
    assert [n.op_type for n in model.graph.node if guard.output[0] in n.input] == ["QuantizeLinear"]


def test_onnxruntime_fuses_every_layer_and_agrees_with_fp32(tiny, tmp_path):
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(tiny["model"].SerializeToString(), options, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    assert ops.count("QLinearConv") == 2 and ops.count("QGemm") == 2
    assert ops.count("Conv") == 1  # the LRN window sum, in float
    int8 = session.run(None, {"input": tiny["images"]})[0]
    fp32 = ort.InferenceSession(str(tiny["path"])).run(None, {"input": tiny["images"]})[0]
    assert np.corrcoef(fp32.ravel(), int8.ravel())[0, 1] > 0.98
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 0.75


def test_no_guard_where_the_pool_output_can_be_negative(tiny, tmp_path):
    """Without the ReLU before the LRN the pool output has negative values: Max(x, 0) would change them."""
    model = onnx.load(str(tiny["path"]))
    relu = next(n for n in model.graph.node if n.name == "relu1")
    next(n for n in model.graph.node if n.name == "lrn1").input[0] = relu.input[0]
    model.graph.node.remove(relu)
    path = tmp_path / "no_relu.onnx"
    onnx.save(model, str(path))
    ranges = calibrate(path, tiny["reader"](), method="minmax", op_types=CALIBRATED_OP_TYPES)
    quantized = quantize_cpu_from_ranges(path, ranges)
    assert not [n for n in quantized.graph.node if n.doc_string == GUARD_TAG]
    assert cpu_layout_problems(quantized) == []


def test_problems_are_named(tiny):
    trt = quantize_from_ranges(tiny["path"], tiny["ranges"])
    problems = cpu_layout_problems(trt)
    assert any("native LRN" in p for p in problems) and any("float output" in p for p in problems)
    broken = onnx.ModelProto()
    broken.CopyFrom(tiny["model"])
    weight_zp = next(t for t in broken.graph.initializer if t.name.endswith("w1_zero_point"))
    weight_zp.CopyFrom(numpy_helper.from_array(np.ones(weight_zp.dims, np.int8), weight_zp.name))
    assert any("weights are not int8 with zero point 0" in p for p in cpu_layout_problems(broken))
    assert cpu_quantizable_nodes(onnx.load(str(tiny["path"]))) == ["conv1", "conv2", "fc1", "fc2"]


def test_tensorrt_layout_is_the_same_from_the_wider_calibration(tiny):
    """Calibrating the extra tensors the CPU layout needs leaves the TensorRT model byte for byte as it was."""
    narrow = calibrate(tiny["path"], tiny["reader"](), method="minmax", op_types=OP_TYPES)
    assert set(narrow.data) < set(tiny["ranges"].data)
    before = quantize_from_ranges(tiny["path"], narrow).SerializeToString()
    assert quantize_from_ranges(tiny["path"], tiny["ranges"]).SerializeToString() == before
