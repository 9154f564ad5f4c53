"""Results of commands that chain stages: one JSON for everything a command did.

Imported inside the commands (the stage results it holds import numpy and onnx).
"""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_deploy.core.results import Result
from alexnet_deploy.export.exporter import ExportResult
from alexnet_deploy.precision.fp16 import Fp16Result


@dataclass
class ExportRun(Result):
    """``export`` and, with --fp16, the fp16 conversion that followed it."""

    export: ExportResult
    fp16: Fp16Result | None = None

    def failures(self) -> list[str]:
        return self.export.failures() + (self.fp16.failures() if self.fp16 is not None else [])
