"""What a pipeline run has done: one record per step, keyed by the hashes of what went into it.

A step is skipped when its key (the sha256 of its input files' contents and its
settings) equals the recorded one and its outputs still hold the bytes recorded
when it finished. Hashing is by content, never by timestamps; a file whose size,
modification time and inode are unchanged since it was last hashed reuses that
hash, so a second run over gigabytes of models costs milliseconds. The manifest
is rewritten atomically after every finished step, so an interrupted run
resumes after the last step that finished.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from alexnet_deploy.core.fsutil import sha256_file, write_text_atomic
from alexnet_deploy.core.results import Result

MANIFEST = "pipeline.json"
FORMAT = "alexnet-deploy/pipeline/1"


@dataclass
class StepRecord(Result):
    """One step as it last finished (or was skipped, with the reason)."""

    name: str
    status: str  # "done", "skipped" (cannot run here: reason), "failed" (stopped the run: reason)
    key: str = ""
    passed: bool = True  # whether its checks passed (a "done" step whose checks failed kept its records)
    outputs: dict[str, str] = field(default_factory=dict)  # path -> sha256
    seconds: float = 0.0
    reason: str = ""
    command: str = ""  # the command that reproduces the step by hand


@dataclass
class Manifest(Result):
    """Every step's record, and the file hashes already computed (path -> [size, mtime_ns, inode, sha256])."""

    format: str = FORMAT
    steps: dict[str, StepRecord] = field(default_factory=dict)
    hashes: dict[str, list] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> "Manifest":
        """The manifest in ``folder``; a missing or unreadable one is a fresh start (every step runs)."""
        path = folder / MANIFEST
        try:
            manifest = cls.from_json(path.read_text())
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls()
        return manifest if manifest.format == FORMAT else cls()

    def save(self, folder: Path) -> None:
        write_text_atomic(folder / MANIFEST, self.to_json() + "\n")

    def file_hash(self, path: str | os.PathLike) -> str:
        """sha256 of ``path``'s bytes, reused while its size, mtime and inode stay the same."""
        stat = os.stat(path)
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        known = self.hashes.get(str(path))
        if known and known[:3] == stamp:
            return known[3]
        digest = sha256_file(path)
        self.hashes[str(path)] = [*stamp, digest]
        return digest

    def tree_hash(self, folder: str | os.PathLike) -> str:
        """sha256 over the relative names and contents of every file under ``folder`` (data sets)."""
        root = Path(folder)
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(root)}\0{self.file_hash(path)}\n".encode())
        return digest.hexdigest()

    def key(self, name: str, *, files: Iterable[str | os.PathLike] = (), trees: Iterable[str | os.PathLike] = (),
            settings: Mapping[str, Any] | None = None) -> str:
        """The key of step ``name``: what its input files and folders hold, and its settings."""
        parts = {
            "step": name,
            "files": sorted(self.file_hash(f) for f in files),
            "trees": sorted(self.tree_hash(t) for t in trees),
            "settings": settings or {},
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def unchanged(self, name: str, key: str) -> bool:
        """Whether step ``name`` finished with ``key`` and its outputs still hold what it wrote."""
        record = self.steps.get(name)
        if record is None or record.status != "done" or record.key != key:
            return False
        return all(Path(p).is_file() and self.file_hash(p) == digest for p, digest in record.outputs.items())

    def finish(self, name: str, key: str, outputs: Iterable[str | os.PathLike], *, seconds: float,
               command: str = "", passed: bool = True) -> StepRecord:
        record = StepRecord(name=name, status="done", key=key, seconds=round(seconds, 3), command=command,
                            passed=passed, outputs={str(p): self.file_hash(p) for p in outputs})
        self.steps[name] = record
        return record
