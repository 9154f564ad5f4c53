"""Graph checks and fixes for the INT8 QDQ scheme TensorRT needs (see ``quantize.py``).

Kept apart from the quantizer so the rules a QDQ model must satisfy can be read
and tested on their own, and reused by any stage that receives a QDQ model.
"""

from __future__ import annotations

import onnx

OP_TYPES = ("Conv", "Gemm", "MatMul")


def keep_lrn_outside_qdq(model: onnx.ModelProto) -> int:
    """Make every LRN read the float tensor instead of a DQ output; drop Q/DQ left unused. Returns rewires."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    rewired = 0
    for node in graph.node:
        if node.op_type != "LRN":
            continue
        dq = producer.get(node.input[0])
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is not None and q.op_type == "QuantizeLinear":
            node.input[0] = q.input[0]
            rewired += 1
    if rewired:
        _drop_dead_qdq(graph)
    return rewired


def _drop_dead_qdq(graph: onnx.GraphProto) -> None:
    while True:
        used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.output[0] not in used]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)


def qdq_problems(model: onnx.ModelProto) -> list[str]:
    """Everything in ``model`` that breaks the scheme of the module docstring (empty when it holds)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    problems: list[str] = []
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zp = inits.get(node.input[2])
            if zp is None:
                problems.append(f"{node.name} has a zero point that is not a constant")
            elif zp.data_type != onnx.TensorProto.INT8 or onnx.numpy_helper.to_array(zp).any():
                problems.append(f"{node.name} has a zero point that is not int8 0")
        if node.op_type == "DequantizeLinear":
            source = inits.get(node.input[0])
            if source is not None and source.data_type != onnx.TensorProto.INT8:
                problems.append(f"{node.name} dequantizes a non-int8 constant (a quantized bias?)")
        consumers = [c for c in graph.node if node.output and node.output[0] in c.input]
        if node.op_type == "DequantizeLinear":
            for c in consumers:
                if c.op_type not in OP_TYPES:
                    problems.append(f"{c.name} ({c.op_type}) consumes the dequantized {node.input[0]}")
        if node.op_type == "LRN":
            near = [producer.get(node.input[0])] + consumers
            if any(n is not None and n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in near):
                problems.append(f"LRN {node.name} has a Q/DQ on its input or output")
        if node.op_type in OP_TYPES:
            problems += _weight_problems(node, producer, inits)
    return problems


def _weight_problems(node: onnx.NodeProto, producer: dict, inits: dict) -> list[str]:
    """Per-channel weight axis and float bias of one Conv/Gemm/MatMul node."""
    problems = []
    dq = producer.get(node.input[1]) if len(node.input) > 1 else None
    if dq is not None and dq.op_type == "DequantizeLinear":
        axis = next((onnx.helper.get_attribute_value(a) for a in dq.attribute if a.name == "axis"), 1)
        trans_b = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
        rank = len(inits[dq.input[0]].dims) if dq.input[0] in inits else 2
        want = {"Conv": 0, "Gemm": 0 if trans_b else 1, "MatMul": rank - 1}[node.op_type]
        scale = inits.get(dq.input[1])
        if (axis % max(rank, 1)) != want or scale is None or len(scale.dims) != 1:
            problems.append(f"{node.name} weights are not per-channel on axis {want}")
    if len(node.input) > 2 and node.input[2]:
        bias_src = producer.get(node.input[2])
        if bias_src is not None and bias_src.op_type == "DequantizeLinear":
            problems.append(f"{node.name} has a quantized bias")
    return problems


def has_dq_input(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """True when ``node``'s activation input comes from a DequantizeLinear."""
    dq_outputs = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return bool(node.input) and node.input[0] in dq_outputs
