"""The images verify compares on: labelled ones for accuracy, or any images (or drawn ones) for outputs alone.

Files are listed and their labels checked up front; pixels are read chunk by
chunk while the models run, so a whole validation set never sits in memory.
An image that cannot be read stops the run with a DataError naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from alexnet_deploy.data.images import list_images, preprocess_files
from alexnet_deploy.data.labelled import labelled_samples, split_folder
from alexnet_deploy.data.samples import Geometry, evenly_spaced, image_batch
from alexnet_deploy.errors import DataError, InputError

DRAWN_IMAGES = 64  # without --data and without accuracy


@dataclass(frozen=True)
class VerifyInputs:
    """Image files (or already preprocessed drawn images), their labels when known, and where they came from."""

    files: tuple[Path, ...]
    labels: np.ndarray | None  # indices into the checkpoint's class names; None without accuracy
    source: str
    drawn: np.ndarray | None = None  # preprocessed images when none came from files

    def __len__(self) -> int:
        return len(self.drawn) if self.drawn is not None else len(self.files)

    def chunks(self, geometry: Geometry, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first index, preprocessed images)`` chunk by chunk, in order."""
        for lo in range(0, len(self), size):
            if self.drawn is not None:
                yield lo, self.drawn[lo : lo + size]
            else:
                yield lo, preprocess_files(self.files[lo : lo + size], input_size=geometry.input_size,
                                           mean=geometry.mean, std=geometry.std, resize=geometry.resize)


def verify_inputs(data_dir: str | os.PathLike | None, *, class_names: Sequence[str], geometry: Geometry,
                  accuracy: bool, limit: int | None) -> VerifyInputs:
    """The images to verify on; DataError for data that cannot serve (no labels when accuracy is asked for)."""
    if accuracy:
        if data_dir is None:
            raise InputError("Measuring accuracy needs labelled images: pass --data DIR (one sub-folder per "
                             "class), or --no-accuracy to compare outputs on drawn images.")
        folder = split_folder(data_dir)
        _check_labelled(folder)
        used, samples = labelled_samples(data_dir, class_names=class_names, limit=limit)
        return VerifyInputs(files=tuple(p for p, _ in samples),
                            labels=np.array([y for _, y in samples], dtype=np.int64), source=str(used))
    if data_dir is not None:
        folder = split_folder(data_dir)
        files = list_images(folder)
        if limit is not None:
            files = [files[i] for i in evenly_spaced(len(files), limit)]
        return VerifyInputs(files=tuple(files), labels=None, source=f"images from {folder}")
    drawn, source = image_batch(geometry, data_dir=None, count=limit or DRAWN_IMAGES)
    return VerifyInputs(files=(), labels=None, source=source, drawn=drawn)


def _check_labelled(folder: Path) -> None:
    """Refuse a folder of images without class folders: there is nothing to read labels from."""
    has_classes = any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())
    if not has_classes:
        raise DataError(f"Measuring accuracy needs labels, and {folder} holds no class folders; put each class's "
                        f"images in {folder}/<class>/, or pass --no-accuracy to compare outputs only.")
