"""Device buffers for one input shape: pinned host tensors, CUDA tensors, one stream, timed copies.

What a GPU engine needs around its own launch: the batch copied in, the
engine run on the stream, the outputs copied out, and, for benchmarks, CUDA
events splitting each iteration into host-to-device, compute and
device-to-host. torch is a dependency already, so its CUDA tensors and
streams serve (no pycuda or cupy). The launch itself is a callable, so the
same plumbing serves TensorRT's ``execute_async_v3`` and can be checked on a
GPU without TensorRT.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from alexnet_deploy.runtimes.base import Timing

Launch = Callable[[], None]  # enqueues the compute on the current stream (the buffers' stream)


class DeviceBuffers:
    """Buffers for one input shape: ``device_in``/``device_out`` are what the engine reads and writes."""

    def __init__(self, torch: Any, device: Any, stream: Any, *, input_shape: tuple[int, ...], input_dtype: Any,
                 outputs: dict[str, tuple[tuple[int, ...], Any]]) -> None:
        self.torch, self.stream = torch, stream
        self.shape = tuple(input_shape)
        self.device_in = torch.empty(self.shape, dtype=input_dtype, device=device)
        self.host_in = torch.empty(self.shape, dtype=input_dtype).pin_memory()
        self.device_out = {n: torch.empty(s, dtype=d, device=device) for n, (s, d) in outputs.items()}
        self.host_out = {n: torch.empty(s, dtype=d).pin_memory() for n, (s, d) in outputs.items()}

    def load(self, array: np.ndarray) -> None:
        """Put a batch into the pinned input buffer (converted to the engine's input type)."""
        if tuple(array.shape) != self.shape:
            raise ValueError(f"batch of shape {tuple(array.shape)} for buffers of shape {self.shape}")
        self.host_in.copy_(self.torch.from_numpy(np.ascontiguousarray(array)))

    def _copy_in(self) -> None:
        self.device_in.copy_(self.host_in, non_blocking=True)

    def _copy_out(self) -> None:
        for name, tensor in self.device_out.items():
            self.host_out[name].copy_(tensor, non_blocking=True)

    def run(self, launch: Launch) -> dict[str, np.ndarray]:
        """Copy in, launch, copy out on the stream; wait; the outputs as numpy arrays of their own."""
        with self.torch.cuda.stream(self.stream):
            self._copy_in()
            launch()
            self._copy_out()
        self.stream.synchronize()
        return {name: tensor.numpy().copy() for name, tensor in self.host_out.items()}

    def timed(self, launch: Launch, iterations: int) -> Timing:
        """Per-iteration seconds from CUDA events around the copy in, the launch and the copy out."""
        events = [[self.torch.cuda.Event(enable_timing=True) for _ in range(4)] for _ in range(iterations)]
        self.stream.synchronize()
        with self.torch.cuda.stream(self.stream):
            for marks in events:
                marks[0].record(self.stream)
                self._copy_in()
                marks[1].record(self.stream)
                launch()
                marks[2].record(self.stream)
                self._copy_out()
                marks[3].record(self.stream)
        self.stream.synchronize()
        ms = np.array([[m[i].elapsed_time(m[i + 1]) for i in range(3)] for m in events]).reshape(-1, 3) / 1e3
        return Timing(total=tuple(ms.sum(axis=1)), h2d=tuple(ms[:, 0]), compute=tuple(ms[:, 1]), d2h=tuple(ms[:, 2]))
