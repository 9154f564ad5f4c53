"""Error statistics: each figure against a plain numpy computation written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alexnet_deploy.verify.stats import EPSILON, LayerStats, error_histogram, error_stats


def _pair(seed: int = 0, shape=(16, 10)):
    rng = np.random.default_rng(seed)
    reference = rng.normal(0, 3, shape).astype(np.float32)
    candidate = (reference + rng.normal(0, 1e-2, shape)).astype(np.float32)
    return reference, candidate


def test_each_statistic_matches_numpy():
    reference, candidate = _pair()
    reference[0, 0] = 0.0  # a zero in the reference: Polygraphy's epsilon keeps the division finite
    stats = error_stats(reference, candidate)
    ref, cand = reference.astype(np.float64), candidate.astype(np.float64)
    absolute = np.abs(cand - ref)
    relative = absolute / np.where(ref == 0, EPSILON, np.abs(ref))
    assert stats.elements == ref.size and stats.nonfinite == 0
    assert stats.max_abs == pytest.approx(absolute.max(), rel=1e-12)
    assert stats.mean_abs == pytest.approx(absolute.mean(), rel=1e-12)
    assert stats.median_abs == pytest.approx(np.median(absolute), rel=1e-12)
    assert stats.p99_abs == pytest.approx(np.percentile(absolute, 99), rel=1e-12)
    assert stats.max_rel == pytest.approx(relative.max(), rel=1e-12) and stats.max_rel > 1e10
    assert stats.p99_rel == pytest.approx(np.percentile(relative, 99), rel=1e-12)
    cosines = [r @ c / (np.linalg.norm(r) * np.linalg.norm(c)) for r, c in zip(ref, cand)]
    assert stats.cosine_min == pytest.approx(min(cosines)) and stats.cosine_mean == pytest.approx(np.mean(cosines))
    # Polygraphy's minimum passing tolerance is the largest error of each kind.
    assert (stats.min_abs_tol, stats.min_rel_tol) == (stats.max_abs, stats.max_rel)
    assert stats.max_abs_over_scale == pytest.approx(absolute.max() / np.abs(ref).max())


def test_identical_arrays_and_non_finite_candidates():
    reference, _ = _pair(1)
    same = error_stats(reference, reference.copy())
    assert same.max_abs == 0 and same.max_rel == 0 and same.cosine_min == pytest.approx(1.0)
    broken = reference.copy()
    broken[3, 2] = np.nan
    broken[5, 1] = np.inf
    assert error_stats(reference, broken).nonfinite == 2
    with pytest.raises(ValueError):
        error_stats(reference, reference[:4])


def test_layer_stats_fed_in_chunks_equal_the_whole_computation():
    reference, candidate = _pair(2, shape=(12, 4, 5, 5))
    whole = LayerStats()
    whole.add(reference, candidate)
    chunked = LayerStats()
    for lo in range(0, 12, 5):
        chunked.add(reference[lo : lo + 5], candidate[lo : lo + 5])
    ref, cand = reference.astype(np.float64).ravel(), candidate.astype(np.float64).ravel()
    sqnr = 10 * math.log10((ref @ ref) / ((cand - ref) @ (cand - ref)))
    for stats in (whole, chunked):
        assert stats.sqnr_db == pytest.approx(sqnr, rel=1e-9)
        assert stats.cosine == pytest.approx(ref @ cand / (np.linalg.norm(ref) * np.linalg.norm(cand)), rel=1e-12)
        assert stats.relative_error == pytest.approx(np.abs(cand - ref).max() / np.abs(ref).max(), rel=1e-12)
    exact = LayerStats()
    exact.add(reference, reference)
    assert exact.sqnr_db == math.inf and exact.relative_error == 0
    off = LayerStats()
    off.add(reference, 50 * reference)  # a layer 50x too large: far below any floor
    assert off.sqnr_db == pytest.approx(-20 * math.log10(49), rel=1e-6)


def test_histogram_counts_every_logit_once():
    reference, candidate = _pair(3)
    candidate[0, :3] = reference[0, :3]  # three exact matches
    candidate[1, 0] = reference[1, 0] + 100 * np.abs(reference).max()  # past the last edge
    hist = error_histogram(reference, candidate)
    assert sum(hist.counts) + hist.zeros + hist.over == reference.size
    assert hist.zeros == 3 and hist.over == 1
    assert len(hist.edges) == len(hist.counts) + 1
