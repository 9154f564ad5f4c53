"""The machine a benchmark ran on: CPU, cores, GPU, driver, clocks, every runtime's version, the command.

A latency means little without it: the same model is 2x apart between a
laptop on battery and a server, and between two onnxruntime releases.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

# Distributions whose versions shape the figures (onnxruntime in any of its flavours).
RUNTIME_DISTRIBUTIONS = ("alexnet-deploy", "torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino",
                         "tensorrt", "tensorrt-cu12", "tensorrt-cu13", "nvidia-ml-py")


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed (program name shortened to its file name), quoted for a shell."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = Path(argv[0]).name
    return shlex.join(argv)


def runtime_versions() -> dict[str, str]:
    """Installed versions of the runtimes and libraries that matter, from package metadata (nothing imported)."""
    out = {"python": platform.python_version()}
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _cpuinfo(root: Path = Path("/proc/cpuinfo")) -> tuple[str, int | None]:
    """CPU model name and physical core count from /proc/cpuinfo (Linux); fallbacks elsewhere."""
    try:
        text = root.read_text()
    except OSError:
        return platform.processor() or platform.machine(), None
    model, cores, physical, core = "", set(), "0", "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and not model:
            model = value
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
            cores.add((physical, core))
    return model or platform.processor() or platform.machine(), len(cores) or None


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def cpu_record() -> dict[str, Any]:
    model, physical = _cpuinfo()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    return {"model": model, "logical_cores": os.cpu_count(), "physical_cores": physical, "usable_cores": usable,
            "frequency_governor": governor or "not exposed", "machine": platform.machine()}


def gpu_record() -> list[dict[str, Any]] | str:
    """Every NVIDIA GPU NVML sees (name, driver, clocks, power limit), or why there is no such list."""
    from alexnet_deploy.core.lazy import lazy_import
    from alexnet_deploy.errors import MissingDependencyError

    try:
        nvml = lazy_import("pynvml", purpose="the GPU record")
    except MissingDependencyError:
        return "NVML not available (pip install nvidia-ml-py on a machine with an NVIDIA GPU)"
    try:
        nvml.nvmlInit()
    except Exception as exc:  # no driver
        return f"NVML cannot start: {exc}"
    try:
        driver = nvml.nvmlSystemGetDriverVersion()
        gpus = []
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            entry: dict[str, Any] = {"index": i, "name": _text(nvml.nvmlDeviceGetName(handle)), "driver": _text(driver)}
            for what, clock in (("sm", nvml.NVML_CLOCK_SM), ("memory", nvml.NVML_CLOCK_MEM)):
                entry[f"{what}_clock_mhz"] = _safe(lambda c=clock: nvml.nvmlDeviceGetClockInfo(handle, c))
                entry[f"{what}_clock_max_mhz"] = _safe(lambda c=clock: nvml.nvmlDeviceGetMaxClockInfo(handle, c))
            entry["power_limit_w"] = _safe(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000)
            entry["temperature_c"] = _safe(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
            gpus.append(entry)
        return gpus
    finally:
        nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _safe(read) -> Any:
    try:
        return read()
    except Exception:  # a counter this GPU or driver does not offer
        return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS does not say): other work competes for the cores."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_record(*, threads: int, load_before: list[float] | None = None) -> dict[str, Any]:
    """CPU, cores, threads asked for, GPUs, OS, runtime versions, and the load average before and after."""
    return {"cpu": cpu_record(), "threads": threads, "gpus": gpu_record(), "os": platform.platform(),
            "versions": runtime_versions(), "load_average": {"before": load_before, "after": load_average()}}
