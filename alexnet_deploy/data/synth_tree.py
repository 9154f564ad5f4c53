"""Writing the embedded default dataset to disk as an ImageFolder tree.

``synth.py`` draws one image; this module lays out the splits, runs the drawing
over worker processes, records ``dataset.json`` and swaps the finished tree into
place, so an interrupted run never leaves a partial dataset.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

from alexnet_deploy.core import interrupts
from alexnet_deploy.core.limits import MAX_PER_CLASS
from alexnet_deploy.core.outputs import check_location, naming_refused_writes
from alexnet_deploy.core.results import Result
from alexnet_deploy.core.tempfiles import remove, temp_sibling
from alexnet_deploy.core.transaction import make_parents, place
from alexnet_deploy.data import synth
from alexnet_deploy.errors import DataError, InputError


# A 256x256 scene as PNG takes 150-200 kB; the estimate errs on the high side.
BYTES_PER_IMAGE = 220_000


def default_calib_per_class(classes: int) -> int:
    """Calibration images per class so the split holds at least 512 (what INT8 calibration uses)."""
    return -(-512 // classes)


@dataclass(frozen=True)
class SynthInfo(Result):
    """What ``DIR/dataset.json`` records about a generated tree."""

    classes: tuple[str, ...]
    counts: dict[str, int]  # images per class in each split
    seed: int
    image_size: int = synth.IMAGE_SIZE
    generator_version: int = synth.GENERATOR_VERSION
    format: str = "alexnet-deploy/synth"

    def to_dict(self) -> dict:
        return {**super().to_dict(), "total": self.total}

    @classmethod
    def from_dict(cls, data: dict) -> "SynthInfo":
        return cls(classes=tuple(data["classes"]), counts=dict(data["counts"]), seed=int(data["seed"]),
                   image_size=int(data["image_size"]), generator_version=int(data["generator_version"]),
                   format=str(data["format"]))

    @property
    def total(self) -> int:
        return sum(self.counts.values()) * len(self.classes)


def _write_chunk(job: tuple[str, int, list[tuple[str, int, int, str]]]) -> int:
    root, seed, items = job
    for split, class_index, index, rel in items:
        synth.save_png(synth.render_image(seed, split, class_index, index), os.path.join(root, rel))
    return len(items)


def generate(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    classes: int = synth.DEFAULT_CLASSES,
    per_class: int = 200,
    val_per_class: int = 100,
    calib_per_class: int | None = None,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> SynthInfo:
    """Write the dataset as ``out/{train,val,calib}/<class>/<class>_NNNNN.png`` plus ``out/dataset.json``.

    The tree is built in a temporary folder next to ``out`` and renamed into place at
    the end, so ``out`` never holds a partial dataset. A non-empty ``out`` is refused
    unless ``force`` and it is an earlier generated tree (it is replaced only after the
    new tree is complete).
    ``workers`` defaults to min(2, CPU count); the bytes do not depend on it.
    """
    if not 2 <= classes <= len(synth.CLASS_NAMES):
        raise InputError(f"--classes must be between 2 and {len(synth.CLASS_NAMES)}, got {classes}.")
    if seed < 0:
        raise InputError(f"--seed must be zero or positive, got {seed}.")
    calib_per_class = default_calib_per_class(classes) if calib_per_class is None else calib_per_class
    counts = {"train": per_class, "val": val_per_class, "calib": calib_per_class}
    if min(counts.values()) < 0 or per_class < 1:
        raise InputError(f"Image counts must be positive (train) or zero or more (val, calib), got {counts}.")
    if max(counts.values()) > MAX_PER_CLASS:
        raise InputError(f"At most {MAX_PER_CLASS:,} images per class and split can be drawn, got {counts}.")
    # The space the tree will take, so that a full disk is refused now rather than after hours of drawing.
    need = sum(counts.values()) * classes * BYTES_PER_IMAGE
    target = check_location(out, what="--out", folder=True, need_bytes=need)
    if target.is_dir() and any(target.iterdir()):
        if not force:
            raise InputError(f"Output folder {target} is not empty; choose another --out or pass --force to replace it.")
        if not (target / "dataset.json").is_file():
            # --force replaces an earlier synthetic tree, never an arbitrary folder (think `--out ~`).
            raise InputError(f"{target} is not empty and holds no dataset.json from `data synth`, so --force will "
                             "not replace it; remove it yourself or choose another --out.")
    names = synth.CLASS_NAMES[:classes]
    info = SynthInfo(classes=names, counts=counts, seed=seed)
    make_parents(target)
    tmp = temp_sibling(target)  # owner-tagged: a later run removes it if this one is killed
    tmp.mkdir()
    try:
        items = []
        for split in (s for s in synth.SPLITS if counts[s]):  # an empty split gets no folder at all
            for class_index, name in enumerate(names):
                (tmp / split / name).mkdir(parents=True)
                items += [(split, class_index, i, f"{split}/{name}/{name}_{i:05d}.png") for i in range(counts[split])]
        chunks = [(str(tmp), seed, items[i : i + 16]) for i in range(0, len(items), 16)]
        workers = min(2, os.cpu_count() or 1) if workers is None else max(1, workers)
        with naming_refused_writes(str(target)):  # a full disk in a worker is one sentence naming --out
            _run(chunks, total=len(items), workers=workers if len(items) >= 64 else 1, progress=progress)
            info.write_json(tmp / "dataset.json")
        place(tmp, target)  # an earlier tree at --out waits aside until the command succeeds
    except BaseException:
        remove(tmp)
        raise
    return info


def _run(chunks: list, *, total: int, workers: int, progress: bool) -> None:
    from rich import progress as rp

    columns = (rp.TextColumn("synth"), rp.BarColumn(), rp.MofNCompleteColumn(), rp.TimeRemainingColumn())
    with rp.Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("images", total=total)
        if workers == 1:
            for chunk in chunks:
                bar.advance(task, _write_chunk(chunk))
            return
        # spawn, not fork: callers may already have torch's thread pools running.
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for done in pool.imap_unordered(_write_chunk, chunks):
                bar.advance(task, done)


def _init_worker() -> None:
    """Quiet on Ctrl-C (the parent stops the pool), gone when the parent dies, and fast at malloc."""
    interrupts.worker_init()
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Let a worker's malloc reuse freed image-sized buffers instead of returning them to the OS.

    Each image allocates a dozen ~0.8 MB arrays; glibc serves those with fresh mmaps
    whose page faults cost a quarter of the CPU time. Raising the mmap and trim
    thresholds (glibc only; elsewhere nothing changes) removes almost all of them.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def read_info(root: str | os.PathLike) -> SynthInfo:
    """The ``dataset.json`` of a generated tree."""
    path = Path(root) / "dataset.json"
    try:
        return SynthInfo.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"Cannot read {path} ({exc}); regenerate the dataset with `alexnet-deploy data synth`.") from None
