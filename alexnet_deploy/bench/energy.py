"""Energy counters read around a timed window: NVML on NVIDIA GPUs, RAPL on x86 CPUs.

The accepted informative method (MLPerf Power itself uses a wall meter):
read a cumulative energy counter before and after a window of several seconds,
and subtract an idle baseline of the same length measured just before, so the
figure is what the model costs rather than what the device burns anyway.

* NVML ``nvmlDeviceGetTotalEnergyConsumption``: millijoules since the driver
  loaded, Volta and newer, the whole board; it updates every 20-100 ms, hence
  the minimum window.
* RAPL ``/sys/class/powercap/intel-rapl:N/energy_uj``: microjoules per CPU
  package (AMD exposes it there too), every process on the package included;
  it wraps at ``max_energy_range_uj``. Often readable by root only.

Anything else is "not measured here", with the reason.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from alexnet_deploy.errors import MissingDependencyError

POWERCAP = Path("/sys/class/powercap")
MIN_WINDOW_S = 1.0  # NVML's counter moves every 20-100 ms: shorter windows are mostly quantisation


@dataclass
class EnergyRecord:
    """Energy of one timed window, or why it was not measured."""

    measured: bool
    reason: str = ""  # why not, when not measured
    source: str = ""  # "nvml" | "rapl"
    scope: str = ""  # what the counter covers
    window_s: float = 0.0
    joules: float = 0.0  # read over the timed window
    idle_watts: float = 0.0  # the baseline, from an idle window of the same length
    average_watts: float = 0.0  # joules / window_s
    images: int = 0
    joules_per_image: float | None = None  # (joules - idle_watts * window_s) / images

    @classmethod
    def not_measured(cls, reason: str) -> "EnergyRecord":
        return cls(measured=False, reason=reason)


class RaplCounter:
    """Package energy summed over every top-level ``intel-rapl:N`` zone, wraps included."""

    source, scope = "rapl", "CPU package(s), every process on them (RAPL)"

    def __init__(self, zones: list[Path]) -> None:
        self.zones = zones
        self.ranges = [int((zone / "max_energy_range_uj").read_text()) for zone in zones]
        self.last = [self._raw(zone) for zone in zones]
        self.total_uj = 0

    @staticmethod
    def _raw(zone: Path) -> int:
        return int((zone / "energy_uj").read_text())

    def read_joules(self) -> float:
        """Joules since this counter was made; a counter that went down wrapped once at its range."""
        for i, zone in enumerate(self.zones):
            raw = self._raw(zone)
            delta = raw - self.last[i]
            self.total_uj += delta if delta >= 0 else delta + self.ranges[i]
            self.last[i] = raw
        return self.total_uj / 1e6

    def close(self) -> None:
        pass


def rapl_counter(root: Path = POWERCAP) -> tuple[RaplCounter | None, str]:
    """A RaplCounter over the packages under ``root``, or None and why not."""
    if not root.is_dir():
        return None, (f"{root} does not exist: the kernel exposes no powercap (RAPL) counters here "
                      f"(not an x86 CPU with RAPL, or a container or VM that hides them)")
    zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)  # packages, not sub-zones
    if not zones:
        return None, f"{root} has no intel-rapl:N package zones (no RAPL driver for this CPU)"
    try:
        return RaplCounter(zones), ""
    except PermissionError:
        return None, (f"{zones[0] / 'energy_uj'} is readable by root only on this machine (run as root, or "
                      f"grant read access to energy_uj)")
    except (OSError, ValueError) as exc:
        return None, f"{zones[0] / 'energy_uj'} cannot be read ({type(exc).__name__}: {exc})"


class NvmlCounter:
    """NVML's total-energy counter of one GPU (millijoules since the driver loaded)."""

    source, scope = "nvml", "GPU board (NVML total energy)"

    def __init__(self, nvml, handle) -> None:
        self.nvml, self.handle = nvml, handle

    def read_joules(self) -> float:
        return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1e3

    def close(self) -> None:
        self.nvml.nvmlShutdown()


def nvml_handle(nvml, cuda_index: int):
    """The NVML handle of CUDA device ``cuda_index``, following CUDA_VISIBLE_DEVICES (indices or UUIDs)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if cuda_index < len(visible):
        entry = visible[cuda_index]
        if entry.isdigit():
            return nvml.nvmlDeviceGetHandleByIndex(int(entry))
        return nvml.nvmlDeviceGetHandleByUUID(entry)
    return nvml.nvmlDeviceGetHandleByIndex(cuda_index)


def nvml_counter(cuda_index: int) -> tuple[NvmlCounter | None, str]:
    """An NvmlCounter for CUDA device ``cuda_index``, or None and why not."""
    from alexnet_deploy.core.lazy import lazy_import

    try:
        nvml = lazy_import("pynvml", purpose="GPU energy")
    except MissingDependencyError:
        return None, "NVML's Python bindings are not installed (pip install nvidia-ml-py)"
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"NVML cannot start ({exc}): no NVIDIA driver here"
    try:
        handle = nvml_handle(nvml, cuda_index)
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:  # NVMLError_NotSupported on GPUs older than Volta
        nvml.nvmlShutdown()
        return None, f"this GPU has no readable total-energy counter ({exc}; Volta or newer needed)"
    return NvmlCounter(nvml, handle), ""


def counter_for(device: str, *, powercap: Path = POWERCAP):
    """The energy counter for a runner's device (``cpu`` or ``cuda:N``), or None and why not."""
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        return nvml_counter(index)
    return rapl_counter(powercap)


def idle_watts(counter, seconds: float) -> float:
    """Average watts while nothing of ours runs, over ``seconds``."""
    start_j, start = counter.read_joules(), time.perf_counter()
    time.sleep(seconds)
    return (counter.read_joules() - start_j) / (time.perf_counter() - start)


def energy_of_window(counter, *, joules: float, window_s: float, idle_w: float, images: int) -> EnergyRecord:
    """The record of a window that drew ``joules`` in ``window_s`` seconds for ``images`` images."""
    net = joules - idle_w * window_s
    return EnergyRecord(measured=True, source=counter.source, scope=counter.scope, window_s=window_s, joules=joules,
                        idle_watts=idle_w, average_watts=joules / window_s if window_s > 0 else 0.0, images=images,
                        joules_per_image=net / images if images else None)
