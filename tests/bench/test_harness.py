"""The harness on a real onnxruntime session: warm-up by time, the window's two floors, every latency kept."""

from __future__ import annotations

import time

import numpy as np
import pytest

from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.energy import rapl_counter
from alexnet_deploy.bench.harness import measure, timed_window, warm_up
from alexnet_deploy.runtimes.base import Timing
from alexnet_deploy.runtimes.registry import open_runner
from tests.builders import tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("harness") / "tiny.onnx")


def _feeds(batch=1):
    return {"input": np.random.default_rng(0).standard_normal((batch, 3, 32, 32), dtype=np.float32)}


def test_warm_up_runs_for_its_time_and_at_least_once():
    calls = []

    def step(n):
        calls.append(n)
        time.sleep(0.01)
        return Timing(total=(0.01,) * n)

    iterations, seconds, last = warm_up(step, 0.05)
    assert iterations == len(calls) >= 1 and set(calls) == {1} and seconds >= 0.05 and last == 0.01
    assert warm_up(step, 0.0)[0] == 1


def test_the_window_holds_min_iterations_and_duration():
    def step(n):
        time.sleep(n * 1e-4)
        return Timing(total=tuple([1e-4] * n))

    timings, wall = timed_window(step, config=BenchConfig(duration_s=0.0, min_iterations=37), per_iteration_s=1e-4)
    assert sum(len(t.total) for t in timings) >= 37
    timings, wall = timed_window(step, config=BenchConfig(duration_s=0.05, min_iterations=1), per_iteration_s=1e-4)
    assert wall >= 0.05
    capped, _ = timed_window(step, config=BenchConfig(duration_s=10, min_iterations=1, max_iterations=500),
                             per_iteration_s=1e-4)
    assert sum(len(t.total) for t in capped) == 500


def test_end_to_end_on_onnxruntime_keeps_every_latency(tiny):
    config = BenchConfig(warmup_s=0.05, duration_s=0.1, min_iterations=20, threads=1)
    with open_runner("ort-cpu", tiny, threads=1, spinning=False) as runner:
        m = measure(runner, _feeds(2), config=config, batch=2, on_gpu=False)
    window = m.end_to_end
    assert len(window.total_s) >= 20 and all(t > 0 for t in window.total_s)
    assert window.warmup_iterations >= 1 and window.wall_s >= 0.1
    assert sum(window.total_s) <= window.wall_s  # each latency sits inside the window
    assert m.compute is None  # a CPU backend's compute-only time is its end-to-end time
    assert not m.energy.measured and "off" in m.energy.reason


def test_compute_window_and_energy_where_asked(tiny, tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("0\n")
    (zone / "max_energy_range_uj").write_text("1000000000\n")
    counter, _ = rapl_counter(tmp_path)
    config = BenchConfig(warmup_s=0.0, duration_s=1.0, min_iterations=5, threads=1)
    with open_runner("ort-cpu", tiny, threads=1, spinning=False) as runner:
        # on_gpu asks for the compute-only window through Runner.timed (as GPU runners are timed).
        m = measure(runner, _feeds(), config=config, batch=1, on_gpu=True, counter=counter)
    assert m.compute is not None and len(m.compute.total_s) >= 5 and m.compute.compute_s is None
    assert m.energy.measured and m.energy.window_s >= 1.0 and m.energy.images == len(m.end_to_end.total_s)


def test_a_window_too_short_for_the_counter_is_not_measured(tiny, tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("0\n")
    (zone / "max_energy_range_uj").write_text("10\n")
    counter, _ = rapl_counter(tmp_path)
    with open_runner("ort-cpu", tiny, threads=1) as runner:
        m = measure(runner, _feeds(), config=BenchConfig(warmup_s=0, duration_s=0.1, min_iterations=3), batch=1,
                    on_gpu=False, counter=counter)
    assert not m.energy.measured and "too short" in m.energy.reason
