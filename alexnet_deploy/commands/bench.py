"""``alexnet-deploy bench ARTIFACT...`` and ``alexnet-deploy bench compare OLD.json NEW.json``."""

from __future__ import annotations

import os

import click

from alexnet_deploy.bench.config import SCENARIOS
from alexnet_deploy.commands.common import OutputPath, Renamed, check_outputs, console, finish, json_option


class BenchGroup(click.Group):
    """``bench compare ...`` runs the comparison; ``bench ARTIFACT...`` (anything else) runs the benchmark."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("bench", cls=BenchGroup)
def bench_group() -> None:
    """Latency, throughput and energy of models on every backend here; compare two runs.

    \b
    alexnet-deploy bench ARTIFACT... [options]     (same as: bench run; see bench run -h)
    alexnet-deploy bench compare OLD.json NEW.json [--fail-above 1.10]
    """


@bench_group.command("run", epilog="Compare two runs: alexnet-deploy bench compare OLD.json NEW.json.")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--backend", "backends", multiple=True,
              help="Backends, comma-separated or repeated [default: every backend here that runs each artifact].")
@click.option("--batch-size", "--batch", "batches", cls=Renamed, multiple=True,
              help="Batch sizes to time, such as 1,8,32 [default: 1; offline: 1,8,32].")
@click.option("--threads", type=int, default=None, help="Threads of every CPU backend [default: the usable cores].")
@click.option("--warmup", default="1s", show_default=True, help="Warm-up time before timing (5s, 500ms, 2).")
@click.option("--duration", default="5s", show_default=True, help="Shortest timed window per row.")
@click.option("--min-iterations", type=int, default=50, show_default=True, help="Fewest timed iterations per row.")
@click.option("--percentile", "percentiles", multiple=True, help="Percentiles to report [default: 50,90,95,99].")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="single-stream", show_default=True,
              help="single-stream: latency one query after another; offline: best throughput over the batches.")
@click.option("--checkpoint", type=click.Path(path_type=str), default=None,
              help="PyTorch checkpoint of the baseline row [default: the .pt beside the artifact whose sha256 "
                   "its metadata names].")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Add the PyTorch fp32 row of the artifacts' checkpoint and speed-ups against it.")
@click.option("--fp16/--no-fp16", default=False, show_default=True,
              help="Also run checkpoints in fp16 on a GPU (autocast, LRN kept fp32).")
@click.option("--cuda-graphs/--no-cuda-graphs", default=False, show_default=True,
              help="Also run checkpoints on a GPU through CUDA graphs.")
@click.option("--channels-last/--no-channels-last", default=False, show_default=True,
              help="Also run checkpoints in channels-last memory format.")
@click.option("--energy/--no-energy", default=True, show_default=True,
              help="Energy per image where NVML (GPU) or RAPL (CPU) reads; adds an idle baseline per row.")
@click.option("--cv-warn", type=float, default=0.10, show_default=True,
              help="Warn when a row's coefficient of variation passes this.")
@click.option("--report", "report_dir", type=OutputPath(folder=True, example="reports"), default=None,
              help="Write bench.md and PNG plots to this folder.")
@json_option
def run_command(artifacts: tuple[str, ...], backends: tuple[str, ...], batches: tuple[str, ...], threads: int | None,
                warmup: str, duration: str, min_iterations: int, percentiles: tuple[str, ...], scenario: str,
                checkpoint: str | None, baseline: bool, fp16: bool, cuda_graphs: bool, channels_last: bool,
                energy: bool, cv_warn: float, report_dir: str | None, json_out: str | None) -> None:
    """Benchmark checkpoints, ONNX models and engines on every backend that runs them here."""
    from alexnet_deploy.bench.config import DEFAULT_BATCHES, DEFAULT_PERCENTILES, BenchConfig, parse_batches, \
        parse_list, parse_percentiles, parse_seconds
    from alexnet_deploy.bench.plan import Variants, make_plan

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    asked_batches = parse_batches(batches)
    config = BenchConfig(
        scenario=scenario, batches=asked_batches or DEFAULT_BATCHES[scenario], batches_given=bool(asked_batches),
        warmup_s=parse_seconds(warmup, option="--warmup"), duration_s=parse_seconds(duration, option="--duration"),
        min_iterations=min_iterations, percentiles=parse_percentiles(percentiles) or DEFAULT_PERCENTILES,
        threads=usable if threads is None else threads, cv_warn=cv_warn, energy=energy)
    check_outputs({"--json": json_out}, folders={"--report": report_dir},
                  inputs={**{f"the artifact {a}": a for a in artifacts}, "--checkpoint": checkpoint})
    plan = make_plan(list(artifacts), config=config, backends=parse_list(backends) or None, checkpoint=checkpoint,
                     find_baseline=baseline, variants=Variants(fp16=fp16, cuda_graphs=cuda_graphs,
                                                               channels_last=channels_last))
    result = _run_with_progress(plan, config)
    _print(_wide_console(), result)
    if report_dir:
        from alexnet_deploy.bench.markdown import write_report

        written = write_report(result, report_dir)
        click.echo(f"Wrote {', '.join(str(p) for p in written)}")
    finish(result, json_out)


def _run_with_progress(plan, config):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alexnet_deploy.bench.session import run_plan

    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console(stderr=True), transient=True) as bar:
        task = bar.add_task("benchmark", total=len(plan.runs))

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, description=f"timing {what}" if done < total else "done")

        return run_plan(plan, config, progress=progress)


def _wide_console():
    """The markup-free console, 160 columns wide when the output is a file or a pipe (the table has 13)."""
    out = console()
    if not out.is_terminal:
        out.width = 160
    return out


def _print(out, result) -> None:
    from alexnet_deploy.bench.table import notes, rich_offline, rich_table

    out.print(rich_table(result))
    if result.offline:
        out.print(rich_offline(result))
    for line in notes(result):
        out.print(f"- {line}")


@bench_group.command("compare")
@click.argument("old", type=click.Path(path_type=str))
@click.argument("new", type=click.Path(path_type=str))
@click.option("--fail-above", type=float, default=1.10, show_default=True,
              help="Fail (exit 1) when the lower confidence bound of a NEW/OLD p50 or p99 ratio passes this.")
@click.option("--confidence", type=float, default=0.95, show_default=True, help="Confidence of the intervals.")
@click.option("--resamples", type=int, default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@json_option
def compare_command(old: str, new: str, fail_above: float, confidence: float, resamples: int, seed: int,
                    json_out: str | None) -> None:
    """Ratios of p50 and p99 between two `bench --json` records, with bootstrap confidence intervals."""
    from rich.table import Table
    from rich.text import Text

    from alexnet_deploy.bench.compare import compare

    check_outputs({"--json": json_out}, inputs={"OLD": old, "NEW": new})
    result = compare(old, new, fail_above=fail_above, confidence=confidence, resamples=resamples, seed=seed)
    table = Table(title=f"NEW / OLD with {confidence:.0%} bootstrap intervals ({resamples} resamples); "
                        f"fail when the lower bound > {fail_above:g}")
    for column in ("row", "metric", "old ms", "new ms", "ratio", "interval", "verdict"):
        table.add_column(column, justify="left" if column in ("row", "metric", "verdict") else "right")
    for entry in result.entries:
        for r in entry.ratios:
            verdict = Text("slower", style="red") if r.regressed else Text("faster" if r.high < 1 else "ok")
            table.add_row(Text(entry.key), r.metric, f"{r.old_ms:.3f}", f"{r.new_ms:.3f}", f"{r.ratio:.3f}",
                          f"{r.low:.3f}-{r.high:.3f}", verdict)
    out = _wide_console()
    out.print(table)
    for key in result.only_old:
        out.print(f"- only in {old}: {key}")
    for key in result.only_new:
        out.print(f"- only in {new}: {key}")
    finish(result, json_out)


COMMANDS = [bench_group]
