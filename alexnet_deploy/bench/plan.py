"""Which runs a benchmark makes: artifacts x backends x variants x batches, refused before any timing.

Everything about a backend comes from the registry: the artifact kinds it
runs, its device, whether it runs here (and the install line when not), and
the options its runner takes (read from the runner's signature), so a backend
registered later (``trt``) plugs in unchanged. Every refusal is a DeployError
(exit 2) raised here, before a model is loaded for timing.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet_deploy.artifacts.kinds import CHECKPOINT, artifact_kind
from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.targets import ArtifactInfo, HashCache, describe_artifact, find_checkpoint
from alexnet_deploy.errors import InputError
from alexnet_deploy.runtimes.registry import BACKENDS, Backend, backends_for, check_runs, get_backend


@dataclass(frozen=True)
class RunSpec:
    """One runner to open: an artifact on a backend with options, timed at each batch."""

    artifact: ArtifactInfo
    backend: str
    device: str  # the registry's device: "cpu" | "cuda"
    options: tuple[tuple[str, Any], ...]
    variant: str
    batches: tuple[int, ...]
    baseline: bool = False

    def describe(self) -> str:
        variant = f" {self.variant}" if self.variant else ""
        return f"{self.backend}{variant} on {self.artifact.name}"


@dataclass
class Plan:
    runs: list[RunSpec]
    artifacts: list[ArtifactInfo]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    given_baseline: str = ""  # sha256 of --checkpoint: the baseline of every row


@dataclass(frozen=True)
class Variants:
    """Extra runs some runners can make beside the plain one: fp16 and CUDA graphs (PyTorch on a GPU today) and
    channels-last (PyTorch); each adds rows, so the table shows what it gains."""

    fp16: bool = False
    cuda_graphs: bool = False
    channels_last: bool = False


def runner_parameters(backend: Backend) -> frozenset[str]:
    """Keyword options the backend's runner class takes (its module imports without the runtime itself)."""
    module, cls = backend.runner.split(":")
    factory = getattr(importlib.import_module(module), cls)
    return frozenset(inspect.signature(factory).parameters)


def _variants(backend: Backend, params: frozenset[str], asked: Variants) -> list[tuple[str, dict[str, Any]]]:
    """(label, options) of every variant this backend runs: the plain run first."""
    on_gpu = backend.device == "cuda"
    out: list[tuple[list[str], dict[str, Any]]] = [([], {})]
    if asked.fp16 and on_gpu and "precision" in params:
        out.append(([], {"precision": "fp16"}))
    if asked.cuda_graphs and on_gpu and "cuda_graphs" in params:
        out += [(labels + ["cuda-graphs"], {**options, "cuda_graphs": True}) for labels, options in out]
    if asked.channels_last and "channels_last" in params:
        out += [(labels + ["channels-last"], {**options, "channels_last": True}) for labels, options in out]
    return [("+".join(labels), options) for labels, options in out]


def _common_options(params: frozenset[str], config: BenchConfig) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "threads" in params:
        options["threads"] = config.threads
    if "spinning" in params:
        options["spinning"] = False  # spinning pools steal the cores of whatever runs next
    return options


def _batches(info: ArtifactInfo, config: BenchConfig, notes: list[str]) -> tuple[int, ...]:
    """The batches to time ``info`` at; a batch it cannot take is refused when asked for explicitly."""
    fixed, low, high = info.fixed_batch, info.min_batch or 1, info.max_batch

    def takes(batch: int) -> bool:
        return batch == fixed if fixed else low <= batch and (high is None or batch <= high)

    wrong = [b for b in config.batches if not takes(b)]
    if not wrong:
        return config.batches
    what = f"a fixed batch of {fixed}" if fixed else f"batches from {low} to {high}"
    if config.batches_given:
        raise InputError(f"{info.path} takes {what} and cannot run batch {wrong[0]}; ask for a batch it takes, "
                         f"or re-export (rebuild) it with a dynamic batch.")
    kept = tuple(b for b in config.batches if takes(b)) or ((fixed or low),)
    notes.append(f"{info.name} takes {what}: timed at batch {', '.join(map(str, kept))}.")
    return kept


def _backends_for_artifact(path: str, chosen: list[str] | None, skipped: list[str]) -> list[Backend]:
    """The backends that will run ``path``: from its suffix alone, so refusals come before any file is read."""
    kind = artifact_kind(path)
    if chosen is not None:
        names = [n for n in chosen if kind in get_backend(n).kinds]
        if not names:
            check_runs(chosen[0], path)  # raises: says what the backend runs and which backends run this
        return [check_runs(n, path) for n in names]  # refuses a backend that cannot run here
    out = []
    for name in backends_for(kind):
        backend = BACKENDS[name]
        reason = backend.probe()
        if reason:
            line = f"{name}: {reason} (install: {backend.install})"
            if line not in skipped:
                skipped.append(line)
        else:
            out.append(backend)
    if not out:
        check_runs(backends_for(kind)[0], path)  # raises with the first one's reason and install line
    return out


def _baseline_backend(device: str) -> Backend | None:
    """The first available backend running checkpoints on ``device``, else on any device."""
    runs_checkpoints = [BACKENDS[n] for n in backends_for(CHECKPOINT)]
    for backend in sorted(runs_checkpoints, key=lambda b: b.device != device):
        if not backend.probe():
            return backend
    return None


def make_plan(paths: list[str], *, config: BenchConfig, backends: list[str] | None = None,
              checkpoint: str | None = None, find_baseline: bool = True, variants: Variants = Variants()) -> Plan:
    """Every run to make, or a DeployError saying what cannot run and what to do."""
    for name in backends or []:
        get_backend(name)  # unknown names first, before any file is read
    if not paths:
        raise InputError("Give at least one artifact to benchmark (a checkpoint, an ONNX model or an engine).")
    if checkpoint and artifact_kind(checkpoint) != CHECKPOINT:
        raise InputError(f"--checkpoint takes a PyTorch checkpoint (.pt or .pth), not {checkpoint}.")
    paths = list(dict.fromkeys(paths))
    skipped: list[str] = []
    runs_on = {p: _backends_for_artifact(p, backends, skipped) for p in paths}
    used = {b.name for chosen in runs_on.values() for b in chosen}
    for name in backends or []:
        if name not in used:
            check_runs(name, paths[0])  # a backend asked for that runs none of the artifacts
    params = {b.name: runner_parameters(b) for chosen in runs_on.values() for b in chosen}
    _check_variants_apply(variants, params)
    hashes = HashCache()
    infos = [describe_artifact(p, hashes=hashes) for p in paths]  # hashes and metadata: the first file reads
    plan = Plan(runs=[], artifacts=list(infos), skipped=skipped)
    for path, info in zip(paths, infos):
        batches = _batches(info, config, plan.notes)
        for backend in runs_on[path]:
            common = _common_options(params[backend.name], config)
            for label, options in _variants(backend, params[backend.name], variants):
                plain = info.kind == CHECKPOINT and not label and "precision" not in options
                plan.runs.append(RunSpec(artifact=info, backend=backend.name, device=backend.device,
                                         options=tuple({**common, **options}.items()), variant=label,
                                         batches=batches, baseline=plain))
    if find_baseline or checkpoint:
        _add_baselines(plan, config=config, checkpoint=checkpoint, hashes=hashes, params=params)
    return plan


def _check_variants_apply(variants: Variants, params: dict[str, frozenset[str]]) -> None:
    on_gpu = {n for n in params if BACKENDS[n].device == "cuda"}
    for flag, option, gpu_only in (("--fp16", "precision", True), ("--cuda-graphs", "cuda_graphs", True),
                                   ("--channels-last", "channels_last", False)):
        if getattr(variants, flag[2:].replace("-", "_")):
            takers = [n for n in params if option in params[n] and (n in on_gpu or not gpu_only)]
            if not takers:
                raise InputError(f"{flag} applies to runners on a CUDA GPU that take it (such as torch-cuda); none "
                                 f"of the backends chosen here ({', '.join(params)}) does, so drop {flag}.")


def _add_baselines(plan: Plan, *, config: BenchConfig, checkpoint: str | None, hashes: HashCache,
                   params: dict[str, frozenset[str]]) -> None:
    """Add the PyTorch fp32 run of each artifact's checkpoint (found beside it, or ``checkpoint``)."""
    have = {(r.artifact.sha256, r.device) for r in plan.runs if r.baseline}
    wanted: dict[tuple[str, str], tuple[ArtifactInfo, set[int]]] = {}
    given = describe_artifact(checkpoint, hashes=hashes) if checkpoint else None
    plan.given_baseline = given.sha256 if given is not None else ""
    found: dict[str, ArtifactInfo | None] = {a.sha256: a for a in plan.artifacts if a.kind == CHECKPOINT}
    for run in list(plan.runs):
        source = run.artifact.source_sha256
        if given is not None:
            info = given
        elif run.artifact.kind == CHECKPOINT:
            continue
        else:
            if source not in found:
                path = find_checkpoint(source, [Path(r.artifact.path) for r in plan.runs], hashes=hashes)
                found[source] = describe_artifact(path, hashes=hashes) if path else None
                if path is None and source:
                    plan.notes.append(f"No checkpoint with sha256 {source[:12]}... (the source of "
                                      f"{run.artifact.name}) beside it: no PyTorch baseline for it "
                                      f"(give one with --checkpoint).")
            info = found[source]
        if info is None:
            continue
        backend = _baseline_backend(run.device)
        if backend is None or (info.sha256, backend.device) in have:
            continue
        entry = wanted.setdefault((info.sha256, backend.name), (info, set()))
        entry[1].update(run.batches)
    for (sha, name), (info, batches) in wanted.items():
        backend = BACKENDS[name]
        params.setdefault(name, runner_parameters(backend))
        plan.runs.insert(0, RunSpec(artifact=info, backend=name, device=backend.device,
                                    options=tuple(_common_options(params[name], config).items()), variant="",
                                    batches=tuple(sorted(batches)), baseline=True))
        if all(a.sha256 != sha for a in plan.artifacts):
            plan.artifacts.insert(0, info)
