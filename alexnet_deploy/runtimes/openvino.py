"""The ``openvino`` backend: OpenVINO on the CPU, a CPU edge box's first alternative to onnxruntime.

It reads our ONNX files as they are (LRN included) and runs their QDQ INT8
models with its own INT8 kernels. ``threads`` and the latency hint are what a
single-stream benchmark wants.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from alexnet_deploy.core.lazy import lazy_import
from alexnet_deploy.errors import BackendError, ExportError
from alexnet_deploy.runtimes.base import Runner

HINTS = ("LATENCY", "THROUGHPUT")


def openvino():
    return lazy_import("openvino", purpose="the openvino backend")


class OpenVinoRunner(Runner):
    """An ONNX model compiled by OpenVINO for the CPU."""

    name = "openvino"

    def __init__(self, artifact: Any, *, threads: int | None = None, hint: str = "LATENCY") -> None:
        if not isinstance(artifact, (str, os.PathLike)):
            raise BackendError("The openvino backend runs ONNX files; save the model to a file first.")
        if hint not in HINTS:
            raise BackendError(f"Unknown OpenVINO performance hint {hint!r}; choose one of {', '.join(HINTS)}.")
        from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths, read_meta

        path = Path(artifact)
        check_external_data_paths(path)
        # Commands hold the files they are given to their metadata before they run them; a runner also
        # opens files this tool derived itself (verify's probes, with extra outputs).
        self.precision = read_meta(path, check=False).precision
        self.artifact = str(path)
        self.threads, self.hint = threads, hint
        ov = openvino()
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError with a long log
            raise ExportError(f"OpenVINO cannot load {path}: {str(exc).strip().splitlines()[0]}") from None
        self.request = self.compiled.create_infer_request()
        first = self.compiled.inputs[0]
        self.input_name = first.get_any_name()
        self.output_names = tuple(o.get_any_name() for o in self.compiled.outputs)
        batch = first.get_partial_shape()[0]
        self.fixed_batch = batch.get_length() if batch.is_static else None

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.request.infer(feeds)
        return {o.get_any_name(): np.array(results[o]) for o in self.compiled.outputs}

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "openvino": openvino().__version__, "hint": self.hint,
                "threads": str(self.threads or "default")}

    def close(self) -> None:
        self.request = None
        self.compiled = None
