"""What one Triton model is made of: options, tensors, batching, and the files that go into its folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_deploy.errors import InputError

INSTANCE_KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU"}
LABELS_FILE = "labels.txt"
VERSION = "1"  # Triton loads the highest numbered version folder; we write one


@dataclass(frozen=True)
class TritonOptions:
    """How the repository serves its models.

    ``max_batch_size``: the most images Triton batches into one run; an ONNX
    model with a dynamic batch takes it as is, an engine at most its profile's
    max. ``onnx_kind``: where ONNX models run (engines always run on the GPU).
    ``instances``: model instances per model. ``max_queue_delay_us``: how long
    the dynamic batcher waits to fill a batch.
    """

    max_batch_size: int = 32
    onnx_kind: str = "gpu"
    instances: int = 1
    max_queue_delay_us: int = 100

    def __post_init__(self) -> None:
        if self.onnx_kind not in INSTANCE_KINDS:
            raise InputError(f"onnx_kind must be one of {', '.join(INSTANCE_KINDS)}, got {self.onnx_kind!r}.")
        for name in ("max_batch_size", "instances"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        if self.max_queue_delay_us < 0:
            raise InputError(f"max-queue-delay-us must be 0 or more, got {self.max_queue_delay_us}.")


@dataclass
class TensorConfig:
    """One input or output as config.pbtxt states it (dims without the batch when the model batches)."""

    name: str
    data_type: str  # Triton's name: TYPE_FP32, TYPE_FP16, ...
    dims: list[int]  # -1 for a dimension of any size
    label_filename: str = ""


@dataclass
class TritonModel:
    """One model of the repository, as written."""

    name: str
    artifact: str
    platform: str  # onnxruntime_onnx | tensorrt_plan
    backend: str  # onnxruntime | tensorrt
    max_batch_size: int  # 0: the model does not batch, dims are full shapes
    preferred_batch_sizes: list[int]
    inputs: list[TensorConfig]
    outputs: list[TensorConfig]
    instance_kind: str  # KIND_GPU | KIND_CPU
    instance_count: int
    max_queue_delay_us: int
    num_classes: int
    precision: str
    files: list[str]  # relative to the model's folder
    needs: str = ""  # engines: the TensorRT version and GPU they run on


@dataclass(frozen=True)
class ModelPlan:
    """A model ready to be written: its config, its class names and where each of its files comes from."""

    model: TritonModel
    class_names: tuple[str, ...]
    sources: dict[str, Path] = field(default_factory=dict)  # path in the model folder -> file to copy


def model_name(path: str | Path, *, suffix: str) -> str:
    """``models/alexnet.int8.onnx`` -> ``alexnet_int8_onnx``: the stem in characters Triton takes, a backend tag."""
    stem = Path(path).name
    stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix else stem
    return f"{re.sub(r'[^A-Za-z0-9_]+', '_', stem).strip('_') or 'model'}_{suffix}"


def label_outputs(outputs: list[TensorConfig], class_names: tuple[str, ...], *, where: str) -> None:
    """Point every output with one value per class at labels.txt; InputError when no output has one."""
    if any("\n" in name or "\r" in name for name in class_names):
        raise InputError(f"{where} has a class name with a line break, which labels.txt cannot hold; "
                         f"rename the class and re-export.")
    matched = [o for o in outputs if o.dims and o.dims[-1] == len(class_names)]
    if not matched:
        shapes = ", ".join(f"{o.name} {o.dims}" for o in outputs)
        raise InputError(f"{where} names {len(class_names)} classes but no output has that many values "
                         f"per image ({shapes}); re-export it from its checkpoint.")
    for output in matched:
        output.label_filename = LABELS_FILE
