"""The INT8 layout for CPU runtimes (onnxruntime's CPU provider, OpenVINO), beside the TensorRT one.

The TensorRT layout (``quantize.py``) quantizes only the inputs of Conv/Gemm.
onnxruntime's CPU provider cannot fuse that into QLinearConv/QGemm and
dequantizes the weights on every run, so it runs slower than fp32 there. This
layout is what the measurements in ``benchmarks/bench_cpu.py`` chose, from the
same calibration ranges:

* QDQ with the outputs of Conv/Gemm quantized too, so every Conv and Gemm fuses
  into QLinearConv / QGemm and activations stay 8-bit between layers;
* uint8 activations, asymmetric: after a ReLU the range starts at 0, the zero
  point is 0 and the ReLU itself disappears into the quantization (symmetric
  int8 activations keep every ReLU as a float DQ -> Relu -> Q detour);
* int8 weights, symmetric, per channel, 7-bit (``reduce_range``): on x86 CPUs
  without VNNI the u8 x s8 kernels add pairs of products in int16, which
  saturates with full 8-bit weights (measured on the demo model: the largest
  logit error halves with 7-bit weights, top-1 within 0.1 pp either way);
* int32 biases (QLinearConv and QGemm take them);
* ReLU, MaxPool, Reshape/Flatten and AveragePool inside the quantized regions;
* LRN lowered to plain ops (``lrn_lowering``) and kept in float;
* a MaxPool right after a lowered LRN stays float, behind a ``Max(x, 0)``:
  otherwise onnxruntime moves the QuantizeLinear above the pool and runs it on
  uint8 in NCHW, whose generic kernel is ten times slower than the float one
  (2 ms vs 0.2 ms for 96x55x55). ``Max(x, 0)`` changes nothing there: it is
  added only where the QuantizeLinear after it has zero point 0, which clamps
  at 0 anyway;
* the logits stay float: the last Gemm fuses into a QGemm with a float output.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

from alexnet_deploy.errors import ExportError
from alexnet_deploy.runtimes.ort import quiet_ort
from alexnet_deploy.precision.lrn_lowering import is_lowered, lower_lrn
from alexnet_deploy.precision.qdq import OP_TYPES

LAYOUT = "cpu"
DESCRIPTION = ("QDQ, Conv/Gemm outputs quantized (QLinearConv/QGemm), uint8 asymmetric activations, int8 "
               "symmetric per-channel 7-bit weights, int32 biases, LRN lowered to float ops, float logits")
OP_TYPES_CPU = (*OP_TYPES, "Relu", "MaxPool", "AveragePool", "Reshape", "Flatten")
CPU_QUANT_OPTIONS = {
    "ActivationSymmetric": False,
    "WeightSymmetric": True,
    "QuantizeBias": True,
}
# Ops whose output is non-negative when their input is (LRN divides by a positive denominator).
SIGN_KEEPING = ("MaxPool", "AveragePool", "Reshape", "Flatten", "LRN")
GUARD_TAG = "alexnet_deploy.keep_pool_float"  # doc_string of the Max(x, 0) nodes
LOWERING_REL_TOL = 1e-5  # the lowering is exact math: only float rounding may differ


def cpu_quantizable_nodes(model: onnx.ModelProto) -> list[str]:
    """The Conv/Gemm/MatMul nodes this layout quantizes (the fallback candidates)."""
    return [n.name for n in model.graph.node if n.op_type in OP_TYPES]


def non_negative_ranges(model: onnx.ModelProto, ranges: TensorsData) -> TensorsData:
    """``ranges`` with the lower end set to 0 for tensors that cannot be negative (after a ReLU).

    Symmetric calibration (minmax, percentile) reports (-t, t) for a ReLU output;
    with uint8 activations that would spend half the codes on values that never
    occur and keep a zero point of 128, so the ReLU could not fold into the
    quantization.
    """
    non_negative: set[str] = set()
    for node in model.graph.node:  # nodes are in topological order
        if node.op_type == "Relu" or (node.op_type in SIGN_KEEPING and node.input[0] in non_negative):
            non_negative.add(node.output[0])
    data = dict(ranges.data)
    for name in non_negative & set(data):
        data[name] = TensorData(lowest=np.zeros_like(data[name].range_value[1]), highest=data[name].range_value[1])
    return TensorsData(ranges.calibration_method, data)


def prepare_cpu_graph(model: onnx.ModelProto, ranges: TensorsData) -> list[str]:
    """Lower LRN and keep pools after it in float (in place); returns the nodes that must stay float.

    ``ranges`` must already have gone through ``non_negative_ranges``.
    """
    keep_float = lower_lrn(model)
    keep_float += _keep_pools_float(model, ranges)
    return keep_float


def _keep_pools_float(model: onnx.ModelProto, ranges: TensorsData) -> list[str]:
    """Put ``Max(x, 0)`` after each MaxPool fed by a lowered LRN whose output range starts at 0 or above."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    zero = f"{GUARD_TAG}/zero"
    nodes, made = [], []
    for node in graph.node:
        nodes.append(node)
        source = producer.get(node.input[0]) if node.input else None
        if node.op_type != "MaxPool" or source is None or not is_lowered(source):
            continue
        pooled = node.output[0]
        lowest = ranges.data[pooled].range_value[0] if pooled in ranges.data else -1.0
        if float(np.min(lowest)) < 0:  # its QuantizeLinear would not clamp at 0: Max would change the result
            continue
        node.output[0] = f"{pooled}/float"
        guard = helper.make_node("Max", [node.output[0], zero], [pooled], name=f"{node.name}/keep_float")
        guard.doc_string = GUARD_TAG
        nodes.append(guard)
        made.append(guard.name)
    if made:
        graph.initializer.append(numpy_helper.from_array(np.zeros((), dtype=np.float32), zero))
        del graph.node[:]
        graph.node.extend(nodes)
    return made


def float_logits(model: onnx.ModelProto) -> int:
    """Drop the QuantizeLinear/DequantizeLinear pair on each graph output (in place); returns how many."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    dropped = 0
    for output in graph.output:
        dq = producer.get(output.name)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear" or q.input[0] not in producer:
            continue
        source = producer[q.input[0]]
        source.output[list(source.output).index(q.input[0])] = output.name
        graph.node.remove(dq)
        graph.node.remove(q)
        dropped += 1
    return dropped


def quantize_cpu_from_ranges(
    model_path: str | Path, ranges: TensorsData, *, exclude: Sequence[str] = (), base: onnx.ModelProto | None = None
) -> onnx.ModelProto:
    """The CPU-layout INT8 model of ``model_path`` from precomputed ranges; ``exclude`` nodes stay float.

    ``base`` is accepted for symmetry with the TensorRT layout and not needed:
    the lowering adds weights, so the model is read whole here.
    """
    from alexnet_deploy.artifacts.onnx_meta import load_onnx

    model = load_onnx(model_path)
    ranges = non_negative_ranges(model, ranges)
    keep_float = prepare_cpu_graph(model, ranges)
    with tempfile.TemporaryDirectory(prefix="alexnet-deploy-int8-cpu.") as tmp, quiet_ort():
        source, cache, out = Path(tmp) / "lowered.onnx", Path(tmp) / "ranges.json", Path(tmp) / "int8.onnx"
        onnx.save(model, str(source))
        del model
        save_tensors_data(ranges, cache)
        quantize_static(
            str(source),
            str(out),
            None,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(OP_TYPES_CPU),
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=sorted(set(keep_float) | set(exclude)),
            calibrate_method=ranges.calibration_method,
            calibration_cache_path=str(cache),
            extra_options=dict(CPU_QUANT_OPTIONS),
        )
        quantized = onnx.load(str(out))
    float_logits(quantized)
    problems = cpu_layout_problems(quantized, excluded=exclude)
    if problems:
        raise ExportError(f"The CPU INT8 model breaks its layout: {'; '.join(problems[:5])}.")
    return quantized


def cpu_layout_problems(model: onnx.ModelProto, *, excluded: Sequence[str] = ()) -> list[str]:
    """Everything in ``model`` that breaks the layout of the module docstring (empty when it holds)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    problems = [f"{n.name} is a native LRN node (it should be lowered)" for n in graph.node if n.op_type == "LRN"]
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            problems += _zero_point_problems(node, inits)
        if node.op_type not in OP_TYPES or is_lowered(node) or node.name in excluded:
            continue
        for index, what in ((0, "input"), (1, "weights")):
            source = producer.get(node.input[index])
            if source is None or source.op_type != "DequantizeLinear":
                problems.append(f"{node.name} ({node.op_type}) has a float {what}")
        bias = producer.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if bias is not None and (bias.op_type != "DequantizeLinear" or
                                 inits[bias.input[0]].data_type != onnx.TensorProto.INT32):
            problems.append(f"{node.name} ({node.op_type}) has a bias that is not int32")
        readers = consumers.get(node.output[0], [])
        if node.output[0] not in outputs and not all(c.op_type == "QuantizeLinear" for c in readers):
            problems.append(f"{node.name} ({node.op_type}) has a float output feeding more than a QuantizeLinear")
    for node in graph.node:
        if is_lowered(node) and node.op_type == "Conv" and producer.get(node.input[1]) is not None:
            problems.append(f"{node.name} (the LRN window sum) is quantized")
    return problems


def _zero_point_problems(node: onnx.NodeProto, inits: dict) -> list[str]:
    """uint8 activations with any zero point; int8 weights with zero point 0; int32 biases."""
    if len(node.input) < 3 or node.input[2] not in inits:
        return [f"{node.name} has no constant zero point"]
    zero_point = inits[node.input[2]]
    source = inits.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
    if source is None:
        return [] if zero_point.data_type == onnx.TensorProto.UINT8 else [f"{node.name}: activations are not uint8"]
    if source.data_type == onnx.TensorProto.INT8 and not numpy_helper.to_array(zero_point).any():
        return []
    if source.data_type == onnx.TensorProto.INT32:
        return []
    return [f"{node.name}: weights are not int8 with zero point 0"]


def check_lowering(model_path: str | Path, images: np.ndarray):
    """Logits of the FP32 model with LRN lowered against the native one, as export's parity gate compares them.

    Returns a ParityResult with relative tolerance ``LOWERING_REL_TOL``, or None
    when the model has no LRN to lower.
    """
    from alexnet_deploy.artifacts.onnx_meta import load_onnx
    from alexnet_deploy.runtimes.base import logits
    from alexnet_deploy.runtimes.registry import open_runner
    from alexnet_deploy.verify.compare import compare_logits

    model = load_onnx(model_path)
    if not lower_lrn(model):
        return None
    with open_runner("ort-cpu", str(model_path)) as runner:
        reference = logits(runner, images)
    with open_runner("ort-cpu", model.SerializeToString()) as runner:
        candidate = logits(runner, images)
    return compare_logits(reference, candidate, rel_tol=LOWERING_REL_TOL, image_source="calibration images")

