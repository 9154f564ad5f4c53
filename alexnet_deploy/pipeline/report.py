"""The pipeline's report: one row per (artifact, backend), joined from verify's and bench's own JSON records.

Nothing here is measured again: every figure is read from ``json/verify.json``
and ``json/bench.json``, so the report says what those commands said (a test
holds it to that). A row has verify's accuracy figures and verdict and bench's
batch-1 latency, throughput, energy and speed-up; the PyTorch fp32 model is the
reference row of both.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alexnet_deploy.bench.results import BenchResult, BenchRow
from alexnet_deploy.core.results import Result
from alexnet_deploy.pipeline.manifest import StepRecord
from alexnet_deploy.pipeline.steps import PROGRAM, Layout
from alexnet_deploy.verify.result import VerifyResult, VerifyRow

FORMAT = "alexnet-deploy/pipeline-report/1"
REFERENCE, PASS, FAIL, UNVERIFIED = "reference", "pass", "FAIL", "not verified"


@dataclass
class ReportRow:
    """One artifact on one backend."""

    artifact: str  # the file's name within the run folder (or the checkpoint's path)
    backend: str
    precision: str
    status: str  # reference | pass | FAIL | not verified
    size_mb: float | None = None
    top1: float | None = None  # percent
    top1_change: float | None = None  # percentage points vs PyTorch fp32
    agreement: float | None = None  # percent of images with PyTorch's top-1
    p50_ms: float | None = None
    p99_ms: float | None = None
    images_per_s: float | None = None
    joules_per_image: float | None = None
    energy_note: str = ""  # why energy was not measured
    speedup: float | None = None  # PyTorch fp32 p50 / this p50
    failures: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # the commands that give this row's figures


@dataclass
class PipelineReport(Result):
    """Everything report.md shows."""

    created: str
    command: str
    out: str
    checkpoint: str
    data: str
    images: int  # labelled images verify scored
    rows: list[ReportRow] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what could not run here, and why
    notes: list[str] = field(default_factory=list)  # bench's and verify's notes and warnings
    environment: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)  # relative to the run folder
    format: str = FORMAT

    def failures(self) -> list[str]:
        return [failure for row in self.rows for failure in row.failures]


def build_report(layout: Layout, *, data: str, steps: list[StepRecord], command: str) -> PipelineReport:
    """The report of the run in ``layout.out`` from the records its steps wrote."""
    out = layout.out
    verify = _load(VerifyResult, layout.json("verify"))
    bench = _load(BenchResult, layout.json("bench"))
    report = PipelineReport(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), command=command,
                            out=str(out), checkpoint=str(layout.checkpoint), data=data,
                            images=verify.images if verify else 0, steps=steps)
    report.skipped = [f"{s.name}: {s.reason}" for s in steps if s.status == "skipped"]
    if bench is not None:
        report.skipped += list(bench.skipped)
        report.notes += list(bench.notes)
        report.environment = dict(bench.machine)
    if verify is not None:
        report.notes += list(verify.warnings)
    report.rows = _rows(layout, data, verify, bench)
    report.plots = sorted(str(p.relative_to(out)) for folder in ("verify", "bench") if (out / folder).is_dir()
                          for p in (out / folder).glob("*.png"))
    return report


def _load(kind, path: Path):
    return kind.from_json(path.read_text()) if path.is_file() else None


def _same(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _rows(layout: Layout, data: str, verify: VerifyResult | None, bench: BenchResult | None) -> list[ReportRow]:
    timed: dict[tuple[str, str], BenchRow] = {}
    sizes: dict[str, int] = {}
    if bench is not None:
        sizes = {_same(a.path): a.bytes for a in bench.artifacts}
        for row in bench.rows:
            key = (_same(row.artifact), row.backend)
            # The single-stream figure: the smallest batch of the plain run (bench's default is batch 1 alone).
            if not row.variant and (key not in timed or row.batch < timed[key].batch):
                timed[key] = row
    checked: dict[tuple[str, str], VerifyRow] = {}
    if verify is not None:
        checked = {(_same(row.artifact), row.backend): row for row in verify.rows}

    rows = []
    checkpoint = _same(str(layout.checkpoint))
    for key, run in timed.items():
        if key[0] == checkpoint and run.baseline:
            rows.append(_reference_row(layout, data, run, verify, sizes))
    order = list(dict.fromkeys([*checked, *(k for k in timed if k[0] != checkpoint)]))
    for key in order:
        rows.append(_row(layout, data, key, checked.get(key), timed.get(key), sizes))
    return rows


def _name(layout: Layout, path: str) -> str:
    absolute = Path(_same(path))
    out = Path(_same(str(layout.out)))
    return str(absolute.relative_to(out)) if absolute.is_relative_to(out) else path


def _reference_row(layout: Layout, data: str, run: BenchRow, verify: VerifyResult | None,
                   sizes: dict[str, int]) -> ReportRow:
    row = ReportRow(artifact=_name(layout, run.artifact), backend=run.backend, precision=run.precision,
                    status=REFERENCE)
    _fill_timing(row, run, sizes)
    if verify is not None and verify.reference.accuracy is not None:
        row.top1, row.top1_change, row.agreement = verify.reference.accuracy.top1_percent, 0.0, 100.0
        row.commands.append(shlex.join([PROGRAM, "eval", "--model", run.artifact, "--data", data]))
    row.commands.append(_bench_command(run.artifact, run.backend, layout))
    return row


def _row(layout: Layout, data: str, key: tuple[str, str], checked: VerifyRow | None, run: BenchRow | None,
         sizes: dict[str, int]) -> ReportRow:
    path = checked.artifact if checked is not None else run.artifact  # type: ignore[union-attr]
    backend = key[1]
    row = ReportRow(artifact=_name(layout, path), backend=backend,
                    precision=checked.precision if checked is not None else run.precision,  # type: ignore[union-attr]
                    status=UNVERIFIED)
    if checked is not None:
        row.status = PASS if checked else FAIL
        row.failures = checked.failures()
        row.top1, row.top1_change, row.agreement = checked.top1, checked.top1_change, checked.agreement
        row.commands.append(shlex.join([PROGRAM, "verify", "--checkpoint", str(layout.checkpoint), path,
                                        "--backend", backend, "--data", data]))
    if run is not None:
        _fill_timing(row, run, sizes)
        row.commands.append(_bench_command(path, backend, layout))
    elif row.size_mb is None and _same(path) in sizes:
        row.size_mb = sizes[_same(path)] / 1e6
    return row


def _fill_timing(row: ReportRow, run: BenchRow, sizes: dict[str, int]) -> None:
    row.size_mb = sizes[_same(run.artifact)] / 1e6 if _same(run.artifact) in sizes else None
    row.p50_ms = run.stats.median_ms
    row.p99_ms = run.stats.percentile(99)
    row.images_per_s = run.throughput
    row.speedup = 1.0 if run.baseline else run.speedup
    if run.energy.measured:
        row.joules_per_image = run.energy.joules_per_image
    else:
        row.energy_note = run.energy.reason


def _bench_command(path: str, backend: str, layout: Layout) -> str:
    return shlex.join([PROGRAM, "bench", path, "--backend", backend, "--checkpoint", str(layout.checkpoint)])
