"""The benchmark as a table of strings: one source for the terminal (rich) and for ``bench.md``."""

from __future__ import annotations

from pathlib import Path

from alexnet_deploy.bench.config import fmt_pct
from alexnet_deploy.bench.results import BenchResult, BenchRow, row_names
from alexnet_deploy.bench.stats import queries_needed

BUSY = 0.5  # load average per usable core above which other work is worth a note

RIGHT = {"batch", "best batch", "n", "CV", "images/s", "J/image", "speed-up", "window s", "warm-up n"}


def right_aligned(header: str) -> bool:
    return header in RIGHT or header.endswith(" ms")


def _energy(row: BenchRow) -> str:
    if not row.energy.measured or row.energy.joules_per_image is None:
        return "n/a"
    return f"{row.energy.joules_per_image:.4f}"


def table_rows(result: BenchResult) -> tuple[list[str], list[list[str]]]:
    """Headers and one list of cells per row, in run order."""
    percentiles = [fmt_pct(p) for p in result.config.get("percentiles", (50, 90, 99))]
    headers = ["backend", "precision", "model", "batch", *[f"p{p} ms" for p in percentiles], "images/s", "J/image",
               "speed-up", "n", "CV"]
    cells = []
    for row in result.rows:
        precision = row.precision + (f" {row.variant}" if row.variant else "")
        speedup = "baseline" if row.baseline and row.speedup_vs == row.label() else (
            f"{row.speedup:.2f}x" if row.speedup is not None else "")
        cells.append([row.backend, precision, Path(row.artifact).name, str(row.batch),
                      *[f"{row.stats.percentiles_ms[p]:.3f}" for p in percentiles], f"{row.throughput:,.1f}",
                      _energy(row), speedup, str(row.stats.count), f"{row.stats.cv:.1%}"])
    return headers, cells


def offline_rows(result: BenchResult) -> tuple[list[str], list[list[str]]]:
    headers = ["backend", "precision", "model", "best batch", "images/s"]
    cells = [[b.backend, b.precision + (f" {b.variant}" if b.variant else ""), Path(b.artifact).name, str(b.batch),
              f"{b.throughput:,.1f}"] for b in sorted(result.offline, key=lambda b: -b.throughput)]
    return headers, cells


def _listing(items: list[str]) -> str:
    return ", ".join(items)


def notes(result: BenchResult) -> list[str]:
    """What a reader must know beside the numbers: tails, spread, energy, skipped backends, one line each."""
    out = []
    names = row_names(result.rows)
    named = list(zip(names, result.rows))
    if result.config.get("scenario") == "single-stream":
        bounded, short = [], []
        for name, row in named:
            bound = next((b for b in row.stats.tail_bounds if b.percentile == 90), None)
            if bound is not None and bound.bound_ms is not None:
                bounded.append(f"{name} <= {bound.bound_ms:.3f} ms")
            elif bound is not None:
                short.append(f"{name} (n={bound.queries})")
        if bounded or short:
            line = f"p90 bounds (MLPerf early stopping over the n queries, at least {queries_needed(90)} needed; 99% "
            line += f"confidence): true p90 of {_listing(bounded)}" if bounded else "confidence)"
            line += f"{'; ' if bounded else ': '}too few queries to bound it in {_listing(short)}" if short else ""
            out.append(line + ".")
    for p in result.config.get("percentiles", ()):
        if p <= 90:
            continue
        few = [name for name, row in named if row.stats.count < queries_needed(p)]
        if few:
            out.append(f"p{fmt_pct(p)} rests on fewer than the {queries_needed(p)} queries needed to bound it in "
                       f"{'every row' if len(few) == len(named) else _listing(few)}: read it as indicative "
                       f"(raise --min-iterations or --duration).")
    cv_warn = result.config.get("cv_warn", 0.10)
    spread = [f"{name} ({row.stats.cv:.0%})" for name, row in named if row.stats.cv > cv_warn]
    if spread:
        out.append(f"Latency spread (coefficient of variation) above {cv_warn:.0%} in {_listing(spread)}: other "
                   f"load on the machine, CPU frequency scaling or thermal throttling are the usual causes; rerun "
                   f"on an idle machine, fix the clocks, or lengthen --duration.")
    before = (result.machine.get("load_average") or {}).get("before")
    cores = (result.machine.get("cpu") or {}).get("usable_cores") or 1
    if before and before[0] > BUSY * cores:
        out.append(f"The machine was busy: 1-minute load average {before[0]:.1f} on {cores} usable cores before the "
                   f"first run, so other work shared the cores; expect slower and noisier figures than on an idle "
                   f"machine.")
    reasons = sorted({r.energy.reason for r in result.rows if not r.energy.measured})
    out.extend(f"Energy {reason}." for reason in reasons)
    out.extend(f"Skipped {line}." for line in result.skipped)
    out.extend(result.notes)
    return out


def rich_table(result: BenchResult, *, title: str | None = None):
    """A rich Table of the benchmark (rich is imported here, not at module import)."""
    from rich.table import Table
    from rich.text import Text

    headers, cells = table_rows(result)
    threads = result.machine.get("threads")
    table = Table(title=title or f"{result.config.get('scenario')} latency, {threads} thread(s) per CPU backend")
    for header in headers:
        table.add_column(header, justify="right" if right_aligned(header) else "left")
    for row, line in zip(result.rows, cells):
        table.add_row(*(Text(cell) for cell in line), style="bold" if row.baseline else None)  # no markup in names
    return table


def rich_offline(result: BenchResult):
    from rich.table import Table
    from rich.text import Text

    headers, cells = offline_rows(result)
    table = Table(title="offline: best throughput over the batch sweep")
    for header in headers:
        table.add_column(header, justify="right" if right_aligned(header) else "left")
    for line in cells:
        table.add_row(*(Text(cell) for cell in line))
    return table
