"""``bench compare``: a regression gate that noise alone does not trip.

Rows of two records are matched by backend, precision, variant and batch. For
p50 and p99 the ratio NEW / OLD gets a bootstrap confidence interval from the
kept per-iteration latencies: both samples are resampled with replacement,
the percentile taken of each resample, and the interval read off the ratios.
A ratio fails only when the lower bound of its interval is above
``fail_above``: a slowdown the data shows beyond doubt, not a noisy one.

Resampling treats iterations as independent; bursts of load make neighbouring
latencies alike, so the interval is on the narrow side, and the threshold
(10% by default) is what absorbs run-to-run drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alexnet_deploy.bench.results import BenchResult, BenchRow, row_names
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError

METRICS = {"p50": 50.0, "p99": 99.0}


@dataclass
class RatioCI:
    """NEW / OLD of one percentile with its bootstrap interval."""

    metric: str
    old_ms: float
    new_ms: float
    ratio: float
    low: float
    high: float
    regressed: bool


@dataclass
class CompareEntry:
    key: str  # backend precision[ variant] bN[ (model)]
    old_artifact: str
    new_artifact: str
    old_count: int
    new_count: int
    ratios: list[RatioCI]


@dataclass
class CompareResult(Result):
    old: str
    new: str
    fail_above: float
    confidence: float
    resamples: int
    seed: int
    entries: list[CompareEntry]
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [f"{e.key} {r.metric} is {r.ratio:.3f}x the old one ({self.confidence:.0%} CI {r.low:.3f}-"
                f"{r.high:.3f}; lower bound above --fail-above {self.fail_above:g})"
                for e in self.entries for r in e.ratios if r.regressed]


def row_keys(rows: list[BenchRow]) -> dict[str, BenchRow]:
    """Match keys: backend, precision, variant, batch; plus the model's name where one record repeats a key."""
    return dict(zip(row_names(rows), rows))


def resampled_percentile(latencies, percentile: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The ``percentile`` (nearest rank) of ``resamples`` bootstrap resamples of ``latencies``, drawn directly.

    A resample is ``F^-1(U_1..U_n)`` with ``F^-1`` the empirical quantile function, so its k-th smallest value
    is ``F^-1`` of the k-th smallest of n uniforms, which is Beta(k, n + 1 - k): one draw per resample
    instead of n, exactly the distribution that resampling and sorting would give.
    """
    ordered = np.sort(np.asarray(latencies, dtype=np.float64))
    n = ordered.size
    k = min(max(1, int(np.ceil(percentile / 100 * n))), n)
    u = rng.beta(k, n + 1 - k, size=resamples)
    return ordered[np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)]


def bootstrap_ratio(old_s, new_s, percentile: float, *, resamples: int, confidence: float,
                    rng: np.random.Generator) -> tuple[float, float, float]:
    """(ratio, low, high) of ``percentile`` NEW / OLD with a percentile-bootstrap interval."""
    ratio = float(np.percentile(new_s, percentile) / np.percentile(old_s, percentile))
    ratios = (resampled_percentile(new_s, percentile, resamples, rng)
              / resampled_percentile(old_s, percentile, resamples, rng))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return ratio, float(low), float(high)


def compare(old_path: str, new_path: str, *, fail_above: float = 1.10, confidence: float = 0.95,
            resamples: int = 2000, seed: int = 0) -> CompareResult:
    """Compare two ``bench --json`` records; InputError when they share no row."""
    if fail_above <= 0:
        raise InputError(f"--fail-above must be above 0, not {fail_above}.")
    if not 0 < confidence < 1:
        raise InputError(f"--confidence must lie between 0 and 1, not {confidence}.")
    if resamples < 100:
        raise InputError(f"--resamples must be at least 100, not {resamples}.")
    old, new = BenchResult.load(old_path), BenchResult.load(new_path)
    old_rows, new_rows = row_keys(old.rows), row_keys(new.rows)
    common = [k for k in new_rows if k in old_rows]
    if not common:
        raise InputError(f"{old_path} and {new_path} share no backend, precision and batch; compare runs of the "
                         f"same backends and batches.")
    rng = np.random.default_rng(seed)
    entries = []
    for key in common:
        a, b = old_rows[key], new_rows[key]
        if not a.latencies_s or not b.latencies_s:
            raise InputError(f"{key} has no stored latencies in one of the records; rerun alexnet-deploy bench.")
        ratios = []
        for metric, p in METRICS.items():
            ratio, low, high = bootstrap_ratio(a.latencies_s, b.latencies_s, p, resamples=resamples,
                                               confidence=confidence, rng=rng)
            ratios.append(RatioCI(metric=metric, old_ms=float(np.percentile(a.latencies_s, p)) * 1e3,
                                  new_ms=float(np.percentile(b.latencies_s, p)) * 1e3, ratio=ratio, low=low,
                                  high=high, regressed=low > fail_above))
        entries.append(CompareEntry(key=key, old_artifact=a.artifact, new_artifact=b.artifact,
                                    old_count=len(a.latencies_s), new_count=len(b.latencies_s), ratios=ratios))
    return CompareResult(old=str(old_path), new=str(new_path), fail_above=fail_above, confidence=confidence,
                         resamples=resamples, seed=seed, entries=entries,
                         only_old=[k for k in old_rows if k not in new_rows],
                         only_new=[k for k in new_rows if k not in old_rows])
