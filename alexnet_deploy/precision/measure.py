"""Top-1 of the models a precision stage makes, through the runners and verify's scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from alexnet_deploy.core.tempfiles import scratch_dir
from alexnet_deploy.data.labelled import LabelledSet


def top1(model, val: LabelledSet, class_names: Sequence[str]) -> float:
    """Top-1 in percent of an ONNX model (a path or serialized bytes) on onnxruntime's CPU provider."""
    from alexnet_deploy.runtimes.registry import open_runner
    from alexnet_deploy.verify.accuracy import top1_percent

    with open_runner("ort-cpu", model) as runner:
        return top1_percent(runner, val, class_names=class_names)


class ScoreBoard:
    """verify's rows (accuracy, agreement, logit errors, the precision's limits) for each model a stage makes,
    all against the first model added (the fp32 ONNX model), on onnxruntime's CPU provider."""

    def __init__(self, val: LabelledSet, class_names: Sequence[str]) -> None:
        self.val, self.class_names = val, list(class_names)
        self.reference = None
        self.reference_accuracy = None
        self.rows: dict = {}

    def add(self, name: str, model, *, precision: str):
        """Score ``model`` (a path or serialized bytes) as row ``name``; returns the VerifyRow."""
        from alexnet_deploy.runtimes.base import logits
        from alexnet_deploy.runtimes.registry import open_runner
        from alexnet_deploy.verify.presets import PRESETS
        from alexnet_deploy.verify.result import accuracy_of, score_row

        with open_runner("ort-cpu", model) as runner:
            candidate = logits(runner, self.val.images)
            described = runner.describe()
        if self.reference is None:
            self.reference = candidate
            self.reference_accuracy = accuracy_of(candidate, self.val.labels, self.class_names,
                                                  source=self.val.source, split="")
        described["artifact"] = name
        self.rows[name] = score_row(artifact=name, backend="ort-cpu", precision=precision, preset=PRESETS[precision],
                                    runner=described, reference=self.reference, candidate=candidate,
                                    labels=self.val.labels, reference_accuracy=self.reference_accuracy,
                                    class_names=self.class_names)
        return self.rows[name]

    def add_fp16(self, src: Path, *, meta) -> float | None:
        """Score the fp16 model of ``src`` (the one beside it when it was made from the same checkpoint, else a
        fresh conversion); its top-1, or None when the conversion fails its own checks."""
        from alexnet_deploy.precision.fp16 import fp16_model_for

        with scratch_dir("fp16") as tmp:
            model = fp16_model_for(src, source_sha256=meta.source_sha256, calib_images=self.val.images[:32],
                                   workdir=Path(tmp))
            return None if model is None else self.add("fp16", model, precision="fp16").top1
