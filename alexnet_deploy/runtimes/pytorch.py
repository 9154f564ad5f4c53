"""PyTorch backends: ``torch-cpu`` and ``torch-cuda``, the reference every other backend is held to.

On CUDA, ``precision="fp16"`` runs under autocast (LRN stays fp32 there: the
op registers fp32 for autocast, since its sum of squares overflows fp16),
``channels_last`` changes the memory format, and ``cuda_graphs`` replays one
captured graph per batch shape. ``timed`` on CUDA keeps the input on the device
and measures host-to-device, compute and device-to-host with CUDA events.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from alexnet_deploy.artifacts.kinds import describe
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.base import Runner, Timing, time_calls

PRECISIONS = ("fp32", "fp16")


def load_module(artifact: Any) -> nn.Module:
    """The eval-mode model of a checkpoint path, a Checkpoint, or an nn.Module as it is."""
    if isinstance(artifact, nn.Module):
        return artifact.eval()
    if isinstance(artifact, (str, os.PathLike)):
        from alexnet_deploy.artifacts.checkpoint import load_checkpoint

        artifact = load_checkpoint(artifact)
    return artifact.build_model()


class TorchRunner(Runner):
    """A PyTorch model on the CPU or one CUDA GPU."""

    def __init__(self, artifact: Any, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
                 channels_last: bool = False, cuda_graphs: bool = False) -> None:
        if precision not in PRECISIONS:
            raise BackendError(f"PyTorch runs fp32 or fp16 models, not {precision!r}.")
        on_cuda = device.startswith("cuda")
        if on_cuda and not torch.cuda.is_available():
            raise BackendError("torch-cuda needs a CUDA GPU, and torch sees none here; use torch-cpu.")
        if not on_cuda and (precision != "fp32" or cuda_graphs):
            raise BackendError("fp16 and CUDA graphs are for torch-cuda; torch-cpu runs fp32.")
        self.name = "torch-cuda" if on_cuda else "torch-cpu"
        self._device = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device(device)
        self.device = str(self._device)
        self.precision, self.channels_last, self.cuda_graphs = precision, channels_last, cuda_graphs
        self.artifact = describe(artifact)
        self._saved_threads = torch.get_num_threads()
        self.threads = threads
        if threads:
            torch.set_num_threads(threads)  # process-wide: restored on close
        self.model = load_module(artifact).to(self._device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._graphs: dict[tuple[int, ...], tuple[Any, torch.Tensor, torch.Tensor]] = {}

    def _autocast(self):
        if self.precision == "fp16":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self._device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cuda_graphs:
            return self._replay(x)
        with self._autocast():
            return self.model(x)

    def _replay(self, x: torch.Tensor) -> torch.Tensor:
        """Replay the graph captured for this shape (captured on first use, after a warm-up on a side stream)."""
        key = tuple(x.shape)
        if key not in self._graphs:
            static_in = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), self._autocast():
                for _ in range(3):
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), self._autocast():
                static_out = self.model(static_in)
            self._graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = self._prepare(torch.from_numpy(np.ascontiguousarray(feeds[self.input_name], dtype=np.float32)))
        out = self._forward(x)
        return {self.output_names[0]: out.float().cpu().numpy()}

    def timed(self, feeds: dict[str, np.ndarray], iterations: int) -> Timing:
        host = torch.from_numpy(np.ascontiguousarray(feeds[self.input_name], dtype=np.float32))
        if self._device.type == "cpu":
            return time_calls(lambda: self._forward(host), iterations)
        return self._timed_cuda(host, iterations)

    def _timed_cuda(self, host: torch.Tensor, iterations: int) -> Timing:
        """CUDA events around the copy in, the forward pass and the copy out of every iteration."""
        pinned = host.pin_memory()
        x = self._prepare(pinned)
        out_host = torch.empty_like(self._forward(x), device="cpu").pin_memory()
        events = [[torch.cuda.Event(enable_timing=True) for _ in range(4)] for _ in range(iterations)]
        torch.cuda.synchronize(self._device)
        for e in events:
            e[0].record()
            x.copy_(pinned, non_blocking=True)
            e[1].record()
            out = self._forward(x)
            e[2].record()
            out_host.copy_(out, non_blocking=True)
            e[3].record()
        torch.cuda.synchronize(self._device)
        ms = np.array([[e[i].elapsed_time(e[i + 1]) for i in range(3)] for e in events]) / 1e3
        return Timing(total=tuple(ms.sum(axis=1)), h2d=tuple(ms[:, 0]), compute=tuple(ms[:, 1]), d2h=tuple(ms[:, 2]))

    def describe(self) -> dict[str, str]:
        info = {**super().describe(), "torch": torch.__version__, "threads": str(torch.get_num_threads())}
        if self._device.type == "cuda":
            info.update(gpu=torch.cuda.get_device_name(self._device), channels_last=str(self.channels_last),
                        cuda_graphs=str(self.cuda_graphs))
        return info

    def close(self) -> None:
        if self.threads:
            torch.set_num_threads(self._saved_threads)
        self._graphs.clear()
        self.model = None
