"""What this machine offers: library versions, the onnxruntime flavour, TensorRT, GPUs.

Reads package metadata and asks torch for GPUs; which backends run here, and
why not, is ``runtimes.registry.available()``.
"""

from __future__ import annotations

import platform
from importlib import metadata

# onnxruntime ships one module from several distributions; two installed at once break each other.
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def tensorrt_version() -> str:
    """TensorRT's version, or 'not installed' (also when its libraries fail to load)."""
    try:
        import tensorrt  # noqa: PLC0415 - optional, probed on purpose
    except (ImportError, OSError):
        return "not installed"
    return getattr(tensorrt, "__version__", "unknown version")


def cuda_devices() -> list[str]:
    """Names of the CUDA devices torch sees (empty without a GPU)."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def onnxruntime_flavours() -> list[str]:
    """The onnxruntime distributions installed, as 'name version'."""
    return [f"{dist} {_version(dist)}" for dist in ORT_DISTRIBUTIONS if _version(dist) != "not installed"]


def onnxruntime_line() -> str:
    """Flavour, version and providers of onnxruntime, with a warning when two flavours are installed."""
    flavours = onnxruntime_flavours()
    if not flavours:
        return "not installed (pip install 'alexnet-deploy[cpu]', or '[gpu]' on an NVIDIA machine)"
    try:
        import onnxruntime
    except ImportError as exc:
        return f"{', '.join(flavours)} installed but not importable ({exc})"
    line = f"{', '.join(flavours)} (providers: {', '.join(onnxruntime.get_available_providers())})"
    if len(flavours) > 1:
        line += "; WARNING: several flavours share one module and break each other, keep one"
    return line


def environment_report() -> dict[str, str]:
    """One line per component, in the order ``alexnet-deploy env`` prints them."""
    import torch

    devices = cuda_devices()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "alexnet-deploy": _version("alexnet-deploy"),
        "torch": torch.__version__ + (f" (CUDA {torch.version.cuda})" if torch.version.cuda else " (CPU build)"),
        "onnx": _version("onnx"),
        "onnxscript": _version("onnxscript"),
        "onnxruntime": onnxruntime_line(),
        "openvino": _version("openvino"),
        "tensorrt": tensorrt_version(),
        "cuda device": ", ".join(devices) if devices else "no GPU",
    }
