"""``bench compare``: a regression gate that noise alone does not trip.

Rows of two records are matched by backend, precision, variant and batch. For
p50 and p99 the ratio NEW / OLD gets a bootstrap confidence interval from the
kept per-iteration latencies, and a ratio fails only when the lower bound of
its interval is above ``fail_above``: a slowdown the data shows beyond doubt,
not a noisy one.

Latencies are a time series: other load, memory traffic from neighbours and
clock changes make neighbouring iterations alike, and a run drifts by 10-20%
from one second to the next on a shared machine. Resampling single iterations
would ignore that and give intervals far too narrow (measured here: two runs a
minute apart, 15% apart, with an interval of +-3%). So each run is cut into
ten contiguous stretches in time order, and a resample draws ten stretches
with replacement: drift within a run widens the interval as it should. Runs
longer than 10,000 iterations are thinned evenly (order kept) for the
resampling; the point ratio uses every latency. Drift between runs that one
run does not show (the machine got busier) is what the threshold absorbs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alexnet_deploy.bench.results import BenchResult, BenchRow, row_names
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError

METRICS = {"p50": 50.0, "p99": 99.0}
SEGMENTS = 10  # contiguous stretches of a run, resampled whole
MAX_RESAMPLED = 10_000  # iterations per run the resampling works on (even thinning past that)


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
    segments: int = SEGMENTS  # contiguous stretches per run in the block bootstrap
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [f"{e.key} {r.metric} is {r.ratio:.3f}x the old one ({self.confidence:.0%} CI {r.low:.3f}-"
                f"{r.high:.3f}; lower bound above --fail-above {self.fail_above:g})"
                for e in self.entries for r in e.ratios if r.regressed]


def row_keys(rows: list[BenchRow]) -> dict[str, BenchRow]:
    """Match keys: backend, precision, variant, batch; plus the model's name where one record repeats a key."""
    return dict(zip(row_names(rows), rows))


def _stretches(latencies, segments: int) -> np.ndarray:
    """Latencies as (segments, m) contiguous stretches in time order; thinned evenly past MAX_RESAMPLED."""
    x = np.asarray(latencies, dtype=np.float64)
    if x.size > MAX_RESAMPLED:
        x = x[np.linspace(0, x.size - 1, MAX_RESAMPLED).astype(np.int64)]
    k = max(1, min(segments, x.size))
    m = x.size // k
    return x[: k * m].reshape(k, m)


def resampled_percentile(latencies, percentile: float, resamples: int, rng: np.random.Generator, *,
                         segments: int = SEGMENTS) -> np.ndarray:
    """The ``percentile`` of ``resamples`` block-bootstrap resamples: ``segments`` stretches drawn with replacement.

    With as many segments as latencies this is the ordinary bootstrap of single iterations.
    """
    stretches = _stretches(latencies, segments)
    k, m = stretches.shape
    out = np.empty(resamples)
    step = max(1, 4_000_000 // (k * m))  # resamples drawn at once, bounded in memory
    for start in range(0, resamples, step):
        n = min(step, resamples - start)
        picks = rng.integers(0, k, (n, k))
        out[start:start + n] = np.percentile(stretches[picks].reshape(n, k * m), percentile, axis=1)
    return out


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
