"""``quantize --target trt|cpu|all``: which INT8 layouts to write from one calibration, and where.

``all`` writes the TensorRT layout at ``out`` (as before) and the CPU layout
beside it as ``<stem>.int8-cpu.onnx``; the second build reuses the cached
calibration ranges (with ``--data`` each build scores its own rows, the FP32
and FP16 ones included, so each result stands on its own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_deploy.artifacts.paths import check_output
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError
from alexnet_deploy.precision.quantize import Int8Result

TARGETS = {"trt": ("trt",), "cpu": ("cpu",), "all": ("trt", "cpu")}


def cpu_sibling(out: str | os.PathLike) -> Path:
    """``models/alexnet.int8.onnx`` -> ``models/alexnet.int8-cpu.onnx``; any other name gets ``-cpu`` before .onnx."""
    out = Path(out)
    if out.name.endswith(".int8.onnx"):
        return out.with_name(out.name[: -len(".onnx")] + "-cpu.onnx")
    stem = out.name[: -len(".onnx")] if out.name.endswith(".onnx") else out.name
    return out.with_name(f"{stem}-cpu.onnx")


def target_outputs(out: str | os.PathLike, target: str) -> dict[str, Path]:
    """layout -> output path for ``target``: ``out`` itself unless ``all`` puts the CPU layout beside it."""
    if target not in TARGETS:
        raise InputError(f"Unknown --target {target!r}; choose one of: {', '.join(TARGETS)}.")
    layouts = TARGETS[target]
    if len(layouts) == 1:
        return {layouts[0]: Path(out)}
    return {"trt": Path(out), "cpu": cpu_sibling(out)}


@dataclass
class Int8Build(Result):
    """Every layout one ``quantize`` run wrote; truthy when every build passed its checks."""

    target: str
    results: list[Int8Result] = field(default_factory=list)

    def failures(self) -> list[str]:
        """Each build's failures; named by layout when there is more than one."""
        if len(self.results) == 1:
            return self.results[0].failures()
        return [f"{r.layout} layout: {f}" for r in self.results for f in r.failures()]


def build_targets(onnx_path: str | os.PathLike, calib: str | os.PathLike, out: str | os.PathLike, *,
                  target: str = "all", **options) -> Int8Build:
    """``build_int8`` once per layout of ``target``; ``options`` are passed on (config, cache_dir, data_dir, ...).

    Every output path is checked before the first build starts, so a refused
    second path leaves nothing half-done.
    """
    from alexnet_deploy.precision.quantize import build_int8

    outputs = target_outputs(out, target)
    for path in outputs.values():
        check_output(path, example="model.int8.onnx", inputs={"the FP32 model": onnx_path})
    build = Int8Build(target=target)
    for layout, path in outputs.items():
        build.results.append(build_int8(onnx_path, calib, path, layout=layout, **options))
    return build
