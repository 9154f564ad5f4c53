"""Statistics of one run's latencies: spread, percentiles, and how far the tail can be trusted.

Percentiles use linear interpolation between order statistics (numpy's
default). A tail percentile from a handful of queries says little, so every
percentile also gets MLPerf's early-stopping treatment (LoadGen's
``early_stopping.cc``): with ``n`` queries, find the largest ``t`` such that
``P(Binomial(n, 1 - p) <= t) <= 1 - confidence``; the ``t``-th largest latency
is then an upper bound on the true ``p`` percentile at that confidence. When
even ``t = 1`` does not hold, too few queries back the percentile (for p90 at
99% confidence that is fewer than 64) and the report says how many it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from alexnet_deploy.bench.config import fmt_pct

CONFIDENCE = 0.99  # LoadGen's early-stopping confidence


@dataclass
class TailBound:
    """MLPerf-style early-stopping bound of one percentile."""

    percentile: float
    queries: int  # how many queries the run has
    queries_needed: int  # the fewest with which any bound can be stated
    bound_ms: float | None  # None when queries < queries_needed
    confidence: float = CONFIDENCE

    def statement(self) -> str:
        name = f"p{fmt_pct(self.percentile)}"
        if self.bound_ms is None:
            return (f"{name} rests on {self.queries} queries; at least {self.queries_needed} are needed to bound it "
                    f"(MLPerf early stopping, {self.confidence:.0%} confidence)")
        return (f"{name} backed by {self.queries} queries (at least {self.queries_needed} needed): true {name} "
                f"<= {self.bound_ms:.3f} ms with {self.confidence:.0%} confidence (MLPerf early stopping)")


@dataclass
class LatencyStats:
    """Summary of per-iteration latencies, in milliseconds."""

    count: int
    min_ms: float
    max_ms: float
    mean_ms: float
    median_ms: float
    std_ms: float
    cv: float  # std / mean
    percentiles_ms: dict[str, float] = field(default_factory=dict)  # "90" -> ms
    tail_bounds: list[TailBound] = field(default_factory=list)

    def percentile(self, p: float) -> float | None:
        return self.percentiles_ms.get(fmt_pct(p))


def summarize(latencies_s, percentiles=(50.0, 90.0, 95.0, 99.0), *, confidence: float = CONFIDENCE) -> LatencyStats:
    """LatencyStats of ``latencies_s`` (seconds, at least one)."""
    ms = np.asarray(latencies_s, dtype=np.float64) * 1e3
    if ms.size == 0:
        raise ValueError("no latencies to summarise")
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    values = np.percentile(ms, list(percentiles)) if percentiles else []
    ordered = np.sort(ms)
    return LatencyStats(
        count=int(ms.size), min_ms=float(ordered[0]), max_ms=float(ordered[-1]), mean_ms=mean,
        median_ms=float(np.median(ms)), std_ms=std, cv=std / mean if mean > 0 else 0.0,
        percentiles_ms={fmt_pct(p): float(v) for p, v in zip(percentiles, values)},
        tail_bounds=[tail_bound(ordered, p, confidence=confidence) for p in percentiles],
    )


def throughput(latencies_s, batch: int) -> float:
    """Images per second of back-to-back iterations of ``batch`` images."""
    total = float(np.sum(latencies_s))
    return batch * len(latencies_s) / total if total > 0 else 0.0


def _log_pmfs(n: int, q: float, start: int):
    """log P(Binomial(n, q) = k) for k = start, start + 1, ... (a recurrence: one lgamma in all)."""
    log_ratio = math.log(q) - math.log1p(-q)
    log_pmf = (math.lgamma(n + 1) - math.lgamma(start + 1) - math.lgamma(n - start + 1) + start * math.log(q)
               + (n - start) * math.log1p(-q))
    for k in range(start, n + 1):
        yield k, log_pmf
        if k < n:
            log_pmf += math.log(n - k) - math.log(k + 1) + log_ratio


def queries_needed(percentile: float, *, confidence: float = CONFIDENCE) -> int:
    """The fewest queries that let early stopping bound ``percentile`` (64 for p90 at 99%)."""
    q = 1.0 - percentile / 100.0
    n = 2
    while (1 - q) ** n + n * q * (1 - q) ** (n - 1) > 1 - confidence:  # P(Binomial(n, q) <= 1)
        n += 1
    return n


def early_stopping_overlatency(n: int, percentile: float, *, confidence: float = CONFIDENCE) -> int:
    """LoadGen's ``t``: the largest count with ``P(Binomial(n, 1-p) <= t) <= 1 - confidence`` (0 if none)."""
    q = 1.0 - percentile / 100.0
    # Terms more than 10 standard deviations below the mean add under 1e-20: start the sum there.
    start = max(0, int(n * q - 10 * math.sqrt(n * q * (1 - q))))
    cdf, t = 0.0, max(start - 1, 0)
    for k, log_pmf in _log_pmfs(n, q, start):
        cdf += math.exp(log_pmf)  # stops below the mean n*q, where the CDF passes 1 - confidence
        if cdf > 1 - confidence:
            break
        t = k
    return t


def tail_bound(sorted_ms: np.ndarray, percentile: float, *, confidence: float = CONFIDENCE) -> TailBound:
    """Early-stopping bound of ``percentile`` from ascending latencies (ms)."""
    n = int(sorted_ms.size)
    needed = queries_needed(percentile, confidence=confidence)
    t = early_stopping_overlatency(n, percentile, confidence=confidence) if n >= needed else 0
    bound = float(sorted_ms[n - t]) if t >= 1 else None  # the t-th largest latency, as LoadGen takes it
    return TailBound(percentile=percentile, queries=n, queries_needed=needed, bound_ms=bound, confidence=confidence)
