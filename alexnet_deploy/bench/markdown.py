"""``bench.md``: the table, what to know about it, the machine and the artifacts, and the plots."""

from __future__ import annotations

import os
from pathlib import Path

from alexnet_deploy.bench.plots import write_plots
from alexnet_deploy.bench.results import BenchResult, row_names
from alexnet_deploy.bench.table import notes, offline_rows, right_aligned, table_rows
from alexnet_deploy.core.fsutil import write_text_atomic


def _md_table(headers: list[str], cells: list[list[str]]) -> list[str]:
    def line(values):
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return [line(headers), "| " + " | ".join("---:" if right_aligned(h) else "---" for h in headers) + " |",
            *(line(c) for c in cells)]


def _machine_lines(result: BenchResult) -> list[str]:
    machine = result.machine
    cpu = machine.get("cpu", {})
    lines = [f"- CPU: {cpu.get('model')} ({cpu.get('physical_cores')} physical / {cpu.get('logical_cores')} logical "
             f"cores, {cpu.get('usable_cores')} usable; governor {cpu.get('frequency_governor')}); "
             f"{machine.get('threads')} thread(s) per CPU backend",
             f"- OS: {machine.get('os')}"]
    gpus = machine.get("gpus")
    if isinstance(gpus, list) and gpus:
        for gpu in gpus:
            lines.append(f"- GPU {gpu.get('index')}: {gpu.get('name')}, driver {gpu.get('driver')}, SM "
                         f"{gpu.get('sm_clock_mhz')}/{gpu.get('sm_clock_max_mhz')} MHz, memory "
                         f"{gpu.get('memory_clock_mhz')}/{gpu.get('memory_clock_max_mhz')} MHz, power limit "
                         f"{gpu.get('power_limit_w')} W")
    else:
        lines.append(f"- GPU: {gpus or 'none'}")
    load = machine.get("load_average") or {}
    if load.get("before") or load.get("after"):
        lines.append(f"- Load average (1, 5, 15 min): {load.get('before')} before, {load.get('after')} after")
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    lines.append(f"- Versions: {versions}")
    return lines


def markdown(result: BenchResult, *, plots: list[str] | None = None) -> str:
    """The report as Markdown text."""
    config = result.config
    out = [f"# Benchmark, {result.created}", "",
           f"`{result.command}`", "",
           f"Scenario {config.get('scenario')}; warm-up {config.get('warmup_s')} s, then at least "
           f"{config.get('duration_s')} s and {config.get('min_iterations')} iterations per row; latency is "
           f"end-to-end per batch (numpy in, numpy out); speed-up is the PyTorch fp32 baseline's p50 over the "
           f"row's p50 at the same batch.", ""]
    out += _md_table(*table_rows(result)) + [""]
    if result.offline:
        out += ["## Offline: best throughput over the batch sweep", ""] + _md_table(*offline_rows(result)) + [""]
    out += ["## Distribution, end to end", ""]
    cells = [[name, f"{r.stats.min_ms:.3f}", f"{r.stats.mean_ms:.3f}", f"{r.stats.median_ms:.3f}",
              f"{r.stats.max_ms:.3f}", f"{r.stats.std_ms:.3f}", f"{r.stats.cv:.1%}", str(r.stats.count),
              f"{r.window_s:.1f}", str(r.warmup_iterations)] for name, r in zip(row_names(result.rows), result.rows)]
    out += _md_table(["row", "min ms", "mean ms", "median ms", "max ms", "std ms", "CV", "n", "window s",
                      "warm-up n"], cells) + [""]
    compute_rows = [r for r in result.rows if r.compute is not None]
    if compute_rows:
        out += ["## Compute only (data on the device), median ms", ""]
        parts = ["h2d", "compute", "d2h", "total"]
        cells = [[r.label(), *[f"{r.compute.median_ms[p]:.3f}" if p in r.compute.median_ms else "" for p in parts]]
                 for r in compute_rows]
        out += _md_table(["row", *[f"{p} ms" for p in parts]], cells) + [""]
    energy_rows = [r for r in result.rows if r.energy.measured]
    if energy_rows:
        out += ["## Energy", ""]
        cells = [[r.label(), r.energy.scope, f"{r.energy.average_watts:.1f}", f"{r.energy.idle_watts:.1f}",
                  f"{r.energy.joules_per_image:.4f}" if r.energy.joules_per_image is not None else "n/a"]
                 for r in energy_rows]
        out += _md_table(["row", "counter", "average W", "idle W", "J/image (net of idle)"], cells) + [""]
    lines = notes(result)
    if lines:
        out += ["## Notes", ""] + [f"- {line}" for line in lines] + [""]
    out += ["## Machine", ""] + _machine_lines(result) + [""]
    out += ["## Artifacts", ""]
    for a in result.artifacts:
        out.append(f"- `{a.path}`: {a.kind}, {a.precision}, input {a.input_size}px, {a.bytes:,} bytes, "
                   f"sha256 `{a.sha256}`" + (f", from checkpoint `{a.source_sha256[:12]}...`"
                                             if a.source_sha256 and a.source_sha256 != a.sha256 else ""))
    out.append("")
    if plots:
        out += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
    return "\n".join(out)


def write_report(result: BenchResult, folder: str | os.PathLike) -> list[Path]:
    """``bench.md`` and the PNG plots in ``folder`` (created); returns the files written."""
    folder = Path(folder)
    plots = write_plots(result, folder)
    report = write_text_atomic(folder / "bench.md", markdown(result, plots=[str(p) for p in plots]))
    return [report, *plots]
