"""``report.md`` (for a person), ``report.json`` (the same figures as data) and ``report.png`` (top-1 vs latency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alexnet_deploy.core.fsutil import atomic_path, write_text_atomic
from alexnet_deploy.pipeline.report import PipelineReport, ReportRow

MARKDOWN, DATA, PLOT = "report.md", "report.json", "report.png"
COLUMNS = ("artifact", "backend", "precision", "status", "size MB", "top-1 %", "vs PyTorch pp", "agree %",
           "p50 ms", "p99 ms", "images/s", "J/image", "speed-up")


def write_report(report: PipelineReport, folder: Path) -> list[Path]:
    """Write the three files into ``folder``; returns their paths."""
    written = []
    if any(_plottable(row) for row in report.rows):
        written.append(_plot(report, folder / PLOT))
        report.plots = [PLOT, *(p for p in report.plots if p != PLOT)]
    written.append(report.write_json(folder / DATA))
    written.append(write_text_atomic(folder / MARKDOWN, markdown(report)))
    return written


def _number(value: float | None, digits: int, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def cells(row: ReportRow) -> list[str]:
    """The row as the table shows it (also what the test compares with the JSON)."""
    return [f"`{row.artifact}`", row.backend, row.precision, row.status, _number(row.size_mb, 1),
            _number(row.top1, 2), _number(row.top1_change, 2, signed=True), _number(row.agreement, 2),
            _number(row.p50_ms, 2), _number(row.p99_ms, 2), _number(row.images_per_s, 1),
            _number(row.joules_per_image, 3), "-" if row.speedup is None else f"{row.speedup:.2f}x"]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(report: PipelineReport) -> str:
    lines = ["# alexnet-deploy pipeline report", ""]
    verdict = "every check passed" if report else f"{len(report.failures())} check(s) failed"
    lines += [f"`{report.checkpoint}` on the labelled images of `{report.data}` ({report.images} scored): "
              f"{verdict}. Made {report.created} by:", "", f"    {report.command}", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" if i < 4 else "---:" for i in range(len(COLUMNS)))
              + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in cells(row)) + " |" for row in report.rows]
    lines += ["", "top-1, change and agreement: `verify` against the PyTorch fp32 model on the same images; "
              "latency, images/s, energy and speed-up: `bench`, batch 1, one query after another, end to end "
              "(numpy in, numpy out); speed-up is PyTorch fp32's p50 over the row's.", ""]
    energy = sorted({row.energy_note for row in report.rows if row.energy_note})
    if energy:
        lines += [f"J/image {'; '.join(energy)}.", ""]
    failures = report.failures()
    if failures:
        lines += ["## Failed checks", "", *(f"- {_escape(f)}" for f in failures), ""]
    if report.skipped:
        lines += ["## Not run here", "", *(f"- {s}" for s in report.skipped), ""]
    if report.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    if report.plots:
        lines += ["## Plots", "", *(f"![{Path(p).stem}]({p})" for p in report.plots), ""]
    lines += ["## Steps", "", "| step | status | seconds | command |", "|---|---|---:|---|"]
    for step in report.steps:
        status = step.status if step.passed else f"{step.status}, checks failed"
        if step.reason:
            status += f": {step.reason}"
        lines.append(f"| {step.name} | {_escape(status)} | {step.seconds:.1f} | `{_escape(step.command)}` |")
    lines += ["", "## Reproduce a row", ""]
    for row in report.rows:
        lines += [f"`{row.artifact}` on {row.backend}:", "", *(f"    {c}" for c in row.commands), ""]
    lines += ["## Environment", "", *_environment(report.environment), ""]
    return "\n".join(lines)


def _environment(machine: dict[str, Any]) -> list[str]:
    if not machine:
        return ["(bench did not run: no record of the machine)"]
    lines = []
    cpu = machine.get("cpu") or {}
    if cpu:
        lines.append(f"- CPU: {cpu.get('model', '?')}, {cpu.get('usable_cores', '?')} usable cores "
                     f"({cpu.get('logical_cores', '?')} logical), governor {cpu.get('frequency_governor', '?')}")
    lines.append(f"- threads per CPU backend: {machine.get('threads', '?')}")
    gpus = machine.get("gpus") or []
    for gpu in gpus if isinstance(gpus, list) else []:
        lines.append(f"- GPU: {', '.join(f'{k} {v}' for k, v in gpu.items())}")
    if not gpus or not isinstance(gpus, list):
        lines.append("- GPU: none found")
    lines.append(f"- OS: {machine.get('os', '?')}")
    versions = machine.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    load = machine.get("load_average") or {}
    if load:
        lines.append(f"- load average before / after bench: {load.get('before')} / {load.get('after')}")
    return lines


def _plottable(row: ReportRow) -> bool:
    return row.top1 is not None and row.p50_ms is not None


def _plot(report: PipelineReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for row in filter(_plottable, report.rows):
        marker = "*" if row.status == "reference" else ("x" if row.status == "FAIL" else "o")
        axes.scatter(row.p50_ms, row.top1, marker=marker, s=60)
        axes.annotate(f"{row.precision} {row.backend}", (row.p50_ms, row.top1), fontsize=7,
                      textcoords="offset points", xytext=(4, 4))
    axes.set_xscale("log")
    axes.set_xlabel("p50 latency, batch 1 (ms, log scale)")
    axes.set_ylabel("top-1 (%)")
    axes.set_title("Accuracy against latency (star: PyTorch fp32, x: failed a check)")
    axes.grid(True, alpha=0.3)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path
