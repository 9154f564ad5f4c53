"""Accuracy of a classifier on an ImageFolder split: top-1, top-5, per class, 1 or 10 crops.

One scoring path for every backend: ``evaluate`` runs a PyTorch model,
``evaluate_callable`` runs anything that maps a float32 numpy batch to logits
(an onnxruntime session, a TensorRT runner), and both feed the same counters.
With ten crops each image arrives as (10, 3, S, S); the softmax outputs of the
ten crops are averaged (the paper's test) before ranking.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from alexnet_deploy.data import augment
from alexnet_deploy.data.images import eval_transform
from alexnet_deploy.data.datasets import ImageFolderDataset
from alexnet_deploy.errors import DataError, DeployError
from alexnet_deploy.core.fsutil import write_text_atomic

BatchFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class ClassAccuracy:
    name: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class EvalResult:
    """Accuracies in [0, 1]; ``per_class`` in class-index order."""

    top1: float
    top5: float
    count: int
    per_class: list[ClassAccuracy] = field(default_factory=list)
    ten_crop: bool = False
    split: str = ""
    topk: int = 5  # top-5 becomes top-k with k = number of classes when there are fewer than 5

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for row, cls in zip(out["per_class"], self.per_class):
            row["accuracy"] = cls.accuracy
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "EvalResult":
        rows = [ClassAccuracy(name=r["name"], correct=int(r["correct"]), total=int(r["total"])) for r in data.get("per_class", [])]
        return cls(
            top1=float(data["top1"]), top5=float(data["top5"]), count=int(data["count"]), per_class=rows,
            ten_crop=bool(data.get("ten_crop", False)), split=str(data.get("split", "")), topk=int(data.get("topk", 5)),
        )

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON, atomically."""
        return write_text_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")


class Scorer:
    """Counts top-1 / top-k hits per class from batches of scores and labels."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self.k = min(5, len(self.class_names))
        n = len(self.class_names)
        self.correct = np.zeros(n, dtype=np.int64)
        self.correct_k = np.zeros(n, dtype=np.int64)
        self.total = np.zeros(n, dtype=np.int64)

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        """``scores`` (N, C) of logits or probabilities (ranking is all that matters)."""
        scores = np.asarray(scores)
        labels = np.asarray(labels, dtype=np.int64)
        if scores.ndim != 2 or scores.shape[1] != len(self.class_names):
            raise DeployError(
                f"The model gives outputs of shape {scores.shape} but the data has {len(self.class_names)} classes; "
                f"evaluate it on data with the classes it was trained on."
            )
        # Stable descending order so ties rank the lower class index first, like torch.topk on CPU.
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]
        hit1 = order[:, 0] == labels
        hitk = (order == labels[:, None]).any(axis=1)
        np.add.at(self.total, labels, 1)
        np.add.at(self.correct, labels, hit1.astype(np.int64))
        np.add.at(self.correct_k, labels, hitk.astype(np.int64))

    def result(self, *, ten_crop: bool = False, split: str = "") -> EvalResult:
        count = int(self.total.sum())
        rows = [ClassAccuracy(n, int(c), int(t)) for n, c, t in zip(self.class_names, self.correct, self.total)]
        return EvalResult(
            top1=float(self.correct.sum()) / count if count else 0.0,
            top5=float(self.correct_k.sum()) / count if count else 0.0,
            count=count, per_class=rows, ten_crop=ten_crop, split=split, topk=self.k,
        )


def crops_to_scores(outputs: torch.Tensor | np.ndarray, crops: int) -> np.ndarray:
    """(N * crops, C) logits to (N, C) scores: logits when crops == 1, else mean softmax over the crops."""
    logits = torch.as_tensor(outputs).float()
    if crops == 1:
        return logits.numpy()
    probs = torch.softmax(logits, dim=1)
    return probs.reshape(-1, crops, probs.shape[1]).mean(dim=1).numpy()


def batches(data: DataLoader | Dataset | Iterable, *, batch_size: int = 64, workers: int = 0) -> Iterable:
    """A DataLoader over ``data`` unless it already is an iterable of batches."""
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers)
    return data


def _split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch[0], batch[1]  # (x, y) or (x, y, skipped) from collate_skip_corrupt
    return torch.as_tensor(x), torch.as_tensor(y)


def _iterate(loader: Iterable) -> Iterable:
    """Iterate, turning a DataError re-raised from a worker back into its one-sentence message."""
    try:
        yield from loader
    except DataError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        if len(lines) > 1 and lines[0].startswith("Caught"):
            last = lines[-1].split("DataError: ", 1)[-1]
            raise DataError(last) from None
        raise


def run_scores(score_batch: Callable[[torch.Tensor], np.ndarray], data: Any, *, class_names: Sequence[str],
               batch_size: int = 64, workers: int = 0, split: str = "", progress: Callable[[int], None] | None = None) -> EvalResult:
    """Shared loop: ``score_batch`` maps an input batch (N, 3, S, S) or (N, 10, 3, S, S) to (N, C) scores."""
    scorer = Scorer(class_names)
    ten_crop = False
    for batch in _iterate(batches(data, batch_size=batch_size, workers=workers)):
        x, y = _split_batch(batch)
        if x.numel() == 0:
            continue
        ten_crop = x.dim() == 5
        scorer.add(score_batch(x), y.numpy())
        if progress is not None:
            progress(len(y))
    return scorer.result(ten_crop=ten_crop, split=split)


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, *, class_names: Sequence[str], device: str | torch.device = "cpu",
             batch_size: int = 64, workers: int = 0, split: str = "", progress: Callable[[int], None] | None = None) -> EvalResult:
    """Top-1/top-5/per-class accuracy of a PyTorch ``model`` on a Dataset or DataLoader of (x, y).

    Items of shape (10, 3, S, S) are scored as ten crops (softmax averaged). The
    model is put in eval mode and left there.
    """
    model.eval()
    device = torch.device(device)

    def score(x: torch.Tensor) -> np.ndarray:
        crops = x.shape[1] if x.dim() == 5 else 1
        flat = x.reshape(-1, *x.shape[-3:]).to(device, non_blocking=True)
        return crops_to_scores(model(flat).float().cpu(), crops)

    return run_scores(score, data, class_names=class_names, batch_size=batch_size, workers=workers, split=split, progress=progress)


def evaluate_callable(fn: BatchFn, data: Any, *, class_names: Sequence[str], batch_size: int = 64, workers: int = 0,
                      split: str = "", progress: Callable[[int], None] | None = None) -> EvalResult:
    """The same as ``evaluate`` for any callable mapping a float32 (N, 3, S, S) array to (N, C) logits."""

    def score(x: torch.Tensor) -> np.ndarray:
        crops = x.shape[1] if x.dim() == 5 else 1
        flat = np.ascontiguousarray(x.reshape(-1, *x.shape[-3:]).numpy().astype(np.float32))
        return crops_to_scores(np.asarray(fn(flat)), crops)

    return run_scores(score, data, class_names=class_names, batch_size=batch_size, workers=workers, split=split, progress=progress)


def eval_dataset(root: str | os.PathLike, *, input_size: int, resize: int, mean: Sequence[float], std: Sequence[float],
                 ten_crop: bool = False) -> ImageFolderDataset:
    """An ImageFolderDataset preprocessed for testing (centre crop, or the ten crops)."""
    geometry = dict(input_size=input_size, resize=resize, mean=mean, std=std)
    transform = functools.partial(augment.ten_crop, **geometry) if ten_crop else eval_transform(**geometry)
    return ImageFolderDataset(root, transform)


def evaluate_checkpoint(checkpoint: str | os.PathLike, data_dir: str | os.PathLike, *, split: str = "val",
                        ten_crop: bool = False, batch_size: int = 64, workers: int = 0, device: str = "auto",
                        progress: Callable[[int], None] | None = None) -> EvalResult:
    """Load a checkpoint and score it on ``data_dir/split`` with the preprocessing its metadata records."""
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint
    from alexnet_deploy.train.distributed import DistEnv, pick_device

    ckpt = load_checkpoint(checkpoint)
    root = Path(data_dir) / split if split else Path(data_dir)
    dataset = eval_dataset(root, input_size=ckpt.input_size, resize=ckpt.resize, mean=ckpt.mean, std=ckpt.std, ten_crop=ten_crop)
    if dataset.classes != list(ckpt.class_names):
        raise DataError(
            f"The classes of {root} ({', '.join(dataset.classes[:5])}{', ...' if len(dataset.classes) > 5 else ''}) "
            f"are not the {ckpt.num_classes} classes the checkpoint was trained on; evaluate it on matching data."
        )
    dev = pick_device(device, DistEnv())
    model = ckpt.build_model().to(dev)
    return evaluate(model, dataset, class_names=ckpt.class_names, device=dev, batch_size=batch_size, workers=workers,
                    split=split, progress=progress)
