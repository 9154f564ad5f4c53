"""Labelled images for accuracy: one meaning of ``--data`` for every command.

``--data`` is either a dataset root (``DIR/val/<class>/...``: its ``val/`` split
is used) or a folder of class folders (``DIR/<class>/...``). Folder names are
class names; they must be among the model's classes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from alexnet_deploy.data.images import SPLIT_NAMES, preprocess_files, scan_image_folder
from alexnet_deploy.data.samples import evenly_spaced
from alexnet_deploy.errors import DataError

DATA_HELP = ("Labelled images: a dataset root (its val/ split is used) or a folder with one sub-folder of "
             "images per class.")


def split_folder(data_dir: str | os.PathLike, *, split: str = "val") -> Path:
    """The folder of class folders ``--data`` names: ``data_dir/split`` when it exists, else ``data_dir``."""
    root = Path(data_dir)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"Data folder {root} {what}; pass a dataset root with a {split}/ split or a folder of "
                        f"class folders.")
    if split and (root / split).is_dir():
        return root / split
    subfolders = {p.name for p in root.iterdir() if p.is_dir()}
    if subfolders and subfolders <= SPLIT_NAMES:
        raise DataError(f"{root} holds the splits {', '.join(sorted(subfolders))} but no {split}/; pass "
                        f"one of them or add {root / split}.")
    return root


@dataclass(frozen=True)
class LabelledSet:
    """Preprocessed images and their labels (indices into the model's class names)."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(images, labels)`` batches, in order."""
        for lo in range(0, len(self), size):
            yield self.images[lo : lo + size], self.labels[lo : lo + size]


def labelled_samples(data_dir: str | os.PathLike, *, class_names: Sequence[str], split: str = "val",
                     limit: int | None = None) -> tuple[Path, list[tuple[Path, int]]]:
    """The folder used and its ``(path, label)`` samples, labels indexing ``class_names``.

    Every class folder must be one of the model's classes (a subset is fine).
    ``limit`` keeps an evenly spaced subset of the sorted samples.
    """
    folder = split_folder(data_dir, split=split)
    folders, samples = scan_image_folder(folder)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in folders if name not in index]
    if unknown:
        shown = ", ".join(class_names[:5]) + (", ..." if len(class_names) > 5 else "")
        raise DataError(f"{folder} must hold one folder per class named like the model's classes ({shown}); "
                        f"found unknown folders {unknown[:3]}.")
    samples = [(path, index[folders[label]]) for path, label in samples]
    if limit is not None:
        samples = [samples[i] for i in evenly_spaced(len(samples), limit)]
    return folder, samples


def load_labelled_split(data_dir: str | os.PathLike, *, class_names: Sequence[str], input_size: int, resize: int,
                        mean: Sequence[float], std: Sequence[float], split: str = "val",
                        limit: int | None = None) -> LabelledSet:
    """The labelled images of ``data_dir`` (see ``labelled_samples``), preprocessed for the model."""
    folder, samples = labelled_samples(data_dir, class_names=class_names, split=split, limit=limit)
    images = preprocess_files([p for p, _ in samples], input_size=input_size, mean=mean, std=std, resize=resize)
    return LabelledSet(images=images, labels=np.array([y for _, y in samples], dtype=np.int64), source=str(folder))
