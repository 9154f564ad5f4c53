"""The benchmark record: every run with every latency kept, the machine, the settings, with a schema version.

``BenchResult.load`` reads a record back for ``bench compare``, refusing files
that are not bench records or come from a newer schema.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet_deploy.bench.energy import EnergyRecord
from alexnet_deploy.bench.stats import LatencyStats
from alexnet_deploy.bench.targets import ArtifactInfo
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError

SCHEMA = "alexnet-deploy/bench"
SCHEMA_VERSION = 1


@dataclass
class PhaseTimes:
    """Compute-only timing of a GPU runner (data on the device), split where the runner can."""

    total_s: list[float]
    h2d_s: list[float] | None = None
    compute_s: list[float] | None = None
    d2h_s: list[float] | None = None
    median_ms: dict[str, float] = field(default_factory=dict)  # part -> median


@dataclass
class BenchRow:
    """One backend on one artifact at one batch."""

    backend: str
    device: str
    precision: str
    batch: int
    variant: str  # "" for the plain run; "cuda-graphs", "channels-last", ... otherwise
    artifact: str
    artifact_sha256: str
    source_sha256: str  # the checkpoint the artifact was made from ("" when unknown)
    threads: int | None  # intra-op threads given to the runner (None: it takes none)
    options: dict[str, str]  # the runner options this row ran with
    runner: dict[str, str]  # what the runner says about itself (versions, providers, hints)
    latencies_s: list[float]  # end-to-end, every timed iteration, in order
    stats: LatencyStats
    throughput: float  # images per second, back to back
    window_s: float
    warmup_iterations: int
    energy: EnergyRecord
    baseline: bool = False  # a PyTorch fp32 row other rows are measured against
    compute: PhaseTimes | None = None
    speedup: float | None = None  # baseline p50 / this p50 at the same batch
    speedup_vs: str = ""  # the baseline row's label
    warnings: list[str] = field(default_factory=list)

    def label(self) -> str:
        variant = f" {self.variant}" if self.variant else ""
        return f"{self.backend} {self.precision}{variant} b{self.batch}"

    def series(self) -> str:
        """The row without its batch: one line in the plots over batch sizes."""
        variant = f" {self.variant}" if self.variant else ""
        return f"{self.backend} {self.precision}{variant} ({Path(self.artifact).name})"


def row_names(rows: list[BenchRow]) -> list[str]:
    """Each row's label, with the model's file name added where two rows would read the same."""
    counts = Counter(r.label() for r in rows)
    return [r.label() + (f" ({Path(r.artifact).name})" if counts[r.label()] > 1 else "") for r in rows]


@dataclass
class OfflineBest:
    """Offline scenario: the batch with the best throughput for one backend on one artifact."""

    series: str
    backend: str
    precision: str
    variant: str
    artifact: str
    batch: int
    throughput: float


@dataclass
class BenchResult(Result):
    """Everything one ``alexnet-deploy bench`` run measured and where."""

    created: str
    command: str
    config: dict[str, Any]
    machine: dict[str, Any]
    artifacts: list[ArtifactInfo]
    rows: list[BenchRow]
    skipped: list[str] = field(default_factory=list)  # backends that could not run here, and why
    notes: list[str] = field(default_factory=list)
    offline: list[OfflineBest] = field(default_factory=list)
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BenchResult":
        """A record written by ``bench --json``; InputError for anything else."""
        file = Path(path)
        if not file.is_file():
            raise InputError(f"{file} does not exist; pass a JSON file written by alexnet-deploy bench --json.")
        try:
            raw = json.loads(file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{file} is not readable JSON ({type(exc).__name__}); pass a bench --json file.") from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise InputError(f"{file} is not a benchmark record (no schema {SCHEMA!r}); pass a bench --json file.")
        version = raw.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise InputError(f"{file} has bench schema version {version}; this alexnet-deploy reads up to "
                             f"{SCHEMA_VERSION}, so upgrade it.")
        try:
            return cls.from_dict(raw)
        except (TypeError, KeyError, ValueError) as exc:
            raise InputError(f"{file} is a damaged benchmark record ({exc}); rerun alexnet-deploy bench.") from None
