"""What a build needs to know about its ONNX model, read without TensorRT: metadata, I/O, hash."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alexnet_deploy.artifacts.onnx_meta import ModelMeta, check_external_data_paths, load_onnx, read_meta
from alexnet_deploy.engine.cache import onnx_digest
from alexnet_deploy.errors import InputError


@dataclass(frozen=True)
class OnnxSource:
    """The ONNX model an engine is parsed from."""

    path: Path
    meta: ModelMeta
    digest: str  # onnx_digest: model plus external data
    input_name: str
    input_dims: tuple[Any, ...]  # ints, or the dim_param name of a symbolic dimension
    output_names: tuple[str, ...]
    calibration_sha256: str = ""  # INT8 models: the calibration set their ranges came from


def read_source(onnx_path: str | os.PathLike) -> OnnxSource:
    """Metadata, the single image input and the outputs of an exported model (external data vetted, not read)."""
    path = Path(onnx_path)
    external = check_external_data_paths(path)
    proto = load_onnx(path, load_weights=False)
    meta = read_meta(proto, where=str(path))
    initializers = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise InputError(f"{path} has {len(inputs)} inputs ({names}); an engine is built from a model with one "
                         f"image input, as alexnet-deploy export writes.")
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in inputs[0].type.tensor_type.shape.dim)
    return OnnxSource(
        path=path, meta=meta, digest=onnx_digest(path, external), input_name=inputs[0].name, input_dims=dims,
        output_names=tuple(o.name for o in proto.graph.output),
        calibration_sha256=meta.extra.get("int8_calib_sha256", ""),
    )
