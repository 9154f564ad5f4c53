"""The pure decisions of an engine build: options, network flags, builder settings, profile shapes.

Nothing here creates a TensorRT object, so all of it is tested on machines
without a GPU against the real enums of every supported TensorRT version
(functions that need enums take the ``tensorrt`` module as an argument).

One build path for TensorRT 10 and 11: a strongly typed network parsed from an
ONNX model that already carries its precision (fp16 casts, or Q/DQ for INT8).
No FP16/INT8 builder flags (11 removed them) and no calibrator (11 removed
those too); every enum is looked up by name, because their integer values
differ between versions (STRONGLY_TYPED is 1 in 10.x and 0 in 11.x).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from alexnet_deploy.errors import InputError

PRECISIONS = ("fp32", "fp16", "int8")
OPT_LEVELS = range(0, 6)  # TensorRT's builder optimization levels; 3 is its default
DEFAULT_OPT_LEVEL = 3
DEFAULT_WORKSPACE = 2 << 30
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine takes: the optimization profile's min, opt (tuned for) and max."""

    min: int = 1
    opt: int = 8
    max: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise InputError(f"A batch profile needs 1 <= min <= opt <= max, got {self}; "
                             f"write it as MIN:OPT:MAX, e.g. 1:8:32.")

    def __str__(self) -> str:
        return f"{self.min}:{self.opt}:{self.max}"


def parse_batch(text: str) -> BatchProfile:
    """``"1:8:32"`` -> BatchProfile(1, 8, 32); ``"4"`` -> BatchProfile(4, 4, 4)."""
    parts = text.split(":")
    if len(parts) not in (1, 3) or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--batch {text!r} is not MIN:OPT:MAX (e.g. 1:8:32) or a single batch size.")
    values = [int(p) for p in parts]
    return BatchProfile(*values) if len(values) == 3 else BatchProfile(values[0], values[0], values[0])


def parse_size(text: str) -> int:
    """``"4G"`` -> 4 GiB in bytes; also ``512M``, ``1.5G``, ``4GiB``, plain bytes."""
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"--workspace {text!r} is not a size such as 512M, 4G or a number of bytes.")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size < 1 << 20:
        raise InputError(f"--workspace {text!r} is under 1 MiB; TensorRT needs room for its tactics (try 1G or more).")
    return size


@dataclass(frozen=True)
class BuildOptions:
    """Everything that shapes an engine besides the ONNX model, the TensorRT version and the GPU."""

    precision: str = "fp32"
    batch: BatchProfile | None = None  # None: the ONNX model's fixed batch, else BatchProfile()
    workspace: int = DEFAULT_WORKSPACE
    opt_level: int = DEFAULT_OPT_LEVEL

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"Engine precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}.")
        if self.opt_level not in OPT_LEVELS:
            raise InputError(f"--opt-level must be 0 to 5 (TensorRT's default is 3), not {self.opt_level}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the cache key and the sidecar."""
        batch = [self.batch.min, self.batch.opt, self.batch.max] if self.batch else None
        return {"precision": self.precision, "batch": batch, "workspace": self.workspace, "opt_level": self.opt_level}


def network_flags(trt: ModuleType) -> int:
    """``create_network`` flags: strongly typed, by name (10.x: bit 1; 11.x accepts bit 0 and ignores it)."""
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


@dataclass(frozen=True)
class BuilderSettings:
    """What ``apply_settings`` sets on an IBuilderConfig, enums already resolved for one TensorRT version."""

    memory_pool_limits: tuple[tuple[Any, int], ...]  # (MemoryPoolType member, bytes)
    optimization_level: int
    profiling_verbosity: Any  # ProfilingVerbosity member


def builder_settings(trt: ModuleType, options: BuildOptions) -> BuilderSettings:
    """The builder configuration for ``options``: workspace limit, optimization level, detailed layer info.

    DETAILED profiling verbosity is what lets the engine inspector report each
    layer's precision; it adds layer names and parameters to the plan, not
    work at run time.
    """
    return BuilderSettings(
        memory_pool_limits=((trt.MemoryPoolType.WORKSPACE, options.workspace),),
        optimization_level=options.opt_level,
        profiling_verbosity=trt.ProfilingVerbosity.DETAILED,
    )


@dataclass(frozen=True)
class ProfileShapes:
    """min/opt/max input shapes of the one optimization profile."""

    input_name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def profile_shapes(input_name: str, input_dims: tuple[Any, ...], *, batch: BatchProfile | None,
                   input_size: int) -> ProfileShapes:
    """Profile shapes from the ONNX input's dims (``("N", 3, 224, 224)`` or ``(4, 3, 224, 224)``).

    A dynamic batch takes ``batch`` (default 1:8:32). A fixed batch N takes
    only N:N:N, so asking for another profile is refused rather than ignored.
    Symbolic height or width fall back to the model's ``input_size``.
    """
    if len(input_dims) != 4:
        raise InputError(f"Input {input_name!r} has {len(input_dims)} dimensions; an image model takes N x 3 x H x W.")
    first, channels, height, width = input_dims
    rest = (_fixed(channels, 3), _fixed(height, input_size), _fixed(width, input_size))
    if isinstance(first, int) and first > 0:
        if batch is not None and (batch.min, batch.opt, batch.max) != (first, first, first):
            raise InputError(f"The ONNX model has a fixed batch of {first}, so --batch {batch} cannot apply; drop "
                             f"--batch or re-export with a dynamic batch.")
        batch = BatchProfile(first, first, first)
    batch = batch or BatchProfile()
    return ProfileShapes(input_name, (batch.min, *rest), (batch.opt, *rest), (batch.max, *rest))


def _fixed(dim: Any, default: int) -> int:
    return dim if isinstance(dim, int) and dim > 0 else default


def default_engine_path(onnx_path: str | Path, precision: str) -> Path:
    """``models/alexnet.onnx`` or ``models/alexnet.int8.onnx`` -> ``models/alexnet.<precision>.engine``."""
    path = Path(onnx_path)
    stem = path.name.removesuffix(".onnx")
    for tag in PRECISIONS:
        stem = stem.removesuffix(f".{tag}")
    return path.with_name(f"{stem}.{precision}.engine")
