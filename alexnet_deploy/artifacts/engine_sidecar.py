"""The JSON sidecar beside every engine: what it was built from, for which TensorRT and GPU, and how.

A TensorRT engine cannot describe itself without TensorRT and a GPU, and it
runs only under the TensorRT version and on the compute capability it was
built for. ``models/alexnet.int8.engine`` therefore travels with
``models/alexnet.int8.engine.json``: the cache key and its parts (ONNX hash,
TensorRT version, GPU name, compute capability, build options), the ONNX
model's metadata (arch, classes, preprocessing), the engine's own hash and
size, build time and the precision each layer runs in. Everything here works
without TensorRT (``alexnet-deploy info model.engine``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet_deploy.core.fsutil import sha256_file, write_text_atomic
from alexnet_deploy.core.results import Result
from alexnet_deploy.errors import InputError

SIDECAR_FORMAT = 1
ENGINE_SUFFIXES = (".engine", ".plan")
_REQUIRED = {"key": str, "engine_sha256": str, "engine_bytes": int, "tensorrt_version": str, "gpu_name": str,
             "compute_capability": str, "onnx_sha256": str, "precision": str, "options": dict, "model": dict}


@dataclass
class EngineSidecar(Result):
    """What ``<engine>.json`` holds (see module docstring)."""

    key: str
    engine_sha256: str
    engine_bytes: int
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    onnx: str  # the ONNX file the engine was parsed from, as given
    onnx_sha256: str  # model file plus its external data
    precision: str  # fp32 | fp16 | int8 (the ONNX model's)
    options: dict[str, Any]  # BuildOptions.to_dict()
    model: dict[str, Any]  # ModelMeta.to_dict() of the ONNX model
    calibration_sha256: str = ""  # INT8: the calibration set the ranges came from
    input_name: str = "input"
    output_names: list[str] = field(default_factory=lambda: ["logits"])
    profile: dict[str, list[int]] = field(default_factory=dict)  # min/opt/max input shapes
    layer_precisions: dict[str, int] = field(default_factory=dict)  # "INT8" -> layers running INT8, ...
    layers: list[list[str]] = field(default_factory=list)  # [name, type, precision] per engine layer
    built_at: str = ""  # UTC, ISO 8601
    build_seconds: float = 0.0
    builder: dict[str, str] = field(default_factory=dict)  # versions of the tools that built it
    format_version: int = SIDECAR_FORMAT

    def key_parts(self) -> dict[str, Any]:
        """The parts the cache key was made of."""
        return {"onnx_sha256": self.onnx_sha256, "tensorrt_version": self.tensorrt_version,
                "gpu_name": self.gpu_name, "compute_capability": self.compute_capability, "options": self.options}


def sidecar_path(engine: str | os.PathLike) -> Path:
    """``model.int8.engine`` -> ``model.int8.engine.json``."""
    path = Path(engine)
    return path.with_name(path.name + ".json")


def engine_of(path: str | os.PathLike) -> Path:
    """The engine a path names: the engine itself, or the engine beside a ``.engine.json`` sidecar."""
    path = Path(path)
    return path.with_name(path.name[: -len(".json")]) if path.name.endswith(".json") else path


def write_sidecar(engine: str | os.PathLike, sidecar: EngineSidecar) -> Path:
    """Write ``sidecar`` beside ``engine`` atomically; returns its path."""
    return write_text_atomic(sidecar_path(engine), sidecar.to_json() + "\n")


def read_sidecar(engine: str | os.PathLike) -> EngineSidecar | None:
    """The sidecar of ``engine`` (None when there is none); InputError when it is damaged."""
    path = sidecar_path(engine)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not readable JSON ({type(exc).__name__}); rebuild the engine with "
                         f"alexnet-deploy build-engine.") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path} is not an engine sidecar; rebuild the engine with alexnet-deploy build-engine.")
    wrong = [name for name, kind in _REQUIRED.items() if not isinstance(raw.get(name), kind)]
    if wrong:
        raise InputError(f"{path} lacks or garbles {', '.join(wrong)}; rebuild the engine with "
                         f"alexnet-deploy build-engine.")
    if raw.get("format_version", SIDECAR_FORMAT) > SIDECAR_FORMAT:
        raise InputError(f"{path} was written by a newer alexnet-deploy (format {raw['format_version']}); "
                         f"upgrade alexnet-deploy to read it.")
    return EngineSidecar.from_dict(raw)


def runtime_problem(sidecar: EngineSidecar, *, tensorrt_version: str, compute_capability: str | None) -> str:
    """Why this engine cannot run under ``tensorrt_version`` on ``compute_capability`` ("" when it can).

    An engine runs only under the TensorRT version that built it and on the
    compute capability it was built for. ``compute_capability=None`` (GPU not
    identified yet) checks the version alone.
    """
    if sidecar.tensorrt_version != tensorrt_version:
        return (f"it was built with TensorRT {sidecar.tensorrt_version} and this machine has TensorRT "
                f"{tensorrt_version}")
    if compute_capability is not None and sidecar.compute_capability != compute_capability:
        return (f"it was built for compute capability {sidecar.compute_capability} ({sidecar.gpu_name}) and this "
                f"GPU has {compute_capability}")
    return ""


def engine_problem(engine: str | os.PathLike, sidecar: EngineSidecar) -> str:
    """Why the sidecar does not describe the engine file beside it ("" when size and sha256 match)."""
    path = Path(engine)
    if not path.is_file():
        return f"{path} does not exist"
    if path.stat().st_size != sidecar.engine_bytes:
        return f"{path} has {path.stat().st_size} bytes and its sidecar describes {sidecar.engine_bytes}"
    if sha256_file(path) != sidecar.engine_sha256:
        return f"{path} is not the engine its sidecar describes (sha256 differs)"
    return ""


def describe_engine(path: str | os.PathLike) -> dict[str, Any]:
    """What ``alexnet-deploy info`` shows for an engine (or its sidecar), read from the sidecar alone."""
    engine = engine_of(path)
    if not engine.exists() and not sidecar_path(engine).exists():
        raise InputError(f"Engine {engine} does not exist; check the path.")
    sidecar = read_sidecar(engine)
    if sidecar is None:
        raise InputError(f"{engine} has no sidecar {sidecar_path(engine).name}, so nothing describes it without "
                         f"TensorRT and a GPU; build engines with alexnet-deploy build-engine.")
    raw = sidecar.to_dict()
    model = raw.pop("model")
    layers = raw.pop("layers")
    out: dict[str, Any] = {"engine": str(engine), "engine_present": engine.is_file()}
    if engine.is_file():
        out["engine_matches_sidecar"] = engine_problem(engine, sidecar) or "yes"
    out.update({k: v for k, v in raw.items() if v not in ("", None, {}, [])})  # unset fields say nothing
    out["layers"] = f"{len(layers)} engine layers (name, type, precision in the sidecar)"
    for name in ("arch", "input_size", "resize", "mean", "std", "source_sha256"):
        if name in model:
            out[f"model.{name}"] = model[name]
    out["num_classes"] = len(model.get("class_names", []))
    out["class_names"] = list(model.get("class_names", []))
    return out
