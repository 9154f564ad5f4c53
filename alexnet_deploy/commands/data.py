"""``alexnet-deploy data ...``: the embedded default dataset and checks of user image folders."""

from __future__ import annotations

import time

import click

from alexnet_deploy.commands.common import OutputPath, Renamed, finish, json_option, printable
from alexnet_deploy.core.limits import MAX_PER_CLASS, MAX_WORKERS

# Spelled out here so `--help` does not import numpy; a test keeps it equal to synth.CLASS_NAMES.
CLASS_LIST = "circle, square, triangle, star, cross, ring, stripes, checker, crescent, dots, hexagon, arrow"


@click.group("data")
def data_group() -> None:
    """Generate the default dataset or check an image folder."""


@data_group.command("synth")
@click.option("--out", "out", type=OutputPath(folder=True), default="data/synth", show_default=True,
              help="Folder to create.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1))
@click.option(
    "--classes", default=10, show_default=True, type=click.IntRange(2, len(CLASS_LIST.split(", "))),
    help=f"Number of classes, taken in order from: {CLASS_LIST}.",
)
@click.option("--train-per-class", "--per-class", "per_class", cls=Renamed, default=200, show_default=True,
              type=click.IntRange(1, MAX_PER_CLASS), help="Training images per class.")
@click.option("--val-per-class", default=100, show_default=True, type=click.IntRange(0, MAX_PER_CLASS),
              help="Validation images per class (100 x 10 classes: one image is 0.1 pp of accuracy).")
@click.option("--calib-per-class", default=None, type=click.IntRange(0, MAX_PER_CLASS),
              help="Calibration images per class [default: enough for 512 in all].")
@click.option("--workers", default=None, type=click.IntRange(1, MAX_WORKERS),
              help="Processes drawing images [default: min(2, CPUs)]; the bytes do not depend on it.")
@click.option("--force/--no-force", default=False, show_default=True, help="Replace an --out that holds an earlier generated tree.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def synth_command(
    out: str, seed: int, classes: int, per_class: int, val_per_class: int, calib_per_class: int | None,
    workers: int | None, force: bool, progress: bool,
) -> None:
    """Write the built-in shapes/textures dataset to --out as train/, val/ and calib/ ImageFolder splits.

    256x256 PNG scenes, one object per image whose shape or texture is the class;
    colour, size, rotation, position, clutter and noise are random. The defaults
    give 3,520 images: 200 train, 100 val and 52 calib per class. Same --seed, same
    bytes. The tree appears at --out only when complete.
    """
    from alexnet_deploy.data.synth_tree import generate

    start = time.perf_counter()
    info = generate(
        out, seed=seed, classes=classes, per_class=per_class, val_per_class=val_per_class,
        calib_per_class=calib_per_class, force=force, workers=workers, progress=progress,
    )
    counts = ", ".join(f"{split} {n * len(info.classes)}" for split, n in info.counts.items())
    click.echo(f"Wrote {info.total} images ({counts}) of {len(info.classes)} classes to {out} "
               f"in {time.perf_counter() - start:.1f} s.")


@data_group.command("check")
@click.argument("root", type=click.Path(path_type=str))
@json_option
def check_command(root: str, json_out: str | None) -> None:
    """Read every image of an ImageFolder tree (ROOT/<class>/<images>) and report unreadable ones."""
    from alexnet_deploy.data.images import check_image_folder

    report = check_image_folder(root)
    for name, count in zip(report.classes, report.counts):
        click.echo(printable(f"{name:20} {count}"))
    click.echo(f"{len(report.classes)} classes, {sum(report.counts)} images, {len(report.unreadable)} unreadable.")
    for path in report.unreadable:
        click.echo(printable(f"unreadable: {path}"))
    finish(report, json_out)


COMMANDS: list = [data_group]
