"""Energy counters: RAPL read from a powercap tree (wraps included), NVML where a GPU is, and the reasons why not."""

from __future__ import annotations

import importlib.util
import time

import pytest

from alexnet_deploy.bench.energy import (
    EnergyRecord,
    counter_for,
    energy_of_window,
    idle_watts,
    nvml_counter,
    rapl_counter,
)


def _zone(root, name, energy_uj, max_uj=1_000_000):
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def test_rapl_sums_packages_and_survives_a_wrap(tmp_path):
    package0 = _zone(tmp_path, "intel-rapl:0", 900_000)
    package1 = _zone(tmp_path, "intel-rapl:1", 10)
    _zone(tmp_path, "intel-rapl:0:0", 5)  # a sub-zone (core) inside package 0: not counted twice
    counter, reason = rapl_counter(tmp_path)
    assert reason == "" and [z.name for z in counter.zones] == ["intel-rapl:0", "intel-rapl:1"]
    assert counter.read_joules() == 0.0
    (package0 / "energy_uj").write_text("100000\n")  # wrapped at 1,000,000: 200,000 uJ went by
    (package1 / "energy_uj").write_text("300010\n")
    assert counter.read_joules() == pytest.approx(0.5)
    (package0 / "energy_uj").write_text("150000\n")
    assert counter.read_joules() == pytest.approx(0.55)


def test_rapl_says_why_not(tmp_path):
    counter, reason = rapl_counter(tmp_path / "missing")
    assert counter is None and "does not exist" in reason
    counter, reason = rapl_counter(tmp_path)
    assert counter is None and "no intel-rapl:N package zones" in reason
    zone = tmp_path / "intel-rapl:0"
    (zone / "energy_uj").mkdir(parents=True)  # unreadable as a number
    (zone / "max_energy_range_uj").write_text("10\n")
    counter, reason = rapl_counter(tmp_path)
    assert counter is None and "cannot be read" in reason


def test_a_cpu_device_asks_rapl(tmp_path):
    counter, reason = counter_for("cpu", powercap=tmp_path / "none")
    assert counter is None and "powercap" in reason


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None, reason="nvidia-ml-py is installed here")
def test_without_nvml_bindings_the_reason_names_the_package():
    counter, reason = nvml_counter(0)
    assert counter is None and "pip install nvidia-ml-py" in reason


def test_idle_baseline_and_window_arithmetic(tmp_path):
    package = _zone(tmp_path, "intel-rapl:0", 0, max_uj=10**12)
    counter, _ = rapl_counter(tmp_path)
    # The counter file is what the kernel would show; here it stands still, so idle power is zero.
    assert idle_watts(counter, 0.01) == 0.0
    (package / "energy_uj").write_text("30000000\n")  # 30 J
    joules = counter.read_joules()
    record = energy_of_window(counter, joules=joules, window_s=2.0, idle_w=5.0, images=100)
    assert record.measured and record.source == "rapl" and "package" in record.scope
    assert record.average_watts == pytest.approx(15.0)
    assert record.joules_per_image == pytest.approx((30.0 - 10.0) / 100)
    assert not EnergyRecord.not_measured("why").measured


@pytest.mark.gpu
def test_nvml_energy_counter_moves_on_a_gpu():
    counter, reason = nvml_counter(0)
    if counter is None:
        pytest.skip(reason)
    try:
        first = counter.read_joules()
        time.sleep(0.5)
        assert counter.read_joules() >= first > 0
    finally:
        counter.close()
