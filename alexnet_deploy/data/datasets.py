"""A torch Dataset over an ImageFolder tree, with optional skipping of unreadable images.

Images are read with ``data.load_rgb`` (grayscale, RGBA, palette and 16-bit
converted to 8-bit RGB) and passed to a transform (``augment.train_transform`` or
``data.eval_transform``) that returns a CHW float32 array.

With ``skip_corrupt=True`` an unreadable image yields ``None`` and
``collate_skip_corrupt`` drops it from the batch and counts it, so a training loop
can sum the counts and warn once; this works across DataLoader worker processes
because the count travels with the batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from alexnet_deploy.data.images import load_rgb, scan_image_folder
from alexnet_deploy.errors import DataError

Transform = Callable[[Image.Image], "np.ndarray | torch.Tensor"]
Scan = tuple[list[str], list[tuple[Path, int]]]  # what data.scan_image_folder returns


class ImageFolderDataset(Dataset):
    """``root/<class>/<image>`` as ``(FloatTensor CHW, int label)`` samples.

    ``classes`` are the sorted class folder names and ``samples`` the sorted
    ``(path, label)`` pairs; the folder structure is checked on construction (see
    ``data.scan_image_folder``), the images only when read. ``scan`` is that
    function's result for ``root`` when the caller already has it, so the folder
    is not walked again.
    """

    def __init__(self, root: str | os.PathLike, transform: Transform, *, skip_corrupt: bool = False,
                 scan: Scan | None = None) -> None:
        self.root = Path(root)
        self.classes, self.samples = scan if scan is not None else scan_image_folder(self.root)
        self.transform = transform
        self.skip_corrupt = skip_corrupt

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def image(self, index: int) -> Image.Image | None:
        """The decoded RGB image of sample ``index``; None when it is unreadable and ``skip_corrupt``."""
        try:
            return load_rgb(self.samples[index][0])
        except DataError:
            if self.skip_corrupt:
                return None
            raise

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        img = self.image(index)
        if img is None:
            return None
        return torch.as_tensor(self.transform(img), dtype=torch.float32), self.samples[index][1]


def collate_skip_corrupt(
    batch: Sequence[tuple[torch.Tensor, int] | None],
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Stack the readable samples; return ``(images, labels, skipped)``.

    A batch with no readable sample gives ``images`` of shape ``(0,)`` and no labels:
    the caller should skip it (after adding ``skipped`` to its count).
    """
    good = [item for item in batch if item is not None]
    skipped = len(batch) - len(good)
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    images = torch.stack([img for img, _ in good])
    labels = torch.tensor([label for _, label in good], dtype=torch.long)
    return images, labels, skipped
