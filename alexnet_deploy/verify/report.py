"""``--report DIR``: ``verify.md`` for a person to read and ``verify.png``, the logit error distribution per row.

Both are drawn from the VerifyResult alone (the histogram travels in each row),
so a report can be redrawn from the JSON of an earlier run. Each file is written
atomically.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

from alexnet_deploy.core.fsutil import atomic_path, write_text_atomic
from alexnet_deploy.errors import InputError
from alexnet_deploy.verify.layers import LayerReport
from alexnet_deploy.verify.result import VerifyResult, VerifyRow

MARKDOWN, PLOT = "verify.md", "verify.png"


def check_report_dir(folder: str | os.PathLike) -> Path:
    """``folder`` as a Path, refused when it exists and is not a folder (checked before any work)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"--report {path} is a file; give a folder for {MARKDOWN} and {PLOT}.")
    return path


def write_report(result: VerifyResult, folder: str | os.PathLike) -> list[Path]:
    """Write ``verify.md`` and ``verify.png`` into ``folder``; returns their paths."""
    path = check_report_dir(folder)
    path.mkdir(parents=True, exist_ok=True)
    plot = path / PLOT
    with atomic_path(plot) as tmp:
        tmp.write_bytes(error_plot(result))
    markdown = write_text_atomic(path / MARKDOWN, render_markdown(result))
    return [markdown, plot]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def row_cells(row: VerifyRow) -> list[str]:
    """The figures of one row as the table in the terminal and in verify.md shows them."""
    stats = row.stats
    change = "" if row.top1_change is None else f"{row.top1_change:+.2f}"
    return [row.artifact, row.backend, row.precision, _pct(row.top1), change, _pct(row.top5),
            f"{row.agreement:.2f}", _num(stats.max_abs), _num(stats.mean_abs), _num(stats.median_abs),
            _num(stats.p99_abs), _num(stats.max_rel), _num(stats.p99_rel), f"{stats.cosine_min:.6f}",
            "PASS" if row else "FAIL"]


ROW_HEADERS = ["artifact", "backend", "precision", "top-1 %", "vs ref (pp)", "top-5 %", "agree %", "max abs",
               "mean abs", "median abs", "p99 abs", "max rel", "p99 rel", "cosine min", "result"]


def layer_cells(report: LayerReport) -> list[list[str]]:
    """One row per layer: module, kind, tensor, cosine, relative error, SQNR, verdict."""
    out = []
    for layer in report.layers:
        verdict = layer.note or ("ok" if layer.passed else "PAST TOLERANCE")
        if layer.module == report.first_failing:
            verdict += " (first)"
        if layer.module == report.worst:
            verdict += " (worst)"
        cosine = "" if layer.cosine is None else f"{layer.cosine:.6f}"
        sqnr = "" if layer.sqnr_db is None else ("exact" if math.isinf(layer.sqnr_db) and layer.sqnr_db > 0
                                                 else f"{layer.sqnr_db:.1f}")
        out.append([layer.module, layer.kind, layer.tensor, cosine, _num(layer.relative_error), sqnr, verdict])
    return out


LAYER_HEADERS = ["module", "kind", "tensor", "cosine", "rel err", "SQNR dB", ""]


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def render_markdown(result: VerifyResult) -> str:
    """verify.md: what was compared, the table, failures and warnings, limits, per-layer tables, the plot."""
    ref = result.reference
    lines = [f"# verify: {result.checkpoint}", "",
             f"Reference: PyTorch fp32 on {ref.backend} ({ref.runner.get('device', '')}), checkpoint sha256 "
             f"{result.checkpoint_sha256[:16]}. Data: {result.images} images, {result.data}"
             + ("" if result.labelled else " (no labels: accuracy not measured)") + "."]
    if ref.accuracy is not None:
        lines.append(f"Reference top-1 {ref.accuracy.top1_percent:.2f} %, top-{ref.accuracy.topk} "
                     f"{100 * ref.accuracy.top5:.2f} %.")
    lines += ["", "**PASS**" if result else "**FAIL**", ""]
    lines += _table(ROW_HEADERS, [row_cells(r) for r in result.rows])
    lines += ["", "Errors are of the logits: abs = |candidate - reference|, rel = abs / |reference| "
              "(Polygraphy's definition). Minimum tolerance that would pass every logit (Polygraphy):", ""]
    lines += [f"- {r.artifact} on {r.backend}: {r.stats.describe_tolerance()}; max abs / max |logit| "
              f"{_num(r.stats.max_abs_over_scale)}" for r in result.rows]
    failures = result.failures()
    if failures:
        lines += ["", "## Failed checks", ""] + [f"- {f}" for f in failures]
    if result.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result.warnings]
    lines += ["", "## Limits", ""]
    seen = set()
    for row in result.rows:
        if row.precision not in seen:
            seen.add(row.precision)
            lines.append(f"- {row.precision}: {row.preset.describe()}"
                         + (f"; per layer SQNR >= {row.preset.layer_min_sqnr_db:g} dB"
                            if row.preset.layer_min_sqnr_db is not None else ""))
        for skipped in row.not_checked:
            lines.append(f"- not checked for {row.artifact} on {row.backend}: {skipped}")
    for row in result.rows:
        if row.layers is not None:
            lines += ["", f"## Layers: {row.artifact} on {row.backend}", "",
                      f"{row.layers.images} images. {row.layers.describe()}.", ""]
            if row.layers.layers and not row.layers.note:
                lines += _table(LAYER_HEADERS, layer_cells(row.layers))
    lines += ["", f"![logit error distribution]({PLOT})", ""]
    return "\n".join(lines)


def error_plot(result: VerifyResult) -> bytes:
    """PNG bytes: for each row, the share of logits per error bin (log x axis), with the fp32 limit marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.8), dpi=110)
    axes = figure.subplots()
    for row in result.rows:
        hist = row.histogram
        if hist is None or not sum(hist.counts):
            continue
        total = sum(hist.counts) + hist.zeros + hist.over
        shares = [c / total for c in hist.counts]
        label = f"{Path(row.artifact).name} on {row.backend}" + ("" if row else " (FAIL)")
        axes.stairs(shares, hist.edges, label=label, linewidth=1.6)
    limits = {r.preset.rel_tol for r in result.rows if r.preset.rel_tol is not None}
    for limit in sorted(limits):
        axes.axvline(limit, linestyle="--", color="grey", linewidth=1)
        axes.text(limit, axes.get_ylim()[1] * 0.95, f" fp32 limit {limit:g}", color="grey", fontsize=8, va="top")
    axes.set_xscale("log")
    axes.set_xlabel("|logit error| / max |reference logit|")
    axes.set_ylabel("share of logits")
    axes.set_title(f"Logit error against PyTorch fp32 ({result.images} images)")
    if result.rows:
        axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
