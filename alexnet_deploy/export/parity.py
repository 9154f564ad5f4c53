"""Parity between a converted model and its reference: the images, the run, the rule.

Used by export (onnxruntime against PyTorch), fp16 (fp16 against fp32) and any
later stage that must show a converted model still gives the same answers.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alexnet_deploy.errors import ExportError

PARITY_REL_TOL = 1e-4


@dataclass
class ParityResult:
    """Logits of a converted model against a reference; truthy when the gate passed.

    Passing means finite logits, ``max_abs_diff <= rel_tol * max_abs_logit``
    (skipped when ``rel_tol`` is 0) and top-1 agreement of at least ``min_agreement``. A
    different top-1 whose two reference logits lie within the tolerance is a
    tie, not a disagreement: an untrained model can have near-equal logits.
    ``agreement`` counts ties as agreeing; ``top1_agree`` alone does not.
    """

    images: int
    image_source: str
    max_abs_diff: float
    max_abs_logit: float
    rel_tol: float
    top1_agree: int
    top1_ties: int
    min_agreement: float = 1.0

    @property
    def tolerance(self) -> float:
        return self.rel_tol * self.max_abs_logit

    @property
    def agreement(self) -> float:
        return (self.top1_agree + self.top1_ties) / self.images if self.images else 1.0

    def __bool__(self) -> bool:
        if not math.isfinite(self.max_abs_diff):
            return False
        close = self.rel_tol == 0 or self.max_abs_diff <= self.tolerance
        return close and self.agreement >= self.min_agreement

    def describe(self) -> str:
        parts = [f"max |logit diff| {self.max_abs_diff:.3g}"]
        if self.rel_tol:
            parts.append(f"allowed {self.tolerance:.3g} = {self.rel_tol:g} x max |logit| {self.max_abs_logit:.3g}")
        parts.append(f"top-1 agreement {self.agreement:.2%} on {self.images} {self.image_source}")
        return ", ".join(parts)


def compare_logits(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    rel_tol: float,
    image_source: str,
    min_agreement: float = 1.0,
    tie_tol: float | None = None,
) -> ParityResult:
    """Compare two (N, classes) logit arrays; see ParityResult for the rule.

    ``tie_tol`` (relative to the largest |logit|, default ``rel_tol``) is how
    close two reference logits must be for a different top-1 to count as a tie.
    """
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ExportError(f"The model returns logits of shape {candidate.shape}, expected {reference.shape}.")
    max_logit = float(np.abs(reference).max()) if reference.size else 0.0
    diff = float(np.abs(reference - candidate).max()) if reference.size else 0.0
    if not np.isfinite(candidate).all():
        diff = float("inf")
    ref_top, cand_top = reference.argmax(axis=1), candidate.argmax(axis=1)
    rows = np.arange(len(reference))
    gap = np.abs(reference[rows, ref_top] - reference[rows, cand_top])
    agree = ref_top == cand_top
    tie_tol = rel_tol if tie_tol is None else tie_tol
    ties = ~agree & (gap <= max(tie_tol, 1e-6) * max_logit)
    return ParityResult(
        images=len(reference),
        image_source=image_source,
        max_abs_diff=diff,
        max_abs_logit=max_logit,
        rel_tol=rel_tol,
        top1_agree=int(agree.sum()),
        top1_ties=int(ties.sum()),
        min_agreement=min_agreement,
    )


def evenly_spaced(total: int, wanted: int) -> list[int]:
    """``wanted`` distinct indices spread evenly over ``range(total)`` (all when ``wanted >= total``).

    Every subset of sorted files or samples (parity images, calibration sets,
    evaluation limits) is picked this way, so the same folder gives the same picks.
    """
    if wanted >= total:
        return list(range(total))
    return [i * total // wanted for i in range(wanted)]


def parity_batch(ckpt, *, data_dir: str | os.PathLike | None, count: int) -> tuple[np.ndarray, str]:
    """``count`` preprocessed images: spread over ``data_dir`` when given, else drawn shapes.

    Drawn images are written as PNG files and read back through the same
    preprocessing as real data, so the check covers the whole input path.
    """
    from alexnet_deploy.data.images import list_images, preprocess_files

    prep = dict(input_size=ckpt.input_size, mean=ckpt.mean, std=ckpt.std, resize=ckpt.resize)
    if data_dir is not None:
        files = list_images(data_dir)
        # Spread the picks so a class-per-folder tree contributes several classes.
        picks = [files[i] for i in evenly_spaced(len(files), count)]
        return preprocess_files(picks, **prep), f"images from {Path(data_dir).name}/"
    with tempfile.TemporaryDirectory(prefix="alexnet-deploy-parity-") as tmp:
        files = [draw_image(Path(tmp) / f"shapes_{i:02d}.png", seed=i) for i in range(count)]
        return preprocess_files(files, **prep), "drawn images"


def draw_image(path: Path, *, seed: int, size: tuple[int, int] = (320, 288)) -> Path:
    """A PNG of a smooth colour gradient with random ellipses, boxes and polygons."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = rng.uniform(0, 255, (3, 1, 1)) * (0.5 + 0.5 * np.cos(2 * np.pi * (rng.uniform(0.3, 2, (3, 1, 1)) * xx + rng.uniform(0.3, 2, (3, 1, 1)) * yy)))
    img = Image.fromarray(np.clip(base.transpose(1, 2, 0), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        box = (x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2)))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([tuple(int(v) for v in rng.integers(0, (w, h))) for _ in range(3)], fill=colour)
    img.save(path, compress_level=1)  # speed over size: these files live for one check
    return path


def check_parity(model, onnx_path: Path, images: np.ndarray, *, image_source: str) -> ParityResult:
    """Logits of onnxruntime (CPU) against PyTorch on ``images``."""
    import torch

    from alexnet_deploy.artifacts.onnx_meta import ort_session

    with torch.no_grad():
        reference = model(torch.from_numpy(images)).numpy()
    session = ort_session(onnx_path)
    candidate = run_session(session, images)
    return compare_logits(reference, candidate, rel_tol=PARITY_REL_TOL, image_source=image_source)


def run_session(session, images: np.ndarray, *, chunk: int = 16, output: int = 0) -> np.ndarray:
    """The ``output``-th output of an ORT session for ``images``, in chunks.

    A model with a fixed batch size gets chunks of exactly that size (the last
    one padded with copies of its final image, whose results are dropped).
    """
    return np.concatenate(list(iter_session(session, images, chunk=chunk, outputs=[output])))


def iter_session(session, images: np.ndarray, *, chunk: int = 16, outputs: list[int] | None = None):
    """Yield the requested outputs (all by default) chunk by chunk; one array, or a list for several."""
    first = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]
    wanted = names if outputs is None else [names[i] for i in outputs]
    fixed = first.shape[0] if isinstance(first.shape[0], int) and first.shape[0] > 0 else None
    size = fixed or chunk
    for lo in range(0, len(images), size):
        part = images[lo : lo + size]
        real = len(part)
        if fixed and real < fixed:
            part = np.concatenate([part, np.repeat(part[-1:], fixed - real, axis=0)])
        values = session.run(wanted, {first.name: np.ascontiguousarray(part, dtype=np.float32)})
        values = [v[:real] for v in values]
        yield values[0].astype(np.float32) if len(values) == 1 else values


class ParityChecked:
    """For result dataclasses with a ``parity: ParityResult`` field: truthy when it passed, JSON round trip."""

    parity: ParityResult

    def __bool__(self) -> bool:
        return bool(self.parity)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str):
        raw = json.loads(text)
        raw["parity"] = ParityResult(**raw["parity"])
        return cls(**raw)
