"""LRN rewritten as plain ONNX ops, for models that run on CPU runtimes.

onnxruntime's CPU kernel for the ``LRN`` node is slow (measured side by side on
2 cores: 17.7 ms for the paper's 1x96x55x55 LRN, more than the convolution
before it) while the same math as ordinary ops takes 1.1 ms::

    sq = x * x
    d  = Conv1x1(sq, W, bias=k)      W[c, j] = alpha / size where j is in c's channel window, else 0
    y  = x / (Sqrt(d) * Sqrt(Sqrt(d)))      beta = 0.75: d ** 0.75 without Pow
    y  = x * Pow(d, -beta)                   any other beta

The banded CxC matrix sums the squares over the window (zero padded at the
edges, the same window as ``model.lrn``) with ``alpha / size`` folded into it and
``k`` as the convolution's bias, so the denominator comes out of one Conv that
every runtime runs fast. Pow is avoided for the usual beta: onnxruntime's Pow is
several times slower than two square roots. One Div does what a Reciprocal and a
Mul would, in half the time (0.09 against 0.18 ms on 96x55x55).

A dense CxC band does C / size times the work the window needs (19x for the
paper's 96 channels, 51x for 256). When C splits into blocks of ``GROUP``
channels, the Conv is grouped instead: a Gather hands each block its channels
plus the ``size - 1`` neighbours its windows reach (clamped at the edges, with
zero weights there), so every output still sums exactly its window. Measured
on 2 cores at batch 1: 0.32 ms instead of 0.79 ms for 96x55x55, 0.22 ms
instead of 1.27 ms for 256x27x27.

TensorRT fuses the native LRN node itself and keeps it outside INT8 regions, so
only CPU-target models are lowered (``precision.cpu_layout``); the export and
the TensorRT INT8 layout keep the native node.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from alexnet_deploy.errors import ExportError
from alexnet_deploy.model.lrn import check_size

# Beta values with an exact square-root form; anything else goes through Pow.
SQRT_BETA = 0.75
GROUP = 16  # channels per block of the grouped window sum (8 and 16 measured alike, 32 slower)
LOWERED_TAG = "alexnet_deploy.lrn_lowering"  # doc_string of every node the lowering makes


def band_matrix(channels: int, size: int, alpha: float) -> np.ndarray:
    """The (C, C, 1, 1) Conv weight that sums ``alpha / size * x[j]`` over each channel's window."""
    check_size(size)
    rows = np.arange(channels)[:, None]
    cols = np.arange(channels)[None, :]
    # ONNX/PyTorch window of channel c: c - (size - 1) // 2 .. c + size // 2 (equal halves for odd sizes).
    inside = (cols >= rows - (size - 1) // 2) & (cols <= rows + size // 2)
    return (inside * np.float32(alpha / size)).astype(np.float32).reshape(channels, channels, 1, 1)


def grouped_band(channels: int, size: int, alpha: float, group: int) -> tuple[np.ndarray, np.ndarray]:
    """The Gather indices and the grouped (C, group + size - 1, 1, 1) Conv weight of the blocked window sum.

    Block ``b`` reads channels ``b * group - (size - 1) // 2`` onwards, ``group + size - 1`` of them
    (indices clamped into range; the weights of clamped positions are 0).
    """
    check_size(size)
    if channels % group:
        raise ValueError(f"{channels} channels do not split into blocks of {group}")
    reach = group + size - 1
    first = np.arange(0, channels, group)[:, None] - (size - 1) // 2  # first channel each block reads
    read = first + np.arange(reach)[None, :]  # (blocks, reach): the channel at each local position
    indices = np.clip(read, 0, channels - 1).reshape(-1).astype(np.int64)
    weight = np.zeros((channels, reach, 1, 1), dtype=np.float32)
    for c in range(channels):
        block, offset = divmod(c, group)
        local = np.arange(offset, offset + size)  # the window of c, in its block's local positions
        valid = (read[block, local] >= 0) & (read[block, local] < channels)
        weight[c, local[valid], 0, 0] = np.float32(alpha / size)
    return indices, weight


def lrn_attributes(node: onnx.NodeProto) -> tuple[int, float, float, float]:
    """(size, alpha, beta, k) of an ONNX LRN node, with the operator's defaults."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    size, alpha = int(attrs["size"]), float(attrs.get("alpha", 1e-4))
    return size, alpha, float(attrs.get("beta", 0.75)), float(attrs.get("bias", 1.0))


def lower_lrn(model: onnx.ModelProto) -> list[str]:
    """Replace every LRN node of ``model`` (in place) by the ops of the module docstring.

    Returns the names of the nodes it made, so that a quantizer can keep them
    in float. The LRN output keeps its tensor name, so calibration ranges and
    consumers stay valid. Raises ExportError for an LRN whose channel count
    cannot be inferred or whose input is not float32.
    """
    graph = model.graph
    lrns = [n for n in graph.node if n.op_type == "LRN"]
    if not lrns:
        return []
    shapes = _float_channel_counts(model, [n.input[0] for n in lrns])
    made: list[str] = []
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "LRN":
            nodes.append(node)
            continue
        channels = shapes.get(node.input[0])
        if channels is None:
            raise ExportError(f"Cannot lower LRN {node.name}: the channel count of {node.input[0]} is unknown "
                              f"(the model must carry float32 input shapes).")
        new_nodes, initializers = _lowered(node, channels)
        graph.initializer.extend(initializers)
        nodes.extend(new_nodes)
        made.extend(n.name for n in new_nodes)
    del graph.node[:]
    graph.node.extend(nodes)
    return made


def _lowered(node: onnx.NodeProto, channels: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    size, alpha, beta, k = lrn_attributes(node)
    x, y = node.input[0], node.output[0]
    prefix = f"{node.name or y}/"
    nodes: list[onnx.NodeProto] = []

    def add(op: str, inputs: list[str], part: str, **attrs) -> str:
        """Append one node; its output tensor and the node itself are both named ``prefix + part``."""
        out = y if part == "scale" else prefix + part
        made = helper.make_node(op, inputs, [out], name=prefix + part, **attrs)
        made.doc_string = LOWERED_TAG
        nodes.append(made)
        return out

    inits = [numpy_helper.from_array(band_matrix(channels, size, alpha), prefix + "band"),
             numpy_helper.from_array(np.full(channels, k, dtype=np.float32), prefix + "k")]
    square = add("Mul", [x, x], "square")
    if channels > GROUP and channels % GROUP == 0:
        indices, weight = grouped_band(channels, size, alpha, GROUP)
        inits[0] = numpy_helper.from_array(weight, prefix + "band")
        inits.append(numpy_helper.from_array(indices, prefix + "window_channels"))
        gathered = add("Gather", [square, prefix + "window_channels"], "window_inputs", axis=1)
        denominator = add("Conv", [gathered, prefix + "band", prefix + "k"], "window_sum", kernel_shape=[1, 1],
                          group=channels // GROUP)
    else:
        denominator = add("Conv", [square, prefix + "band", prefix + "k"], "window_sum", kernel_shape=[1, 1])
    if beta == SQRT_BETA:
        root = add("Sqrt", [denominator], "sqrt")
        fourth_root = add("Sqrt", [root], "fourth_root")
        power = add("Mul", [root, fourth_root], "pow_0.75")
        add("Div", [x, power], "scale")
    else:
        inits.append(numpy_helper.from_array(np.array(-beta, dtype=np.float32), prefix + "minus_beta"))
        inverse = add("Pow", [denominator, prefix + "minus_beta"], "inverse")
        add("Mul", [x, inverse], "scale")
    return nodes, inits


def _float_channel_counts(model: onnx.ModelProto, tensors: list[str]) -> dict[str, int]:
    """Dimension 1 of ``tensors`` by shape inference on a copy without large weights (no weight copy)."""
    light = onnx.ModelProto()
    light.CopyFrom(_without_large_initializers(model))
    inferred = onnx.shape_inference.infer_shapes(light)
    infos = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    counts = {}
    for tensor in tensors:
        info = infos.get(tensor)
        if info is None or info.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        dims = info.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            counts[tensor] = dims[1].dim_value
    return counts


def _without_large_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A model sharing nothing big: weights become graph inputs of the same type and shape.

    Shape inference needs only their shapes; small constants (Reshape's target
    shape) keep their values because inference reads them.
    """
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    graph = light.graph
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    for init in model.graph.initializer:
        if np.prod(init.dims, dtype=np.int64) <= 64:
            graph.initializer.append(init)
        else:
            graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return light


def is_lowered(node: onnx.NodeProto) -> bool:
    """True for the nodes ``lower_lrn`` made."""
    return node.doc_string == LOWERED_TAG
