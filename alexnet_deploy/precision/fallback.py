"""Accuracy-guided INT8 fallback: the fewest layers back in FP32 that hold the top-1 drop in budget.

When INT8 top-1 drops more than ``max_drop`` percentage points below FP32,
every quantized layer is tried alone in FP32 (quantized again from the cached
ranges, nothing recalibrated) and ranked by how much top-1 comes back. Layers
are then returned to FP32 from the top of the ranking, one at a time, until the
drop is within budget: the fewest layers this greedy order needs. With every
layer in FP32 the model is no longer INT8, and ``max_layers`` caps how many
may go back: either way the result is a failed check rather than a silent
FP32 model called INT8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError


@dataclass
class LayerTrial:
    """Top-1 with one layer alone kept in FP32, and the points it gains back."""

    node: str
    top1: float
    recovered_pp: float


@dataclass
class FallbackResult(Result):
    """What the fallback search tried and kept in FP32; truthy when the drop is within budget."""

    fp32_top1: float
    int8_top1: float
    max_drop: float
    ranking: list[LayerTrial] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    final_top1: float = 0.0
    candidates: int = 0
    max_layers: int | None = None

    @property
    def final_drop(self) -> float:
        return self.fp32_top1 - self.final_top1

    def failures(self) -> list[str]:
        out = []
        if self.final_drop > self.max_drop:
            out.append(f"INT8 top-1 drop: {self.final_drop:.2f} pp > --max-drop {self.max_drop:g} pp "
                       f"(FP32 {self.fp32_top1:.2f} %, INT8 {self.final_top1:.2f} % with "
                       f"{len(self.excluded)} layer(s) in FP32)")
        elif self.candidates and len(self.excluded) == self.candidates:
            out.append(f"INT8 fallback: all {self.candidates} quantizable layers had to go back to FP32 to hold "
                       f"--max-drop {self.max_drop:g} pp, so no INT8 model is left")
        return out


def check_max_drop(max_drop: float | None, *, has_data: bool, max_layers: int | None = None) -> None:
    """Refuse a negative budget, or a budget (or layer cap) without labelled data to measure it on."""
    if max_drop is None:
        if max_layers is not None:
            raise InputError("--max-fp32-layers only applies with --max-drop; add --max-drop or drop it.")
        return
    if not has_data:
        raise InputError("--max-drop needs --data DIR (labelled images) to measure the INT8 top-1 drop on.")
    if not np.isfinite(max_drop) or max_drop < 0:
        raise InputError(f"--max-drop must be zero or more percentage points, got {max_drop}.")
    if max_layers is not None and max_layers < 0:
        raise InputError(f"--max-fp32-layers must be zero or more, got {max_layers}.")


def search_fallback(
    *,
    candidates: Sequence[str],
    top1_excluding: Callable[[Sequence[str]], float],
    fp32_top1: float,
    int8_top1: float,
    max_drop: float,
    max_layers: int | None = None,
    on_trial: Callable[[str, float], None] | None = None,
) -> FallbackResult:
    """Rank ``candidates`` by the top-1 each recovers alone, then keep the fewest in FP32 (greedy).

    ``top1_excluding(nodes)`` quantizes with ``nodes`` left in FP32 and returns
    its top-1 in percent. At most ``max_layers`` go back to FP32 (no cap: None).
    """
    check_max_drop(max_drop, has_data=True, max_layers=max_layers)
    result = FallbackResult(fp32_top1=fp32_top1, int8_top1=int8_top1, max_drop=max_drop, final_top1=int8_top1,
                            candidates=len(candidates), max_layers=max_layers)
    if result.final_drop <= max_drop or max_layers == 0:
        return result
    trials = []
    for node in candidates:
        score = top1_excluding([node])
        trials.append(LayerTrial(node=node, top1=score, recovered_pp=score - int8_top1))
        if on_trial is not None:
            on_trial(node, score)
    # Stable sort: ties keep graph order, so the same inputs always give the same choice.
    result.ranking = sorted(trials, key=lambda t: -t.top1)
    for trial in result.ranking:
        result.excluded.append(trial.node)
        # The first step's model is the one already measured in the ranking.
        result.final_top1 = trial.top1 if len(result.excluded) == 1 else top1_excluding(list(result.excluded))
        if result.final_drop <= max_drop or len(result.excluded) == max_layers:
            break
    return result
