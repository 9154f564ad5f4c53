"""ImageFolderDataset and the collate function that skips and counts unreadable images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from alexnet_deploy.data.images import eval_transform
from alexnet_deploy.data.datasets import ImageFolderDataset, collate_skip_corrupt
from alexnet_deploy.errors import DataError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two classes of odd-sized images (RGB, grayscale, RGBA, JPEG) and one corrupt '.jpg'."""
    rng = np.random.default_rng(0)
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "one" / "a.png")
    Image.fromarray(rng.integers(0, 256, (45, 35), dtype=np.uint8), mode="L").save(tmp_path / "one" / "b.png")
    Image.fromarray(rng.integers(0, 256, (33, 70, 4), dtype=np.uint8), mode="RGBA").save(tmp_path / "two" / "c.png")
    Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)).save(tmp_path / "two" / "d.jpg")
    (tmp_path / "two" / "e.jpg").write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    return tmp_path


def transform():
    return eval_transform(input_size=24, resize=32, mean=MEAN, std=STD)


def test_items_are_float_chw_tensors_with_int_labels(folder):
    ds = ImageFolderDataset(folder, transform())
    assert ds.classes == ["one", "two"]
    assert [(p.name, label) for p, label in ds.samples] == [("a.png", 0), ("b.png", 0), ("c.png", 1), ("d.jpg", 1),
                                                            ("e.jpg", 1)]
    assert len(ds) == 5 and ds.targets == [0, 0, 1, 1, 1]
    for i in range(4):
        img, label = ds[i]
        assert isinstance(img, torch.Tensor) and img.dtype == torch.float32 and img.shape == (3, 24, 24)
        assert type(label) is int and label == ds.samples[i][1]
        # normalised [0, 1] pixels with mean 0.5 and std 0.25 lie in [-2, 2]
        assert -2.0 <= img.min() and img.max() <= 2.0


def test_corrupt_image_raises_data_error_naming_it(folder):
    ds = ImageFolderDataset(folder, transform())
    with pytest.raises(DataError, match=r"e\.jpg"):
        ds[4]


def test_corrupt_image_is_none_when_skipping(folder):
    ds = ImageFolderDataset(folder, transform(), skip_corrupt=True)
    assert ds[4] is None
    assert ds[3] is not None


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_counts_skipped_images(folder, workers):
    ds = ImageFolderDataset(folder, transform(), skip_corrupt=True)
    loader = DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate_skip_corrupt)
    batches = list(loader)
    assert sum(skipped for _, _, skipped in batches) == 1
    labels = torch.cat([y for _, y, _ in batches])
    assert labels.tolist() == [0, 0, 1, 1]
    images, _, _ = batches[-1]  # the last batch is (e.jpg) alone: nothing left to stack
    assert images.numel() == 0 and batches[0][0].shape == (2, 3, 24, 24)


def test_collate_of_an_all_corrupt_batch():
    images, labels, skipped = collate_skip_corrupt([None, None])
    assert images.shape == (0,) and labels.shape == (0,) and labels.dtype == torch.long and skipped == 2


def test_structure_errors_come_before_reading(tmp_path):
    (tmp_path / "cls").mkdir()
    with pytest.raises(DataError, match="holds no JPEG or PNG images"):
        ImageFolderDataset(tmp_path, transform())
