"""The embedded default dataset: procedurally drawn shapes and textures (one image each).

Each image is a 256x256 RGB scene: a cluttered, shaded background and one
object whose *shape or texture* is the class (circle, square, ..., stripes,
checker). Colour, scale, rotation, position, clutter and noise are drawn from the
same distributions for every class, so only the geometry tells classes apart:
a linear model on raw pixels does poorly while a small CNN learns it quickly.

Every image has its own seed, derived from ``(seed, split, class, index)``, so
the bytes do not depend on the number of worker processes or the order in which
images are drawn; PNGs are written with fixed settings and no timestamps.
``synth_tree.py`` writes the whole ImageFolder tree.
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


GENERATOR_VERSION = 2
IMAGE_SIZE = 256
SPLITS = ("train", "val", "calib")
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "crescent", "hexagon", "arrow")
TEXTURES = ("stripes", "checker", "dots")
# Default ten first; the order is part of the per-image seed, so append only.
CLASS_NAMES = ("circle", "square", "triangle", "star", "cross", "ring", "stripes", "checker", "crescent", "dots",
               "hexagon", "arrow")
DEFAULT_CLASSES = 10


def image_rng(seed: int, split: str, class_index: int, index: int) -> np.random.Generator:
    """The generator for one image; independent of worker count and drawing order."""
    return np.random.default_rng([GENERATOR_VERSION, seed, SPLITS.index(split), class_index, index])


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground colours that differ in luminance, so the object is visible."""
    luma = np.array([0.299, 0.587, 0.114])
    while True:
        bg, fg = rng.uniform(0, 255, size=(2, 3))
        if abs(float((bg - fg) @ luma)) >= 80:
            return bg, fg


def _background(rng: np.random.Generator, bg: np.ndarray, size: int) -> np.ndarray:
    """A flat colour with a random linear shading gradient, float HWC."""
    axis = np.arange(size, dtype=np.float32) / size - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    ramp = np.float32(math.cos(angle)) * axis[None, :] + np.float32(math.sin(angle)) * axis[:, None]
    tint = rng.uniform(-60, 60, size=3).astype(np.float32)
    return bg.astype(np.float32) + ramp[..., None] * tint


def _clutter(img: Image.Image, rng: np.random.Generator, bg: np.ndarray) -> None:
    """Thin lines and small faint blobs: distractors that match no class."""
    draw = ImageDraw.Draw(img)
    size = img.size[0]
    for _ in range(int(rng.integers(2, 6))):
        colour = tuple(int(c) for c in 0.5 * bg + 0.5 * rng.uniform(0, 255, size=3))
        x0, y0 = rng.uniform(0, size, size=2)
        length, angle = rng.uniform(20, 90), rng.uniform(0, 2 * math.pi)
        x1, y1 = x0 + length * math.cos(angle), y0 + length * math.sin(angle)
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(1, 4))):
        colour = tuple(int(c) for c in 0.7 * bg + 0.3 * rng.uniform(0, 255, size=3))
        x, y = rng.uniform(0, size, size=2)
        rx, ry = rng.uniform(3, 12, size=2)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=colour)


def _polar(corners: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((math.hypot(x, y), math.atan2(y, x)) for x, y in corners)


def _regular(n: int, radii: tuple[float, ...] = (1.0,)) -> tuple[tuple[float, float], ...]:
    return tuple((radii[k % len(radii)], 2 * math.pi * k / n) for k in range(n))


_W = 0.32  # the cross's half arm width, relative to its arm length
# Polygon outlines as (radius, angle) pairs around the centre, radius 1 = the shape's size.
POLYGONS = {
    "square": _regular(4),
    "triangle": _regular(3),
    "hexagon": _regular(6),
    "star": _regular(10, (1.0, 0.42)),
    "cross": _polar([(1, _W), (_W, _W), (_W, 1), (-_W, 1), (-_W, _W), (-1, _W), (-1, -_W), (-_W, -_W), (-_W, -1),
                     (_W, -1), (_W, -_W), (1, -_W)]),
    "arrow": _polar([(1, 0), (0.1, 0.7), (0.1, 0.28), (-1, 0.28), (-1, -0.28), (0.1, -0.28), (0.1, -0.7)]),
}


def _shape_mask(name: str, rng: np.random.Generator, size: int) -> Image.Image:
    """An 'L' mask (255 inside) of one shape at a random position, scale and rotation."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    r = size * rng.uniform(0.25, 0.36)
    cx, cy = size * (0.5 + rng.uniform(-0.12, 0.12, size=2))
    rot = rng.uniform(0, 2 * math.pi)

    def disc(x: float, y: float, radius: float, fill: int) -> None:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill)

    if name in POLYGONS:
        draw.polygon([(cx + r * k * math.cos(a + rot), cy + r * k * math.sin(a + rot)) for k, a in POLYGONS[name]],
                     fill=255)
    elif name in ("circle", "ring", "crescent"):
        disc(cx, cy, r, 255)
        if name == "ring":
            disc(cx, cy, r * rng.uniform(0.5, 0.65), 0)
        elif name == "crescent":
            d = r * rng.uniform(0.4, 0.55)
            disc(cx + d * math.cos(rot), cy + d * math.sin(rot), r * 0.9, 0)
    else:
        raise ValueError(f"unknown shape {name!r}")
    return mask


def _texture_mask(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A boolean pattern filling the frame, at a random period, orientation and phase."""
    # Coarse on purpose (41-72 px at 256): at the ~67 px inputs of CPU training, finer
    # stripes and dots fall below what AlexNet's stride-4 first layer tells apart and
    # collapse into "checker".
    period = size * rng.uniform(0.16, 0.28)
    rot = rng.uniform(0, math.pi)
    axis = np.arange(size, dtype=np.float32) / np.float32(period)
    cos, sin = np.float32(math.cos(rot)), np.float32(math.sin(rot))
    u = cos * axis[None, :] + sin * axis[:, None] + np.float32(rng.uniform(0, 1))
    v = cos * axis[:, None] - sin * axis[None, :] + np.float32(rng.uniform(0, 1))
    if name == "stripes":
        return (u % 1.0) < rng.uniform(0.4, 0.6)
    if name == "checker":
        return (np.floor(u) + np.floor(v)) % 2 == 0
    if name == "dots":
        du, dv = (u % 1.0) - 0.5, (v % 1.0) - 0.5
        return du * du + dv * dv < rng.uniform(0.22, 0.32) ** 2
    raise ValueError(f"unknown texture {name!r}")


def render(name: str, rng: np.random.Generator, *, size: int = IMAGE_SIZE) -> np.ndarray:
    """One scene of class ``name`` as a uint8 HWC RGB array."""
    bg, fg = _colours(rng)
    canvas = _background(rng, bg, size)
    if name in TEXTURES:
        canvas = np.where(_texture_mask(name, rng, size)[..., None], fg.astype(np.float32), canvas)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    _clutter(img, rng, bg)
    out = np.asarray(img, dtype=np.float32)
    if name in SHAPES:
        # Binary mask (no anti-aliasing) so np.where can place the shaded object cheaply.
        inside = np.asarray(_shape_mask(name, rng, size)) > 127
        shade = _background(rng, fg * 4, size) * 0.25  # the object gets its own, weaker gradient
        out = np.where(inside[..., None], shade, out)
    elif name not in TEXTURES:
        raise ValueError(f"unknown class {name!r}")
    noise = rng.standard_normal(size=out.shape, dtype=np.float32)
    out += noise * np.float32(rng.uniform(2, 5)) + np.float32(0.5)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_image(seed: int, split: str, class_index: int, index: int, *, size: int = IMAGE_SIZE) -> np.ndarray:
    """The image stored at ``split/<class>/<index>`` for ``seed``."""
    return render(CLASS_NAMES[class_index], image_rng(seed, split, class_index, index), size=size)


def encode_png(arr: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of a HWC uint8 array: Sub filter on every row, zlib level 1, no metadata.

    Written by hand because Pillow's encoder tries every row filter, which on these
    noisy images costs more than drawing them; fixed settings also make the bytes
    depend only on the pixels (and the zlib build).
    """
    height, width, _ = arr.shape
    rows = np.ascontiguousarray(arr, dtype=np.uint8).reshape(height, width * 3)
    filtered = rows.copy()
    filtered[:, 3:] -= rows[:, :-3]  # uint8 arithmetic wraps modulo 256, as PNG's Sub filter requires
    raw = np.concatenate([np.ones((height, 1), dtype=np.uint8), filtered], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def save_png(arr: np.ndarray, path: str | os.PathLike) -> None:
    """Write ``arr`` as a PNG (see ``encode_png``)."""
    with open(path, "wb") as fh:
        fh.write(encode_png(arr))
