"""Top-1 of the models a precision stage makes, through the runners and verify's scoring."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from alexnet_deploy.data.labelled import LabelledSet


def top1(model, val: LabelledSet, class_names: Sequence[str]) -> float:
    """Top-1 in percent of an ONNX model (a path or serialized bytes) on onnxruntime's CPU provider."""
    from alexnet_deploy.runtimes.registry import open_runner
    from alexnet_deploy.verify.accuracy import top1_percent

    with open_runner("ort-cpu", model) as runner:
        return top1_percent(runner, val, class_names=class_names)


def fp16_top1(src: Path, val: LabelledSet, *, meta) -> float | None:
    """Top-1 of the fp16 model of ``src`` (the one beside it when it matches, else converted); None when
    the conversion fails its own checks."""
    from alexnet_deploy.precision.fp16 import fp16_model_for

    with tempfile.TemporaryDirectory(prefix="alexnet-deploy-fp16.") as tmp:
        model = fp16_model_for(src, source_sha256=meta.source_sha256, calib_images=val.images[:32], workdir=Path(tmp))
        return None if model is None else top1(model, val, meta.class_names)
