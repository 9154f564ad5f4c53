"""Which backends exist, which of them run here, and opening a runner by name.

``available()`` answers for every backend: usable here, or why not and what to
install (nothing is ever installed for the user). ``open_runner`` refuses an
unknown name, a backend that cannot run here, and an artifact of a kind the
backend cannot run, each with one sentence (BackendError, exit code 2).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

from alexnet_deploy.artifacts.kinds import CHECKPOINT, DESCRIPTIONS, ENGINE, ONNX, artifact_kind
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.base import Runner
from alexnet_deploy.runtimes.trt_env import BACKEND_INSTALL as TRT_INSTALL
from alexnet_deploy.runtimes.trt_env import tensorrt_problem

TORCH_CUDA_INSTALL = "pip install torch --index-url https://download.pytorch.org/whl/cu128 on a machine with an NVIDIA GPU"


@dataclass(frozen=True)
class Backend:
    """A backend: what it runs, where, how to get it, and how to tell whether it runs here."""

    name: str
    kinds: tuple[str, ...]  # artifact kinds it runs
    device: str  # "cpu" | "cuda"
    runner: str  # "module:Class", imported only when a runner is opened
    install: str  # the install line for when it is unavailable
    probe: Callable[[], str]  # "" when usable here, else the reason; cheap
    options: tuple[tuple[str, Any], ...] = ()  # fixed keyword arguments of the runner class


@dataclass(frozen=True)
class Availability:
    name: str
    ok: bool
    reason: str
    install: str


def _cuda_reason() -> str:
    import torch

    if torch.cuda.is_available():
        return ""
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    return f"torch {torch.__version__} ({build}) sees no CUDA GPU"


def _ort_reason(provider: str) -> str:
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    import onnxruntime

    if provider not in onnxruntime.get_available_providers():
        return f"onnxruntime {onnxruntime.__version__} has no {provider}"
    return ""


def _ort_cuda_reason() -> str:
    return _ort_reason("CUDAExecutionProvider") or _cuda_reason()


def _openvino_reason() -> str:
    return "" if importlib.util.find_spec("openvino") is not None else "openvino is not installed"


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add a backend (registration order is display order)."""
    BACKENDS[backend.name] = backend
    return backend


register(Backend("torch-cpu", (CHECKPOINT,), "cpu", "alexnet_deploy.runtimes.pytorch:TorchRunner",
                 "pip install torch", lambda: "", options=(("device", "cpu"),)))
register(Backend("torch-cuda", (CHECKPOINT,), "cuda", "alexnet_deploy.runtimes.pytorch:TorchRunner",
                 TORCH_CUDA_INSTALL, _cuda_reason, options=(("device", "cuda"),)))
register(Backend("ort-cpu", (ONNX,), "cpu", "alexnet_deploy.runtimes.ort:OrtRunner",
                 "pip install 'alexnet-deploy[cpu]'", lambda: _ort_reason("CPUExecutionProvider"),
                 options=(("device", "cpu"),)))
register(Backend("ort-cuda", (ONNX,), "cuda", "alexnet_deploy.runtimes.ort:OrtRunner",
                 "pip install 'alexnet-deploy[gpu]' on a machine with an NVIDIA GPU (onnxruntime-gpu replaces "
                 "onnxruntime: pip uninstall onnxruntime first)", _ort_cuda_reason, options=(("device", "cuda"),)))
register(Backend("openvino", (ONNX,), "cpu", "alexnet_deploy.runtimes.openvino:OpenVinoRunner",
                 "pip install 'alexnet-deploy[openvino]'", _openvino_reason))
register(Backend("trt", (ENGINE,), "cuda", "alexnet_deploy.runtimes.trt:TrtRunner", TRT_INSTALL, tensorrt_problem))


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendError(f"Unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}.") from None


def available() -> dict[str, Availability]:
    """Every backend: usable here, or the reason it is not and what to install."""
    out = {}
    for name, backend in BACKENDS.items():
        reason = backend.probe()
        out[name] = Availability(name=name, ok=not reason, reason=reason, install="" if not reason else backend.install)
    return out


def backends_for(kind: str) -> list[str]:
    """Names of the backends that run artifacts of ``kind`` (available here or not)."""
    return [name for name, backend in BACKENDS.items() if kind in backend.kinds]


def check_runs(name: str, artifact: Any) -> Backend:
    """The backend ``name`` when it runs here and runs ``artifact``'s kind; else a BackendError saying why."""
    backend = get_backend(name)
    kind = artifact_kind(artifact)
    if kind not in backend.kinds:
        wants = " or ".join(DESCRIPTIONS[k] for k in backend.kinds)
        others = ", ".join(backends_for(kind)) or "none"
        hint = {CHECKPOINT: "export it first (alexnet-deploy export)", ONNX: "", ENGINE: ""}.get(kind, "")
        raise BackendError(f"{name} runs {wants}, not {DESCRIPTIONS[kind]}; use one of: {others}"
                           + (f", or {hint}" if hint else "") + ".")
    reason = backend.probe()
    if reason:
        raise BackendError(f"{name} cannot run here: {reason} (install: {backend.install}).")
    return backend


def open_runner(name: str, artifact: Any, **options: Any) -> Runner:
    """A runner of backend ``name`` for ``artifact`` (a path or an in-memory model); use it as a context manager."""
    backend = check_runs(name, artifact)
    device = str(options.get("device", backend.device))
    if device.split(":")[0] != backend.device:
        raise BackendError(f"{name} runs on the {backend.device.upper()}, not on {device}.")
    module, cls = backend.runner.split(":")
    factory = getattr(importlib.import_module(module), cls)
    return factory(artifact, **{**dict(backend.options), **options})
