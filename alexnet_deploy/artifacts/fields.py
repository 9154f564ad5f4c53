"""Checks of what an artifact says about itself: class names, input geometry, normalisation.

A checkpoint or an ONNX file is untrusted input. What it claims decides how
every later stage reads images and names predictions, so a wrong claim (3
class names for 10 outputs, a zero std, an input size of 67.5) must stop the
command with one sentence rather than give chance-level accuracy or a
traceback later. Each check raises ValueError with the reason; the loaders add
the file name and turn it into their own error.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from alexnet_deploy.core.limits import MAX_INPUT_SIZE, MAX_RESIZE


def class_names(raw: Any, *, outputs: int | None) -> tuple[str, ...]:
    """Distinct, non-empty names, as many as the model has outputs (when known)."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise ValueError(f"class_names is a {type(raw).__name__}, not a list of names")
    if not all(isinstance(n, str) for n in raw):
        raise ValueError("class_names holds something other than text")
    names = tuple(raw)
    if outputs is not None and len(names) != outputs:
        raise ValueError(f"it names {len(names)} classes but the model has {outputs} outputs")
    if any(not n.strip() for n in names):
        raise ValueError("a class name is empty")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"class names repeat ({', '.join(repr(n) for n in twice[:3])})")
    return names


def whole_number(raw: Any, name: str, *, low: int, high: int) -> int:
    """An integer (an integral float is accepted) in [low, high]."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"{name} is {raw!r}, not a whole number")
    if isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
        raise ValueError(f"{name} is {raw!r}, not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name} is {value}, outside {low} to {high}")
    return value


def input_size(raw: Any, *, low: int = 1) -> int:
    """The crop size the model takes, within what it can run (``low``) and ``limits.MAX_INPUT_SIZE``."""
    return whole_number(raw, "input_size", low=low, high=MAX_INPUT_SIZE)


def resize(raw: Any) -> int:
    """The shorter side images are resized to before the crop."""
    return whole_number(raw, "resize", low=1, high=MAX_RESIZE)


def channel_triple(raw: Any, name: str, *, positive: bool = False) -> tuple[float, float, float]:
    """Three finite numbers (one per RGB channel); ``positive`` refuses zero and below (a std)."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence) or len(raw) != 3:
        shown = len(raw) if isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)) else type(raw).__name__
        raise ValueError(f"{name} must hold 3 values (one per RGB channel), got {shown}")
    values = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} holds {v!r}, not a finite number")
        if positive and v <= 0:
            raise ValueError(f"{name} holds {v!r}, but images are divided by it, so every value must be above 0")
        values.append(float(v))
    return values[0], values[1], values[2]
