"""PNG plots of a benchmark: latency distribution (CDF), throughput vs batch, latency vs batch.

matplotlib draws off-screen (Agg), so plots work on a headless machine; every
file is written atomically.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from alexnet_deploy.bench.results import BenchResult, BenchRow
from alexnet_deploy.core.fsutil import atomic_path

PLOTS = ("latency_cdf.png", "throughput_vs_batch.png", "latency_vs_batch.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def _by_series(rows: list[BenchRow]) -> dict[str, list[BenchRow]]:
    series: dict[str, list[BenchRow]] = defaultdict(list)
    for row in rows:
        series[row.series()].append(row)
    return {k: sorted(v, key=lambda r: r.batch) for k, v in series.items()}


def latency_cdf(result: BenchResult, path: Path) -> Path:
    """Empirical CDF of every row's end-to-end latencies (log x when they span a decade)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    lowest, highest = np.inf, 0.0
    for row in result.rows:
        ms = np.sort(np.asarray(row.latencies_s)) * 1e3
        ax.plot(ms, np.arange(1, ms.size + 1) / ms.size, label=f"{row.label()} ({Path(row.artifact).name})",
                linewidth=1.5 if row.baseline else 1.0)
        lowest, highest = min(lowest, ms[0]), max(highest, ms[-1])
    if highest > 10 * lowest > 0:
        ax.set_xscale("log")
    for p in (0.5, 0.9, 0.99):
        ax.axhline(p, color="grey", linewidth=0.5, linestyle=":")
    ax.set(xlabel="latency per batch (ms)", ylabel="fraction of iterations at or below", ylim=(0, 1.01),
           title="End-to-end latency distribution")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, alpha=0.3)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _per_batch(result: BenchResult, path: Path, *, throughput: bool) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rows in _by_series(result.rows).items():
        batches = [r.batch for r in rows]
        if throughput:
            ax.plot(batches, [r.throughput for r in rows], marker="o", label=name)
        else:
            p50 = np.array([r.stats.median_ms for r in rows])
            p99 = np.array([r.stats.percentiles_ms.get("99", r.stats.max_ms) for r in rows])
            ax.errorbar(batches, p50, yerr=[np.zeros_like(p50), p99 - p50], marker="o", capsize=3, label=name)
    ax.set_xscale("log", base=2)
    all_batches = sorted({r.batch for r in result.rows})
    ax.set_xticks(all_batches, [str(b) for b in all_batches])
    if throughput:
        ax.set(xlabel="batch", ylabel="images / s", title="Throughput vs batch")
    else:
        ax.set(xlabel="batch", ylabel="latency per batch (ms): p50, bar to p99", title="Latency vs batch")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def write_plots(result: BenchResult, folder: str | os.PathLike) -> list[Path]:
    """The three plots in ``folder``; returns their paths."""
    folder = Path(folder)
    return [latency_cdf(result, folder / PLOTS[0]), _per_batch(result, folder / PLOTS[1], throughput=True),
            _per_batch(result, folder / PLOTS[2], throughput=False)]
