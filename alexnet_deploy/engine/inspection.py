"""The precision each engine layer runs in, read from the engine inspector's JSON (pure).

With ``ProfilingVerbosity.DETAILED`` the inspector's ``get_engine_information``
gives ``{"Layers": [{"Name", "LayerType", "Inputs": [...], "Outputs": [...],
...}], ...}``. A layer runs in the precision of its first input, the rule
NVIDIA's engine explorer (trex) uses: a convolution fed INT8 runs INT8 even
when it writes FP16 or FP32. TensorRT 10 describes a tensor's type inside one
string (``"Format/Datatype": "Thirty-two wide channel vectorized row major
Int8 format"``); TensorRT 11 splits it into ``"Format"`` and ``"DataType"``
and lists I/O under ``"I/O Tensors"`` instead of ``"Bindings"``: both read.
Built with less verbosity, layers are bare names and their precision is
``unknown``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# Words TensorRT uses for element types, longest first so that "BFloat16" is not read as "Float".
_TYPE_WORDS = (
    ("BFloat16", "BF16"), ("BF16", "BF16"), ("Float16", "FP16"), ("Half", "FP16"), ("FP16", "FP16"),
    ("FP32", "FP32"), ("Float", "FP32"), ("FP8", "FP8"), ("FP4", "FP4"), ("UInt8", "UINT8"), ("Int8", "INT8"),
    ("INT8", "INT8"), ("Int4", "INT4"), ("INT4", "INT4"), ("Int32", "INT32"), ("INT32", "INT32"),
    ("Int64", "INT64"), ("INT64", "INT64"), ("Bool", "BOOL"), ("BOOL", "BOOL"),
)
_WORD = {word: name for word, name in _TYPE_WORDS}
_PATTERN = re.compile(r"\b(" + "|".join(re.escape(w) for w, _ in _TYPE_WORDS) + r")\b")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class LayerSummary:
    """Per-layer precision and the count of layers per precision."""

    layers: tuple[tuple[str, str, str], ...]  # (name, type, precision)
    counts: dict[str, int] = field(default_factory=dict)

    def runs(self, precision: str) -> int:
        return self.counts.get(precision, 0)


def tensor_precision(tensor: dict[str, Any]) -> str:
    """``FP32``/``FP16``/``INT8``/... of one tensor entry of a layer (either TensorRT's 10 or 11 form)."""
    for key in ("DataType", "Format/Datatype", "Format"):
        text = tensor.get(key)
        if isinstance(text, str):
            match = _PATTERN.search(text)
            if match:
                return _WORD[match.group(1)]
    return UNKNOWN


def layer_precision(layer: Any) -> str:
    """The precision a layer runs in: that of its first input (UNKNOWN without detail or inputs)."""
    if not isinstance(layer, dict):
        return UNKNOWN
    inputs = layer.get("Inputs") or []
    first = inputs[0] if inputs and isinstance(inputs[0], dict) else None
    return tensor_precision(first) if first else UNKNOWN


def summarize_layers(info_json: str) -> LayerSummary:
    """Layer precisions from ``EngineInspector.get_engine_information(LayerInformationFormat.JSON)``."""
    info = json.loads(info_json)
    raw_layers = info.get("Layers", []) if isinstance(info, dict) else []
    layers = []
    for layer in raw_layers:
        if isinstance(layer, dict):
            name = str(layer.get("Name", ""))
            kind = str(layer.get("ParameterType") or layer.get("LayerType") or "")
        else:
            name, kind = str(layer), ""
        layers.append((name, kind, layer_precision(layer)))
    counts: dict[str, int] = {}
    for _, _, precision in layers:
        counts[precision] = counts.get(precision, 0) + 1
    return LayerSummary(layers=tuple(layers), counts=dict(sorted(counts.items())))


def int8_failure(summary: LayerSummary) -> str:
    """The failed check of an INT8 build in which no layer runs INT8 ("" when some do)."""
    if summary.runs("INT8"):
        return ""
    spread = ", ".join(f"{n} {p}" for p, n in summary.counts.items()) or "no layers reported"
    total = sum(summary.counts.values())
    return (f"int8 layers: 0 of {total} engine layers run INT8 ({spread}); TensorRT ignored the Q/DQ nodes, so "
            f"this would be a higher-precision engine under an INT8 name")
