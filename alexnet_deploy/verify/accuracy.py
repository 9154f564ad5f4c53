"""Accuracy of a classifier on labelled images: top-1, top-5, per class, 1 or 10 crops.

One scoring path for every backend: ``evaluate_runner`` feeds batches of
labelled images through any Runner (PyTorch, onnxruntime, OpenVINO, TensorRT)
into the same counters. With ten crops each image arrives as (10, 3, S, S); the
softmax outputs of the ten crops are averaged (the paper's test) before ranking.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from alexnet_deploy.core.results import Result
from alexnet_deploy.data.labelled import LabelledSet
from alexnet_deploy.errors import DataError, DeployError
from alexnet_deploy.runtimes.base import Runner, logits

Progress = Callable[[int], None]


@dataclass
class ClassAccuracy:
    name: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class EvalResult(Result):
    """Accuracies in [0, 1]; ``per_class`` in class-index order."""

    top1: float
    top5: float
    count: int
    per_class: list[ClassAccuracy] = field(default_factory=list)
    ten_crop: bool = False
    split: str = ""
    topk: int = 5  # top-5 becomes top-k with k = number of classes when there are fewer than 5
    source: str = ""  # the folder scored

    @property
    def top1_percent(self) -> float:
        return 100.0 * self.top1

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for row, cls in zip(out["per_class"], self.per_class):
            row["accuracy"] = cls.accuracy
        return out


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


def crops_to_scores(outputs: np.ndarray, crops: int) -> np.ndarray:
    """(N * crops, C) logits to (N, C) scores: logits when crops == 1, else mean softmax over the crops."""
    values = np.asarray(outputs, dtype=np.float64)
    if crops == 1:
        return values.astype(np.float32)
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    return probs.reshape(-1, crops, probs.shape[1]).mean(axis=1).astype(np.float32)


def _iterate(loader: Iterable) -> Iterable:
    """Iterate, turning a DataError re-raised from a worker back into its one-sentence message."""
    try:
        yield from loader
    except DataError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        if len(lines) > 1 and lines[0].startswith("Caught"):
            raise DataError(lines[-1].split("DataError: ", 1)[-1]) from None
        raise


def _batches(data: Any, *, batch_size: int, workers: int) -> Iterable:
    """(x, y) batches: a LabelledSet's, a DataLoader over a Dataset, or an iterable of batches as it is."""
    if isinstance(data, LabelledSet):
        return data.batches(batch_size)
    from torch.utils.data import DataLoader, Dataset

    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers)
    return data


def evaluate_runner(runner: Runner, data: Any, *, class_names: Sequence[str], batch_size: int = 64, workers: int = 0,
                    split: str = "", progress: Progress | None = None) -> EvalResult:
    """Top-1/top-5/per-class accuracy of ``runner`` on ``data``.

    ``data`` is a LabelledSet, a Dataset of ``(x, y)`` (read through a DataLoader)
    or an iterable of ``(x, y[, skipped])`` batches. Inputs of shape
    (N, 10, 3, S, S) are scored as ten crops (softmax averaged).
    """
    scorer = Scorer(class_names)
    ten_crop = False
    for batch in _iterate(_batches(data, batch_size=batch_size, workers=workers)):
        x, y = np.asarray(batch[0], dtype=np.float32), np.asarray(batch[1])
        if x.size == 0:
            continue
        ten_crop = x.ndim == 5
        crops = x.shape[1] if ten_crop else 1
        flat = x.reshape(-1, *x.shape[-3:])
        scorer.add(crops_to_scores(logits(runner, flat, chunk=len(flat)), crops), y)
        if progress is not None:
            progress(len(y))
    return scorer.result(ten_crop=ten_crop, split=split)


def evaluate(model, data: Any, *, class_names: Sequence[str], device: Any = "cpu", batch_size: int = 64,
             workers: int = 0, split: str = "", progress: Progress | None = None) -> EvalResult:
    """``evaluate_runner`` for an in-memory PyTorch model (the training loop's validation), on ``device``."""
    from alexnet_deploy.runtimes.registry import open_runner

    device = str(device)
    backend = "torch-cuda" if device.startswith("cuda") else "torch-cpu"
    with open_runner(backend, model, device=device) as runner:
        return evaluate_runner(runner, data, class_names=class_names, batch_size=batch_size, workers=workers,
                               split=split, progress=progress)


def eval_dataset(root: str | os.PathLike, *, input_size: int, resize: int, mean: Sequence[float], std: Sequence[float],
                 ten_crop: bool = False):
    """An ImageFolderDataset preprocessed for testing (centre crop, or the ten crops)."""
    from alexnet_deploy.data import augment
    from alexnet_deploy.data.datasets import ImageFolderDataset
    from alexnet_deploy.data.images import eval_transform

    geometry = dict(input_size=input_size, resize=resize, mean=mean, std=std)
    transform = functools.partial(augment.ten_crop, **geometry) if ten_crop else eval_transform(**geometry)
    return ImageFolderDataset(root, transform)


def evaluate_checkpoint(checkpoint: str | os.PathLike, data_dir: str | os.PathLike, *, split: str = "val",
                        ten_crop: bool = False, batch_size: int = 64, workers: int = 0, device: str = "auto",
                        progress: Progress | None = None) -> EvalResult:
    """Load a checkpoint and score it on ``--data`` (a dataset root's ``split``, or a folder of class folders)."""
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint
    from alexnet_deploy.core.device import pick_device
    from alexnet_deploy.data.labelled import split_folder

    ckpt = load_checkpoint(checkpoint)
    root = split_folder(data_dir, split=split)
    dataset = eval_dataset(root, input_size=ckpt.input_size, resize=ckpt.resize, mean=ckpt.mean, std=ckpt.std,
                           ten_crop=ten_crop)
    if dataset.classes != list(ckpt.class_names):
        raise DataError(
            f"The classes of {root} ({', '.join(dataset.classes[:5])}{', ...' if len(dataset.classes) > 5 else ''}) "
            f"are not the {ckpt.num_classes} classes the checkpoint was trained on; evaluate it on matching data."
        )
    model = ckpt.build_model()
    result = evaluate(model, dataset, class_names=ckpt.class_names, device=pick_device(device), batch_size=batch_size,
                      workers=workers, split=root.name, progress=progress)
    result.source = str(root)
    return result


def top1_percent(runner: Runner, data: LabelledSet, *, class_names: Sequence[str], batch_size: int = 32) -> float:
    """Top-1 in percent of ``runner`` on a LabelledSet (0 for an empty one)."""
    if not len(data):
        return 0.0
    return evaluate_runner(runner, data, class_names=class_names, batch_size=batch_size).top1_percent
