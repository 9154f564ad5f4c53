"""An ONNX graph checked against its own metadata before any stage uses it.

Metadata that parses is not yet metadata that is true: a graph whose input
is 3x224x224 while the metadata says 227, 10 outputs for 3 class names, an
fp16 graph labelled fp32 (the fp16 converter would run on it again), an
"int8" model without a single quantized weight, or an op onnxruntime has
never heard of, or external data that does not fit its file. ``check_graph`` compares the graph with ``ModelMeta`` and
names the first disagreement in one sentence; only the graph is read, never
the weights, so it costs nothing for large models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alexnet_deploy.errors import InputError

INPUT_NAME, OUTPUT_NAME = "input", "logits"  # what export writes and every stage feeds and reads
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
# Domains whose ops onnxruntime provides beyond the ONNX standard (its contrib ops).
EXTRA_DOMAINS = frozenset({"com.microsoft"})
_FLOAT, _FLOAT16 = 1, 10  # onnx.TensorProto element types
_INTEGER_WEIGHTS = frozenset({2, 3, 21, 22})  # uint8, int8, uint4, int4


def _dims(value_info) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _graph_inputs(proto) -> list:
    weights = {init.name for init in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in weights]


def _check_io(proto, meta: Any, where: str) -> None:
    inputs, outputs = _graph_inputs(proto), list(proto.graph.output)
    if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
        raise InputError(f"{where} has inputs {[i.name for i in inputs]} and outputs {[o.name for o in outputs]}; "
                         f"a model made by `alexnet-deploy export` has one input {INPUT_NAME!r} and one output "
                         f"{OUTPUT_NAME!r}.")
    for info, what in ((inputs[0], "input"), (outputs[0], "output")):
        if info.type.tensor_type.elem_type != _FLOAT:
            raise InputError(f"{where} has an {what} of element type {info.type.tensor_type.elem_type}, not float32 "
                             f"(every precision of this tool keeps float32 inputs and outputs).")
    size = meta.input_size
    given = _dims(inputs[0])
    if len(given) != 4 or given[1] not in (3, "?") or any(d != size for d in given[2:] if isinstance(d, int)):
        raise InputError(f"{where} takes input of shape {given}, but its metadata says images of 3x{size}x{size}; "
                         f"the file was changed after export, re-export it.")
    produced = _dims(outputs[0])
    classes = meta.num_classes
    if len(produced) != 2 or (isinstance(produced[1], int) and produced[1] != classes):
        raise InputError(f"{where} gives output of shape {produced}, but its metadata names {classes} classes; "
                         f"the file was changed after export, re-export it.")


def _check_ops(proto, where: str) -> None:
    import onnx

    for node in proto.graph.node:
        domain = node.domain or ""
        if domain in EXTRA_DOMAINS:
            continue
        if domain not in ("", "ai.onnx", "ai.onnx.ml") or not onnx.defs.has(node.op_type, domain):
            shown = f"{domain}::{node.op_type}" if domain else node.op_type
            raise InputError(f"{where} uses the operator {shown!r} (node {node.name!r}), which neither ONNX nor "
                             f"onnxruntime defines; it cannot be run.")


def graph_precision(proto) -> str:
    """What the graph itself is: ``int8`` (quantized weights in use), ``fp16`` (fp16 weights or casts), ``fp32``."""
    integer_weights = {init.name for init in proto.graph.initializer if init.data_type in _INTEGER_WEIGHTS}
    # Quantized weights feed a DequantizeLinear (QDQ) or a QLinear*/...Integer op directly (QOperator).
    if any(name in integer_weights for node in proto.graph.node for name in node.input[:1]):
        return "int8"
    if any(init.data_type == _FLOAT16 for init in proto.graph.initializer):
        return "fp16"
    for node in proto.graph.node:
        if node.op_type == "Cast" and any(a.name == "to" and a.i == _FLOAT16 for a in node.attribute):
            return "fp16"
    return "fp32"


def _check_precision(proto, meta: Any, where: str) -> None:
    actual = graph_precision(proto)
    if actual != meta.precision:
        raise InputError(f"{where} says it is {meta.precision} but its graph is {actual}; the metadata is wrong "
                         f"or the file was changed after it was made, make it again with alexnet-deploy.")
    if actual != "int8" and any(n.op_type in QDQ_OPS for n in proto.graph.node):
        raise InputError(f"{where} says it is {meta.precision} but holds QuantizeLinear/DequantizeLinear nodes; "
                         f"make it again with alexnet-deploy.")


def check_graph(proto, meta: Any, where: str) -> None:
    """Refuse (InputError) a graph that disagrees with ``meta``: I/O names, dtypes and shapes, ops, precision."""
    _check_io(proto, meta, where)
    _check_ops(proto, where)
    _check_precision(proto, meta, where)


def check_extent(tensor, info, data_file: Path, model_path: Path) -> None:
    """The bytes a tensor claims lie inside its data file and are as many as its shape needs."""
    import numpy as np
    from onnx import helper

    try:
        needed = int(np.prod(tensor.dims, dtype=np.int64)) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{model_path} has tensor {tensor.name!r} of unknown element type {tensor.data_type}; "
                         f"re-export the model.") from None
    offset = info.offset or 0
    length = needed if info.length is None else info.length
    available = data_file.stat().st_size
    if offset < 0 or length != needed or offset + length > available:
        raise InputError(f"{model_path} says tensor {tensor.name!r} is {length} bytes at offset {offset} of "
                         f"{data_file.name} ({available} bytes), but its shape needs {needed} bytes there; the data "
                         f"file is truncated or does not belong to this model, copy both again.")
