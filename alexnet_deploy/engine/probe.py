"""A probe engine for per-layer diagnosis: the engine rebuilt from its source ONNX with layer outputs marked.

A built engine returns only its logits, and TensorRT cannot expose a tensor
after the build. So ``verify --per-layer`` rebuilds: the ONNX file the sidecar
names (checked against the sha256 it records) gets the layer tensors as extra
graph outputs, which TensorRT's ONNX parser marks as network outputs, and it is
built with the engine's own build options on this machine. Marked outputs keep
TensorRT from fusing those tensors away, so the probe may run somewhat
differently; verify holds the probe's logits to the engine's (``verify.layers``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from alexnet_deploy.artifacts.engine_sidecar import EngineSidecar, read_sidecar
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.base import Runner


def source_onnx(engine_path: Path, sidecar: EngineSidecar) -> Path:
    """The ONNX file ``engine_path`` was built from: the path the sidecar records, else that name beside the engine.

    Refused when neither exists or the file changed since the build (its digest differs from the sidecar's).
    """
    from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths
    from alexnet_deploy.engine.cache import onnx_digest

    recorded = Path(sidecar.onnx)
    for candidate in (recorded, engine_path.parent / recorded.name):
        if candidate.is_file():
            if onnx_digest(candidate, check_external_data_paths(candidate)) != sidecar.onnx_sha256:
                raise BackendError(f"Per-layer for {engine_path} rebuilds it from {candidate}, which changed since the "
                                   f"engine was built; rebuild the engine or restore that ONNX file.")
            return candidate
    raise BackendError(f"Per-layer for {engine_path} rebuilds it from the ONNX file it was built from ({sidecar.onnx}), "
                       f"which is not there; put it back (or beside the engine) to diagnose layers.")


def open_engine_probe(info, backend: str, tensors: Sequence[str], folder: Path) -> Runner:
    """A ``backend`` runner of a probe engine that also returns ``tensors`` (a verify ``ProbeOpener``)."""
    from alexnet_deploy.engine.build import build_engine, open_toolchain
    from alexnet_deploy.engine.plan import BatchProfile, BuildOptions
    from alexnet_deploy.engine.source import read_source
    from alexnet_deploy.runtimes.registry import open_runner
    from alexnet_deploy.verify.layers import write_probe

    engine_path = Path(info.path)
    sidecar = read_sidecar(engine_path)
    if sidecar is None:
        raise BackendError(f"{engine_path} has no sidecar naming the ONNX file it was built from, so it cannot be rebuilt "
                           f"with its layers exposed; build engines with alexnet-deploy build-engine.")
    onnx_path = source_onnx(engine_path, sidecar)
    probe_onnx, _ = write_probe(onnx_path, tensors, folder)
    raw = sidecar.options
    batch = raw.get("batch")
    options = BuildOptions(precision=str(raw.get("precision", sidecar.precision)),
                           batch=BatchProfile(*batch) if batch else None, workspace=int(raw["workspace"]),
                           opt_level=int(raw["opt_level"]))
    build = build_engine(read_source(probe_onnx), folder / "probe.engine", options=options, toolchain=open_toolchain())
    if not build.written:
        raise BackendError(f"TensorRT could not build the per-layer probe of {engine_path}: {'; '.join(build.failures())}.")
    return open_runner(backend, build.out)
