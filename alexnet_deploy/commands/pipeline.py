"""``alexnet-deploy pipeline``: checkpoint (or training) to export, fp16, INT8, engines, verify, bench and a report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from alexnet_deploy.commands.common import OutputPath, check_outputs, console, interrupt_note, refuse_without
from alexnet_deploy.commands.train import ARCH_CHOICES, RECIPE_CHOICES
from alexnet_deploy.errors import CheckFailed, InputError


@click.command("pipeline")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="The PyTorch checkpoint to deploy (or --train to make one).")
@click.option("--train", "train", is_flag=True, default=False,
              help="Train a checkpoint on --data first (its train/ and val/).")
@click.option("--arch", type=click.Choice(ARCH_CHOICES), default=None, help="With --train: the architecture.")
@click.option("--recipe", type=click.Choice(RECIPE_CHOICES), default=None, help="With --train: the recipe.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="With --train: epochs.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="Dataset root: val/ (one folder per class) scores every artifact; train/ with --train.")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="INT8 calibration images [default: <data>/calib].")
@click.option("--min-calib-images", type=click.IntRange(min=1), default=32, show_default=True,
              help="Refuse to calibrate INT8 on fewer images than this.")
@click.option("--backends", "backends", multiple=True,
              help="Backends for verify and bench, comma-separated [default: every backend here that runs each].")
@click.option("--images", type=click.IntRange(min=1), default=None,
              help="Verify on at most this many labelled images [default: all].")
@click.option("--warmup", default=None, help="Bench warm-up per row, e.g. 1s [default: bench's].")
@click.option("--duration", default=None, help="Bench timed window per row, e.g. 5s [default: bench's].")
@click.option("--min-iterations", type=click.IntRange(min=1), default=None,
              help="Bench's fewest timed iterations per row [default: bench's].")
@click.option("--out", type=OutputPath(folder=True, example="runs/NAME"), required=True,
              help="Run folder: the artifacts, each step's JSON, verify/ and bench/ reports, report.md.")
def pipeline_command(checkpoint, train, arch, recipe, epochs, data_dir, calib, min_calib_images, backends, images,
                     warmup, duration, min_iterations, out) -> None:
    """From a checkpoint to the proof: export, fp16, INT8 (both layouts), TensorRT engines where they can be
    built, verify, bench, and report.md.

    Each step is an alexnet-deploy command (the report prints them) and is skipped when the hashes of its
    inputs and its options are those of its last finished run; an interrupted or failed run resumes there.
    """
    from alexnet_deploy.bench.config import parse_list, parse_seconds
    from alexnet_deploy.pipeline.steps import Options, plan

    refuse_without({"arch": "train", "recipe": "train", "epochs": "train"})
    if (checkpoint is None) == (not train):
        raise InputError("Give either --checkpoint FILE (a checkpoint to deploy) or --train (make one from --data).")
    calib = calib if calib is not None else data_dir / "calib"
    names = parse_list(backends)
    for option, value in (("--warmup", warmup), ("--duration", duration)):
        if value is not None:
            parse_seconds(value, option=option)
    _check_inputs(checkpoint=checkpoint, train=train, data_dir=data_dir, calib=calib, backends=names,
                  min_calib_images=min_calib_images)
    check_outputs({}, folders={"--out": out})

    options = Options(out=Path(out), data=data_dir, calib=calib, min_calib_images=min_calib_images,
                      checkpoint=checkpoint, arch=arch, recipe=recipe,
                      epochs=epochs, backends=tuple(names), images=images, warmup=warmup, duration=duration,
                      min_iterations=min_iterations)
    steps = plan(options, engines_unavailable=_engines_unavailable())
    interrupt_note("the steps that finished are kept; run the same command again to resume after them")
    _run(options, steps)


def _check_inputs(*, checkpoint, train, data_dir, calib, backends, min_calib_images) -> None:
    """What the later steps would refuse, refused now: before training or exporting for minutes."""
    from alexnet_deploy.data.images import list_images
    from alexnet_deploy.errors import DataError
    from alexnet_deploy.runtimes.registry import get_backend

    if checkpoint is not None and not checkpoint.is_file():
        raise InputError(f"--checkpoint {checkpoint} is not a file; give the .pt checkpoint to deploy.")
    for split in ("train", "val") if train else ("val",):
        if not (data_dir / split).is_dir():
            raise InputError(f"--data {data_dir} has no {split}/ folder; give a dataset root with "
                             f"{'train/ and val/' if train else 'val/'} (one folder per class), such as "
                             "`alexnet-deploy data synth` makes.")
    if not calib.is_dir():
        raise InputError(f"The calibration folder {calib} does not exist; give INT8 calibration images with --calib.")
    try:
        found = len(list_images(calib))
    except DataError:
        found = 0
    if found < min_calib_images:
        raise InputError(f"Found {found} calibration images in {calib}, fewer than --min-calib-images "
                         f"{min_calib_images}; add images (a few hundred representative ones is typical) or lower "
                         "--min-calib-images.")
    for name in backends:
        get_backend(name)  # an unknown name is refused before any work, with the list of known ones


def _engines_unavailable() -> str:
    """Why TensorRT engines cannot be built here, or "" when they can."""
    from alexnet_deploy.runtimes.registry import get_backend

    reason = get_backend("trt").probe()  # only TensorRT's probe: the others would import their runtimes
    return f"no TensorRT engine can be built here: {reason}" if reason else ""


def _run(options, steps) -> None:
    from alexnet_deploy.pipeline.execute import run_steps
    from alexnet_deploy.pipeline.manifest import Manifest
    from alexnet_deploy.pipeline.markdown import MARKDOWN, write_report
    from alexnet_deploy.pipeline.report import build_report
    from alexnet_deploy.pipeline.steps import layout_of

    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(out)
    records = run_steps(steps, out=out, manifest=manifest, say=lambda line: click.echo(line, err=True))
    report = build_report(layout_of(options), data=str(options.data), steps=records,
                          command=shlex.join(["alexnet-deploy", *sys.argv[1:]]))
    write_report(report, out)
    _print(report)
    click.echo(f"Report: {out / MARKDOWN} (figures in {out / 'report.json'}).")
    if not report:
        raise CheckFailed("; ".join(report.failures()))


def _print(report) -> None:
    from rich.table import Table

    from alexnet_deploy.pipeline.markdown import COLUMNS, cells

    table = Table(title=f"{report.checkpoint}: every artifact on every backend here")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in COLUMNS[:4] else "right")
    for row in report.rows:
        table.add_row(*(c.strip("`") for c in cells(row)))
    out = console()
    if not out.is_terminal:
        out.width = 180
    out.print(table)
    for line in report.skipped:
        out.print(f"- not run here: {line}")


COMMANDS = [pipeline_command]
