"""Error statistics of a candidate's outputs against a reference's, as Polygraphy defines them.

Absolute error is ``|candidate - reference|``; relative error divides it by
``|reference|``, with exact zeros in the reference raised to 2.22e-16 first
(Polygraphy's epsilon) so the division stays finite. Polygraphy's element-wise
check fails an element only when both errors exceed their tolerances, so the
smallest single tolerance that would pass everything is the largest absolute
error, or the largest relative error: ``min_abs_tol`` / ``min_rel_tol``.

``LayerStats`` accumulates the same comparison chunk by chunk for activations
too large to keep: cosine similarity, the largest error relative to the largest
reference value, and the signal-to-quantization-noise ratio in dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alexnet_deploy.core.results import Result

EPSILON = 2.220446049250313e-16  # Polygraphy's: added to zeros in the reference before dividing
QUANTILE = 0.99
# Bins of the error histogram: |error| / max |reference|, log10 from 1e-10 to 10, four bins a decade.
HISTOGRAM_DECADES = (-10, 1)
BINS_PER_DECADE = 4


@dataclass
class ErrorStats(Result):
    """Element-wise errors of two equally shaped arrays (N, ...) and per-sample cosine similarity."""

    elements: int
    max_abs: float
    mean_abs: float
    median_abs: float
    p99_abs: float
    max_rel: float
    mean_rel: float
    median_rel: float
    p99_rel: float
    max_abs_reference: float  # the largest |reference| value: the scale the fp32 rule measures against
    cosine_min: float  # the least similar sample
    cosine_mean: float
    nonfinite: int  # NaN or Inf values in the candidate

    @property
    def min_abs_tol(self) -> float:
        """The smallest absolute tolerance that passes every element (Polygraphy's 'abs=')."""
        return self.max_abs

    @property
    def min_rel_tol(self) -> float:
        """The smallest relative tolerance that passes every element (Polygraphy's 'rel=')."""
        return self.max_rel

    @property
    def max_abs_over_scale(self) -> float:
        """The largest absolute error as a share of the largest |reference| value."""
        return self.max_abs / self.max_abs_reference if self.max_abs_reference else self.max_abs

    def describe_tolerance(self) -> str:
        return f"abs={self.min_abs_tol:.5g} OR rel={self.min_rel_tol:.5g}"


@dataclass
class Histogram:
    """Counts of scaled errors in log-spaced bins; ``zeros`` counts exact matches, ``over`` those past the last edge."""

    edges: list[float]
    counts: list[int]
    zeros: int = 0
    over: int = 0


def error_histogram(reference: np.ndarray, candidate: np.ndarray) -> Histogram:
    """Histogram of ``|candidate - reference| / max |reference|`` (non-finite errors count as ``over``)."""
    ref = np.asarray(reference, dtype=np.float64)
    error = np.abs(np.asarray(candidate, dtype=np.float64) - ref).ravel()
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    scaled = error / scale if scale else error
    low, high = HISTOGRAM_DECADES
    edges = np.logspace(low, high, (high - low) * BINS_PER_DECADE + 1)
    finite = scaled[np.isfinite(scaled)]
    counts, _ = np.histogram(np.clip(finite[finite > 0], edges[0], None), bins=edges)
    return Histogram(edges=[float(e) for e in edges], counts=[int(c) for c in counts], zeros=int((finite == 0).sum()),
                     over=int((finite > edges[-1]).sum() + (~np.isfinite(scaled)).sum()))


def error_stats(reference: np.ndarray, candidate: np.ndarray) -> ErrorStats:
    """Compare ``candidate`` with ``reference`` (same shape; the first axis indexes samples)."""
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(f"cannot compare arrays of shapes {cand.shape} and {ref.shape}")
    if ref.size == 0:
        nan = float("nan")
        return ErrorStats(0, nan, nan, nan, nan, nan, nan, nan, nan, 0.0, nan, nan, 0)
    absolute = np.abs(cand - ref)
    denominator = np.abs(ref)
    denominator[denominator == 0] = EPSILON
    relative = absolute / denominator
    cosines = _cosines(ref.reshape(len(ref), -1), cand.reshape(len(cand), -1))
    return ErrorStats(
        elements=int(ref.size),
        max_abs=float(absolute.max()),
        mean_abs=float(absolute.mean()),
        median_abs=float(np.median(absolute)),
        p99_abs=float(np.quantile(absolute, QUANTILE)),
        max_rel=float(relative.max()),
        mean_rel=float(relative.mean()),
        median_rel=float(np.median(relative)),
        p99_rel=float(np.quantile(relative, QUANTILE)),
        max_abs_reference=float(np.abs(ref).max()),
        cosine_min=float(cosines.min()),
        cosine_mean=float(cosines.mean()),
        nonfinite=int((~np.isfinite(cand)).sum()),
    )


def _cosines(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row pair; two all-zero rows are identical (1), one all-zero row is 0."""
    dot = (ref * cand).sum(axis=1)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    both_zero = (np.linalg.norm(ref, axis=1) == 0) & (np.linalg.norm(cand, axis=1) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(norms > 0, dot / np.where(norms > 0, norms, 1), 0.0)
    return np.where(both_zero, 1.0, out)


class LayerStats:
    """Running comparison of one activation tensor, fed one chunk of images at a time."""

    def __init__(self) -> None:
        self.signal = 0.0  # sum of reference**2
        self.noise = 0.0  # sum of (candidate - reference)**2
        self.dot = 0.0
        self.candidate_energy = 0.0
        self.max_abs_error = 0.0
        self.max_abs_reference = 0.0
        self.nonfinite = 0
        self.elements = 0

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        ref = np.asarray(reference, dtype=np.float64).ravel()
        cand = np.asarray(candidate, dtype=np.float64).ravel()
        if ref.shape != cand.shape:
            raise ValueError(f"cannot compare activations of {cand.size} and {ref.size} values")
        finite = np.isfinite(cand)
        self.nonfinite += int((~finite).sum())
        self.elements += ref.size
        error = cand - ref
        self.signal += float(ref @ ref)
        self.noise += float(error @ error) if finite.all() else math.inf
        self.dot += float(ref @ cand) if finite.all() else 0.0
        self.candidate_energy += float(cand @ cand) if finite.all() else math.inf
        if ref.size:
            self.max_abs_error = max(self.max_abs_error, float(np.abs(error).max()) if finite.all() else math.inf)
            self.max_abs_reference = max(self.max_abs_reference, float(np.abs(ref).max()))

    @property
    def cosine(self) -> float:
        if self.nonfinite:
            return float("nan")
        norms = math.sqrt(self.signal) * math.sqrt(self.candidate_energy)
        if norms == 0:
            return 1.0 if self.signal == self.candidate_energy == 0 else 0.0
        return max(-1.0, min(1.0, self.dot / norms))  # rounding can put it a hair past 1

    @property
    def relative_error(self) -> float:
        """The largest absolute error over the largest |reference| value."""
        if self.max_abs_reference == 0:
            return 0.0 if self.max_abs_error == 0 else math.inf
        return self.max_abs_error / self.max_abs_reference

    @property
    def sqnr_db(self) -> float:
        """10 log10(signal energy / error energy); inf when the candidate is exact."""
        if self.noise == 0:
            return math.inf
        if self.signal == 0 or math.isinf(self.noise):
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)
