"""Self-describing checkpoints: weights plus everything needed to use them.

A checkpoint file is a plain dict of tensors and primitives (so it loads with
``torch.load(..., weights_only=True)`` and never runs code):

    format, format_version, arch, num_classes, class_names, input_size,
    resize, mean, std, state_dict, training, weights_sha256

``weights_sha256`` (``weights_digest`` of the state_dict) lets loading tell a
flipped bit in the weights from a good file; checkpoints written before it
existed load without the check. What the file claims about itself (class names
against the head's outputs, mean/std, input size) is checked on load too.

``resize`` is the shorter side images are resized to before the centre crop of
``input_size`` (256 for the native 224/227 inputs).

Loading also accepts a bare torchvision AlexNet state_dict (such as the ImageNet
weights file from torchvision), mapped to the ``torchvision`` arch.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alexnet_deploy.artifacts import fields
from alexnet_deploy.data.images import RESIZE
from alexnet_deploy.errors import CheckpointError
from alexnet_deploy.core.fsutil import atomic_path
from alexnet_deploy.model.zoo import ARCHS, build, get_spec

FORMAT = "alexnet-deploy/checkpoint"
_CLASSIFIER_WEIGHT = re.compile(r"classifier\.(\d+)\.weight")
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """What a checkpoint holds. ``build_model()`` gives the model with its weights."""

    arch: str
    num_classes: int
    class_names: list[str]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    state_dict: dict[str, torch.Tensor]
    training: dict[str, Any] = field(default_factory=dict)
    resize: int = RESIZE
    source: str = FORMAT  # FORMAT, or "torchvision-state-dict" for a bare weights file
    weights_sha256: str = ""  # filled on first save (the weights of one epoch are hashed once for both files)

    def check_fits(self) -> None:
        """Raise CheckpointError unless the weights' names and shapes fit the arch (no weights are built)."""
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build(self.arch, num_classes=self.num_classes).state_dict().items()}
        given = {k: tuple(v.shape) for k, v in self.state_dict.items()}
        missing = sorted(set(expected) - set(given))
        unexpected = sorted(set(given) - set(expected))
        wrong = [k for k in expected if k in given and expected[k] != given[k]]
        if missing or unexpected or wrong:
            if wrong:
                detail = f"{wrong[0]} has shape {list(given[wrong[0]])}, the arch needs {list(expected[wrong[0]])}"
            elif missing:
                detail = f"{len(missing)} missing, starting with {missing[0]}"
            else:
                detail = f"{len(unexpected)} unexpected, starting with {unexpected[0]}"
            raise CheckpointError(
                f"The weights do not fit the {self.arch!r} arch with {self.num_classes} classes ({detail}); "
                f"check that the checkpoint was made for this arch."
            )

    def build_model(self) -> nn.Module:
        """The model with these weights (float32), in eval mode; wrong shapes are a CheckpointError."""
        self.check_fits()
        # Built on the meta device and handed the tensors: no random init that is overwritten at once.
        with torch.device("meta"):
            model = build(self.arch, num_classes=self.num_classes)
        state = {k: v.float() if v.is_floating_point() else v for k, v in self.state_dict.items()}
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

    def digest(self) -> str:
        """``weights_digest`` of the state_dict, computed once."""
        if not self.weights_sha256:
            self.weights_sha256 = weights_digest(self.state_dict)
        return self.weights_sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "input_size": self.input_size,
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "state_dict": self.state_dict,
            "training": dict(self.training),
            "weights_sha256": self.digest(),
        }

    def summary(self) -> dict[str, Any]:
        """Everything but the weights, for display."""
        out = self.to_dict()
        del out["state_dict"]
        out["source"] = self.source
        out["tensors"] = len(self.state_dict)
        out["parameters"] = sum(t.numel() for t in self.state_dict.values())
        return out


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in state_dict order."""
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())  # the buffer itself, not a copy
    return digest.hexdigest()


def make_checkpoint(
    model: nn.Module,
    *,
    arch: str,
    class_names: list[str] | None = None,
    input_size: int | None = None,
    resize: int = RESIZE,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    training: dict[str, Any] | None = None,
) -> Checkpoint:
    """Describe ``model`` (of ``arch``) as a Checkpoint, filling defaults from the arch."""
    spec = get_spec(arch)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}  # one copy, on any device
    num_classes = _num_classes_of(state)
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise CheckpointError(f"{len(names)} class names given for a model with {num_classes} outputs.")
    return Checkpoint(
        arch=arch,
        num_classes=num_classes,
        class_names=names,
        input_size=input_size or spec.input_size,
        resize=resize,
        mean=tuple(mean or spec.mean),
        std=tuple(std or spec.std),
        state_dict=state,
        training=dict(training or {}),
    )


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint.to_dict(), tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint (or a bare torchvision state_dict) without running any code in it.

    Every way a file can be unusable (missing, empty, not a checkpoint, truncated,
    holding objects other than tensors and data, weights of the wrong shape) is a
    CheckpointError with one sentence saying so.
    """
    file = Path(path)
    if not file.exists():
        raise CheckpointError(f"Checkpoint {file} does not exist; check the path.")
    if file.is_dir():
        raise CheckpointError(f"{file} is a folder, not a checkpoint file.")
    if file.stat().st_size == 0:
        raise CheckpointError(f"Checkpoint {file} is empty (0 bytes); it was probably not written completely.")
    raw = _torch_load(file)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file} holds a {type(raw).__name__}, not a checkpoint dict or a state_dict.")
    if raw.get("format") == FORMAT:
        ckpt = _from_dict(raw, file)
    elif raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        ckpt = _from_torchvision_state_dict(raw, file)
    else:
        raise CheckpointError(
            f"{file} is neither an alexnet-deploy checkpoint nor a torchvision AlexNet state_dict."
        )
    ckpt.check_fits()  # validates names and shapes now rather than at first use
    return ckpt


def _torch_load(file: Path) -> Any:
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols of plain pickles; the error below says more.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # The weights-only unpickler names the callable it refused ("GLOBAL posix.system").
        if "GLOBAL" in str(exc):
            raise CheckpointError(
                f"{file} contains Python objects other than tensors and plain data; it was refused "
                f"unread because loading it could run code. Re-save it as a state_dict."
            ) from None
        raise CheckpointError(f"{file} is not a PyTorch checkpoint (it could not be unpickled).") from None
    except Exception as exc:  # noqa: BLE001 - garbage bytes make the unpickler fail in many ways (IndexError, KeyError, ...)
        reason = "it is truncated or corrupt" if "zip" in str(exc).lower() or isinstance(exc, EOFError) else "its bytes are not a PyTorch file"
        raise CheckpointError(f"{file} is not a readable PyTorch checkpoint ({reason}).") from None


def _num_classes_of(state: dict[str, torch.Tensor]) -> int:
    heads = [(int(m[1]), k) for k in state if (m := _CLASSIFIER_WEIGHT.fullmatch(k)) and state[k].dim() == 2]
    if not heads:
        raise CheckpointError("The weights have no classifier layer; this is not an AlexNet state_dict.")
    return int(state[max(heads)[1]].shape[0])


def _from_dict(raw: dict[str, Any], file: Path) -> Checkpoint:
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{file} has checkpoint format version {version}; this tool reads version {FORMAT_VERSION}.")
    missing = [k for k in ("arch", "state_dict", "class_names", "input_size", "mean", "std") if k not in raw]
    if missing:
        raise CheckpointError(f"{file} is missing {', '.join(missing)}; it is not a complete checkpoint.")
    if raw["arch"] not in ARCHS:
        raise CheckpointError(f"{file} is for arch {raw['arch']!r}, which this tool does not know ({', '.join(ARCHS)}).")
    state = raw["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file} has a state_dict that is not a mapping of names to tensors.")
    stored = raw.get("weights_sha256")
    if stored is not None and stored != weights_digest(state):
        raise CheckpointError(f"{file} is corrupt: its weights do not match the sha256 stored with them (bytes "
                              f"changed on disk or in transfer); copy or download it again.")
    num_classes = _num_classes_of(state)
    try:
        names = fields.class_names(raw["class_names"], outputs=num_classes)
        input_size = fields.input_size(raw["input_size"], low=ARCHS[raw["arch"]].min_input_size)
        resize = fields.resize(raw.get("resize", RESIZE))
        mean = fields.channel_triple(raw["mean"], "mean")
        std = fields.channel_triple(raw["std"], "std", positive=True)
        training = raw.get("training") or {}
        if not isinstance(training, dict):
            raise ValueError(f"training is a {type(training).__name__}, not a mapping")
    except ValueError as exc:
        raise CheckpointError(f"{file} describes itself wrongly: {exc}; fix or re-export the checkpoint.") from None
    return Checkpoint(
        arch=raw["arch"],
        num_classes=num_classes,
        class_names=list(names),
        input_size=input_size,
        resize=resize,
        mean=mean,
        std=std,
        state_dict=state,
        training=dict(training),
        weights_sha256=stored or "",
    )


def _from_torchvision_state_dict(state: dict[str, torch.Tensor], file: Path) -> Checkpoint:
    if not any(k.startswith("features.") for k in state):
        raise CheckpointError(f"{file} holds tensors but not an AlexNet state_dict (no 'features.*' keys).")
    spec = ARCHS["torchvision"]
    num_classes = _num_classes_of(state)
    return Checkpoint(
        arch="torchvision",
        num_classes=num_classes,
        class_names=[f"class_{i}" for i in range(num_classes)],
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        state_dict=state,
        training={"source_file": file.name},
        source="torchvision-state-dict",
    )
