"""Latency statistics and MLPerf's early-stopping bound, checked against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alexnet_deploy.bench.stats import early_stopping_overlatency, queries_needed, summarize, tail_bound, throughput


def _binomial_cdf(t: int, n: int, q: float) -> float:
    # Exact binomial coefficients, combined in log space (they overflow floats for n in the thousands).
    return sum(math.exp(math.log(math.comb(n, k)) + k * math.log(q) + (n - k) * math.log1p(-q)) for k in range(t + 1))


def test_summary_matches_numpy():
    latencies = np.random.default_rng(0).lognormal(-6, 0.2, 500)
    stats = summarize(latencies, (50, 90, 99.9))
    ms = latencies * 1e3
    assert stats.count == 500
    assert stats.min_ms == pytest.approx(ms.min()) and stats.max_ms == pytest.approx(ms.max())
    assert stats.mean_ms == pytest.approx(ms.mean()) and stats.median_ms == pytest.approx(np.median(ms))
    assert stats.cv == pytest.approx(ms.std(ddof=1) / ms.mean())
    assert stats.percentiles_ms == pytest.approx({"50": np.percentile(ms, 50), "90": np.percentile(ms, 90),
                                                  "99.9": np.percentile(ms, 99.9)})
    assert stats.percentile(99.9) == stats.percentiles_ms["99.9"]


def test_one_latency_has_no_spread():
    stats = summarize([0.002])
    assert stats.std_ms == 0 and stats.cv == 0 and stats.percentiles_ms["99"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        summarize([])


def test_throughput_counts_images_per_second():
    assert throughput([0.01] * 10, batch=8) == pytest.approx(800.0)


def test_queries_needed_are_mlperfs():
    # MLPerf's single-stream rule: 64 queries before a p90 can be bounded; 662 for p99 (99% confidence).
    assert queries_needed(90) == 64 and queries_needed(99) == 662
    q = 0.1
    assert _binomial_cdf(1, 64, q) <= 0.01 < _binomial_cdf(1, 63, q)


@pytest.mark.parametrize("n, p", [(64, 90), (100, 90), (700, 99), (1000, 50), (5000, 95)])
def test_early_stopping_count_is_the_largest_passing_one(n, p):
    q = 1 - p / 100
    t = early_stopping_overlatency(n, p)
    assert t >= 1
    assert _binomial_cdf(t, n, q) <= 0.01 < _binomial_cdf(t + 1, n, q)


def test_the_bound_is_the_t_th_largest_latency_and_absent_below_the_minimum():
    ordered = np.arange(1, 101, dtype=np.float64)  # 1..100 ms
    bound = tail_bound(ordered, 90)
    t = early_stopping_overlatency(100, 90)
    assert bound.bound_ms == ordered[100 - t] and bound.queries == 100 and bound.queries_needed == 64
    assert "backed by 100 queries" in bound.statement()
    short = tail_bound(ordered[:63], 90)
    assert short.bound_ms is None and "at least 64 are needed" in short.statement()
    assert tail_bound(ordered[:64], 90).bound_ms == 64.0  # exactly enough: the largest latency bounds p90


def test_early_stopping_scales_to_a_million_queries():
    t = early_stopping_overlatency(1_000_000, 50)
    assert 498_000 < t < 500_000
