"""What each artifact says about itself, and whether it belongs to the checkpoint it is verified against.

A model with another class count or input size cannot be compared with the
checkpoint at all (a user error); one made from another checkpoint file (its
``source_sha256`` differs) or with other class names or preprocessing can be,
but the figures may surprise, so it gets a warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alexnet_deploy.artifacts.kinds import CHECKPOINT, ENGINE, ONNX, artifact_kind
from alexnet_deploy.artifacts.layer_map import LAYERS_KEY, LayerTensor, decode_layers
from alexnet_deploy.artifacts.onnx_meta import ModelMeta, read_meta
from alexnet_deploy.errors import InputError


@dataclass(frozen=True)
class ArtifactInfo:
    """One artifact to verify: its kind, precision, self-description and layer map."""

    path: str
    kind: str  # checkpoint | onnx | engine
    precision: str  # fp32 | fp16 | int8 | unknown (an engine without a sidecar)
    meta: ModelMeta | None  # None when nothing describes it
    layers: tuple[LayerTensor, ...] = ()
    source_onnx: str = ""  # engines: the ONNX file they were built from, as the sidecar records it


def describe_artifact(path: str | os.PathLike) -> ArtifactInfo:
    """Read what ``path`` says about itself (no weights are loaded); InputError when it is missing or unknown."""
    file = Path(path)
    kind = artifact_kind(file)
    if not file.is_file():
        raise InputError(f"Artifact {file} does not exist; check the path.")
    if kind == ONNX:
        meta = read_meta(file)
        return ArtifactInfo(str(file), kind, meta.precision, meta, _layers(meta, file))
    if kind == ENGINE:
        return _engine_info(file)
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint

    return ArtifactInfo(str(file), CHECKPOINT, "fp32", checkpoint_meta(load_checkpoint(file)))


def checkpoint_meta(ckpt) -> ModelMeta:
    """What a loaded Checkpoint says about itself, in the ModelMeta form artifacts use."""
    return ModelMeta(arch=ckpt.arch, class_names=tuple(ckpt.class_names), input_size=ckpt.input_size,
                     resize=ckpt.resize, mean=tuple(ckpt.mean), std=tuple(ckpt.std))


def _layers(meta: ModelMeta, where: Path) -> tuple[LayerTensor, ...]:
    return tuple(decode_layers(meta.extra.get(LAYERS_KEY), where=str(where)))


def _engine_info(file: Path) -> ArtifactInfo:
    """An engine as its sidecar (written by build-engine) describes it; without one nothing is known."""
    from alexnet_deploy.artifacts.engine_sidecar import read_sidecar

    sidecar = read_sidecar(file)
    if sidecar is None:
        return ArtifactInfo(str(file), ENGINE, "unknown", None)
    try:
        meta = ModelMeta.from_dict(sidecar.model)
    except (KeyError, TypeError, ValueError):
        raise InputError(f"The sidecar of {file} describes no model; rebuild the engine with alexnet-deploy "
                         f"build-engine.") from None
    return ArtifactInfo(str(file), ENGINE, sidecar.precision, meta, _layers(meta, file), sidecar.onnx)


def check_belongs(info: ArtifactInfo, *, checkpoint: ModelMeta, checkpoint_path: str,
                  checkpoint_sha256: str) -> list[str]:
    """Warnings about ``info`` against the checkpoint; InputError when it cannot be compared with it at all."""
    name = info.path
    if info.meta is None:
        return [f"{name} has no sidecar, so nothing shows it was made from {checkpoint_path}; its precision is "
                f"unknown and it is held to the fp32 limits."]
    meta = info.meta
    if meta.num_classes != checkpoint.num_classes:
        raise InputError(f"{name} has {meta.num_classes} classes and {checkpoint_path} has {checkpoint.num_classes}; "
                         f"verify an artifact made from this checkpoint.")
    if meta.input_size != checkpoint.input_size:
        raise InputError(f"{name} takes {meta.input_size} px inputs and {checkpoint_path} takes "
                         f"{checkpoint.input_size} px; verify an artifact made from this checkpoint.")
    warnings = []
    if info.kind != CHECKPOINT:
        if not meta.source_sha256:
            warnings.append(f"{name} does not record the checkpoint it was made from, so it cannot be tied to "
                            f"{checkpoint_path}.")
        elif meta.source_sha256 != checkpoint_sha256:
            warnings.append(f"{name} was made from another checkpoint (sha256 {meta.source_sha256[:12]}, "
                            f"{checkpoint_path} has {checkpoint_sha256[:12]}); expect it to disagree.")
    if tuple(meta.class_names) != tuple(checkpoint.class_names):
        warnings.append(f"{name} names its classes differently from {checkpoint_path}; labels are read in the "
                        f"checkpoint's order.")
    if (meta.resize, tuple(meta.mean), tuple(meta.std)) != (checkpoint.resize, tuple(checkpoint.mean),
                                                            tuple(checkpoint.std)):
        warnings.append(f"{name} records other preprocessing (resize, mean, std) than {checkpoint_path}; every "
                        f"model is fed the checkpoint's.")
    return warnings
