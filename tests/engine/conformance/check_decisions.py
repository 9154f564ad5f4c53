"""The pure decisions of a build, run against this TensorRT version's real enums and classes.

Run by ``tests/engine/test_conformance.py`` once per supported version (``import
tensorrt`` is that version's bindings over stub libraries).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorrt as trt

from alexnet_deploy.artifacts.engine_sidecar import runtime_problem
from alexnet_deploy.engine.cache import KeyParts, cache_key
from alexnet_deploy.engine.inspection import summarize_layers
from alexnet_deploy.engine.plan import BatchProfile, BuildOptions, builder_settings, network_flags, profile_shapes
from alexnet_deploy.engine.progress import progress_monitor
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.trt_env import DTYPE_NAMES, dtype_name, last_error, make_logger
from tests.builders import engine_with_sidecar

MAJOR = int(trt.__version__.split(".")[0])
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SUPPORTED = ("10.3.0", "10.16.1.11", "11.4.0.106")


def test_network_is_strongly_typed_by_name():
    # STRONGLY_TYPED is bit 1 in 10.x and bit 0 in 11.x (where it is accepted and ignored).
    assert network_flags(trt) == {10: 1 << 1, 11: 1 << 0}[MAJOR]
    assert network_flags(trt) == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def test_builder_settings_are_this_versions_enum_members():
    settings = builder_settings(trt, BuildOptions(precision="int8", workspace=3 << 30, opt_level=5))
    (pool, size), = settings.memory_pool_limits
    assert isinstance(pool, trt.MemoryPoolType) and pool == trt.MemoryPoolType.WORKSPACE and size == 3 << 30
    assert isinstance(settings.profiling_verbosity, trt.ProfilingVerbosity)
    assert settings.profiling_verbosity.name == "DETAILED"
    assert settings.optimization_level == 5


def test_profile_shapes_convert_to_this_versions_dims():
    shapes = profile_shapes("input", ("N", 3, 227, 227), batch=BatchProfile(1, 8, 32), input_size=227)
    for shape in (shapes.min, shapes.opt, shapes.max):
        dims = trt.Dims(shape)  # what IOptimizationProfile.set_shape makes of our tuples
        assert tuple(dims) == shape
    assert trt.Dims(shapes.max)[0] == 32


def test_cache_key_and_sidecar_checks_with_real_version_strings():
    def key(version: str) -> str:
        return cache_key(KeyParts("o" * 64, version, "Orin", "8.7", BuildOptions().to_dict()))

    assert len({key(v) for v in SUPPORTED}) == len(SUPPORTED)
    assert key(trt.__version__) == key(trt.__version__)


def test_sidecar_names_this_version_or_is_refused(tmp_path):
    for version in SUPPORTED:
        sidecar = engine_with_sidecar(tmp_path / f"{version}.engine", tensorrt_version=version)
        problem = runtime_problem(sidecar, tensorrt_version=trt.__version__, compute_capability="8.7")
        assert (problem == "") == (version == trt.__version__), problem
        if problem:
            assert f"built with TensorRT {version} and this machine has TensorRT {trt.__version__}" in problem


def test_layer_precisions_from_this_versions_inspector_format():
    sample = "inspector_11x_int8.json" if MAJOR >= 11 else "inspector_10x_int8.json"
    summary = summarize_layers((SAMPLES / sample).read_text())
    assert summary.counts == {"FP32": 5, "INT8": 3}
    # The precisions we count are this version's DataType members (FP32 is FLOAT, INT8 is INT8).
    names = {"FP32": "FLOAT", "FP16": "HALF", "INT8": "INT8"}
    assert all(hasattr(trt.DataType, names[p]) for p in summary.counts)
    assert ("I/O Tensors" in json.loads((SAMPLES / sample).read_text())) == (MAJOR >= 11)


def test_dtypes_io_modes_and_severities_are_named_in_this_version():
    assert all(hasattr(trt.DataType, name) for name in DTYPE_NAMES)
    assert dtype_name(trt.DataType.FLOAT) == "float32" and dtype_name(trt.DataType.HALF) == "float16"
    with pytest.raises(BackendError, match="TensorRT type FP8"):
        dtype_name(trt.DataType.FP8)
    assert {trt.TensorIOMode.INPUT.name, trt.TensorIOMode.OUTPUT.name} == {"INPUT", "OUTPUT"}
    assert {"INTERNAL_ERROR", "ERROR", "WARNING"} <= set(trt.ILogger.Severity.__members__)


def test_logger_keeps_errors_for_our_messages():
    logger = make_logger(trt)
    assert isinstance(logger, trt.ILogger)
    logger.log(trt.ILogger.Severity.WARNING, "slow tactic")
    logger.log(trt.ILogger.Severity.ERROR, "CUDA initialization failure with error: 35")
    logger.log(trt.ILogger.Severity.INFO, "chatter")
    assert last_error(logger) == "CUDA initialization failure with error: 35"
    assert logger.warnings == ["slow tactic"]


def test_progress_monitor_reports_phases_and_never_stops_the_build():
    events = []
    monitor = progress_monitor(trt, lambda *event: events.append(event))
    assert isinstance(monitor, trt.IProgressMonitor)
    monitor.phase_start("Building engine", "", 2)
    assert monitor.step_complete("Building engine", 0) is True
    monitor.phase_finish("Building engine")
    assert events == [("start", "Building engine", 0, 2), ("step", "Building engine", 1, 2),
                      ("finish", "Building engine", 2, 2)]

    def broken(*event):
        raise RuntimeError("bar broke")

    monitor = progress_monitor(trt, broken)
    monitor.phase_start("Tactic selection", "Building engine", 3)
    assert monitor.step_complete("Tactic selection", 0) is True
    assert isinstance(monitor.error, RuntimeError)
