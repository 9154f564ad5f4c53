"""Accuracy on a labelled split, and accuracy-guided INT8 fallback.

When INT8 top-1 drops more than ``max_drop`` percentage points below FP32,
every quantized layer is tried alone in FP32 (quantized again from the cached
ranges, nothing recalibrated) and ranked by how much top-1 comes back. Layers
are then returned to FP32 from the top of the ranking, one at a time, until the
drop is within budget: the fewest layers this greedy order needs. With every
layer in FP32 the model is the FP32 model, so the search always ends.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from alexnet_deploy.data.images import list_images, preprocess_files
from alexnet_deploy.errors import DataError, DeployError, InputError
from alexnet_deploy.export.parity import evenly_spaced, run_session


@dataclass(frozen=True)
class LabelledSet:
    """Preprocessed images and their labels (indices into the model's class names)."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_labelled_split(
    data_dir: str | os.PathLike,
    *,
    class_names: Sequence[str],
    input_size: int,
    resize: int,
    mean: Sequence[float],
    std: Sequence[float],
    split: str = "val",
    limit: int | None = None,
) -> LabelledSet:
    """``data_dir/<split>/<class>/*`` (or ``data_dir/<class>/*``) preprocessed for the model.

    Folder names must be the model's class names. ``limit`` keeps an evenly
    spaced subset of the sorted samples.
    """
    root = Path(data_dir)
    folder = root / split if (root / split).is_dir() else root
    if not folder.is_dir():
        raise DataError(f"Labelled data folder {root} does not exist; pass --data DIR with a {split}/ split.")
    index = {name: i for i, name in enumerate(class_names)}
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in class_dirs if p.name not in index]
    if not class_dirs or unknown:
        raise DataError(
            f"{folder} must hold one folder per class named like the model's classes "
            f"({', '.join(class_names[:5])}{', ...' if len(class_names) > 5 else ''}); "
            + (f"found unknown folders {unknown[:3]}." if unknown else "found none.")
        )
    samples = [(path, index[d.name]) for d in class_dirs for path in list_images(d)]
    if limit is not None:
        samples = [samples[i] for i in evenly_spaced(len(samples), limit)]
    images = preprocess_files([p for p, _ in samples], input_size=input_size, mean=mean, std=std, resize=resize)
    return LabelledSet(images=images, labels=np.array([y for _, y in samples], dtype=np.int64), source=str(folder))


def top1(model, data: LabelledSet, *, batch_size: int = 32) -> float:
    """Top-1 accuracy in percent of an ONNX model (a path or serialized bytes) under ORT's CPU provider."""
    from alexnet_deploy.artifacts.onnx_meta import ort_session

    session = ort_session(model)
    if not len(data):  # nothing to score (and run_session has no chunk to join)
        return 0.0
    logits = run_session(session, data.images, chunk=batch_size)
    return 100.0 * int((logits.argmax(axis=1) == data.labels).sum()) / len(data)


def fp16_top1(src: Path, val: LabelledSet, *, source_sha256: str) -> float | None:
    """Top-1 of the FP16 model of ``src``: ``<stem>.fp16.onnx`` beside it when that was made from the same
    source (``source_sha256``, from ``src``'s metadata), else a fresh ``fp16.convert_fp16``; None when the
    conversion fails its own checks."""
    from alexnet_deploy.precision.fp16 import convert_fp16
    from alexnet_deploy.artifacts.onnx_meta import read_meta

    sibling = src.with_name(src.name.removesuffix(".onnx") + ".fp16.onnx")
    if sibling.is_file():
        theirs = read_meta(sibling)
        # An empty hash (a model exported from an in-memory checkpoint) proves nothing: convert afresh.
        if theirs.precision == "fp16" and source_sha256 and theirs.source_sha256 == source_sha256:
            return top1(sibling, val)
    with tempfile.TemporaryDirectory(prefix="alexnet-deploy-fp16.") as tmp:
        target = Path(tmp) / "model.fp16.onnx"
        try:
            convert_fp16(src, target, calib_images=val.images[:32])
        except DeployError:
            return None
        return top1(target, val)


@dataclass
class LayerTrial:
    """Top-1 with one layer alone kept in FP32, and the points it gains back."""

    node: str
    top1: float
    recovered_pp: float


@dataclass
class FallbackResult:
    """What the fallback search tried and kept in FP32; truthy when the drop is within budget."""

    fp32_top1: float
    int8_top1: float
    max_drop: float
    ranking: list[LayerTrial] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    final_top1: float = 0.0

    @property
    def final_drop(self) -> float:
        return self.fp32_top1 - self.final_top1

    def __bool__(self) -> bool:
        return self.final_drop <= self.max_drop

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "FallbackResult":
        raw = json.loads(text)
        raw["ranking"] = [LayerTrial(**t) for t in raw.get("ranking", [])]
        return cls(**raw)


def check_max_drop(max_drop: float | None, *, has_data: bool) -> None:
    """Refuse a negative budget, or a budget without labelled data to measure it on."""
    if max_drop is None:
        return
    if not has_data:
        raise InputError("--max-drop needs --data DIR (a labelled val split) to measure the INT8 top-1 drop on.")
    if not np.isfinite(max_drop) or max_drop < 0:
        raise InputError(f"--max-drop must be zero or more percentage points, got {max_drop}.")


def search_fallback(
    *,
    candidates: Sequence[str],
    top1_excluding: Callable[[Sequence[str]], float],
    fp32_top1: float,
    int8_top1: float,
    max_drop: float,
    on_trial: Callable[[str, float], None] | None = None,
) -> FallbackResult:
    """Rank ``candidates`` by the top-1 each recovers alone, then keep the fewest in FP32 (greedy).

    ``top1_excluding(nodes)`` quantizes with ``nodes`` left in FP32 and returns
    its top-1 in percent.
    """
    check_max_drop(max_drop, has_data=True)
    result = FallbackResult(fp32_top1=fp32_top1, int8_top1=int8_top1, max_drop=max_drop, final_top1=int8_top1)
    if result:
        return result
    trials = []
    for node in candidates:
        score = top1_excluding([node])
        trials.append(LayerTrial(node=node, top1=score, recovered_pp=score - int8_top1))
        if on_trial is not None:
            on_trial(node, score)
    # Stable sort: ties keep graph order, so the same inputs always give the same choice.
    result.ranking = sorted(trials, key=lambda t: -t.top1)
    for trial in result.ranking:
        result.excluded.append(trial.node)
        # The first step's model is the one already measured in the ranking.
        result.final_top1 = trial.top1 if len(result.excluded) == 1 else top1_excluding(list(result.excluded))
        if result:
            break
    return result
