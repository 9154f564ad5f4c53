"""The Runner protocol: one model on one backend, numpy in, numpy out.

Every stage that runs a model (export parity, fp16 check, INT8 accuracy,
evaluation, verify, bench) goes through a Runner, so there is one scoring path
and one place per backend that knows its API.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Per-iteration seconds of a timed run; the split where the backend can measure it."""

    total: tuple[float, ...]  # what one iteration took, as the caller waited for it
    h2d: tuple[float, ...] | None = None  # host-to-device copy (GPU backends)
    compute: tuple[float, ...] | None = None  # compute alone (CUDA events on a GPU)
    d2h: tuple[float, ...] | None = None  # device-to-host copy


class Runner(abc.ABC):
    """One model on one backend: a context manager over ``dict[str, ndarray]`` feeds and outputs."""

    name: str = ""  # registry name: "torch-cpu", "ort-cuda", "openvino", "trt", ...
    device: str = "cpu"  # "cpu" or "cuda:N"
    precision: str = "fp32"  # "fp32" | "fp16" | "int8"
    artifact: str = ""  # the path it runs, or a description of an in-memory model
    input_name: str = "input"
    output_names: tuple[str, ...] = ("logits",)
    fixed_batch: int | None = None  # the only batch a fixed-shape artifact takes; None when dynamic
    max_batch: int | None = None  # the largest batch it takes (a TensorRT profile's max); None: any

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free the session or model; the runner is not used afterwards."""

    @abc.abstractmethod
    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch: input name -> array in, output name -> array out (host memory)."""

    def timed(self, feeds: dict[str, np.ndarray], iterations: int) -> Timing:
        """Seconds per iteration with the data kept where the backend computes.

        CPU backends compute on host memory, so their compute-only time is
        ``infer`` itself; GPU backends override this with CUDA-event timing.
        """
        return time_calls(lambda: self.infer(feeds), iterations)

    def describe(self) -> dict[str, str]:
        """What a report records about this runner: backend, device, precision, versions, settings."""
        return {"backend": self.name, "device": self.device, "precision": self.precision, "artifact": self.artifact}

    def check_batch(self, batch: int) -> None:
        """Refuse a batch this artifact cannot take (BackendError names the batches it can)."""
        from alexnet_deploy.errors import BackendError

        if self.fixed_batch is not None and batch != self.fixed_batch:
            raise BackendError(f"{self.artifact} has a fixed batch of {self.fixed_batch} and cannot run batch {batch}; "
                               f"re-export it with a dynamic batch or ask for batch {self.fixed_batch}.")
        if self.max_batch is not None and batch > self.max_batch:
            raise BackendError(f"{self.artifact} takes batches of at most {self.max_batch}, not {batch}; "
                               f"rebuild it with a larger profile or ask for a smaller batch.")


def time_calls(call: Callable[[], object], iterations: int) -> Timing:
    """``perf_counter`` around each of ``iterations`` calls: the timing of host-side backends."""
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return Timing(total=tuple(times))


def run_batches(runner: Runner, images: np.ndarray, *, chunk: int = 16) -> Iterator[dict[str, np.ndarray]]:
    """Every output of ``runner`` for ``images`` (N, 3, S, S), chunk by chunk.

    A fixed-batch artifact gets chunks of exactly its batch (the last one
    padded with copies of its final image, whose results are dropped).
    """
    size = runner.fixed_batch or min(chunk, runner.max_batch or chunk)
    for lo in range(0, len(images), size):
        part = images[lo : lo + size]
        real = len(part)
        if runner.fixed_batch and real < runner.fixed_batch:
            part = np.concatenate([part, np.repeat(part[-1:], runner.fixed_batch - real, axis=0)])
        outputs = runner.infer({runner.input_name: np.ascontiguousarray(part, dtype=np.float32)})
        yield {name: value[:real] for name, value in outputs.items()}


def logits(runner: Runner, images: np.ndarray, *, chunk: int = 16) -> np.ndarray:
    """The first output of ``runner`` (the logits) for all ``images``, as float32."""
    name = runner.output_names[0]
    parts = [batch[name].astype(np.float32) for batch in run_batches(runner, images, chunk=chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
