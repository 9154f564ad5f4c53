"""The ``openvino`` backend: OpenVINO on the CPU, a CPU edge box's first alternative to onnxruntime.

It reads our ONNX files as they are (LRN included) and runs their QDQ INT8
models with its own INT8 kernels. ``threads`` and the latency hint (one stream,
every thread on one request) are what a single-stream benchmark wants.

Precision is pinned where the artifact says what it is: an fp32 model runs in
f32 (on CPUs with bf16 or AMX units OpenVINO would otherwise run it in bf16 and
the "fp32" figures would be bf16 ones). INT8 models keep OpenVINO's choice for
the layers they leave in float. Of our two INT8 layouts, OpenVINO should get
the CPU one (``<stem>.int8-cpu.onnx``): its 7-bit weights keep the u8 x s8
kernels of CPUs without VNNI from saturating, which costs the TensorRT layout's
8-bit weights accuracy here (measured on the demo model: top-1 -0.8 pp with the
TensorRT layout, -0.1 pp with the CPU layout or with the TensorRT layout given
7-bit weights; ``benchmarks/bench_cpu.py``).
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


READ_BACK = ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT")


def openvino():
    return lazy_import("openvino", purpose="the openvino backend")


def _plain(value: Any) -> str:
    """A property value as text: OpenVINO element types as their short name ("f32"), anything else as str."""
    name = getattr(value, "get_type_name", None)
    return name() if callable(name) else str(value)


def compile_config(*, precision: str, threads: int | None, hint: str) -> dict[str, Any]:
    """The CPU plugin settings for one model: the hint, the threads, and f32 for fp32 models."""
    config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if precision == "fp32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return config


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
        meta = read_meta(path, check=False)
        self.precision = meta.precision
        self.artifact = str(path)
        self.threads, self.hint = threads, hint
        ov = openvino()
        self.int8_layout = meta.extra.get("int8_layout", "") if self.precision == "int8" else ""
        config = compile_config(precision=self.precision, threads=threads, hint=hint)
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
        """Versions and the settings the compiled model actually got (read back, not what was asked)."""
        compiled = {key.lower(): _plain(self.compiled.get_property(key)) for key in READ_BACK}
        return {**super().describe(), "openvino": openvino().__version__, "hint": self.hint,
                "threads": str(self.threads or "default"), **compiled,
                **({"int8_layout": self.int8_layout} if self.int8_layout else {})}

    def close(self) -> None:
        self.request = None
        self.compiled = None
