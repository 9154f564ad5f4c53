"""When a converted model passes: one preset of limits per precision, each limit overridable.

* fp32: max |logit error| <= 1e-4 x the largest |reference logit|, and 100 %
  top-1 agreement (near-ties within that tolerance count as agreeing);
* fp16: top-1 agreement >= 99.5 % and a top-1 drop of at most 0.3 pp;
* int8: a top-1 drop of at most 1.0 pp.

Per layer (``--per-layer``) an activation passes while its SQNR stays at or
above ``layer_min_sqnr_db``: 60 dB for fp32, 30 dB for fp16, 15 dB for int8.
Measured here: onnxruntime and OpenVINO fp32 layers sit above 110 dB, the demo
model's fp16 layers at 66-72 dB and its INT8 layers at 32-42 dB (an untrained
net's INT8 layers down to 24 dB); a layer whose weights are 50x off sits near
-34 dB and an LRN with beta 0.5 instead of 0.75 near 15 dB (the demo model).

An override is ``VALUE`` (every precision) or ``PRECISION=VALUE`` (one), and
``off`` as the value drops the check.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Iterable

from alexnet_deploy.errors import InputError

PRECISIONS = ("fp32", "fp16", "int8")
OFF = "off"


@dataclass(frozen=True)
class Preset:
    """The limits one precision is held to; None leaves a check out."""

    precision: str
    rel_tol: float | None = None  # max |logit error| / max |reference logit|
    min_agreement: float | None = None  # top-1 agreement with the reference, percent
    max_drop: float | None = None  # top-1 drop vs the reference, percentage points (needs labels)
    tie_tol: float = 1e-4  # a different top-1 whose reference logits lie this close (relative) is a tie
    layer_min_sqnr_db: float | None = None  # per-layer: the lowest SQNR an activation may have

    def describe(self) -> str:
        parts = []
        if self.rel_tol is not None:
            parts.append(f"max |logit err| <= {self.rel_tol:g} x max |logit|")
        if self.min_agreement is not None:
            parts.append(f"agreement >= {self.min_agreement:g} %")
        if self.max_drop is not None:
            parts.append(f"top-1 drop <= {self.max_drop:g} pp")
        return ", ".join(parts) or "finite outputs only"


PRESETS: dict[str, Preset] = {
    "fp32": Preset("fp32", rel_tol=1e-4, min_agreement=100.0, tie_tol=1e-4, layer_min_sqnr_db=60.0),
    "fp16": Preset("fp16", min_agreement=99.5, max_drop=0.3, tie_tol=1e-3, layer_min_sqnr_db=30.0),
    "int8": Preset("int8", max_drop=1.0, tie_tol=1e-3, layer_min_sqnr_db=15.0),
}

# CLI option name -> Preset field
OVERRIDABLE = {"rel-tol": "rel_tol", "min-agreement": "min_agreement", "max-drop": "max_drop",
               "layer-min-sqnr": "layer_min_sqnr_db"}


def parse_override(option: str, text: str) -> tuple[tuple[str, ...], str, float | None]:
    """``"int8=2"`` -> (("int8",), field, 2.0); ``"0.5"`` applies to every precision; ``off`` drops the check."""
    if option not in OVERRIDABLE:
        raise InputError(f"Unknown limit {option!r}; choose one of: {', '.join(OVERRIDABLE)}.")
    precision, sep, value = text.partition("=")
    if not sep:
        precision, value = "", text
    targets = PRECISIONS if not precision else (precision.strip(),)
    if targets[0] not in PRECISIONS:
        raise InputError(f"--{option} {text}: {targets[0]!r} is not a precision; use one of "
                         f"{', '.join(PRECISIONS)}, e.g. --{option} int8=2.")
    value = value.strip()
    if value.lower() == OFF:
        return targets, OVERRIDABLE[option], None
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"--{option} {text}: {value!r} is not a number; give VALUE, PRECISION=VALUE or "
                         f"PRECISION={OFF}.") from None
    if option != "layer-min-sqnr" and number < 0:
        raise InputError(f"--{option} {text}: the limit must not be negative.")
    if option == "min-agreement" and number > 100:
        raise InputError(f"--{option} {text}: agreement is a percentage, at most 100.")
    return targets, OVERRIDABLE[option], number


def presets_with(overrides: Iterable[tuple[str, str]] = ()) -> dict[str, Preset]:
    """The default presets with ``(option, text)`` overrides applied in order (later ones win)."""
    out = dict(PRESETS)
    for option, text in overrides:
        targets, name, value = parse_override(option, text)
        for precision in targets:
            out[precision] = replace(out[precision], **{name: value})
    return out


def preset_for(precision: str, presets: dict[str, Preset]) -> Preset:
    """The preset of ``precision``; an unknown precision (an engine without a sidecar) gets fp32's."""
    return presets.get(precision, presets["fp32"])


def preset_dict(preset: Preset) -> dict:
    return {f.name: getattr(preset, f.name) for f in fields(preset)}
