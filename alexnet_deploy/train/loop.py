"""Train an AlexNet on an ImageFolder dataset, in one process or many (torchrun).

Files: ``out`` (e.g. ``models/alexnet.pt``) is the checkpoint with the best
validation top-1 so far; ``<stem>.last.pt`` next to it is the latest epoch plus
everything needed to resume (optimizer, scaler, schedule state and RNG state,
all tensors and primitives, so it loads with ``weights_only=True``). Both are
written atomically after every epoch, so Ctrl-C at any moment leaves the
previous good files in place.

Reproducibility: every epoch starts by seeding torch from (seed, epoch, rank);
the augmentations and dropout draw only from torch, and the sampler reshuffles
from (seed, epoch). An epoch therefore replays the same way whether the run was
resumed before it or not.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from alexnet_deploy.core.device import pick_device
from alexnet_deploy.core.outputs import check_outputs
from alexnet_deploy.core.results import Result
from alexnet_deploy.core.transaction import transaction
from alexnet_deploy.train import distributed as dd
from alexnet_deploy.train import inputs as td
from alexnet_deploy.data.augment import PCAColor
from alexnet_deploy.artifacts.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from alexnet_deploy.errors import CheckpointError, InputError
from alexnet_deploy.verify.accuracy import evaluate
from alexnet_deploy.model.zoo import build, get_spec
from alexnet_deploy.train.recipes import PAPER, PlateauState, Recipe, make_optimizer, reinit_kaiming
from alexnet_deploy.train.progress import EpochProgress, warn

StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``epochs`` is the total, also when resuming."""

    data: Path
    out: Path
    arch: str | None = None  # None: "paper", or the fine-tuned / resumed checkpoint's arch
    recipe: Recipe = PAPER
    epochs: int = 90
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    fine_tune: Path | None = None
    progress: bool = True
    rendezvous_timeout: float = 300.0  # seconds to wait for the other torchrun processes


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_top1: float
    val_top1: float
    val_top5: float
    lr: float
    images_per_s: float
    seconds: float
    skipped: int
    images: int = 0  # training images seen this epoch, over all processes
    val_images: int = 0


@dataclass
class TrainResult(Result):
    best_path: str
    last_path: str
    best_val_top1: float
    best_epoch: int
    history: list[EpochStats] = field(default_factory=list)
    world_size: int = 1



def last_path(out: str | Path) -> Path:
    """``models/alexnet.pt`` -> ``models/alexnet.last.pt``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.last{out.suffix or '.pt'}")


def _new_head(model: nn.Module, num_classes: int) -> None:
    last = len(model.classifier) - 1
    old = model.classifier[last]
    head = nn.Linear(old.in_features, num_classes)
    nn.init.normal_(head.weight, 0.0, 0.01)
    nn.init.zeros_(head.bias)
    model.classifier[last] = head


def _seed_epoch(seed: int, epoch: int, rank: int) -> None:
    torch.manual_seed((seed * 1_000_003 + epoch * 1009 + rank) % (2**63))


def _start(config: TrainConfig, class_names: list[str]) -> tuple[nn.Module, str, dict[str, Any], Any]:
    """The model, arch, resume state and (for fine-tuning/resume) the source checkpoint."""
    if config.resume and config.fine_tune:
        raise InputError("--resume and --fine-tune conflict: resume continues a run, fine-tune starts a new one; pass one.")
    if config.resume:
        path = last_path(config.out)
        if not path.exists():
            raise CheckpointError(f"Nothing to resume: {path} does not exist; run without --resume to start training.")
        ckpt = load_checkpoint(path)
        state = ckpt.training.get("resume")
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} holds no resume state; it was not written by a training run.")
        if config.arch and config.arch != ckpt.arch:
            raise InputError(f"--arch {config.arch} conflicts with the {ckpt.arch} run in {path}; drop --arch to resume.")
        if list(ckpt.class_names) != class_names:
            raise InputError(f"The classes in {config.data} differ from those of the run in {path}; resume on the same data.")
        return ckpt.build_model(), ckpt.arch, ckpt.training, ckpt
    if config.fine_tune:
        ckpt = load_checkpoint(config.fine_tune)
        if config.arch and config.arch != ckpt.arch:
            raise InputError(f"--arch {config.arch} conflicts with the {ckpt.arch} weights in {config.fine_tune}; drop --arch.")
        torch.manual_seed(config.seed)
        model = ckpt.build_model()
        _new_head(model, len(class_names))
        return model, ckpt.arch, {}, ckpt
    arch = config.arch or "paper"
    get_spec(arch)
    torch.manual_seed(config.seed)
    model = build(arch, num_classes=len(class_names))
    if config.recipe.init == "kaiming":
        reinit_kaiming(model)
    return model, arch, {}, None


@dataclass
class _Run:
    """Everything settled before the first step."""

    model: nn.Module
    arch: str
    recipe: Recipe
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    previous: dict[str, Any]  # the resumed checkpoint's training metadata, or {}
    splits: td.Splits  # also gives the class names


def train(config: TrainConfig, *, on_step: StepCallback | None = None) -> TrainResult:
    """Run (or resume) training; returns the per-epoch history. See the module docstring for the files."""
    if config.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {config.epochs}.")
    env = dd.detect()
    device = pick_device(config.device, local_rank=env.local_rank)
    splits = td.scan_splits(Path(config.data))  # a clear DataError before any work starts
    model, arch, previous, source = _start(config, splits.classes)
    recipe = Recipe.from_dict(previous["recipe"]) if config.resume else config.recipe
    spec = get_spec(arch)
    mean, std = (tuple(source.mean), tuple(source.std)) if source is not None else (spec.mean, spec.std)
    run = _Run(model, arch, recipe, mean, std, previous, splits)
    dd.init(env, device, timeout=config.rendezvous_timeout)
    try:
        return _loop(config, env, device, run, on_step)
    finally:
        dd.shutdown()


def _loop(config: TrainConfig, env: dd.DistEnv, device: torch.device, run: _Run, on_step: StepCallback | None) -> TrainResult:
    model, arch, recipe, class_names, mean, std, previous = (
        run.model, run.arch, run.recipe, run.splits.classes, run.mean, run.std, run.previous)
    geo = td.geometry(arch, recipe)
    state = previous.get("resume", {})
    pca_json = previous.get("pca")
    if pca_json:
        pca = PCAColor.from_dict(pca_json)
    else:
        pca = td.fit_pca(run.splits, recipe, seed=config.seed)
    train_set, val_set = td.datasets(run.splits, geo, recipe, mean, std, pca)
    train_loader, sampler, val_loader = td.loaders(train_set, val_set, recipe, env, seed=config.seed, pin_memory=device.type == "cuda")

    model.to(device)
    optimizer = make_optimizer(model, recipe)
    use_amp = device.type == "cuda"  # mixed precision only where it pays and GradScaler is supported
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)  # lrn.py keeps LRN fp32 under autocast
    plateau = PlateauState(lr=recipe.lr)
    history = [EpochStats(**h) for h in previous.get("history", [])]
    best, best_epoch, start = float(previous.get("best_val_top1", -1.0)), int(previous.get("best_epoch", -1)), 0
    if state:
        optimizer.load_state_dict(state["optimizer"])
        if use_amp and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        plateau = PlateauState.from_dict(state["plateau"])
        torch.set_rng_state(state["rng"]["torch"])
        start = int(previous["epoch"])
    net = model
    if env.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    steps = len(train_loader)
    out, last = Path(config.out), last_path(config.out)
    if env.is_main:  # room for both checkpoints (the last one with the optimizer's state) before the first epoch
        weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        states = 2 if recipe.optimizer == "adamw" else 1  # AdamW keeps two moments per weight, SGD one
        check_outputs({"--out": out, "the last-epoch checkpoint": last},
                      need_bytes={"--out": weights, "the last-epoch checkpoint": weights * (1 + states)})
    show = config.progress and env.is_main

    for epoch in range(start, config.epochs):
        _seed_epoch(config.seed, epoch, env.rank)
        sampler.set_epoch(epoch)
        net.train()
        loss_sum = correct = seen = skipped = 0.0
        lr = recipe.lr
        t0 = time.perf_counter()
        with EpochProgress(epoch, config.epochs, steps, enabled=show) as bar:
            for step, (x, y, n_bad) in enumerate(train_loader):
                skipped += n_bad
                if x.numel() == 0:
                    continue
                lr = recipe.lr_at(epoch=epoch, step=step, steps_per_epoch=steps, epochs=config.epochs, plateau_lr=plateau.lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    logits = net(x)
                    loss = criterion(logits, y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                n = len(y)
                loss_sum += loss.item() * n
                correct += (logits.argmax(1) == y).sum().item()
                seen += n
                bar.update(loss=loss_sum / seen, acc=correct / seen, ips=seen * env.world_size / (time.perf_counter() - t0))
                if on_step is not None:
                    on_step(epoch, step)
        train_s = time.perf_counter() - t0
        loss_sum, correct, seen, skipped = dd.all_reduce_sum([loss_sum, correct, seen, skipped], device)
        val = evaluate(model, val_loader, class_names=class_names, device=device, split="val")
        v1, v5, vn = dd.all_reduce_sum([sum(c.correct for c in val.per_class), round(val.top5 * val.count), val.count], device)
        stats = EpochStats(epoch=epoch + 1, train_loss=loss_sum / max(seen, 1), train_top1=correct / max(seen, 1),
                           val_top1=v1 / max(vn, 1), val_top5=v5 / max(vn, 1), lr=lr,
                           images_per_s=seen / train_s, seconds=train_s, skipped=int(skipped),
                           images=int(seen), val_images=int(vn))
        history.append(stats)
        if recipe.schedule == "plateau":
            plateau.update(stats.val_top1, recipe)
        improved = stats.val_top1 > best
        if improved:
            best, best_epoch = stats.val_top1, stats.epoch
        hashes = dd.gather_strings(dd.weights_hash(model)) if env.enabled else []
        if env.is_main:
            if skipped:
                warn(f"Skipped {int(skipped)} unreadable training image(s) in epoch {stats.epoch}; "
                     f"run `alexnet-deploy data check` to list them.")
            meta = {
                "recipe": recipe.to_dict(), "epochs": config.epochs, "epoch": stats.epoch, "best_val_top1": best,
                "best_epoch": best_epoch, "seed": config.seed, "images_per_s": stats.images_per_s,
                "pca": pca.to_dict() if pca else None, "history": [asdict(h) for h in history],
                "world_size": env.world_size, "device": device.type, "rank_weight_hashes": hashes,
                "fine_tuned_from": str(config.fine_tune) if config.fine_tune else previous.get("fine_tuned_from"),
            }
            ckpt = make_checkpoint(model, arch=arch, class_names=class_names, input_size=geo.input_size,
                                   resize=geo.resize, mean=mean, std=std, training=meta)
            resume = {"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict() if use_amp else {},
                      "plateau": plateau.to_dict(), "rng": {"torch": torch.get_rng_state()}}
            # One unit per epoch, kept for good: an interruption later leaves this epoch's pair intact.
            with transaction(independent=True):
                if improved:
                    save_checkpoint(out, ckpt)
                save_checkpoint(last, dataclasses.replace(ckpt, training={**meta, "resume": resume}))
            EpochProgress.report(stats, improved=improved)
    return TrainResult(best_path=str(out), last_path=str(last), best_val_top1=best, best_epoch=best_epoch,
                       history=history, world_size=env.world_size)
