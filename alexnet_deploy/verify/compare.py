"""The rule for "a converted model gives the same answers as its reference", on logits.

Used by export (onnxruntime against PyTorch), fp16 (fp16 against fp32) and any
stage that must show a converted model still agrees with where it came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import ExportError

PARITY_REL_TOL = 1e-4


@dataclass
class ParityResult(Result):
    """Logits of a converted model against a reference; truthy when the gate passed.

    Passing means finite logits, ``max_abs_diff <= rel_tol * max_abs_logit``
    (skipped when ``rel_tol`` is 0) and top-1 agreement of at least ``min_agreement``. A
    different top-1 whose two reference logits lie within the tolerance is a
    tie, not a disagreement: an untrained model can have near-equal logits.
    ``agreement`` counts ties as agreeing; ``top1_agree`` alone does not.
    """

    images: int
    image_source: str
    max_abs_diff: float
    max_abs_logit: float
    rel_tol: float
    top1_agree: int
    top1_ties: int
    min_agreement: float = 1.0

    @property
    def tolerance(self) -> float:
        return self.rel_tol * self.max_abs_logit

    @property
    def agreement(self) -> float:
        return (self.top1_agree + self.top1_ties) / self.images if self.images else 1.0

    def failures(self) -> list[str]:
        out = []
        if not math.isfinite(self.max_abs_diff):
            out.append("logits: not all finite")
        elif self.rel_tol and self.max_abs_diff > self.tolerance:
            out.append(f"max |logit diff| {self.max_abs_diff:.3g} > allowed {self.tolerance:.3g} "
                       f"({self.rel_tol:g} x max |logit| {self.max_abs_logit:.3g})")
        if self.agreement < self.min_agreement:
            out.append(f"top-1 agreement {self.agreement:.2%} < {self.min_agreement:.2%} on {self.images} "
                       f"{self.image_source}")
        return out

    def describe(self) -> str:
        parts = [f"max |logit diff| {self.max_abs_diff:.3g}"]
        if self.rel_tol:
            parts.append(f"allowed {self.tolerance:.3g} = {self.rel_tol:g} x max |logit| {self.max_abs_logit:.3g}")
        parts.append(f"top-1 agreement {self.agreement:.2%} on {self.images} {self.image_source}")
        return ", ".join(parts)


def compare_logits(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    rel_tol: float,
    image_source: str,
    min_agreement: float = 1.0,
    tie_tol: float | None = None,
) -> ParityResult:
    """Compare two (N, classes) logit arrays; see ParityResult for the rule.

    ``tie_tol`` (relative to the largest |logit|, default ``rel_tol``) is how
    close two reference logits must be for a different top-1 to count as a tie.
    """
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ExportError(f"The model returns logits of shape {candidate.shape}, expected {reference.shape}.")
    max_logit = float(np.abs(reference).max()) if reference.size else 0.0
    diff = float(np.abs(reference - candidate).max()) if reference.size else 0.0
    if not np.isfinite(candidate).all():
        diff = float("inf")
    ref_top, cand_top = reference.argmax(axis=1), candidate.argmax(axis=1)
    rows = np.arange(len(reference))
    gap = np.abs(reference[rows, ref_top] - reference[rows, cand_top])
    agree = ref_top == cand_top
    tie_tol = rel_tol if tie_tol is None else tie_tol
    ties = ~agree & (gap <= max(tie_tol, 1e-6) * max_logit)
    return ParityResult(
        images=len(reference),
        image_source=image_source,
        max_abs_diff=diff,
        max_abs_logit=max_logit,
        rel_tol=rel_tol,
        top1_agree=int(agree.sum()),
        top1_ties=int(ties.sum()),
        min_agreement=min_agreement,
    )
