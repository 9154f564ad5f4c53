"""The engine cache: a key over everything that shapes an engine, and the test for a reusable one.

Key = sha256 over the ONNX model's bytes (and its external data), the
TensorRT version, the GPU's name and compute capability, and every build
option. The cache is the output path itself: when ``--out`` already holds an
engine whose sidecar carries the same key and whose bytes match the hash in
that sidecar, a second build returns at once. The timing cache file is not
part of the key: it changes how long a build takes, not what it computes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alexnet_deploy.artifacts.engine_sidecar import EngineSidecar, engine_problem, read_sidecar
from alexnet_deploy.core.fsutil import sha256_file
from alexnet_deploy.errors import InputError


@dataclass(frozen=True)
class KeyParts:
    """Everything an engine depends on."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    options: dict[str, Any]  # BuildOptions.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_key(parts: KeyParts) -> str:
    """Hex sha256 of the parts in canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(parts.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def onnx_digest(onnx_path: str | os.PathLike, external: list[Path] | None = None) -> str:
    """sha256 over the model file and each external data file (by name and content, in name order).

    ``external`` are the vetted external data files (``check_external_data_paths``);
    an edit to any of them changes the digest.
    """
    digest = hashlib.sha256()
    digest.update(b"model\0" + sha256_file(onnx_path).encode())
    for path in sorted(external or [], key=lambda p: p.name):
        digest.update(b"\0" + path.name.encode() + b"\0" + sha256_file(path).encode())
    return digest.hexdigest()


def reusable_engine(out: str | os.PathLike, key: str) -> EngineSidecar | None:
    """The sidecar of the engine at ``out`` when it was built with ``key`` and is intact; else None.

    A damaged sidecar or engine is not an error here: the build replaces both.
    """
    out = Path(out)
    if not out.is_file():
        return None
    try:
        sidecar = read_sidecar(out)
    except InputError:
        return None
    if sidecar is None or sidecar.key != key or engine_problem(out, sidecar):
        return None
    return sidecar


def changed_parts(old: dict[str, Any], new: KeyParts) -> list[str]:
    """Names of the key parts that differ between an existing sidecar's parts and ``new`` (why we rebuild)."""
    fresh = new.to_dict()
    changed = [name for name in fresh if name != "options" and old.get(name) != fresh[name]]
    old_options = old.get("options") or {}
    changed += [f"options.{name}" for name in fresh["options"] if old_options.get(name) != fresh["options"][name]]
    return changed
