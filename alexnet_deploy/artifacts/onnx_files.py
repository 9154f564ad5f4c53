"""Saving ONNX models safely: staged next to the target, checked, then renamed into place.

A model may come with an external data file (weights past protobuf's 2 GB
limit), so staging is a folder rather than one temporary file: the data file
moves first and the model last, so the model path never points at missing weights.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from alexnet_deploy.core.outputs import write_error
from alexnet_deploy.core.tempfiles import remove, sweep_stale, temp_sibling
from alexnet_deploy.core.transaction import make_parents, place
from alexnet_deploy.errors import ExportError

PROTOBUF_LIMIT = 2**31 - 1
# Headroom for the metadata and graph beside the weights when deciding whether one file fits.
SINGLE_FILE_LIMIT = PROTOBUF_LIMIT - (64 << 20)


class Discard(Exception):
    """Raised inside ``staged_output`` when a check failed: nothing is written, and no error escapes."""


@contextlib.contextmanager
def staged_output(out: str | os.PathLike) -> Iterator[Path]:
    """A path in a fresh folder beside ``out``; on success its file(s) are renamed into place.

    On failure (or ``Discard``) the folder is removed and ``out`` left alone; a
    write the filesystem refused (full disk, quota) is an OutputError naming
    ``out``. The folder's name carries this process's pid, so a later run removes
    it if this one is killed outright; inside a transaction the renames are
    undone if the command fails later (``core.transaction``).
    """
    out = Path(out)
    stage: Path | None = None
    try:
        make_parents(out)
        sweep_stale(out.parent)
        stage = temp_sibling(out)
        stage.mkdir()
        staged = stage / out.name
        yield staged
        for item in sorted(stage.iterdir(), key=lambda p: p == staged):
            place(item, out.parent / item.name)
    except Discard:
        pass
    except BaseException as exc:
        error = write_error(exc, out)
        if error is not None:
            raise error from None
        raise
    finally:
        if stage is not None:
            remove(stage)


def weight_bytes(proto) -> int:
    """Bytes the initializers take when serialised, from their shapes (no data is touched)."""
    from onnx import helper

    total = 0
    for init in proto.graph.initializer:
        itemsize = helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        total += int(np.prod(init.dims, dtype=np.int64)) * itemsize
    return total


def save_model(proto, path: Path, *, external_data: bool | None = None) -> list[Path]:
    """Save ``proto`` as one file when it fits, else with ``<name>.data`` beside it; returns the data files."""
    import onnx

    if external_data is None:
        external_data = weight_bytes(proto) > SINGLE_FILE_LIMIT
    if not external_data:
        onnx.save_model(proto, str(path))
        return []
    data_name = f"{path.name}.data"
    onnx.save_model(
        proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=data_name, size_threshold=1024
    )
    return [path.parent / data_name]


def check_onnx_file(path: Path) -> None:
    """onnx.checker with full shape inference, on a file whose external data is vetted first."""
    import onnx

    from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths

    check_external_data_paths(path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"The model fails onnx.checker: {str(exc).strip().splitlines()[0]}") from None


def files_size(path: Path, external: list[Path]) -> int:
    """Bytes of a saved model and its external data files."""
    return sum(p.stat().st_size for p in [path, *external])


def inferred_value_info(model) -> list:
    """value_info of every intermediate tensor, inferred on a weightless copy of the graph (cheap).

    Weights only need their shapes for inference, so they become graph inputs; small initializers may be
    shape operands (Reshape's target) and stay as they are.
    """
    import onnx

    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    light.graph.node.extend(model.graph.node)
    light.graph.input.extend(model.graph.input)
    light.graph.output.extend(model.graph.output)
    for init in model.graph.initializer:
        if int(np.prod(init.dims)) > 64:
            light.graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            light.graph.initializer.append(init)
    return list(onnx.shape_inference.infer_shapes(light).graph.value_info)
