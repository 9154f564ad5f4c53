"""``verify``: every artifact on every backend against the PyTorch fp32 model of its checkpoint.

Everything that can be refused is refused before a model runs: missing or
unknown artifacts, artifacts with another class count or input size, backends
that cannot run here, data without labels when accuracy is asked for. Then the
images are read chunk by chunk and every runner (the reference first) sees each
chunk, so the pixels are read once for all rows. Runners come from the
registry, so a backend added there (``trt`` for engines) is verified unchanged.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alexnet_deploy.artifacts.kinds import DESCRIPTIONS, ENGINE, ONNX
from alexnet_deploy.errors import BackendError, InputError
from alexnet_deploy.runtimes.base import Runner, logits
from alexnet_deploy.runtimes.registry import BACKENDS, available, backends_for, check_runs, get_backend, open_runner
from alexnet_deploy.verify.inputs import VerifyInputs, verify_inputs
from alexnet_deploy.verify.layers import LayerReport, compare_layers, reference_activations, write_probe
from alexnet_deploy.verify.presets import PRESETS, Preset, preset_for
from alexnet_deploy.verify.provenance import ArtifactInfo, check_belongs, checkpoint_meta, describe_artifact
from alexnet_deploy.verify.result import ReferenceRow, VerifyResult, accuracy_of, score_row

Progress = Callable[[str, int, int], None]  # (stage, done, total)
# Opens a runner that also returns ``tensors`` for an artifact the ONNX probe cannot serve (an engine).
ProbeOpener = Callable[[ArtifactInfo, str, Sequence[str], Path], Runner]


@dataclass(frozen=True)
class VerifyConfig:
    """How to verify: which backends, how many images, the limits, and whether to diagnose layers."""

    backends: tuple[str, ...] = ()  # empty: every backend available here that runs the artifact's kind
    images: int | None = None  # an evenly spaced subset; None: all
    accuracy: bool = True  # needs labelled --data
    batch_size: int = 32
    threads: int | None = None  # CPU backends
    reference_device: str = "cpu"  # "cpu" | "cuda"
    presets: dict[str, Preset] = field(default_factory=lambda: dict(PRESETS))
    per_layer: bool = False
    layer_images: int = 8
    engine_probe: ProbeOpener | None = None  # per-layer for engines: rebuilds one with the layer outputs marked
    trust_engine: bool = False  # let the trt backend run engines without a sidecar

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.layer_images < 1 or (self.images is not None and self.images < 1):
            raise InputError("--batch-size, --images and --layer-images must be at least 1.")
        if self.reference_device not in ("cpu", "cuda"):
            raise InputError(f"The reference runs on cpu or cuda, not {self.reference_device!r}.")


@dataclass(frozen=True)
class Plan:
    """What a verify run will do, settled before any model runs."""

    checkpoint: Any
    checkpoint_sha256: str
    pairs: tuple[tuple[ArtifactInfo, str], ...]
    inputs: VerifyInputs
    warnings: tuple[str, ...]


def plan_verify(checkpoint: str | os.PathLike, artifacts: Sequence[str | os.PathLike], data_dir, *,
                config: VerifyConfig) -> Plan:
    """Every refusal, before any work: artifacts, their provenance, backends, data."""
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint
    from alexnet_deploy.core.fsutil import sha256_file

    if not artifacts:
        raise InputError("verify needs at least one artifact to check (an ONNX model or an engine), e.g. "
                         "alexnet-deploy verify --checkpoint models/alexnet.pt models/alexnet.onnx --data DIR.")
    ckpt = load_checkpoint(checkpoint)
    sha = sha256_file(checkpoint)
    infos = [describe_artifact(a) for a in artifacts]
    reference_meta = checkpoint_meta(ckpt)
    warnings: list[str] = []
    for info in infos:
        warnings += check_belongs(info, checkpoint=reference_meta, checkpoint_path=str(checkpoint),
                                  checkpoint_sha256=sha)
    pairs = _pairs(infos, config.backends)
    if config.per_layer and not any(info.kind in (ONNX, ENGINE) for info, _ in pairs):
        raise InputError("--per-layer diagnoses ONNX models and engines; add one to the artifacts.")
    if config.reference_device == "cuda":
        check_runs("torch-cuda", ckpt)
    inputs = verify_inputs(data_dir, class_names=ckpt.class_names, geometry=ckpt, accuracy=config.accuracy,
                           limit=config.images)
    return Plan(ckpt, sha, tuple(pairs), inputs, tuple(warnings))


def _pairs(infos: list[ArtifactInfo], backends: tuple[str, ...]) -> list[tuple[ArtifactInfo, str]]:
    """(artifact, backend) pairs: the asked backends that run each artifact's kind, or every available one."""
    if backends:
        for name in backends:
            get_backend(name)
        pairs = [(info, b) for info in infos for b in backends if info.kind in BACKENDS[b].kinds]
        for name in backends:
            if not any(b == name for _, b in pairs):
                kinds = " or ".join(DESCRIPTIONS[k] for k in BACKENDS[name].kinds)
                raise InputError(f"--backend {name} runs {kinds}, and no artifact given is one.")
        for info in infos:
            if not any(i is info for i, _ in pairs):
                raise InputError(f"No --backend given runs {info.path} ({DESCRIPTIONS[info.kind]}); add one of: "
                                 f"{', '.join(backends_for(info.kind))}.")
        for info, name in pairs:
            check_runs(name, info.path)
        return pairs
    states = available()
    pairs = []
    for info in infos:
        usable = [b for b in backends_for(info.kind) if states[b].ok]
        if not usable:
            why = "; ".join(f"{b}: {states[b].reason} (install: {states[b].install})" for b in backends_for(info.kind))
            raise BackendError(f"No backend here runs {info.path}: {why}.")
        pairs += [(info, b) for b in usable]
    return pairs


def runner_options(backend: str, threads: int | None, *, trust_engine: bool = False) -> dict[str, Any]:
    """Options for a runner: threads on CPU backends; onnxruntime's pool must not spin, since its idle
    threads would steal the cores of the next backend run on the same chunk; trust for sidecar-less engines."""
    options: dict[str, Any] = {}
    if threads and get_backend(backend).device == "cpu":
        options["threads"] = threads
    if backend.startswith("ort-"):
        options["spinning"] = False
    if trust_engine and ENGINE in get_backend(backend).kinds:
        options["trust_engine"] = True
    return options


def verify(checkpoint: str | os.PathLike, artifacts: Sequence[str | os.PathLike], data_dir=None, *,
           config: VerifyConfig = VerifyConfig(), progress: Progress | None = None) -> VerifyResult:
    """Verify ``artifacts`` against the PyTorch model of ``checkpoint``; see the module docstring."""
    start = time.perf_counter()
    plan = plan_verify(checkpoint, artifacts, data_dir, config=config)
    ckpt, inputs = plan.checkpoint, plan.inputs
    total = len(inputs)
    picks = set(_evenly(total, config.layer_images)) if config.per_layer else set()
    reference_backend = f"torch-{config.reference_device}"
    with contextlib.ExitStack() as stack:
        reference = stack.enter_context(open_runner(reference_backend, ckpt, **runner_options(reference_backend,
                                                                                              config.threads)))
        runners = [stack.enter_context(open_runner(b, info.path, **runner_options(
            b, config.threads, trust_engine=config.trust_engine))) for info, b in plan.pairs]
        ref_parts: list[np.ndarray] = []
        cand_parts: list[list[np.ndarray]] = [[] for _ in runners]
        layer_inputs: list[np.ndarray] = []
        if progress:
            progress("images", 0, total)
        for lo, images in inputs.chunks(ckpt, config.batch_size):
            ref_parts.append(logits(reference, images, chunk=config.batch_size))
            for parts, runner in zip(cand_parts, runners):
                parts.append(logits(runner, images, chunk=config.batch_size))
            layer_inputs += [images[i - lo] for i in range(lo, lo + len(images)) if i in picks]
            if progress:
                progress("images", lo + len(images), total)
        ref_logits = np.concatenate(ref_parts)
        reference_row = ReferenceRow(checkpoint=str(checkpoint), backend=reference_backend,
                                     runner=reference.describe())
        if inputs.labels is not None:
            folder = Path(inputs.source)
            reference_row.accuracy = accuracy_of(ref_logits, inputs.labels, ckpt.class_names, source=inputs.source,
                                                 split=folder.name)
        candidates = [np.concatenate(parts) for parts in cand_parts]
        rows = []
        for (info, backend), runner, cand in zip(plan.pairs, runners, candidates):
            rows.append(score_row(artifact=info.path, backend=backend, precision=info.precision,
                                  preset=preset_for(info.precision, config.presets), runner=runner.describe(),
                                  reference=ref_logits, candidate=cand, labels=inputs.labels,
                                  reference_accuracy=reference_row.accuracy, class_names=ckpt.class_names))
        if config.per_layer:
            picked = sorted(picks)
            model_logits = [cand[picked] for cand in candidates]
            _diagnose_layers(plan, rows, reference, np.stack(layer_inputs), model_logits, ref_logits[picked],
                             config=config, progress=progress)
    return VerifyResult(checkpoint=str(checkpoint), checkpoint_sha256=plan.checkpoint_sha256, data=inputs.source,
                        images=total, labelled=inputs.labels is not None, reference=reference_row, rows=rows,
                        warnings=list(plan.warnings), seconds=round(time.perf_counter() - start, 3))


def _evenly(total: int, wanted: int) -> list[int]:
    from alexnet_deploy.data.samples import evenly_spaced

    return evenly_spaced(total, wanted)


def _diagnose_layers(plan: Plan, rows, reference: Runner, images: np.ndarray, model_logits: list[np.ndarray],
                     reference_logits: np.ndarray, *, config: VerifyConfig, progress: Progress | None) -> None:
    """Attach a LayerReport to every row of an ONNX model or engine."""
    modules = {layer.module: layer for info, _ in plan.pairs for layer in info.layers}
    activations = reference_activations(reference, images, list(modules.values()), chunk=config.batch_size)
    todo = [(i, info, b) for i, (info, b) in enumerate(plan.pairs) if info.kind in (ONNX, ENGINE)]
    for step, (index, info, backend) in enumerate(todo):
        if progress:
            progress("layers", step, len(todo))
        preset = preset_for(info.precision, config.presets)
        report = LayerReport(images=len(images), min_sqnr_db=preset.layer_min_sqnr_db)
        if not info.layers:
            report.note = (f"{info.path} carries no layer map (made before export recorded one, or not by "
                           f"alexnet-deploy export); re-export it to diagnose its layers")
        elif info.kind == ENGINE and config.engine_probe is None:
            report.note = "per-layer for engines needs TensorRT here to rebuild the engine with the layers as outputs"
        else:
            report = _probe_layers(info, backend, images, activations, (model_logits[index], reference_logits), preset,
                                   config)
        rows[index].layers = report
    if progress:
        progress("layers", len(todo), len(todo))


def _probe_layers(info: ArtifactInfo, backend: str, images: np.ndarray, activations: dict[str, np.ndarray],
                  logits_pair: tuple[np.ndarray, np.ndarray], preset: Preset, config: VerifyConfig) -> LayerReport:
    tensors = [layer.tensor for layer in info.layers]
    with tempfile.TemporaryDirectory(prefix="alexnet-deploy-verify-") as tmp:
        if info.kind == ENGINE:
            probe, missing = config.engine_probe(info, backend, tensors, Path(tmp)), []
        else:
            path, missing = write_probe(info.path, tensors, Path(tmp))
            probe = open_runner(backend, path, **runner_options(backend, config.threads))
        with probe:
            return compare_layers(probe, images, activations, info.layers, min_sqnr_db=preset.layer_min_sqnr_db,
                                  model_logits=logits_pair[0], reference_logits=logits_pair[1], missing=missing,
                                  chunk=config.batch_size)
