"""The training loop's inputs: datasets, samplers and loaders built from a recipe.

Kept apart from the loop so that the choice of what the images look like (crop
size, caching, colour noise) and the choice of how weights are updated change
in different files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler, Subset

from alexnet_deploy.data.augment import PCAColor, fit_rgb_pca, train_transform
from alexnet_deploy.data.images import RESIZE, eval_transform, resize_shorter, scan_image_folder
from alexnet_deploy.data.datasets import ImageFolderDataset, Scan, collate_skip_corrupt
from alexnet_deploy.train.distributed import DistEnv, shard
from alexnet_deploy.errors import DataError, InputError
from alexnet_deploy.model.zoo import get_spec
from alexnet_deploy.train.recipes import Recipe


class CachedImageFolder(ImageFolderDataset):
    """An ImageFolderDataset that decodes each image once and keeps it resized to ``resize``.

    The transforms resize the shorter side to ``resize`` first, which is a no-op on
    the cached copy, so the random crops and flips are unchanged while the PNG
    decoding and the large resize happen only in the first epoch. The cache lives
    in each process (with DataLoader workers, in each persistent worker).
    """

    def __init__(self, root, transform, *, resize: int, skip_corrupt: bool = False, scan: Scan | None = None) -> None:
        super().__init__(root, transform, skip_corrupt=skip_corrupt, scan=scan)
        self.resize = resize
        self._cache: dict[int, Image.Image | None] = {}

    def image(self, index: int) -> Image.Image | None:
        if index not in self._cache:
            img = super().image(index)
            self._cache[index] = None if img is None else resize_shorter(img, self.resize)
        return self._cache[index]


@dataclass(frozen=True)
class Geometry:
    """What the network sees: crop size and the shorter side images are resized to first."""

    input_size: int
    resize: int


def geometry(arch: str, recipe: Recipe) -> Geometry:
    """The recipe's input size and resize, defaulting to the arch's native size and the same 256:224 ratio."""
    spec = get_spec(arch)
    size = recipe.input_size or spec.input_size
    if size < spec.min_input_size:
        raise InputError(f"The {arch} arch needs inputs of at least {spec.min_input_size} px, got {size}.")
    resize = recipe.resize or (RESIZE if size == spec.input_size else max(size, round(size * RESIZE / spec.input_size)))
    if resize < size:
        raise InputError(f"resize {resize} is smaller than the input size {size}; use a resize of at least {size}.")
    return Geometry(size, resize)


@dataclass(frozen=True)
class Splits:
    """``data/train`` and ``data/val`` with their ``data.scan_image_folder`` results.

    Each folder is walked once: the same scans give the class names checked before
    any work starts, the files the PCA is fitted on, and the datasets' samples.
    """

    train_dir: Path
    val_dir: Path
    train: Scan
    val: Scan

    @property
    def classes(self) -> list[str]:
        return self.train[0]


def scan_splits(data: Path) -> Splits:
    """Both splits scanned, or a DataError saying what is missing (structure only, no image is read)."""
    train_dir, val_dir = data / "train", data / "val"
    for split in (train_dir, val_dir):
        if not split.is_dir():
            raise DataError(f"{split} does not exist; the data folder needs train/ and val/ splits with one sub-folder per class.")
    return Splits(train_dir, val_dir, scan_image_folder(train_dir), scan_image_folder(val_dir))


def fit_pca(splits: Splits, recipe: Recipe, *, seed: int) -> PCAColor | None:
    """The PCA colour noise fitted on (a sample of) the training images, or None when the recipe has it off."""
    if not recipe.pca_color:
        return None
    return fit_rgb_pca([p for p, _ in splits.train[1]], max_images=recipe.pca_max_images, seed=seed, skip_corrupt=True)


def datasets(splits: Splits, geo: Geometry, recipe: Recipe, mean: Sequence[float], std: Sequence[float],
             pca: PCAColor | None) -> tuple[ImageFolderDataset, ImageFolderDataset]:
    """Training (augmented, corrupt images skipped) and validation (centre crop) datasets."""
    t_train = train_transform(input_size=geo.input_size, resize=geo.resize, mean=mean, std=std, pca=pca)
    t_val = eval_transform(input_size=geo.input_size, resize=geo.resize, mean=mean, std=std)
    if recipe.cache_images:
        train = CachedImageFolder(splits.train_dir, t_train, resize=geo.resize, skip_corrupt=True, scan=splits.train)
        val = CachedImageFolder(splits.val_dir, t_val, resize=geo.resize, scan=splits.val)
    else:
        train = ImageFolderDataset(splits.train_dir, t_train, skip_corrupt=True, scan=splits.train)
        val = ImageFolderDataset(splits.val_dir, t_val, scan=splits.val)
    if val.classes != train.classes:
        raise DataError(f"{splits.val_dir} and {splits.train_dir} have different class folders; "
                        f"both splits need the same classes.")
    return train, val


def fill_cache(dataset: ImageFolderDataset, indices: Sequence[int]) -> None:
    """Decode the given images now (with caching on): an unreadable val image fails before training starts."""
    if isinstance(dataset, CachedImageFolder):
        for i in indices:
            dataset.image(i)


def loaders(train: ImageFolderDataset, val: ImageFolderDataset, recipe: Recipe, env: DistEnv, *, seed: int,
            pin_memory: bool) -> tuple[DataLoader, DistributedSampler, DataLoader]:
    """The train loader over this rank's share (reshuffled by ``sampler.set_epoch``) and this rank's val shard."""
    sampler = DistributedSampler(train, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=seed)
    workers = recipe.workers
    train_loader = DataLoader(
        train, batch_size=recipe.batch_size, sampler=sampler, num_workers=workers,
        collate_fn=collate_skip_corrupt, pin_memory=pin_memory, persistent_workers=workers > 0,
    )
    val_indices = shard(len(val), env)
    fill_cache(val, val_indices)
    val_loader = DataLoader(Subset(val, val_indices), batch_size=recipe.eval_batch_size, shuffle=False,
                            num_workers=min(workers, 2), pin_memory=pin_memory, persistent_workers=workers > 0)
    return train_loader, sampler, val_loader
