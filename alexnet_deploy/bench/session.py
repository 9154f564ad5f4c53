"""Running a plan: one runner at a time, every batch timed, then speed-ups, warnings and the offline best.

Runs never overlap: each runner is opened, timed at every batch and closed
before the next opens (onnxruntime's spinning pools and torch's process-wide
thread count would otherwise skew whatever runs beside them).
"""

from __future__ import annotations

import gc
from dataclasses import asdict
from typing import Callable

import numpy as np

from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.energy import counter_for
from alexnet_deploy.bench.harness import Measurement, measure
from alexnet_deploy.bench.plan import Plan, RunSpec
from alexnet_deploy.bench.record import command_line, load_average, machine_record, now
from alexnet_deploy.bench.results import BenchResult, BenchRow, OfflineBest, PhaseTimes
from alexnet_deploy.bench.stats import summarize, throughput
from alexnet_deploy.runtimes.registry import open_runner

Progress = Callable[[str, int, int], None]  # (what runs now, runs done, runs in all)

CV_CAUSES = ("other load on the machine, CPU frequency scaling or thermal throttling; rerun on an idle machine, "
             "fix the clocks, or lengthen --duration")


def _inputs(spec: RunSpec, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = spec.artifact.input_size
    return rng.standard_normal((batch, 3, size, size), dtype=np.float32)


def _row(spec: RunSpec, runner, batch: int, m: Measurement, config: BenchConfig) -> BenchRow:
    latencies = m.end_to_end.total_s
    stats = summarize(latencies, config.percentiles)
    compute = None
    if m.compute is not None:
        c = m.compute
        compute = PhaseTimes(total_s=c.total_s, h2d_s=c.h2d_s, compute_s=c.compute_s, d2h_s=c.d2h_s,
                             median_ms=c.medians_ms())
    options = dict(spec.options)
    row = BenchRow(
        backend=spec.backend, device=str(runner.device), precision=str(runner.precision), batch=batch,
        variant=spec.variant, artifact=spec.artifact.path, artifact_sha256=spec.artifact.sha256,
        source_sha256=spec.artifact.source_sha256, threads=options.get("threads"),
        options={k: str(v) for k, v in options.items()}, runner={k: str(v) for k, v in runner.describe().items()},
        latencies_s=latencies, stats=stats, throughput=throughput(latencies, batch), window_s=m.end_to_end.wall_s,
        warmup_iterations=m.end_to_end.warmup_iterations, energy=m.energy, baseline=spec.baseline, compute=compute,
    )
    if stats.cv > config.cv_warn:
        row.warnings.append(f"{row.label()}: latency varies (coefficient of variation {stats.cv:.0%} > "
                            f"{config.cv_warn:.0%}); likely causes: {CV_CAUSES}.")
    if config.scenario == "single-stream":
        for bound in stats.tail_bounds:
            if bound.percentile >= 90 and bound.bound_ms is None:
                row.warnings.append(f"{row.label()}: {bound.statement()}; raise --min-iterations or --duration.")
    return row


def run_spec(spec: RunSpec, config: BenchConfig) -> list[BenchRow]:
    """Open the runner, time it at each batch (checked first), close it."""
    rows = []
    with open_runner(spec.backend, spec.artifact.path, **dict(spec.options)) as runner:
        for batch in spec.batches:
            runner.check_batch(batch)
        counter, reason = (None, "") if not config.energy else counter_for(str(runner.device))
        try:
            for batch in spec.batches:
                feeds = {runner.input_name: _inputs(spec, batch, config.seed)}
                m = measure(runner, feeds, config=config, batch=batch, on_gpu=spec.device != "cpu",
                            counter=counter, no_counter_reason=reason and f"not measured here: {reason}")
                rows.append(_row(spec, runner, batch, m, config))
        finally:
            if counter is not None:
                counter.close()
    gc.collect()  # free the model before the next runner loads its own
    return rows


def _speedups(rows: list[BenchRow], *, given: str = "") -> None:
    """Each row against the PyTorch fp32 row of its checkpoint (or of ``given``, the sha256 of --checkpoint) at
    its batch, on its device kind when there is one."""
    baselines = [r for r in rows if r.baseline]
    for row in rows:
        same = [b for b in baselines if b.batch == row.batch and b.artifact_sha256 in (row.source_sha256, given)]
        same.sort(key=lambda b: b.device.split(":")[0] != row.device.split(":")[0])
        if same:
            base = same[0]
            row.speedup = base.stats.median_ms / row.stats.median_ms if row.stats.median_ms > 0 else None
            row.speedup_vs = base.label()


def offline_best(rows: list[BenchRow]) -> list[OfflineBest]:
    """Per backend, precision, variant and artifact: the batch with the highest throughput."""
    best: dict[str, BenchRow] = {}
    for row in rows:
        key = row.series()
        if key not in best or row.throughput > best[key].throughput:
            best[key] = row
    return [OfflineBest(series=k, backend=r.backend, precision=r.precision, variant=r.variant, artifact=r.artifact,
                        batch=r.batch, throughput=r.throughput) for k, r in best.items()]


def run_plan(plan: Plan, config: BenchConfig, *, progress: Progress | None = None,
             argv: list[str] | None = None) -> BenchResult:
    """Every run of ``plan`` in order; the record with speed-ups filled in."""
    rows: list[BenchRow] = []
    load_before = load_average()
    for i, spec in enumerate(plan.runs):
        if progress:
            progress(spec.describe(), i, len(plan.runs))
        rows.extend(run_spec(spec, config))
    if progress:
        progress("done", len(plan.runs), len(plan.runs))
    _speedups(rows, given=plan.given_baseline)
    return BenchResult(
        created=now(), command=command_line(argv),
        config={k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        machine=machine_record(threads=config.threads, load_before=load_before), artifacts=plan.artifacts,
        rows=rows, skipped=plan.skipped, notes=plan.notes,
        offline=offline_best(rows) if config.scenario == "offline" else [],
    )
