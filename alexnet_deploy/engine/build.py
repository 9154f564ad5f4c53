"""Building an engine: the TensorRT calls, around the pure decisions of ``plan``, ``cache`` and ``inspection``.

``open_toolchain`` reaches the hardware boundary first (tensorrt importable,
a builder creatable, the GPU identified), so a machine that cannot build
stops with one sentence before any work. ``build_engine`` then returns at
once when ``--out`` already holds an engine with the same key; otherwise it
parses the ONNX file into a strongly typed network, sets the builder config,
one optimization profile and the timing cache, builds, inspects each layer's
precision, and writes the engine and its sidecar (staged, then renamed).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from alexnet_deploy.artifacts.engine_sidecar import EngineSidecar, read_sidecar, write_sidecar
from alexnet_deploy.core.fsutil import atomic_path
from alexnet_deploy.core.results import Result
from alexnet_deploy.engine.cache import KeyParts, cache_key, changed_parts, reusable_engine
from alexnet_deploy.engine.inspection import LayerSummary, int8_failure, summarize_layers
from alexnet_deploy.engine.plan import (
    BatchProfile,
    BuilderSettings,
    BuildOptions,
    ProfileShapes,
    builder_settings,
    network_flags,
    profile_shapes,
)
from alexnet_deploy.engine.progress import ProgressReport, progress_monitor
from alexnet_deploy.engine.source import OnnxSource
from alexnet_deploy.engine.timing_cache import attach_timing_cache, save_timing_cache
from alexnet_deploy.errors import BackendError, InputError
from alexnet_deploy.runtimes.trt_env import (
    GpuIdentity,
    gpu_identity,
    import_tensorrt,
    last_error,
    make_logger,
    new_builder,
    new_runtime,
)


@dataclass
class Toolchain:
    """TensorRT, its logger and the GPU engines are built for; the builder is made on first use."""

    trt: ModuleType
    logger: Any
    gpu: GpuIdentity
    _builder: Any = None

    def builder(self) -> Any:
        if self._builder is None:
            self._builder = new_builder(self.trt, self.logger)
        return self._builder


def open_toolchain() -> Toolchain:
    """TensorRT and the GPU, or a DeployError saying which is missing (checked before any work)."""
    trt = import_tensorrt(purpose="building engines")
    logger = make_logger(trt)
    gpu = gpu_identity()
    if gpu is None:
        new_builder(trt, logger)  # without a usable GPU this raises the one-sentence BackendError
        raise BackendError("TensorRT made a builder, but the GPU cannot be identified for the engine's sidecar "
                           "(torch sees no CUDA device and NVML is missing); install a CUDA build of torch or "
                           "nvidia-ml-py.")
    return Toolchain(trt=trt, logger=logger, gpu=gpu)


@dataclass
class EngineBuild(Result):
    """What ``build_engine`` did: the engine, its sidecar, and whether it came from the cache."""

    out: str
    cache_hit: bool
    sidecar: EngineSidecar
    rebuilt_because: list[str] = field(default_factory=list)  # key parts that changed since the last engine
    timing_cache: str = ""
    written: bool = True  # False when a check failed: nothing was written at ``out``

    def failures(self) -> list[str]:
        """An INT8 engine in which no layer runs INT8 is a failed check, not a silent float engine."""
        if self.sidecar.precision != "int8" or self.sidecar.layer_precisions.get("INT8", 0):
            return []
        return [int8_failure(LayerSummary(layers=tuple(tuple(layer) for layer in self.sidecar.layers),
                                          counts=self.sidecar.layer_precisions))]


def build_engine(source: OnnxSource, out: str | os.PathLike, *, options: BuildOptions, toolchain: Toolchain,
                 timing_cache_file: str | os.PathLike | None = None, rebuild: bool = False,
                 progress: ProgressReport | None = None) -> EngineBuild:
    """Build (or reuse) the engine for ``source`` at ``out`` with ``options``; see the module docstring.

    An INT8 build in which no layer runs INT8 is a failed check (see
    ``EngineBuild.failures``): the result says so and nothing is written.
    """
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file path such as {out / 'alexnet.engine'}.")
    trt, gpu = toolchain.trt, toolchain.gpu
    shapes = profile_shapes(source.input_name, source.input_dims, batch=options.batch,
                            input_size=source.meta.input_size)
    options = replace(options, batch=BatchProfile(shapes.min[0], shapes.opt[0], shapes.max[0]))
    parts = KeyParts(onnx_sha256=source.digest, tensorrt_version=trt.__version__, gpu_name=gpu.name,
                     compute_capability=gpu.compute_capability, options=options.to_dict())
    key = cache_key(parts)
    cache_file = str(timing_cache_file) if timing_cache_file else ""
    hit = None if rebuild else reusable_engine(out, key)
    if hit is not None:
        return EngineBuild(out=str(out), cache_hit=True, sidecar=hit, timing_cache=cache_file)
    previous = _previous_parts(out)
    start = time.perf_counter()
    plan = serialize_network(toolchain, source.path, builder_settings(trt, options), shapes,
                             timing_cache_file=timing_cache_file, progress=progress)
    summary = summarize_layers(inspect_plan(toolchain, plan))
    seconds = time.perf_counter() - start
    sidecar = EngineSidecar(
        key=key, engine_sha256=hashlib.sha256(plan).hexdigest(), engine_bytes=len(plan),
        tensorrt_version=trt.__version__, gpu_name=gpu.name, compute_capability=gpu.compute_capability,
        onnx=str(source.path), onnx_sha256=source.digest, precision=options.precision, options=options.to_dict(),
        model=source.meta.to_dict(), calibration_sha256=source.calibration_sha256, input_name=source.input_name,
        output_names=list(source.output_names),
        profile={"min": list(shapes.min), "opt": list(shapes.opt), "max": list(shapes.max)},
        layer_precisions=summary.counts, layers=[list(layer) for layer in summary.layers],
        built_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(seconds, 3), builder=_builder_versions(trt),
    )
    rebuilt = changed_parts(previous, parts) if previous else []
    result = EngineBuild(out=str(out), cache_hit=False, sidecar=sidecar, rebuilt_because=rebuilt,
                         timing_cache=cache_file)
    if result.failures():
        result.written = False
        return result
    with atomic_path(out) as tmp:
        tmp.write_bytes(plan)
    write_sidecar(out, sidecar)
    return result


def apply_settings(config: Any, settings: BuilderSettings) -> None:
    """Set ``settings`` on an IBuilderConfig (no precision flags: the network is strongly typed)."""
    for pool, size in settings.memory_pool_limits:
        config.set_memory_pool_limit(pool, size)
    config.builder_optimization_level = settings.optimization_level
    config.profiling_verbosity = settings.profiling_verbosity


def serialize_network(toolchain: Toolchain, onnx_path: Path, settings: BuilderSettings, shapes: ProfileShapes, *,
                      timing_cache_file: str | os.PathLike | None = None,
                      progress: ProgressReport | None = None) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build its serialized engine (the plan)."""
    trt, logger = toolchain.trt, toolchain.logger
    builder = toolchain.builder()
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        raise BackendError(parse_failure(trt, parser, onnx_path, logger))
    config = builder.create_builder_config()
    apply_settings(config, settings)
    profile = builder.create_optimization_profile()
    profile.set_shape(shapes.input_name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)
    monitor = progress_monitor(trt, progress) if progress else None
    if monitor is not None:
        config.progress_monitor = monitor
    if timing_cache_file:
        attach_timing_cache(config, timing_cache_file)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT {trt.__version__} could not build an engine from {onnx_path}: "
                           f"{last_error(logger, 'it gave no reason')}.")
    if timing_cache_file:
        save_timing_cache(config, timing_cache_file)
    return bytes(memoryview(serialized))


def parse_failure(trt: ModuleType, parser: Any, onnx_path: Path, logger: Any) -> str:
    """One sentence naming the nodes TensorRT's ONNX parser refused (the first three)."""
    problems = []
    for index in range(min(parser.num_errors, 3)):
        parser_error = parser.get_error(index)
        node = parser_error.node_name() or f"node {parser_error.node()}"
        problems.append(f"{node} ({parser_error.node_operator()}): {parser_error.desc()}")
    said = "; ".join(problems) or last_error(logger, "no reason given")
    return (f"TensorRT {trt.__version__} cannot parse {onnx_path}: {said}; build from a model written by "
            f"alexnet-deploy export, convert or quantize.")


def inspect_plan(toolchain: Toolchain, plan: bytes) -> str:
    """The engine inspector's JSON for a serialized engine (layer names, types and tensor formats)."""
    trt = toolchain.trt
    runtime = new_runtime(trt, toolchain.logger)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise BackendError(f"TensorRT {trt.__version__} cannot load the engine it just built: "
                           f"{last_error(toolchain.logger, 'it gave no reason')}.")
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)


def _previous_parts(out: Path) -> dict[str, Any]:
    try:
        previous = read_sidecar(out)
    except InputError:
        return {}
    return previous.key_parts() if previous else {}


def _builder_versions(trt: ModuleType) -> dict[str, str]:
    from alexnet_deploy.artifacts.onnx_meta import exporter_versions

    return {"tensorrt": trt.__version__, **{k: v for k, v in exporter_versions().items() if k != "onnxscript"}}
