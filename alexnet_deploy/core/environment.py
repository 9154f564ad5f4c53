"""What this machine offers: library versions, execution providers, TensorRT, GPUs."""

from __future__ import annotations

import platform
from importlib import metadata


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


def environment_report() -> dict[str, str]:
    """One line per component, in the order ``alexnet-deploy env`` prints them."""
    import onnxruntime
    import torch

    devices = cuda_devices()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "alexnet-deploy": _version("alexnet-deploy"),
        "torch": torch.__version__ + (f" (CUDA {torch.version.cuda})" if torch.version.cuda else " (CPU build)"),
        "onnx": _version("onnx"),
        "onnxscript": _version("onnxscript"),
        "onnxruntime": f"{onnxruntime.__version__} (providers: {', '.join(onnxruntime.get_available_providers())})",
        "tensorrt": tensorrt_version(),
        "cuda device": ", ".join(devices) if devices else "no GPU",
    }
