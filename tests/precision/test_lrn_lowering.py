"""LRN lowered to Mul/Conv/Sqrt/Div (or Pow) matches the native ONNX node and the numpy reference."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from alexnet_deploy.artifacts.onnx_meta import IR_VERSION
from alexnet_deploy.errors import ExportError, InputError
from alexnet_deploy.model.lrn import lrn_reference
from alexnet_deploy.precision.lrn_lowering import GROUP, band_matrix, grouped_band, is_lowered, lower_lrn

CHANNELS, SIDE = 24, 7
BLOCKED = 3 * GROUP  # enough channels for the grouped window sum


def _lrn_model(*, size: int, alpha: float, beta: float, k: float, channels: int = CHANNELS) -> onnx.ModelProto:
    return _lrn_model_of_shape(size=size, alpha=alpha, beta=beta, k=k, shape=("N", channels, SIDE, SIDE))


def _lrn_model_of_shape(*, size: int, alpha: float, beta: float, k: float, shape) -> onnx.ModelProto:
    node = helper.make_node("LRN", ["x"], ["y"], name="lrn", size=size, alpha=alpha, beta=beta, bias=k)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = IR_VERSION
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("channels", [CHANNELS, BLOCKED])
@pytest.mark.parametrize("size", [3, 5, 7])
@pytest.mark.parametrize("alpha,beta,k", [(1e-4, 0.75, 1.0), (5e-4, 0.75, 2.0), (1e-2, 0.75, 1.0),
                                          (1e-3, 0.5, 1.0), (2e-3, 1.0, 0.5), (1e-4, 0.6, 2.0)])
def test_lowering_matches_the_native_node(size, alpha, beta, k, channels):
    x = (np.random.default_rng(size).standard_normal((2, channels, SIDE, SIDE)) * 20).astype(np.float32)
    model = _lrn_model(size=size, alpha=alpha, beta=beta, k=k, channels=channels)
    native = _run(model, x)
    made = lower_lrn(model)
    lowered = _run(model, x)
    assert made and not [n for n in model.graph.node if n.op_type == "LRN"]
    scale = np.abs(native).max()
    assert np.abs(lowered - native).max() <= 1e-5 * scale
    reference = lrn_reference(x, size, alpha, beta, k)
    assert np.abs(lowered.astype(np.float64) - reference).max() <= 1e-6 * np.abs(reference).max()


def test_beta_075_uses_square_roots_and_other_betas_pow():
    sqrt_model = _lrn_model(size=5, alpha=1e-4, beta=0.75, k=2.0)
    lower_lrn(sqrt_model)
    assert [n.op_type for n in sqrt_model.graph.node] == ["Mul", "Conv", "Sqrt", "Sqrt", "Mul", "Div"]
    pow_model = _lrn_model(size=5, alpha=1e-4, beta=0.6, k=2.0)
    lower_lrn(pow_model)
    assert [n.op_type for n in pow_model.graph.node] == ["Mul", "Conv", "Pow", "Mul"]
    blocked = _lrn_model(size=5, alpha=1e-4, beta=0.75, k=2.0, channels=BLOCKED)
    lower_lrn(blocked)
    assert [n.op_type for n in blocked.graph.node][:3] == ["Mul", "Gather", "Conv"]
    conv = blocked.graph.node[2]
    assert {a.name: helper.get_attribute_value(a) for a in conv.attribute}["group"] == BLOCKED // GROUP
    # The LRN's output tensor keeps its name (calibration ranges and consumers stay valid); every node is tagged.
    assert sqrt_model.graph.node[-1].output[0] == "y" and all(is_lowered(n) for n in sqrt_model.graph.node)


def test_band_matrix_sums_each_channel_window_with_alpha_over_size():
    band = band_matrix(6, 3, alpha=3e-3)[:, :, 0, 0]
    assert band.shape == (6, 6) and band.dtype == np.float32
    expected = np.zeros((6, 6))
    for c in range(6):
        expected[c, max(0, c - 1): c + 2] = 1e-3
    np.testing.assert_allclose(band, expected, rtol=1e-6)
    with pytest.raises(InputError, match="even"):
        band_matrix(6, 4, alpha=1e-4)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_grouped_band_sums_the_same_windows_as_the_dense_band(size):
    channels, group = 48, 16
    indices, weight = grouped_band(channels, size, alpha=7e-3, group=group)
    reach = group + size - 1
    assert indices.shape == (channels // group * reach,) and weight.shape == (channels, reach, 1, 1)
    dense = np.zeros((channels, channels), dtype=np.float64)
    for c in range(channels):  # what output channel c sums, mapped back to input channels
        block = c // group
        for position in range(reach):
            dense[c, indices[block * reach + position]] += weight[c, position, 0, 0]
    np.testing.assert_allclose(dense, band_matrix(channels, size, alpha=7e-3)[:, :, 0, 0], rtol=1e-6)


def test_unknown_channel_count_is_refused_and_models_without_lrn_are_untouched():
    unknown = _lrn_model_of_shape(size=5, alpha=1e-4, beta=0.75, k=1.0, shape=("N", "C", "H", "W"))
    with pytest.raises(ExportError, match="channel count"):
        lower_lrn(unknown)
    plain = _lrn_model(size=5, alpha=1e-4, beta=0.75, k=1.0)
    plain.graph.node[0].op_type = "Relu"
    del plain.graph.node[0].attribute[:]
    assert lower_lrn(plain) == [] and [n.op_type for n in plain.graph.node] == ["Relu"]
