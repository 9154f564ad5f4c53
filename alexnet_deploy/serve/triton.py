"""``export_repository``: ONNX models and TensorRT engines as one Triton model repository.

Every artifact is read and checked before anything is written (a refusal
leaves ``out`` as it was); then the repository is built beside ``out`` and
swapped in whole (``serve.folder``). Each model gets its own folder::

    out/alexnet_int8_onnx/config.pbtxt      platform, batching, I/O, instance group
    out/alexnet_int8_onnx/labels.txt        one class name a line, named by the output's label_filename
    out/alexnet_int8_onnx/1/model.onnx      (and its external data file, if any, beside it)
    out/alexnet_fp16_trt/1/model.plan       an engine, described by its sidecar
    out/alexnet-deploy-triton.json          this result: which artifact became which model

Usage::

    from alexnet_deploy.serve.triton import TritonOptions, export_repository

    result = export_repository(["models/alexnet.onnx"], "model_repository", options=TritonOptions(onnx_kind="cpu"))
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from alexnet_deploy.artifacts.kinds import CHECKPOINT, ENGINE, SUFFIXES, artifact_kind
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.config import render_config
from alexnet_deploy.serve.engine_model import plan_engine
from alexnet_deploy.serve.folder import MANIFEST, check_output_folder, staged_folder
from alexnet_deploy.serve.onnx_model import plan_onnx
from alexnet_deploy.serve.spec import LABELS_FILE, ModelPlan, TritonModel, TritonOptions

__all__ = ["TritonOptions", "TritonResult", "TritonModel", "export_repository", "MANIFEST"]
SERVABLE = tuple(suffix for suffix, kind in SUFFIXES.items() if kind != CHECKPOINT)  # .onnx .engine .plan


@dataclass
class TritonResult(Result):
    """The repository written: where, and each model with its platform, batching, I/O and files."""

    out: str
    models: list[TritonModel] = field(default_factory=list)

    def model(self, name: str) -> TritonModel:
        """The model called ``name``; KeyError when the repository has none."""
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)


def export_repository(artifacts: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                      options: TritonOptions = TritonOptions()) -> TritonResult:
    """Write a Triton model repository at ``out`` serving ``artifacts``; see the module docstring.

    An artifact is an ONNX model made by this tool, an engine with its sidecar,
    or a folder (its ``.onnx``, ``.engine`` and ``.plan`` files). ``out`` must
    be absent, empty, or a repository this function wrote before (replaced
    whole). Raises InputError, before writing anything, for anything else.
    """
    target = check_output_folder(out)
    plans = [_plan(path, options) for path in expand_artifacts(artifacts)]
    _check_unique_names(plans)
    result = TritonResult(out=str(target), models=[plan.model for plan in plans])
    with staged_folder(target) as stage:
        for plan in plans:
            _write_model(stage / plan.model.name, plan)
        result.write_json(stage / MANIFEST)
    return result


def expand_artifacts(artifacts: Sequence[str | os.PathLike]) -> list[Path]:
    """The artifact files to serve, folders expanded to their servable files, each once, in the order given."""
    if not artifacts:
        raise InputError("Name at least one artifact to serve: an ONNX model, an engine, or a folder such as models/.")
    found: list[Path] = []
    for item in map(Path, artifacts):
        if item.is_dir():
            files = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in SERVABLE)
            if not files:
                raise InputError(f"Folder {item} holds no ONNX model or TensorRT engine ({', '.join(SERVABLE)}); "
                                 f"name the artifacts to serve.")
        elif not item.exists():
            raise InputError(f"Artifact {item} does not exist; check the path.")
        else:
            files = [item]
        for file in files:
            if file.resolve() not in {f.resolve() for f in found}:
                found.append(file)
    return found


def _plan(path: Path, options: TritonOptions) -> ModelPlan:
    kind = artifact_kind(path)
    if kind == CHECKPOINT:
        raise InputError(f"{path} is a PyTorch checkpoint and Triton serves ONNX models and TensorRT engines; "
                         f"export it first with alexnet-deploy export.")
    return plan_engine(path, options) if kind == ENGINE else plan_onnx(path, options)


def _check_unique_names(plans: list[ModelPlan]) -> None:
    seen: dict[str, str] = {}
    for plan in plans:
        name, artifact = plan.model.name, plan.model.artifact
        if name in seen:
            raise InputError(f"{seen[name]} and {artifact} would both become Triton model {name!r}; rename one "
                             f"of the files.")
        seen[name] = artifact


def _write_model(folder: Path, plan: ModelPlan) -> None:
    for relative, source in plan.sources.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (folder / LABELS_FILE).write_text("".join(f"{name}\n" for name in plan.class_names), encoding="utf-8")
    (folder / "config.pbtxt").write_text(render_config(plan.model), encoding="utf-8")
