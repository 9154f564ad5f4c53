"""``alexnet-deploy train`` and ``alexnet-deploy eval``."""

from __future__ import annotations

from pathlib import Path

import click

from alexnet_deploy.commands.common import (
    DATA_HELP, OutputPath, check_outputs, console, finish, given, interrupt_note, json_option, model_option,
)
from alexnet_deploy.core.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_INPUT_SIZE, MAX_RESIZE, MAX_WORKERS
from alexnet_deploy.errors import InputError

# Spelled out so that --help imports no torch; a test keeps them equal to the registries.
ARCH_CHOICES = ("torchvision", "paper", "caffenet")
RECIPE_CHOICES = ("paper", "fast")
DEVICE_CHOICES = ("auto", "cpu", "cuda")


@click.command("train")
@click.option("--arch", type=click.Choice(ARCH_CHOICES), default=None,
              help="Architecture [default: paper; with --fine-tune or --resume, the checkpoint's].")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path),
              help="Dataset folder with train/ and val/ ImageFolder splits.")
@click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=None,
              help="Total epochs [default: 90 for paper, 8 for fast].")
@click.option("--out", type=OutputPath(example="alexnet.pt"), default="models/alexnet.pt", show_default=True,
              help="Best-on-val checkpoint; the latest epoch goes to <out stem>.last.pt beside it.")
@click.option("--recipe", "recipe_name", type=click.Choice(RECIPE_CHOICES), default=None,
              help="paper: the 2012 recipe; fast: minutes on a CPU (see recipes.py) [default: paper].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=10), default=None,
              help="Override the recipe's learning rate.")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=None,
              help="Override the per-process batch size.")
@click.option("--weight-decay", type=click.FloatRange(min=0, max=1), default=None, help="Override the weight decay.")
@click.option("--input-size", type=click.IntRange(1, MAX_INPUT_SIZE), default=None,
              help="Override the crop size (recorded in the checkpoint).")
@click.option("--resize", type=click.IntRange(1, MAX_RESIZE), default=None,
              help="Override the shorter side before cropping.")
@click.option("--workers", type=click.IntRange(0, MAX_WORKERS), default=None, help="DataLoader worker processes.")
@click.option("--cache/--no-cache", "cache_images", default=None, help="Keep decoded images in memory.")
@click.option("--fine-tune", type=click.Path(path_type=Path), default=None,
              help="Start from these weights (e.g. torchvision's AlexNet file) with a new head for the dataset's classes.")
@click.option("--resume", is_flag=True, help="Continue from <out stem>.last.pt to --epochs in total.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--rendezvous-timeout", type=click.FloatRange(min=1, max=86_400), default=300, show_default=True,
              help="Under torchrun: seconds to wait for every process to join before giving up.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@json_option
def train_command(arch, data_dir, epochs, out, recipe_name, lr, batch_size, weight_decay, input_size, resize, workers,
                  cache_images, fine_tune, resume, device, seed, rendezvous_timeout, progress, json_out) -> None:
    """Train (or fine-tune) an AlexNet; run under torchrun for several processes.

    Writes OUT (best validation top-1) and OUT's <stem>.last.pt (latest epoch, with
    the optimizer state for --resume) after every epoch, atomically.
    """
    overrides = dict(lr=lr, batch_size=batch_size, weight_decay=weight_decay, input_size=input_size, resize=resize,
                     workers=workers, cache_images=cache_images)
    if resume and (recipe_name is not None or any(v is not None for v in overrides.values())):
        raise InputError("--resume continues with the recorded recipe; drop --recipe and the recipe flags.")
    if input_size is not None and resize is not None and resize < input_size:
        raise InputError(f"--resize {resize} is smaller than --input-size {input_size}; give a resize of at least "
                         f"{input_size}.")
    from alexnet_deploy.train.loop import TrainConfig, last_path, train
    from alexnet_deploy.train.recipes import get_recipe

    check_outputs({"--out": out, "the last-epoch checkpoint": last_path(out), "--json": json_out},
                  inputs={"--fine-tune": fine_tune})
    recipe_name = recipe_name or "paper"
    recipe = get_recipe(recipe_name).with_overrides(**overrides)
    if epochs is None:
        epochs = 8 if recipe_name == "fast" else 90
    config = TrainConfig(data=data_dir, out=Path(out), arch=arch, recipe=recipe, epochs=epochs, seed=seed,
                         device=device, resume=resume, fine_tune=fine_tune, progress=progress,
                         rendezvous_timeout=rendezvous_timeout)
    interrupt_note("the checkpoints of finished epochs are intact; continue with --resume")
    result = train(config)
    from alexnet_deploy.train.distributed import detect

    if detect().is_main:
        click.echo(f"best val top-1 {result.best_val_top1:.1%} (epoch {result.best_epoch}) -> {result.best_path}; "
                   f"last epoch -> {result.last_path}")
        finish(result, json_out)


@click.command("eval")
@model_option(help="Checkpoint to score.", old=("--checkpoint",))
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help=DATA_HELP)
@click.option("--split", default="val", show_default=True, help="The split of a dataset root to score.")
@click.option("--ten-crop/--no-ten-crop", default=False, show_default=True,
              help="The paper's test: softmax averaged over 4 corners + centre and their mirrors.")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(0, MAX_WORKERS), default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@json_option
def eval_command(model, data_dir, split, ten_crop, batch_size, workers, device, json_out) -> None:
    """Top-1, top-5 and per-class accuracy of a checkpoint on an ImageFolder split."""
    check_outputs({"--json": json_out}, inputs={"--model": model})
    if given("split") and not (Path(data_dir) / split).is_dir():
        raise InputError(f"--split {split} names a split of a dataset root, but {data_dir} has no {split}/ folder; "
                         f"pass a dataset root that has it, or drop --split to score {data_dir} itself.")
    from rich.progress import Progress
    from rich.table import Table

    from alexnet_deploy.verify.accuracy import evaluate_checkpoint

    out = console()
    with Progress(console=out, transient=True) as bar:
        task = bar.add_task("evaluating", total=None)
        result = evaluate_checkpoint(model, data_dir, split=split, ten_crop=ten_crop, batch_size=batch_size,
                                     workers=workers, device=device, progress=lambda n: bar.advance(task, n))
    table = Table(title=f"{model} on {result.source} ({'10 crops' if ten_crop else 'centre crop'})")
    for column in ("class", "images", "top-1"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in result.per_class:
        table.add_row(row.name, str(row.total), f"{row.accuracy:.1%}")
    out.print(table)
    out.print(f"top-1 {result.top1:.2%}  top-{result.topk} {result.top5:.2%}  ({result.count} images)")
    finish(result, json_out)


COMMANDS: list = [train_command, eval_command]
