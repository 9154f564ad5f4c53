"""The timing harness: warm-up by time, then a timed window of at least ``duration`` and ``min_iterations``.

It drives a Runner through two doors. End-to-end is ``infer`` (numpy in, numpy
out: what a caller waits for), timed with ``perf_counter`` around each call.
Compute-only is ``Runner.timed`` (data kept on the device; CUDA events with the
host-to-device / compute / device-to-host split on a GPU); it is timed as a
second window only for runners on a GPU, since a CPU backend computes on host
memory and its compute-only time is its end-to-end time.

Iterations are asked for in chunks of about 0.1 s so that the loop's own
overhead stays out of every latency and the window ends close to ``duration``.
An energy counter, when given, is read around the end-to-end window after an
idle baseline of the same length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.energy import MIN_WINDOW_S, EnergyRecord, energy_of_window, idle_watts
from alexnet_deploy.runtimes.base import Runner, Timing, time_calls

CHUNK_S = 0.1  # seconds of iterations per call into the runner
MAX_CHUNK = 1000

Step = Callable[[int], Timing]  # n iterations -> their timing


@dataclass
class Window:
    """Per-iteration seconds of one timed window (the split where the runner gives it)."""

    total_s: list[float]
    wall_s: float  # the window's wall clock, loop overhead included
    warmup_iterations: int
    warmup_s: float
    h2d_s: list[float] | None = None
    compute_s: list[float] | None = None
    d2h_s: list[float] | None = None

    def medians_ms(self) -> dict[str, float]:
        parts = {"total": self.total_s, "h2d": self.h2d_s, "compute": self.compute_s, "d2h": self.d2h_s}
        return {k: float(np.median(v)) * 1e3 for k, v in parts.items() if v}


@dataclass
class Measurement:
    end_to_end: Window
    compute: Window | None
    energy: EnergyRecord


def warm_up(step: Step, seconds: float) -> tuple[int, float, float]:
    """Run single iterations until ``seconds`` passed (at least one); (iterations, seconds, last iteration's s)."""
    start = time.perf_counter()
    count, last = 0, 0.0
    while True:
        last = step(1).total[0]
        count += 1
        if time.perf_counter() - start >= seconds:
            return count, time.perf_counter() - start, last


def timed_window(step: Step, *, config: BenchConfig, per_iteration_s: float) -> tuple[list[Timing], float]:
    """Chunks of iterations until the window lasted ``duration_s`` and held ``min_iterations``."""
    chunk = int(min(MAX_CHUNK, max(1, CHUNK_S / max(per_iteration_s, 1e-7))))
    timings: list[Timing] = []
    done = 0
    start = time.perf_counter()
    while done < config.max_iterations and (done < config.min_iterations
                                            or time.perf_counter() - start < config.duration_s):
        n = min(chunk, config.max_iterations - done)
        timings.append(step(n))
        done += n
    return timings, time.perf_counter() - start


def _window(step: Step, config: BenchConfig, *, around: Callable | None = None) -> tuple[Window, tuple | None]:
    iterations, warm_s, last = warm_up(step, config.warmup_s)
    before = around() if around else None
    timings, wall = timed_window(step, config=config, per_iteration_s=last)
    after = around() if around else None

    def joined(part: str) -> list[float] | None:
        values = [getattr(t, part) for t in timings]
        return [round(float(x), 9) for v in values for x in v] if all(v is not None for v in values) else None

    window = Window(total_s=joined("total") or [], wall_s=wall, warmup_iterations=iterations, warmup_s=warm_s,
                    h2d_s=joined("h2d"), compute_s=joined("compute"), d2h_s=joined("d2h"))
    return window, (before, after) if around else None


def measure(runner: Runner, feeds: dict[str, np.ndarray], *, config: BenchConfig, batch: int, on_gpu: bool,
            counter=None, no_counter_reason: str = "") -> Measurement:
    """Time ``runner`` on ``feeds``: end-to-end, compute-only on a GPU, energy when ``counter`` reads."""
    energy = EnergyRecord.not_measured(no_counter_reason or "energy measurement is off (--no-energy)")
    idle_w = None
    if counter is not None and config.duration_s < MIN_WINDOW_S:
        energy = EnergyRecord.not_measured(f"the timed window ({config.duration_s:g} s) is shorter than "
                                           f"{MIN_WINDOW_S:g} s, too short for the energy counter's update rate")
        counter = None
    if counter is not None:
        idle_w = idle_watts(counter, config.duration_s)  # before the warm-up: the device idles, model loaded
    end_to_end, reads = _window(lambda n: time_calls(lambda: runner.infer(feeds), n), config,
                                around=counter.read_joules if counter is not None else None)
    if counter is not None and reads is not None and idle_w is not None:
        images = batch * len(end_to_end.total_s)
        energy = energy_of_window(counter, joules=reads[1] - reads[0], window_s=end_to_end.wall_s, idle_w=idle_w,
                                  images=images)
    compute = _window(lambda n: runner.timed(feeds, n), config)[0] if on_gpu else None
    return Measurement(end_to_end=end_to_end, compute=compute, energy=energy)
