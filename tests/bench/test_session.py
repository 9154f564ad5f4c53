"""Running a plan for real: one runner after another, every batch, speed-ups, offline best, the record."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.energy import EnergyRecord
from alexnet_deploy.bench.plan import make_plan
from alexnet_deploy.bench.results import SCHEMA, SCHEMA_VERSION, BenchResult, BenchRow
from alexnet_deploy.bench.session import _speedups, offline_best, run_plan
from alexnet_deploy.bench.stats import summarize, throughput
from tests.builders import slowed_model, tiny_model

QUICK = dict(warmup_s=0.02, duration_s=0.05, min_iterations=5, threads=1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("session")
    tiny = tiny_model(root / "tiny.onnx")
    return tiny, slowed_model(tiny, root / "slow.onnx")


def test_a_run_times_every_batch_and_records_everything(models):
    tiny, _ = models
    config = BenchConfig(scenario="offline", batches=(1, 4), batches_given=True, **QUICK)
    seen = []
    result = run_plan(make_plan([str(tiny)], config=config, backends=["ort-cpu"]), config,
                      progress=lambda what, done, total: seen.append((what, done, total)),
                      argv=["/usr/bin/alexnet-deploy", "bench", str(tiny)])
    assert seen == [("ort-cpu on tiny.onnx", 0, 1), ("done", 1, 1)]
    assert [(r.backend, r.batch) for r in result.rows] == [("ort-cpu", 1), ("ort-cpu", 4)]
    row = result.rows[1]
    assert row.stats.count == len(row.latencies_s) >= 5 and row.threads == 1 and row.options["spinning"] == "False"
    assert row.runner["threads"] == "1" and row.runner["onnxruntime"] and row.precision == "fp32"
    assert row.throughput == pytest.approx(4 * len(row.latencies_s) / sum(row.latencies_s))
    assert result.schema == SCHEMA and result.schema_version == SCHEMA_VERSION
    assert result.command.startswith("alexnet-deploy bench ") and result.machine["threads"] == 1
    assert result.config["batches"] == [1, 4] and result.artifacts[0].sha256 == row.artifact_sha256
    assert [b.batch for b in result.offline] == [max(result.rows, key=lambda r: r.throughput).batch]
    assert not row.energy.measured and row.energy.reason
    again = BenchResult.from_json(result.to_json())
    assert again.to_dict() == result.to_dict() and again.rows[0].stats.tail_bounds[0].percentile == 50.0


def test_rows_of_two_models_run_one_after_the_other(models):
    tiny, slow = models
    config = BenchConfig(**QUICK)
    result = run_plan(make_plan([str(tiny), str(slow)], config=config, backends=["ort-cpu"]), config)
    assert [r.artifact for r in result.rows] == [str(tiny), str(slow)]
    assert all(r.speedup is None for r in result.rows)  # no checkpoint: no baseline
    assert result.offline == []  # single-stream


def _row(ms, *, backend, baseline=False, batch=1, sha="c", source="c", device="cpu"):
    latencies = [ms / 1e3] * 3
    return BenchRow(backend=backend, device=device, precision="fp32", batch=batch, variant="", artifact=f"{backend}.x",
                    artifact_sha256=sha, source_sha256=source, threads=1, options={}, runner={},
                    latencies_s=latencies, stats=summarize(latencies), throughput=throughput(latencies, batch),
                    window_s=0.0, warmup_iterations=1, energy=EnergyRecord.not_measured("-"), baseline=baseline)


def test_speedups_use_the_baseline_of_the_same_checkpoint_batch_and_device():
    rows = [_row(20, backend="torch-cpu", baseline=True), _row(8, backend="torch-cuda", baseline=True, device="cuda:0"),
            _row(10, backend="ort-cpu", sha="o"), _row(2, backend="trt", sha="e", device="cuda:0"),
            _row(5, backend="ort-cpu", sha="o", batch=8), _row(5, backend="ort-cpu", sha="x", source="other")]
    _speedups(rows)
    assert rows[0].speedup == pytest.approx(1.0) and rows[0].speedup_vs == "torch-cpu fp32 b1"
    assert rows[2].speedup == pytest.approx(2.0) and rows[2].speedup_vs == "torch-cpu fp32 b1"
    assert rows[3].speedup == pytest.approx(4.0) and rows[3].speedup_vs == "torch-cuda fp32 b1"
    assert rows[4].speedup is None  # no baseline at batch 8
    assert rows[5].speedup is None  # another checkpoint's model


def test_offline_best_is_the_highest_throughput_per_series():
    rows = [_row(ms, backend="ort-cpu", batch=b) for ms, b in ((1, 1), (4, 8), (40, 32))]
    best = offline_best(rows)
    assert len(best) == 1 and best[0].batch == 8 and best[0].throughput == pytest.approx(2000.0)
    assert np.isclose(rows[2].throughput, 800.0)
