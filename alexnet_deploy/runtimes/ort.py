"""onnxruntime backends: ``ort-cpu`` and ``ort-cuda``.

The only module that builds onnxruntime inference sessions. ORT's warnings are
kept off the terminal; a file that ORT cannot load is one sentence. For
benchmarks, ``spinning=False`` stops the thread pool from spinning after each
run: spinning threads steal the cores of whatever runs next (measured here:
interleaved timings went from 15 to 60 ms).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

import numpy as np

from alexnet_deploy.artifacts.kinds import describe
from alexnet_deploy.core.lazy import lazy_import
from alexnet_deploy.errors import BackendError, ExportError
from alexnet_deploy.runtimes.base import Runner, Timing

PROVIDERS = {"cpu": ("CPUExecutionProvider",), "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider")}
PRECISION_KEY = "alexnet_deploy.precision"


def onnxruntime():
    """The onnxruntime module, or a MissingDependencyError naming the install line."""
    return lazy_import("onnxruntime", purpose="running ONNX models")


def session_options(*, threads: int | None = None, spinning: bool = True, optimize: bool = True):
    """Quiet SessionOptions: thread count, spinning, and graph optimizations (off to observe every tensor)."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


def open_session(model: Any, *, providers: Sequence[str] = PROVIDERS["cpu"], **options):
    """An InferenceSession on a file (external data vetted first), serialized bytes or a ModelProto.

    A load failure is an ExportError (one sentence), also for bytes: a model
    built in memory comes from an input file, whose faults ORT reports there.
    """
    ort = onnxruntime()
    if "CUDAExecutionProvider" in providers and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels torch brings, where no system copy is found
    sess_options = session_options(**options)
    if type(model).__name__ == "ModelProto":
        model = model.SerializeToString()
    if isinstance(model, (bytes, bytearray)):
        try:
            return ort.InferenceSession(bytes(model), sess_options=sess_options, providers=list(providers))
        except Exception as exc:  # a model built in memory from an input file that ORT still refuses
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"onnxruntime cannot load the model made from the input: {first}") from None
    from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths

    path = Path(model)
    check_external_data_paths(path)
    try:
        return ort.InferenceSession(str(path), sess_options=sess_options, providers=list(providers))
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... classes
        raise ExportError(f"onnxruntime cannot load {path}: {str(exc).strip().splitlines()[0]}") from None


class OrtRunner(Runner):
    """An ONNX model in onnxruntime on the CPU or a CUDA GPU."""

    def __init__(self, artifact: Any, *, device: str = "cpu", threads: int | None = None, spinning: bool = True,
                 optimize: bool = True, outputs: Sequence[str] | None = None) -> None:
        device = device.split(":")[0]
        self.name = f"ort-{device}"
        self.threads = threads
        self.session = open_session(artifact, providers=PROVIDERS[device], threads=threads, spinning=spinning,
                                    optimize=optimize)
        if device == "cuda" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise BackendError("onnxruntime could not place the model on the GPU (its CUDA provider failed to "
                               "load); check the CUDA and cuDNN libraries onnxruntime-gpu needs.")
        self.device = "cuda:0" if device == "cuda" else "cpu"
        self.artifact = describe(artifact)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.output_names = tuple(outputs) if outputs else tuple(o.name for o in self.session.get_outputs())
        batch = first.shape[0]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.precision = meta.get(PRECISION_KEY, "fp32")

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.session.run(list(self.output_names), feeds)
        return dict(zip(self.output_names, values))

    def timed(self, feeds: dict[str, np.ndarray], iterations: int) -> Timing:
        if self.device == "cpu":
            return super().timed(feeds, iterations)
        return self._timed_cuda(feeds, iterations)

    def _timed_cuda(self, feeds: dict[str, np.ndarray], iterations: int) -> Timing:
        """IO binding: copy in, run on device-resident tensors, copy out, each timed on its own.

        run_with_iobinding returns once the GPU work is done (ORT synchronizes
        the stream at the end of a run), so host timers bound the compute time.
        """
        ort = onnxruntime()
        binding = self.session.io_binding()
        h2d, compute, d2h = [], [], []
        for _ in range(iterations):
            t0 = time.perf_counter()
            for name, array in feeds.items():
                binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0))
            for name in self.output_names:
                binding.bind_output(name, "cuda", 0)
            t1 = time.perf_counter()
            self.session.run_with_iobinding(binding)
            t2 = time.perf_counter()
            binding.copy_outputs_to_cpu()
            t3 = time.perf_counter()
            h2d.append(t1 - t0)
            compute.append(t2 - t1)
            d2h.append(t3 - t2)
        total = tuple(a + b + c for a, b, c in zip(h2d, compute, d2h))
        return Timing(total=total, h2d=tuple(h2d), compute=tuple(compute), d2h=tuple(d2h))

    def describe(self) -> dict[str, str]:
        ort = onnxruntime()
        return {**super().describe(), "onnxruntime": ort.__version__,
                "providers": ",".join(self.session.get_providers()), "threads": str(self.threads or "default")}

    def close(self) -> None:
        self.session = None


def provider_available(provider: str) -> bool:
    ort = onnxruntime()
    return provider in ort.get_available_providers()


@contextlib.contextmanager
def quiet_ort() -> Iterator[TextIO]:
    """Hide ORT's quantization chatter (prints, and advice on the root logger); yields the real stdout."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    real_stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield real_stdout
    finally:
        root.setLevel(level)
