"""``alexnet-deploy train`` and ``alexnet-deploy eval``."""

from __future__ import annotations

from pathlib import Path

import click

from alexnet_deploy.commands.common import DATA_HELP, finish, json_option

# Spelled out so that --help imports no torch; a test keeps them equal to the registries.
ARCH_CHOICES = ("torchvision", "paper", "caffenet")
RECIPE_CHOICES = ("paper", "fast")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
EXIT_INTERRUPTED = 130


@click.command("train")
@click.option("--arch", type=click.Choice(ARCH_CHOICES), default=None,
              help="Architecture [default: paper; with --fine-tune or --resume, the checkpoint's].")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path),
              help="Dataset folder with train/ and val/ ImageFolder splits.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Total epochs [default: 90 for paper, 8 for fast].")
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/alexnet.pt"), show_default=True,
              help="Best-on-val checkpoint; the latest epoch goes to <stem>.last.pt beside it.")
@click.option("--recipe", "recipe_name", type=click.Choice(RECIPE_CHOICES), default=None,
              help="paper: the 2012 recipe; fast: minutes on a CPU (see recipes.py) [default: paper].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Override the recipe's learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the per-process batch size.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=None, help="Override the weight decay.")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Override the crop size (recorded in the checkpoint).")
@click.option("--resize", type=click.IntRange(min=1), default=None, help="Override the shorter side before cropping.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="DataLoader worker processes.")
@click.option("--cache/--no-cache", "cache_images", default=None, help="Keep decoded images in memory.")
@click.option("--fine-tune", type=click.Path(path_type=Path), default=None,
              help="Start from these weights (e.g. torchvision's AlexNet file) with a new head for the dataset's classes.")
@click.option("--resume", is_flag=True, help="Continue from <stem>.last.pt to --epochs in total.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_command(arch, data_dir, epochs, out, recipe_name, lr, batch_size, weight_decay, input_size, resize, workers,
                  cache_images, fine_tune, resume, device, seed, progress) -> None:
    """Train (or fine-tune) an AlexNet; run under torchrun for several processes.

    Writes OUT (best validation top-1) and OUT's <stem>.last.pt (latest epoch, with
    the optimizer state for --resume) after every epoch, atomically.
    """
    from alexnet_deploy.train.recipes import get_recipe
    from alexnet_deploy.train.loop import TrainConfig, train

    overrides = dict(lr=lr, batch_size=batch_size, weight_decay=weight_decay, input_size=input_size, resize=resize,
                     workers=workers, cache_images=cache_images)
    if resume and (recipe_name is not None or any(v is not None for v in overrides.values())):
        raise click.UsageError("--resume continues with the recorded recipe; drop --recipe and the recipe flags.")
    recipe_name = recipe_name or "paper"
    recipe = get_recipe(recipe_name).with_overrides(**overrides)
    if epochs is None:
        epochs = 8 if recipe_name == "fast" else 90
    config = TrainConfig(data=data_dir, out=out, arch=arch, recipe=recipe, epochs=epochs, seed=seed, device=device,
                         resume=resume, fine_tune=fine_tune, progress=progress)
    try:
        result = train(config)
    except KeyboardInterrupt:
        click.echo("Interrupted; the checkpoints written so far are intact. Continue with --resume.", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    from alexnet_deploy.train.distributed import detect

    if detect().is_main:
        click.echo(f"best val top-1 {result.best_val_top1:.1%} (epoch {result.best_epoch}) -> {result.best_path}; "
                   f"last epoch -> {result.last_path}")


@click.command("eval")
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="Checkpoint to score.")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help=DATA_HELP)
@click.option("--split", default="val", show_default=True, help="The split of a dataset root to score.")
@click.option("--ten-crop/--no-ten-crop", default=False, show_default=True,
              help="The paper's test: softmax averaged over 4 corners + centre and their mirrors.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@json_option
def eval_command(checkpoint, data_dir, split, ten_crop, batch_size, workers, device, json_out) -> None:
    """Top-1, top-5 and per-class accuracy of a checkpoint on an ImageFolder split."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from alexnet_deploy.verify.accuracy import evaluate_checkpoint

    console = Console(highlight=False)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("evaluating", total=None)
        result = evaluate_checkpoint(checkpoint, data_dir, split=split, ten_crop=ten_crop, batch_size=batch_size,
                                     workers=workers, device=device, progress=lambda n: bar.advance(task, n))
    table = Table(title=f"{checkpoint} on {result.source} ({'10 crops' if ten_crop else 'centre crop'})")
    for column in ("class", "images", "top-1"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in result.per_class:
        table.add_row(row.name, str(row.total), f"{row.accuracy:.1%}")
    console.print(table)
    console.print(f"top-1 {result.top1:.2%}  top-{result.topk} {result.top5:.2%}  ({result.count} images)")
    finish(result, json_out)


COMMANDS: list = [train_command, eval_command]
