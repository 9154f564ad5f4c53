"""Training-time augmentation and the 10-crop test of Krizhevsky et al. (2012).

Random numbers come from torch's global generator (``torch.randint``,
``torch.rand``, ``torch.randn``), never from numpy's or Python's. That makes a run
reproducible without a ``worker_init_fn``: in the main process ``torch.manual_seed``
fixes the draws, and a DataLoader seeds each worker's torch generator with
``base_seed + worker_id``, where ``base_seed`` is drawn from the loader's
``generator`` (or the global generator) when iteration starts. So
``torch.manual_seed(s)`` (or ``DataLoader(..., generator=torch.Generator().manual_seed(s))``)
with a fixed ``num_workers`` replays the same augmentations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from alexnet_deploy.data.images import RESIZE, center_crop, load_rgb, normalize, resize_shorter
from alexnet_deploy.errors import DataError


@dataclass(frozen=True)
class PCAColor:
    """The "fancy PCA" colour augmentation: eigen-decomposition of the RGB covariance.

    ``eigvals`` (3,) are the covariance eigenvalues of [0, 1] pixels, largest first,
    and ``eigvecs`` (3, 3) holds the matching unit eigenvectors as *columns* (numpy's
    ``eigh`` layout). Per image, ``alpha ~ N(0, sigma)`` is drawn once and
    ``eigvecs @ (alpha * eigvals)`` is added to every pixel in [0, 1] units, before
    mean/std normalisation (the same reading of the paper as fb.resnet.torch's
    lighting noise, whose ImageNet eigenvalues are 0.2175, 0.0188, 0.0045).
    """

    eigvals: tuple[float, float, float]
    eigvecs: tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
    sigma: float = 0.1

    def __post_init__(self) -> None:
        vals = np.asarray(self.eigvals, dtype=np.float64)
        vecs = np.asarray(self.eigvecs, dtype=np.float64)
        if vals.shape != (3,) or vecs.shape != (3, 3):
            raise ValueError(f"PCAColor needs eigvals (3,) and eigvecs (3, 3), got {vals.shape} and {vecs.shape}")
        # Stored as tuples so the dataclass stays hashable and compares by value.
        object.__setattr__(self, "eigvals", tuple(float(v) for v in vals))
        object.__setattr__(self, "eigvecs", tuple(tuple(float(v) for v in row) for row in vecs))
        object.__setattr__(self, "sigma", float(self.sigma))

    @property
    def eigvals_array(self) -> np.ndarray:
        return np.asarray(self.eigvals, dtype=np.float64)

    @property
    def eigvecs_array(self) -> np.ndarray:
        return np.asarray(self.eigvecs, dtype=np.float64)

    def perturbation(self, alpha: Sequence[float]) -> np.ndarray:
        """The RGB offset (3,) in [0, 1] units for the coefficients ``alpha`` (3,)."""
        return self.eigvecs_array @ (np.asarray(alpha, dtype=np.float64) * self.eigvals_array)

    def sample(self) -> np.ndarray:
        """A random offset for one image: ``alpha`` drawn from torch's generator."""
        alpha = torch.randn(3, dtype=torch.float64).numpy() * self.sigma
        return self.perturbation(alpha)

    def to_dict(self) -> dict:
        return {"eigvals": list(self.eigvals), "eigvecs": [list(row) for row in self.eigvecs], "sigma": self.sigma}

    @classmethod
    def from_dict(cls, data: dict) -> "PCAColor":
        return cls(eigvals=data["eigvals"], eigvecs=data["eigvecs"], sigma=data.get("sigma", 0.1))


def fit_rgb_pca(
    paths: Sequence[str | os.PathLike],
    *,
    max_images: int = 256,
    pixels_per_image: int = 4096,
    sigma: float = 0.1,
    seed: int = 0,
    skip_corrupt: bool = False,
) -> PCAColor:
    """PCA of the RGB values of (a seeded subsample of) the training images.

    At most ``max_images`` files and ``pixels_per_image`` random pixels from each are
    used: the 3x3 covariance converges long before every pixel is seen. Unreadable
    files raise DataError unless ``skip_corrupt``.
    """
    if not paths:
        raise DataError("No training images to fit the PCA colour augmentation on.")
    rng = np.random.default_rng(seed)
    chosen = list(paths)
    if len(chosen) > max_images:
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), size=max_images, replace=False))]
    pixels = []
    for path in chosen:
        try:
            arr = np.asarray(load_rgb(path), dtype=np.float64).reshape(-1, 3) / 255.0
        except DataError:
            if skip_corrupt:
                continue
            raise
        if len(arr) > pixels_per_image:
            arr = arr[rng.choice(len(arr), size=pixels_per_image, replace=False)]
        pixels.append(arr)
    if not pixels:
        raise DataError("None of the training images could be read to fit the PCA colour augmentation.")
    cov = np.cov(np.concatenate(pixels), rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0.0, None), vecs[:, order]
    # An eigenvector's sign is arbitrary; fix it so equal data gives equal JSON.
    vecs *= np.where(vecs[np.abs(vecs).argmax(axis=0), range(3)] < 0, -1.0, 1.0)
    return PCAColor(eigvals=tuple(vals), eigvecs=tuple(map(tuple, vecs)), sigma=sigma)


def train_transform(
    *,
    input_size: int,
    resize: int = RESIZE,
    mean: Sequence[float],
    std: Sequence[float],
    pca: PCAColor | None,
    flip: bool = True,
) -> Callable[[Image.Image], np.ndarray]:
    """Resize the shorter side to ``resize``, random ``input_size`` crop, random mirror, PCA colour, normalise.

    Returns a callable from an RGB PIL image to a float32 CHW array. Draws come from
    torch's global generator (see the module docstring for reproducibility).
    """
    resize = max(resize, input_size)
    mean_arr = np.asarray(mean, dtype=np.float32)
    std_arr = np.asarray(std, dtype=np.float32)

    def transform(img: Image.Image) -> np.ndarray:
        img = resize_shorter(img, resize)
        w, h = img.size
        left = int(torch.randint(0, w - input_size + 1, ()).item())
        top = int(torch.randint(0, h - input_size + 1, ()).item())
        arr = np.asarray(img.crop((left, top, left + input_size, top + input_size)), dtype=np.float32) / 255.0
        if flip and torch.rand(()).item() < 0.5:
            arr = arr[:, ::-1]
        if pca is not None:
            arr = arr + pca.sample().astype(np.float32)
        arr = (arr - mean_arr) / std_arr
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    return transform


TEN_CROP_ORDER = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")


def ten_crop(
    img: Image.Image, *, input_size: int, resize: int = RESIZE, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """The paper's 10-crop test input: a float32 array (10, 3, S, S).

    The image's shorter side is resized to ``resize`` and its centre ``resize`` x
    ``resize`` square kept (the paper's 256x256 images); from that square come the
    crops in ``TEN_CROP_ORDER`` (indices 0-4), then the horizontal mirror of each
    of those five crops in the same order (indices 5-9). Average the ten outputs.
    """
    resize = max(resize, input_size)
    square = normalize(center_crop(resize_shorter(img, resize), resize), mean, std)
    far = resize - input_size
    mid = far // 2
    corners = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]  # (top, left) per TEN_CROP_ORDER
    crops = [square[:, t : t + input_size, l : l + input_size] for t, l in corners]
    crops += [c[:, :, ::-1] for c in crops]
    return np.ascontiguousarray(np.stack(crops))
