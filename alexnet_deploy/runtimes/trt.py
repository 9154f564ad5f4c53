"""The ``trt`` backend: a TensorRT engine on one NVIDIA GPU, numpy in, numpy out.

Before anything is deserialized, the engine's sidecar (``<engine>.json``,
written by ``build-engine``) must describe this very file (size and sha256),
name this machine's TensorRT version and, once the GPU is known, its compute
capability: an engine runs only where it was built for. An engine without a
sidecar is refused unless ``trust_engine=True`` (``--trust-engine``).

I/O tensors are addressed by name; each batch shape gets ``set_input_shape``
and its own torch CUDA buffers (torch is already a dependency, so no pycuda or
cupy); ``execute_async_v3`` runs on the runner's own stream. ``timed`` keeps
the data on the device and brackets the copy in, the engine and the copy out
of every iteration with CUDA events.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from alexnet_deploy.artifacts.engine_sidecar import engine_problem, read_sidecar, runtime_problem, sidecar_path
from alexnet_deploy.errors import BackendError, InputError
from alexnet_deploy.runtimes.base import Runner, Timing
from alexnet_deploy.runtimes.cuda_io import DeviceBuffers
from alexnet_deploy.runtimes.trt_env import (
    dtype_name,
    gpu_identity,
    import_tensorrt,
    last_error,
    make_logger,
    new_runtime,
)


def refuse_reason(path: Path, sidecar, *, tensorrt_version: str, trust_engine: bool) -> str:
    """Why the engine at ``path`` must not be loaded under ``tensorrt_version`` ("" when it may)."""
    if sidecar is None:
        if trust_engine:
            return ""
        return (f"{path} has no sidecar {sidecar_path(path).name}, so nothing says which TensorRT and GPU it was "
                f"built for; rebuild it with alexnet-deploy build-engine, or pass --trust-engine if you vouch for it")
    mismatch = engine_problem(path, sidecar)
    if mismatch:
        return f"{mismatch}; rebuild it with alexnet-deploy build-engine"
    problem = runtime_problem(sidecar, tensorrt_version=tensorrt_version, compute_capability=None)
    if problem:
        return f"{path} cannot run here: {problem}; rebuild it with alexnet-deploy build-engine on this machine"
    return ""


class TrtRunner(Runner):
    """A serialized TensorRT engine (``.engine``/``.plan``) on CUDA device ``device``."""

    name = "trt"

    def __init__(self, artifact: Any, *, trust_engine: bool = False, device: int = 0) -> None:
        if not isinstance(artifact, (str, os.PathLike)):
            raise BackendError("The trt backend runs engine files; build one with alexnet-deploy build-engine.")
        path = Path(artifact)
        if not path.is_file():
            raise InputError(f"Engine {path} does not exist; check the path or build it with alexnet-deploy "
                             f"build-engine.")
        self.artifact, self.trust_engine = str(path), trust_engine
        trt = import_tensorrt(purpose="the trt backend")
        self.trt, self.sidecar = trt, read_sidecar(path)
        reason = refuse_reason(path, self.sidecar, tensorrt_version=trt.__version__, trust_engine=trust_engine)
        if reason:
            raise BackendError(reason + ".")
        self.logger = make_logger(trt)
        self.runtime = new_runtime(trt, self.logger)  # the hardware boundary: one sentence without a GPU
        self._torch = self._cuda_torch(device)
        gpu = gpu_identity(device)
        if self.sidecar is not None and gpu is not None:
            problem = runtime_problem(self.sidecar, tensorrt_version=trt.__version__,
                                      compute_capability=gpu.compute_capability)
            if problem:
                raise BackendError(f"{path} cannot run on this GPU: {problem}; rebuild it with alexnet-deploy "
                                   f"build-engine on this machine.")
        self.device, self.gpu_name = f"cuda:{device}", gpu.name if gpu else "unknown"
        self._load(path)
        self.precision = self.sidecar.precision if self.sidecar else "unknown"
        self._bound: dict[tuple[int, ...], DeviceBuffers] = {}
        self._current: tuple[int, ...] | None = None

    def _cuda_torch(self, device: int):
        import torch

        if not torch.cuda.is_available():
            raise BackendError(f"The trt backend moves data with torch CUDA tensors, but torch {torch.__version__} "
                               f"sees no CUDA GPU; install a CUDA build of torch.")
        self._device = torch.device("cuda", device)
        self.stream = torch.cuda.Stream(self._device)
        return torch

    def _load(self, path: Path) -> None:
        trt = self.trt
        engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise BackendError(f"TensorRT {trt.__version__} cannot load {path}: "
                               f"{last_error(self.logger, 'it gave no reason')}; rebuild it with build-engine.")
        context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        modes = {name: engine.get_tensor_mode(name).name for name in names}
        inputs = [n for n in names if modes[n] == "INPUT"]
        if len(inputs) != 1:
            raise BackendError(f"{path} has {len(inputs)} inputs; the trt backend runs image models with one input.")
        self.engine, self.context = engine, context
        self.input_name = inputs[0]
        self.output_names = tuple(n for n in names if modes[n] == "OUTPUT")
        self.dtypes = {n: getattr(self._torch, dtype_name(engine.get_tensor_dtype(n))) for n in names}
        low, _, high = (tuple(d) for d in engine.get_tensor_profile_shape(self.input_name, 0))
        self.min_batch, self.max_batch = low[0], high[0]
        declared = tuple(engine.get_tensor_shape(self.input_name))
        self.fixed_batch = declared[0] if declared[0] > 0 else None

    def _bind(self, shape: tuple[int, ...]) -> DeviceBuffers:
        """Buffers for ``shape``, with TensorRT's input shape and tensor addresses pointing at them."""
        context = self.context
        buffers = self._bound.get(shape)
        if buffers is None:
            context.set_input_shape(self.input_name, shape)
            outputs = {n: (tuple(context.get_tensor_shape(n)), self.dtypes[n]) for n in self.output_names}
            buffers = DeviceBuffers(self._torch, self._device, self.stream, input_shape=shape,
                                    input_dtype=self.dtypes[self.input_name], outputs=outputs)
            self._bound[shape] = buffers
        if self._current != shape:
            context.set_input_shape(self.input_name, shape)
            context.set_tensor_address(self.input_name, buffers.device_in.data_ptr())
            for name, tensor in buffers.device_out.items():
                context.set_tensor_address(name, tensor.data_ptr())
            self._current = shape
        return buffers

    def _prepare(self, feeds: dict[str, np.ndarray]) -> DeviceBuffers:
        x = feeds[self.input_name]
        batch = x.shape[0]
        self.check_batch(batch)
        if batch < self.min_batch:
            raise BackendError(f"{self.artifact} takes batches of at least {self.min_batch}, not {batch}; rebuild it "
                               f"with a smaller --batch minimum.")
        buffers = self._bind(tuple(int(d) for d in x.shape))
        buffers.load(x)
        return buffers

    def _launch(self) -> None:
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise BackendError(f"TensorRT failed to run {self.artifact}: {last_error(self.logger, 'no reason given')}.")

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._prepare(feeds).run(self._launch)

    def timed(self, feeds: dict[str, np.ndarray], iterations: int) -> Timing:
        """CUDA events around the copy in, the engine and the copy out of each iteration, on the runner's stream."""
        return self._prepare(feeds).timed(self._launch, iterations)

    def describe(self) -> dict[str, str]:
        info = {**super().describe(), "tensorrt": self.trt.__version__, "gpu": self.gpu_name,
                "batch": f"{self.min_batch}..{self.max_batch}"}
        if self.sidecar is not None:
            info.update(engine_key=self.sidecar.key[:12], built_for=f"{self.sidecar.gpu_name} "
                        f"sm {self.sidecar.compute_capability}")
        else:
            info["sidecar"] = "none (trusted)"
        return info

    def close(self) -> None:
        self._bound.clear()
        self.context = None
        self.engine = None
        self.runtime = None
