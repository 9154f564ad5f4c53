"""bench compare: ratios with bootstrap intervals from the stored latencies, and the regression gate."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from alexnet_deploy.bench.compare import compare, resampled_percentile, row_keys
from alexnet_deploy.bench.energy import EnergyRecord
from alexnet_deploy.bench.results import SCHEMA_VERSION, BenchResult, BenchRow
from alexnet_deploy.bench.stats import summarize, throughput
from alexnet_deploy.errors import InputError


def _row(latencies, *, backend="ort-cpu", precision="fp32", batch=1, artifact="m.onnx") -> BenchRow:
    latencies = [float(x) for x in latencies]
    return BenchRow(backend=backend, device="cpu", precision=precision, batch=batch, variant="", artifact=artifact,
                    artifact_sha256="a" * 64, source_sha256="", threads=2, options={}, runner={},
                    latencies_s=latencies, stats=summarize(latencies), throughput=throughput(latencies, batch),
                    window_s=sum(latencies), warmup_iterations=1, energy=EnergyRecord.not_measured("test"))


def _write(path, rows) -> str:
    BenchResult(created="now", command="bench", config={}, machine={}, artifacts=[], rows=rows).write_json(path)
    return str(path)


def _latencies(seed, n=400, scale=1.0):
    return np.random.default_rng(seed).lognormal(np.log(0.004), 0.1, n) * scale


def test_a_record_against_itself_passes(tmp_path):
    path = _write(tmp_path / "a.json", [_row(_latencies(0)), _row(_latencies(1), precision="fp16")])
    result = compare(path, path)
    assert result and not result.failures() and len(result.entries) == 2
    for entry in result.entries:
        for r in entry.ratios:
            assert r.ratio == 1.0 and r.low <= 1.0 <= r.high and not r.regressed


def test_a_slower_record_fails_with_its_numbers(tmp_path):
    old = _write(tmp_path / "old.json", [_row(_latencies(0))])
    new = _write(tmp_path / "new.json", [_row(_latencies(1, scale=1.5))])
    result = compare(old, new)
    p50 = result.entries[0].ratios[0]
    assert p50.metric == "p50" and 1.4 < p50.low <= p50.ratio <= p50.high < 1.6 and p50.regressed
    assert not result and re.match(r"ort-cpu fp32 b1 p50 is 1\.\d{3}x the old one \(95% CI 1\.\d{3}-1\.\d{3}; "
                                   r"lower bound above --fail-above 1\.1\)", result.failures()[0])
    assert compare(new, old)  # faster is never a failure


def test_noise_within_the_threshold_does_not_trip(tmp_path):
    old = _write(tmp_path / "old.json", [_row(_latencies(0))])
    new = _write(tmp_path / "new.json", [_row(_latencies(1, scale=1.05))])  # 5% slower, threshold 10%
    assert compare(old, new)


def test_the_interval_comes_from_the_stored_latencies(tmp_path):
    row = _row(_latencies(0))
    old = _write(tmp_path / "old.json", [row])
    raw = json.loads((tmp_path / "old.json").read_text())
    raw["rows"][0]["latencies_s"] = [x * 2 for x in raw["rows"][0]["latencies_s"]]  # summary left as it was
    (tmp_path / "new.json").write_text(json.dumps(raw))
    doubled = compare(old, str(tmp_path / "new.json")).entries[0].ratios[0]
    same = compare(old, old).entries[0].ratios[0]
    # Same seed, same resampling draws: the interval is exactly twice the self-comparison's.
    assert doubled.ratio == pytest.approx(2.0) and doubled.regressed
    assert (doubled.low, doubled.high) == pytest.approx((2 * same.low, 2 * same.high))


def test_blocks_of_one_iteration_are_the_ordinary_bootstrap():
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 0.3, 300)
    for p in (50, 99):
        blocks = resampled_percentile(x, p, 4000, np.random.default_rng(1), segments=x.size)
        brute = np.array([np.percentile(x[rng.integers(0, x.size, x.size)], p) for _ in range(4000)])
        assert np.percentile(blocks, [2.5, 50, 97.5]) == pytest.approx(np.percentile(brute, [2.5, 50, 97.5]), rel=0.02)


def test_drift_within_a_run_widens_the_interval_and_steady_runs_keep_theirs():
    rng = np.random.default_rng(4)
    steady = rng.normal(10, 0.5, 1000)
    drifting = steady + np.linspace(0, 2, 1000)  # the machine slowed down steadily during the run

    def width(x, segments):
        ratios = resampled_percentile(x, 50, 2000, np.random.default_rng(0), segments=segments) / \
            resampled_percentile(x, 50, 2000, np.random.default_rng(1), segments=segments)
        low, high = np.percentile(ratios, [2.5, 97.5])
        return high - low

    assert width(drifting, 10) > 2 * width(drifting, drifting.size)  # iid resampling would not see the drift
    assert width(steady, 10) == pytest.approx(width(steady, steady.size), rel=0.5)


def test_rows_match_by_backend_precision_batch_and_repeats_by_model():
    keys = row_keys([_row([1e-3], artifact="a.onnx"), _row([1e-3], artifact="b.onnx"), _row([1e-3], batch=8)])
    assert list(keys) == ["ort-cpu fp32 b1 (a.onnx)", "ort-cpu fp32 b1 (b.onnx)", "ort-cpu fp32 b8"]


def test_unmatched_rows_are_listed_and_no_common_row_is_refused(tmp_path):
    old = _write(tmp_path / "old.json", [_row(_latencies(0)), _row(_latencies(0), batch=8)])
    new = _write(tmp_path / "new.json", [_row(_latencies(0)), _row(_latencies(0), backend="openvino")])
    result = compare(old, new)
    assert result.only_old == ["ort-cpu fp32 b8"] and result.only_new == ["openvino fp32 b1"]
    other = _write(tmp_path / "other.json", [_row(_latencies(0), backend="openvino")])
    with pytest.raises(InputError, match="share no backend"):
        compare(str(tmp_path / "old.json"), other)


def test_files_that_are_not_bench_records_are_refused(tmp_path):
    good = _write(tmp_path / "good.json", [_row(_latencies(0))])
    (tmp_path / "other.json").write_text('{"schema": "something else"}')
    (tmp_path / "broken.json").write_text("{")
    raw = json.loads((tmp_path / "good.json").read_text())
    raw["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "newer.json").write_text(json.dumps(raw))
    for name, message in (("missing.json", "does not exist"), ("other.json", "not a benchmark record"),
                          ("broken.json", "not readable JSON"), ("newer.json", "schema version")):
        with pytest.raises(InputError, match=message):
            compare(good, str(tmp_path / name))
    with pytest.raises(InputError, match="--fail-above"):
        compare(good, good, fail_above=0)


def test_long_runs_are_thinned_for_resampling_but_not_for_the_ratio(tmp_path):
    old = _write(tmp_path / "old.json", [_row(_latencies(0, n=30_000))])
    new = _write(tmp_path / "new.json", [_row(_latencies(1, n=30_000, scale=1.2))])
    result = compare(old, new, resamples=500)
    p50 = result.entries[0].ratios[0]
    assert result.entries[0].old_count == 30_000 and not result
    assert 1.15 < p50.low <= p50.ratio <= p50.high < 1.25
