"""What kind of artifact a path or an in-memory model is, so each backend can refuse what it cannot run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alexnet_deploy.errors import InputError

CHECKPOINT, ONNX, ENGINE = "checkpoint", "onnx", "engine"
SUFFIXES = {".pt": CHECKPOINT, ".pth": CHECKPOINT, ".onnx": ONNX, ".engine": ENGINE, ".plan": ENGINE}
DESCRIPTIONS = {CHECKPOINT: "a PyTorch checkpoint", ONNX: "an ONNX model", ENGINE: "a TensorRT engine"}


def artifact_kind(artifact: Any) -> str:
    """``checkpoint``, ``onnx`` or ``engine`` for a path (by its suffix) or an in-memory model.

    In memory: a Checkpoint or a torch ``nn.Module`` is a checkpoint; serialized
    bytes or an ``onnx.ModelProto`` is an ONNX model. Anything else is an InputError.
    """
    if isinstance(artifact, (str, os.PathLike)):
        path = Path(artifact)
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            known = ", ".join(sorted(SUFFIXES))
            raise InputError(f"{path} is not a model this tool knows by its suffix ({known}); rename it or pass "
                             f"a checkpoint, an ONNX model or a TensorRT engine.")
        return kind
    if isinstance(artifact, (bytes, bytearray)) or type(artifact).__name__ == "ModelProto":
        return ONNX
    if type(artifact).__name__ == "Checkpoint" or _is_module(artifact):
        return CHECKPOINT
    raise InputError(f"Cannot run a {type(artifact).__name__}; pass a checkpoint, an ONNX model or an engine.")


def describe(artifact: Any) -> str:
    """A short name for reports: the path, or what the in-memory model is."""
    if isinstance(artifact, (str, os.PathLike)):
        return os.fspath(artifact)
    return f"in-memory {type(artifact).__name__}"


def _is_module(obj: Any) -> bool:
    # Without importing torch: an nn.Module subclass has Module in its method resolution order.
    return any(c.__name__ == "Module" and c.__module__.startswith("torch.nn") for c in type(obj).__mro__)
