"""What each artifact to benchmark is: kind, hash, metadata, input size, batches it takes, and its checkpoint.

Read from the artifact's own description (checkpoint fields, ONNX metadata and
input shape, the engine's sidecar), checked before any model is timed. The
checkpoint a model came from is found by the sha256 its metadata records
(``source_sha256``): a ``.pt``/``.pth`` file beside the artifact with that
hash is the PyTorch fp32 baseline.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet_deploy.artifacts.kinds import CHECKPOINT, ENGINE, ONNX, artifact_kind
from alexnet_deploy.core.fsutil import sha256_file
from alexnet_deploy.errors import InputError

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class ArtifactInfo:
    """One artifact as the benchmark records it."""

    path: str
    kind: str  # checkpoint | onnx | engine
    sha256: str
    bytes: int
    precision: str  # what its metadata says ("unknown" when nothing does)
    input_size: int  # the square image side it takes
    source_sha256: str  # the checkpoint it was made from ("" unknown); a checkpoint's own hash
    fixed_batch: int | None = None  # the only batch it takes
    max_batch: int | None = None  # the largest batch it takes (an engine's profile)
    min_batch: int | None = None  # the smallest batch it takes (an engine's profile)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.path).name


class HashCache:
    """sha256 of files, each read once per benchmark (checkpoints are hundreds of MB)."""

    def __init__(self) -> None:
        self._known: dict[Path, str] = {}

    def __contains__(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` was read already."""
        return Path(path).resolve() in self._known

    def __call__(self, path: str | os.PathLike) -> str:
        key = Path(path).resolve()
        if key not in self._known:
            self._known[key] = sha256_file(key)
        return self._known[key]


def describe_artifact(path: str | os.PathLike, *, hashes: HashCache) -> ArtifactInfo:
    """ArtifactInfo of a checkpoint, ONNX model or engine file; InputError when it is missing or unreadable."""
    file = Path(path)
    kind = artifact_kind(file)
    if not file.is_file():
        raise InputError(f"{file} does not exist or is not a file; check the path.")
    digest = hashes(file)
    size = file.stat().st_size
    if kind == CHECKPOINT:
        return _checkpoint_info(file, digest, size)
    if kind == ONNX:
        return _onnx_info(file, digest, size)
    return _engine_info(file, digest, size)


def _checkpoint_info(file: Path, digest: str, size: int) -> ArtifactInfo:
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint

    summary = load_checkpoint(file).summary()  # validates the weights now, before any timing
    keep = ("arch", "num_classes", "input_size", "resize", "mean", "std", "source", "parameters")
    meta = {k: summary[k] for k in keep}
    return ArtifactInfo(path=str(file), kind=CHECKPOINT, sha256=digest, bytes=size, precision="fp32",
                        input_size=int(summary["input_size"]), source_sha256=digest, meta=meta)


def _onnx_info(file: Path, digest: str, size: int) -> ArtifactInfo:
    from alexnet_deploy.artifacts.onnx_meta import PREFIX as META_PREFIX, load_onnx, read_meta

    proto = load_onnx(file, load_weights=False)
    first = proto.graph.input[0]
    dims = [d.dim_value if d.dim_value > 0 else None for d in first.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] is None or dims[2] != dims[3]:
        raise InputError(f"{file} takes input {first.name} of shape {dims}; the benchmark feeds square images "
                         f"(N, 3, S, S) and needs S fixed in the model.")
    meta: dict[str, Any] = {}  # a model from elsewhere runs too, without a precision or checkpoint to name
    if any(p.key.startswith(META_PREFIX) for p in proto.metadata_props):
        meta = read_meta(proto, where=str(file)).to_dict()  # ours: the graph must agree with it, or it is refused
        meta.pop("class_names")
    return ArtifactInfo(path=str(file), kind=ONNX, sha256=digest, bytes=size,
                        precision=meta.get("precision", "unknown"), input_size=int(dims[2]),
                        source_sha256=meta.get("source_sha256", ""), fixed_batch=dims[0], meta=meta)


def _engine_info(file: Path, digest: str, size: int) -> ArtifactInfo:
    """From the sidecar ``build-engine`` writes beside the engine; the engine itself needs TensorRT to read."""
    try:
        sidecars = importlib.import_module("alexnet_deploy.artifacts.engine_sidecar")
    except ImportError:
        sidecar = None
    else:
        sidecar = sidecars.read_sidecar(file)
    if sidecar is None:
        raise InputError(f"{file} has no readable sidecar ({file.name}.json), so its input size is unknown; "
                         f"build it with alexnet-deploy build-engine.")
    model = dict(sidecar.model)
    model.pop("class_names", None)
    profile = {k: list(v) for k, v in (sidecar.profile or {}).items()}
    low, high = (profile.get("min") or [None])[0], (profile.get("max") or [None])[0]
    return ArtifactInfo(path=str(file), kind=ENGINE, sha256=digest, bytes=size, precision=sidecar.precision,
                        input_size=int(model.get("input_size") or (profile.get("opt") or [0, 0, 0, 0])[-1]),
                        source_sha256=str(model.get("source_sha256", "")),
                        fixed_batch=low if low is not None and low == high else None, max_batch=high, min_batch=low,
                        meta={"model": model, "tensorrt": sidecar.tensorrt_version, "gpu": sidecar.gpu_name,
                              "profile": profile, "onnx_sha256": sidecar.onnx_sha256})


def find_checkpoint(source_sha256: str, beside: list[Path], *, hashes: HashCache) -> Path | None:
    """A ``.pt``/``.pth`` file in the folders of ``beside`` whose sha256 is ``source_sha256`` (None if none)."""
    if not source_sha256:
        return None
    names = [p.name for p in beside]
    candidates = {c for p in beside for c in p.resolve().parent.iterdir()
                  if c.suffix.lower() in CHECKPOINT_SUFFIXES and c.is_file()}

    def likely_first(path: Path) -> tuple[bool, int]:
        # model.pt for model.onnx / model.fp16.onnx before model.last.pt (three times larger: optimizer state)
        return not any(name.startswith(path.stem + ".") for name in names), path.stat().st_size

    for candidate in sorted(candidates, key=likely_first):
        if hashes(candidate) == source_sha256:
            return candidate
    return None
