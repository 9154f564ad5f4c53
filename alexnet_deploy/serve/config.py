"""config.pbtxt: a TritonModel in the protobuf text format of Triton's ModelConfig.

Written by hand rather than through the protobuf schema so that exporting
needs no Triton package; the tests parse every config with Triton's own
ModelConfig schema.
"""

from __future__ import annotations

from alexnet_deploy.serve.spec import TensorConfig, TritonModel


def render_config(model: TritonModel) -> str:
    """The config.pbtxt text of ``model``."""
    lines = [
        f"name: {_quote(model.name)}",
        f"platform: {_quote(model.platform)}",
        f"backend: {_quote(model.backend)}",
        f"max_batch_size: {model.max_batch_size}",
        _tensors("input", model.inputs),
        _tensors("output", model.outputs),
        "instance_group [",
        "  {",
        f"    count: {model.instance_count}",
        f"    kind: {model.instance_kind}",
        "  }",
        "]",
    ]
    if model.max_batch_size > 0:
        lines.append("dynamic_batching {")
        if model.preferred_batch_sizes:
            lines.append(f"  preferred_batch_size: {_list(model.preferred_batch_sizes)}")
        lines.append(f"  max_queue_delay_microseconds: {model.max_queue_delay_us}")
        lines.append("}")
    return "\n".join(lines) + "\n"


def _tensors(field: str, tensors: list[TensorConfig]) -> str:
    blocks = []
    for tensor in tensors:
        body = [f"    name: {_quote(tensor.name)}", f"    data_type: {tensor.data_type}",
                f"    dims: {_list(tensor.dims)}"]
        if tensor.label_filename:
            body.append(f"    label_filename: {_quote(tensor.label_filename)}")
        blocks.append("  {\n" + "\n".join(body) + "\n  }")
    return f"{field} [\n" + ",\n".join(blocks) + "\n]"


def _list(values: list[int]) -> str:
    return "[ " + ", ".join(str(v) for v in values) + " ]"


def _quote(text: str) -> str:
    """A protobuf text-format string literal (tensor names come from the model file: escape them)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'
