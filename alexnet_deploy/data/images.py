"""Images on disk to tensors: finding images, reading them safely, preprocessing.

Preprocessing is driven by a model's metadata (input size, mean/std): resize the
shorter side to 256, centre-crop ``input_size``, scale to [0, 1], normalise.
Every stage (training, evaluation, export parity, calibration) goes through
``eval_transform`` / ``preprocess_files`` so they all see the same pixels.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from alexnet_deploy.core.limits import MAX_IMAGE_PIXELS
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
RESIZE = 256
SPLIT_NAMES = frozenset({"train", "val", "calib", "test"})


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def list_images(root: str | os.PathLike) -> list[Path]:
    """All JPEG/PNG files under ``root`` (a flat folder or a class tree), sorted.

    Raises DataError when ``root`` is missing, not a folder, or holds no images.
    """
    folder = Path(root)
    if not folder.exists():
        raise DataError(f"Image folder {folder} does not exist; check the path.")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of images.")
    files = _image_files(folder)
    if not files:
        raise DataError(f"No JPEG or PNG images found in {folder} (searched it and its sub-folders).")
    return files


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image as 8-bit RGB (grayscale, RGBA, palette and 16-bit are converted).

    Raises DataError naming the file when it cannot be read.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns between its limit and twice it, and raises above; ours refuses both, naming the file.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_pixels(img, path)
                img.load()
                return to_rgb(img)
    except Image.DecompressionBombError as exc:  # Pillow refuses twice its limit while opening: same sentence
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found[1]) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise DataError(f"Image {path} has {pixels}, over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (a "
                        f"decompression-bomb guard); downscale it or remove it.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"Cannot read image {path}: {exc}; remove or replace the file.") from None


def _check_pixels(img: Image.Image, path: str | os.PathLike) -> None:
    """Refuse an image over MAX_IMAGE_PIXELS from its header, before decoding a single pixel."""
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"Image {path} has {width * height / 1e6:.0f} megapixels ({width}x{height}), over the "
                        f"limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (a decompression-bomb guard); downscale "
                        f"it or remove it.")


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode; 16-bit and float images are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode == "RGBA" or img.mode == "LA" or (img.mode == "P" and "transparency" in img.info):
        # Composite on black so transparent pixels do not carry arbitrary colour.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def resize_shorter(img: Image.Image, size: int = RESIZE) -> Image.Image:
    """Resize so the shorter side is ``size``, keeping the aspect ratio."""
    w, h = img.size
    if min(w, h) == size:
        return img
    scale = size / min(w, h)
    return img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def normalize(img: Image.Image, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """HWC uint8 image to CHW float32, scaled to [0, 1] then normalised."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def eval_transform(
    *, input_size: int, mean: Sequence[float], std: Sequence[float], resize: int = RESIZE
) -> Callable[[Image.Image], np.ndarray]:
    """Resize shorter side, centre crop, normalise: the deterministic test-time pipeline."""
    if input_size > resize:
        resize = input_size

    def transform(img: Image.Image) -> np.ndarray:
        return normalize(center_crop(resize_shorter(img, resize), input_size), mean, std)

    return transform


def preprocess_files(
    paths: Sequence[str | os.PathLike],
    *,
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    resize: int = RESIZE,
) -> np.ndarray:
    """A float32 batch (N, 3, S, S) of the files, preprocessed for evaluation."""
    transform = eval_transform(input_size=input_size, mean=mean, std=std, resize=resize)
    if not paths:
        return np.zeros((0, 3, input_size, input_size), dtype=np.float32)
    return np.stack([transform(load_rgb(p)) for p in paths])


def scan_image_folder(root: str | os.PathLike) -> tuple[list[str], list[tuple[Path, int]]]:
    """Sorted class names and ``(path, label)`` samples of an ImageFolder tree ``root/<class>/...``.

    Labels index the sorted class names (torchvision's ImageFolder convention). Only
    the folder structure is checked here, before any image is read: a DataError names
    the folder when ``root`` is missing, holds no class folders, or a class folder
    holds no JPEG/PNG images. Hidden folders (``.name``) are ignored.
    """
    folder = Path(root)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(f"Image folder {folder} {what}; pass a folder with one sub-folder of images per class.")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"Image folder {folder} holds no class folders; put each class's images in {folder}/<class>/.")
    names = [p.name for p in class_dirs]
    if set(names) <= SPLIT_NAMES:
        # A dataset root passed where one split was expected would silently train on split names as labels.
        raise DataError(f"{folder} holds the splits {', '.join(names)} rather than class folders; "
                        f"pass one split, e.g. {folder / names[0]}.")
    samples: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        files = _image_files(class_dir)
        if not files:
            raise DataError(f"Class folder {class_dir} holds no JPEG or PNG images; add images or remove the folder.")
        samples += [(path, label) for path in files]
    return names, samples


@dataclass(frozen=True)
class FolderReport(Result):
    """Classes, images per class and unreadable files of an ImageFolder tree."""

    classes: list[str]
    counts: list[int]
    unreadable: list[str]

    def failures(self) -> list[str]:
        if not self.unreadable:
            return []
        return [f"readable images: {len(self.unreadable)} of {sum(self.counts)} cannot be read "
                f"(first: {self.unreadable[0]})"]


def check_image_folder(root: str | os.PathLike) -> FolderReport:
    """Scan ``root`` and try to read every image; the report lists the files that fail."""
    classes, samples = scan_image_folder(root)
    counts = [0] * len(classes)
    unreadable = []
    for path, label in samples:
        counts[label] += 1
        try:
            load_rgb(path)
        except DataError:
            unreadable.append(str(path))
    return FolderReport(classes=classes, counts=counts, unreadable=unreadable)
