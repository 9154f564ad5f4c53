"""One way to import optional heavy packages.

Modules import ``tensorrt``, ``pynvml`` and CUDA-specific code only through
``lazy_import`` so that every module imports on a machine without them, and the
user who needs one gets an error naming the install command instead of a bare
ImportError. Nothing is ever installed automatically.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from alexnet_deploy.errors import MissingDependencyError

# module name -> what to install to get it
INSTALL_HINTS = {
    "onnxruntime": "pip install 'alexnet-deploy[cpu]' (or 'alexnet-deploy[gpu]' on a machine with an NVIDIA GPU)",
    "openvino": "pip install 'alexnet-deploy[openvino]'",
    "tensorrt": "pip install tensorrt-cu12 (CUDA 12) or tensorrt-cu13 (CUDA 13); on a Jetson it comes with JetPack",
    "pynvml": "pip install nvidia-ml-py",
}


def lazy_import(name: str, *, purpose: str = "") -> ModuleType:
    """Import ``name`` or raise MissingDependencyError naming the install command."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(name.split(".")[0], f"pip install {name.split('.')[0]}")
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"{name} is needed{what} but could not be imported ({exc}); install it with: {hint}."
        ) from exc
