"""What verify found: one row per (artifact, backend) against the PyTorch reference, and how a row is scored.

A row holds task accuracy (top-1 / top-5 and the change vs the reference),
top-1 agreement, the logit error statistics and the checks of its precision's
preset; it passes when every check does. Scoring goes through the same
``Scorer`` as ``eval`` and the same agreement rule as export and fp16, so the
figures here and there mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from alexnet_deploy.core.results import Result
from alexnet_deploy.verify.accuracy import EvalResult, Scorer
from alexnet_deploy.verify.compare import compare_logits
from alexnet_deploy.verify.layers import LayerReport
from alexnet_deploy.verify.presets import Preset
from alexnet_deploy.verify.stats import ErrorStats, Histogram, error_histogram, error_stats


@dataclass
class Check:
    """One limit of a preset, the measured value and whether it held."""

    name: str
    value: float
    limit: float
    op: str  # "<=" or ">="
    unit: str = ""
    passed: bool = True

    def describe(self) -> str:
        return f"{self.name} {self.value:.4g}{self.unit} (limit {self.op} {self.limit:g}{self.unit})"


@dataclass
class VerifyRow(Result):
    """One artifact on one backend against the reference."""

    artifact: str
    backend: str
    precision: str
    preset: Preset
    runner: dict[str, str]
    images: int
    stats: ErrorStats
    agreement: float  # percent of images whose top-1 is the reference's
    top1_agree: int
    top1_ties: int  # disagreements where the reference's two logits lie within the preset's tie tolerance
    top1: float | None = None  # percent; None without labels
    top5: float | None = None
    top1_change: float | None = None  # percentage points vs the reference
    checks: list[Check] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # limits that could not be checked, and why
    layers: LayerReport | None = None
    histogram: Histogram | None = None  # of |logit error| / max |reference logit|, for the report's plot

    def failures(self) -> list[str]:
        return [f"{self.artifact} on {self.backend}: {c.describe()}" for c in self.checks if not c.passed]


@dataclass
class ReferenceRow:
    """The PyTorch fp32 model every row is compared with."""

    checkpoint: str
    backend: str
    runner: dict[str, str]
    accuracy: EvalResult | None = None  # the same figures `alexnet-deploy eval` gives on these images


@dataclass
class VerifyResult(Result):
    """Every row of a verify run; truthy when every row passed its preset."""

    checkpoint: str
    checkpoint_sha256: str
    data: str
    images: int
    labelled: bool
    reference: ReferenceRow
    rows: list[VerifyRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self) -> list[str]:
        return [failure for row in self.rows for failure in row.failures()]


def accuracy_of(logits: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *, source: str,
                split: str) -> EvalResult:
    """Top-1 / top-5 / per class of ``logits`` through eval's Scorer."""
    scorer = Scorer(class_names)
    scorer.add(logits, labels)
    result = scorer.result(split=split)
    result.source = source
    return result


def score_row(*, artifact: str, backend: str, precision: str, preset: Preset, runner: dict[str, str],
              reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None,
              reference_accuracy: EvalResult | None, class_names: Sequence[str]) -> VerifyRow:
    """Compare ``candidate`` logits with ``reference`` and check them against ``preset``."""
    stats = error_stats(reference, candidate)
    parity = compare_logits(reference, candidate, rel_tol=preset.rel_tol or 0.0, tie_tol=preset.tie_tol,
                            image_source="images")
    row = VerifyRow(artifact=artifact, backend=backend, precision=precision, preset=preset, runner=runner,
                    images=len(reference), stats=stats,
                    agreement=100.0 * parity.top1_agree / len(reference) if len(reference) else 100.0,
                    top1_agree=parity.top1_agree, top1_ties=parity.top1_ties,
                    histogram=error_histogram(reference, candidate))
    row.checks.append(Check("non-finite logits", float(stats.nonfinite), 0.0, "<=", passed=stats.nonfinite == 0))
    if preset.rel_tol is not None:
        value = stats.max_abs_over_scale
        row.checks.append(Check("max |logit err| / max |logit|", value, preset.rel_tol, "<=",
                                passed=bool(value <= preset.rel_tol)))
    if preset.min_agreement is not None:
        # A different top-1 between two reference logits closer than the tie tolerance is rounding, not error.
        counted = 100.0 * parity.agreement
        row.checks.append(Check("top-1 agreement (near-ties agree)", counted, preset.min_agreement, ">=", unit=" %",
                                passed=bool(round(counted, 9) >= preset.min_agreement)))
    if labels is not None and reference_accuracy is not None:
        accuracy = accuracy_of(candidate, labels, class_names, source="", split="")
        row.top1, row.top5 = accuracy.top1_percent, 100.0 * accuracy.top5
        row.top1_change = round(row.top1 - reference_accuracy.top1_percent, 9)
        if preset.max_drop is not None:
            drop = -row.top1_change
            row.checks.append(Check("top-1 drop", drop, preset.max_drop, "<=", unit=" pp",
                                    passed=bool(drop <= preset.max_drop)))
    elif preset.max_drop is not None:
        row.not_checked.append(f"top-1 drop <= {preset.max_drop:g} pp (no labels)")
    return row
