"""Calibration inputs for INT8: which images, how they are read, and the range cache.

A calibration set is either a folder of JPEG/PNG images (flat, or an
ImageFolder tree: labels are ignored) or a ``.npy`` array of shape
``(N, 3, S, S)`` float32 that is already preprocessed. Images are preprocessed
exactly as the model's metadata says (``data.preprocess_files``). Nothing is
ever calibrated on random data: no images, too few, or an unreadable one is a
DataError.

When more images are present than asked for, an evenly spaced subset of the
sorted paths is used, so the same folder always gives the same set.

The range cache stores onnxruntime's per-tensor calibration result
(``TensorsData``) as JSON, keyed by the sha256 of the calibration data, the
sha256 of the ONNX model and the calibration settings: a rebuild with the same
inputs skips calibration, any change recalibrates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod
from onnxruntime.quantization.calibrate import CalibrationCacheEncoder, TensorsData, create_calibrator

from alexnet_deploy.data.images import list_images, preprocess_files
from alexnet_deploy.core.outputs import write_failure
from alexnet_deploy.errors import DataError, DeployError, ExportError, InputError
from alexnet_deploy.core.fsutil import sha256_file, write_text_atomic
from alexnet_deploy.core.tempfiles import scratch_dir
from alexnet_deploy.data.samples import evenly_spaced
from alexnet_deploy.precision.model_view import model_view
from alexnet_deploy.runtimes.ort import quiet_ort

CACHE_FORMAT = "alexnet-deploy-calibration-ranges/1"
METHODS = {
    "entropy": CalibrationMethod.Entropy,
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
}
# Batches per collect_data call: ORT keeps every intermediate output of a call in memory.
CHUNK_BATCHES = 4


class CacheWarning(UserWarning):
    """A calibration cache file that cannot be used (it is ignored and rewritten)."""


@dataclass(frozen=True)
class CalibrationSet:
    """The calibration inputs actually used: a deterministic subset of ``source``."""

    source: Path
    kind: str  # "images" or "npy"
    found: int  # how many were available at the source
    files: tuple[Path, ...] = ()  # the selected images (kind == "images")
    indices: tuple[int, ...] = ()  # the selected rows (kind == "npy")
    digest: str = ""  # sha256 over the selected inputs' bytes

    @property
    def count(self) -> int:
        return len(self.files) if self.kind == "images" else len(self.indices)


def find_calibration_set(
    source: str | os.PathLike, *, num_images: int, min_images: int, input_size: int
) -> CalibrationSet:
    """Select up to ``num_images`` calibration inputs from a folder or ``.npy`` file.

    Raises DataError when the source is missing, holds no images, fewer than
    ``min_images``, or (for ``.npy``) has the wrong shape or dtype.
    """
    if num_images < 1 or min_images < 1:
        raise InputError(f"--calib-images and --min-calib-images must be at least 1 (got {num_images} and "
                         f"{min_images}).")
    if min_images > num_images:
        raise InputError(
            f"--min-calib-images {min_images} is more than --calib-images {num_images}; lower --min-calib-images "
            f"or raise --calib-images."
        )
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".npy":
        return _npy_set(path, num_images=num_images, min_images=min_images, input_size=input_size)
    if path.is_file():
        raise DataError(f"Calibration source {path} is a file but not a .npy array; pass a folder of images or a .npy.")
    if not path.exists():
        raise DataError(f"Calibration folder {path} does not exist; pass a folder of JPEG/PNG images or a .npy array.")
    try:
        files = list_images(path)
    except DataError:
        raise DataError(
            f"Found 0 calibration images in {path} (need at least {min_images}); add JPEG/PNG images "
            f"(flat or one sub-folder per class). Calibrating on random data is not an option."
        ) from None
    _check_count(len(files), min_images, where=str(path))
    chosen = tuple(files[i] for i in evenly_spaced(len(files), num_images))
    # Content hashes, sorted: renaming or moving a file does not invalidate the cache, editing one does.
    digest = _digest_strings(sorted(sha256_file(f) for f in chosen))
    return CalibrationSet(source=path, kind="images", found=len(files), files=chosen, digest=digest)


def _check_count(found: int, min_images: int, *, where: str) -> None:
    if found < min_images:
        raise DataError(
            f"Found only {found} calibration images in {where}, fewer than --min-calib-images {min_images}; "
            f"add images (a few hundred representative ones is typical) or lower --min-calib-images."
        )


def _npy_set(path: Path, *, num_images: int, min_images: int, input_size: int) -> CalibrationSet:
    array = load_npy(path)
    expected = (3, input_size, input_size)
    if array.ndim != 4 or tuple(array.shape[1:]) != expected or array.dtype != np.float32:
        raise DataError(
            f"Calibration array {path} has shape {tuple(array.shape)} and dtype {array.dtype}; the model needs "
            f"float32 of shape (N, {', '.join(map(str, expected))}), preprocessed with its mean/std."
        )
    _check_count(int(array.shape[0]), min_images, where=str(path))
    indices = tuple(evenly_spaced(int(array.shape[0]), num_images))
    digest = hashlib.sha256()
    digest.update(repr((array.dtype.str, array.shape[1:])).encode())
    for i in indices:
        digest.update(np.ascontiguousarray(array[i]).tobytes())
    return CalibrationSet(source=path, kind="npy", found=int(array.shape[0]), indices=indices, digest=digest.hexdigest())


def load_npy(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file without unpickling anything."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"Cannot read calibration array {path}: {exc}; write it with numpy.save.") from None


def _digest_strings(parts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\n")
    return digest.hexdigest()


class ImageCalibrationReader(CalibrationDataReader):
    """Yields ``{"input": batch}`` dicts of a CalibrationSet, preprocessed for the model.

    ``batches_served`` counts what was actually read, so a caller can prove
    that a cache hit never touched the images. ``on_batch(n)`` is called with
    the number of images in each batch served (for progress bars).
    """

    def __init__(
        self,
        calib: CalibrationSet,
        *,
        input_size: int,
        resize: int,
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int = 16,
        input_name: str = "input",
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.calib = calib
        self.input_size, self.resize, self.mean, self.std = input_size, resize, tuple(mean), tuple(std)
        self.batch_size = batch_size
        self.input_name = input_name
        self.on_batch = on_batch
        self.batches_served = 0
        self._start, self._end = 0, calib.count
        self._next = 0

    def __len__(self) -> int:
        return -(-self.calib.count // self.batch_size)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Serve only images ``start_index:end_index`` (ORT's strided calibration uses it)."""
        self._start, self._end = start_index, min(end_index, self.calib.count)
        self._next = self._start

    def rewind(self) -> None:
        self._next = self._start

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        lo, hi = self._next, min(self._next + self.batch_size, self._end)
        self._next = hi
        batch = self._load(lo, hi)
        self.batches_served += 1
        if self.on_batch is not None:
            self.on_batch(hi - lo)
        return {self.input_name: batch}

    def _load(self, lo: int, hi: int) -> np.ndarray:
        if self.calib.kind == "npy":
            array = load_npy(self.calib.source)
            return np.ascontiguousarray(array[list(self.calib.indices[lo:hi])], dtype=np.float32)
        return preprocess_files(
            self.calib.files[lo:hi], input_size=self.input_size, mean=self.mean, std=self.std, resize=self.resize
        )


class _Window(CalibrationDataReader):
    """At most ``count`` batches of ``reader``: one bounded-memory collect_data call.

    The reader runs with the real stdout so that its progress output is not hidden with ORT's.
    """

    def __init__(self, reader: CalibrationDataReader, count: int, stdout: TextIO) -> None:
        self.reader, self.left, self.stdout = reader, count, stdout

    def get_next(self):
        if self.left <= 0:
            return None
        self.left -= 1
        with contextlib.redirect_stdout(self.stdout):
            return self.reader.get_next()


def calibrate(
    model_path: str | Path, reader: CalibrationDataReader, *, method: str, op_types: Sequence[str]
) -> TensorsData:
    """Per-tensor ranges of the inputs and outputs of ``op_types`` nodes, from ``reader``'s batches."""
    batches = len(reader)
    if batches < 1:
        raise InputError("The calibration reader holds no batches.")
    # The augmented model (every activation an output) and onnxruntime's shape-inferred copies of it.
    need = 3 * sum(p.stat().st_size for p in Path(model_path).parent.glob(f"{Path(model_path).name}*"))
    with scratch_dir("calib", need_bytes=need, hold_tempfiles=True) as tmp, quiet_ort() as stdout:
        try:
            calibrator = create_calibrator(
                model_view(model_path, tmp),
                list(op_types),
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=METHODS[method],
                extra_options={"symmetric": True},
            )
            for _ in range(0, batches, CHUNK_BATCHES):
                calibrator.collect_data(_Window(reader, CHUNK_BATCHES, stdout))
            ranges = calibrator.compute_data()
        except DeployError:
            raise
        except Exception as exc:  # onnxruntime's and onnx's error classes, protobuf's DecodeError, ...
            if write_failure(exc) is not None:
                raise  # a full scratch disk: the CLI says so in one sentence
            # onnxruntime's C++ writers do not report a failed write; the truncated file fails to parse later.
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"onnxruntime could not calibrate {model_path} ({first}); if the temporary folder "
                              f"{tmp.parent} is full, free some space or point TMPDIR elsewhere.") from None
        del calibrator
    return ranges


def cache_key(*, calib_digest: str, model_sha256: str, settings: dict[str, Any]) -> str:
    """sha256 of everything the ranges depend on: the data, the model and the settings."""
    blob = json.dumps({"calib": calib_digest, "model": model_sha256, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class RangeCache:
    """A folder of ``<key>.json`` files holding calibration ranges."""

    directory: Path

    def path_for(self, key: str) -> Path:
        return Path(self.directory) / f"{key}.json"

    def load(self, key: str) -> TensorsData | None:
        """The cached ranges for ``key``, or None (missing, or unusable: warns and ignores it)."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != CACHE_FORMAT or raw.get("key") != key:
                raise ValueError("format or key does not match")
            ranges = TensorsData.from_dict(raw["ranges"])
            if not ranges.data:
                raise ValueError("it holds no tensor ranges")
            return ranges
        except Exception as exc:  # any damage (bad JSON, missing fields, bad arrays) means "recalibrate"
            warnings.warn(
                f"Ignoring unusable calibration cache {path} ({type(exc).__name__}: {exc}); recalibrating.",
                CacheWarning,
                stacklevel=2,
            )
            return None

    def save(self, key: str, ranges: TensorsData, *, inputs: dict[str, Any]) -> Path:
        """Write the ranges atomically; ``inputs`` records what the key was made of, for people."""
        path = self.path_for(key)
        payload = {"format": CACHE_FORMAT, "key": key, "inputs": inputs, "ranges": ranges.to_dict()}
        return write_text_atomic(path, json.dumps(payload, cls=CalibrationCacheEncoder))
