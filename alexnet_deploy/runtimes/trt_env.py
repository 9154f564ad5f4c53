"""TensorRT on this machine: importing it, its logger, the hardware boundary, and the GPU it builds for.

Shared by the ``trt`` runner and ``engine/`` (the only other place that
imports ``tensorrt``). Three situations get one sentence each, never a
traceback:

* ``tensorrt`` is missing: the pip line for this machine's CUDA
  (``tensorrt-cu12`` / ``tensorrt-cu13``; on a Jetson it comes with JetPack);
* it is installed but its libraries do not load;
* it loads but there is no usable GPU: ``trt.Builder(logger)`` and
  ``trt.Runtime(logger)`` then raise ``TypeError: pybind11::init(): factory
  function returned nullptr`` (after TensorRT logs a CUDA initialization
  failure). That call is the hardware boundary; ``new_builder`` and
  ``new_runtime`` turn it into a BackendError (exit code 2).

TensorRT objects are held in variables with fixed names (``builder``,
``network``, ``config``, ``parser``, ``profile``, ``runtime``, ``engine``,
``context``, ``inspector``, ``timing_cache``, ...): the API conformance test
checks every member used on them against each supported TensorRT version.
"""

from __future__ import annotations

import importlib
import os
import platform
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from alexnet_deploy.errors import BackendError, MissingDependencyError

JETSON_RELEASE_FILE = "/etc/nv_tegra_release"
INSTALL_ANY = ("pip install tensorrt-cu12 for CUDA 12 or tensorrt-cu13 for CUDA 13, whichever the GPU machine has "
               "(JetPack 6 ships TensorRT 10.3)")
BACKEND_INSTALL = ("the TensorRT wheel for the machine's CUDA (tensorrt-cu12 or tensorrt-cu13; JetPack ships it on "
                   "a Jetson) and a CUDA build of torch, on a machine with an NVIDIA GPU")
# pybind11's message when TensorRT's factory returns NULL, as it does without a usable CUDA device.
NULL_FACTORY = "returned nullptr"


@dataclass(frozen=True)
class GpuIdentity:
    """The GPU an engine is built for: its name and compute capability ("8.6")."""

    name: str
    compute_capability: str


def install_line(cuda_major: int | None, *, jetson: bool = False) -> str:
    """What to install for TensorRT on a machine with this CUDA major version (None: unknown)."""
    if jetson:
        return ("TensorRT comes with JetPack on a Jetson (JetPack 6: TensorRT 10.3): use the system Python "
                "or a virtual environment made with --system-site-packages")
    if cuda_major in (12, 13):
        return f"pip install tensorrt-cu{cuda_major}"
    return INSTALL_ANY


def cuda_major() -> int | None:
    """CUDA major version of torch's build, else of the NVIDIA driver (NVML), else None."""
    import torch

    if torch.version.cuda:
        return int(torch.version.cuda.split(".")[0])
    try:
        import pynvml  # noqa: PLC0415 - optional

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlSystemGetCudaDriverVersion()) // 1000
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML library, no driver, or no package: unknown
        return None


def is_jetson() -> bool:
    return platform.machine() == "aarch64" and os.path.exists(JETSON_RELEASE_FILE)


def this_machine_install_line() -> str:
    return install_line(cuda_major(), jetson=is_jetson())


def import_tensorrt(*, purpose: str = "running TensorRT engines") -> ModuleType:
    """The ``tensorrt`` module, or a MissingDependencyError with the install line for this machine."""
    try:
        return importlib.import_module("tensorrt")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tensorrt", "tensorrt_bindings"):
            raise
        raise MissingDependencyError(f"tensorrt is not installed and {purpose} needs it: "
                                     f"{this_machine_install_line()}.") from None
    except (ImportError, OSError) as exc:
        # The bindings are there but libnvinfer & co. are not (or are a different major version).
        raise MissingDependencyError(f"tensorrt is installed but its libraries do not load ({exc}); reinstall it "
                                     f"for this machine: {this_machine_install_line()}.") from None


def tensorrt_problem() -> str:
    """Why the ``trt`` backend cannot run here ("" when it can), without creating any TensorRT object."""
    try:
        trt = importlib.import_module("tensorrt")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tensorrt", "tensorrt_bindings"):
            raise
        return f"tensorrt is not installed ({this_machine_install_line()})"
    except (ImportError, OSError) as exc:
        return f"tensorrt is installed but its libraries do not load ({exc})"
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU build"
        return (f"TensorRT {trt.__version__} is installed but there is no usable NVIDIA GPU here "
                f"(torch {torch.__version__}, {build}, sees none)")
    return ""


def make_logger(trt: ModuleType) -> Any:
    """A ``trt.ILogger`` that keeps TensorRT's errors and warnings for our messages instead of printing them."""

    class KeptLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.warnings: list[str] = []

        def log(self, severity, msg):  # called by TensorRT, possibly from its own threads
            level = getattr(severity, "name", str(severity))
            if level in ("INTERNAL_ERROR", "ERROR"):
                self.errors.append(str(msg))
            elif level == "WARNING":
                self.warnings.append(str(msg))

    return KeptLogger()


def last_error(logger: Any, default: str = "") -> str:
    """The last error TensorRT logged through ``make_logger``'s logger, else ``default``."""
    errors = getattr(logger, "errors", None)
    return errors[-1] if errors else default


def no_gpu_error(trt: ModuleType, logger: Any, exc: TypeError, *, needs: str) -> BackendError:
    """The BackendError for TensorRT's null factory (no usable GPU); any other TypeError is a bug."""
    if NULL_FACTORY not in str(exc):
        raise exc
    said = last_error(logger)
    detail = f" (TensorRT says: {said})" if said else ""
    return BackendError(f"TensorRT {trt.__version__} is installed but found no usable NVIDIA GPU here{detail}; "
                        f"{needs} on the machine with the GPU, its driver and CUDA.")


def new_builder(trt: ModuleType, logger: Any) -> Any:
    """``trt.Builder(logger)``, or a BackendError when TensorRT finds no usable GPU (the hardware boundary)."""
    try:
        return trt.Builder(logger)
    except TypeError as exc:
        raise no_gpu_error(trt, logger, exc, needs="build engines") from None


def new_runtime(trt: ModuleType, logger: Any) -> Any:
    """``trt.Runtime(logger)``, or a BackendError when TensorRT finds no usable GPU (the hardware boundary)."""
    try:
        return trt.Runtime(logger)
    except TypeError as exc:
        raise no_gpu_error(trt, logger, exc, needs="run engines") from None


def gpu_identity(device: int = 0) -> GpuIdentity | None:
    """Name and compute capability of CUDA device ``device`` (torch, else NVML); None when neither sees one."""
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return GpuIdentity(torch.cuda.get_device_name(device), f"{major}.{minor}")
    try:
        import pynvml  # noqa: PLC0415 - optional

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(device)
            name = pynvml.nvmlDeviceGetName(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML, no driver or no such device
        return None
    return GpuIdentity(name.decode() if isinstance(name, bytes) else str(name), f"{major}.{minor}")


# TensorRT DataType member name -> numpy/torch dtype name. By name: the enum's integers are not a contract.
DTYPE_NAMES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "BF16": "bfloat16",
    "INT8": "int8",
    "UINT8": "uint8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}


def dtype_name(trt_dtype: Any) -> str:
    """The numpy/torch dtype name of a ``trt.DataType`` member; BackendError for types we cannot hold."""
    name = getattr(trt_dtype, "name", str(trt_dtype))
    try:
        return DTYPE_NAMES[name]
    except KeyError:
        raise BackendError(f"The engine has an input or output of TensorRT type {name}, which this runner cannot "
                           f"hold; rebuild it from an ONNX model with float inputs and outputs.") from None
