"""FP16 models from exported fp32 ONNX files, with fp32 kept where fp16 would overflow.

fp16 tops out at 65504. LRN's sum of squares passes that easily, so LRN nodes
always stay fp32. Every other node is checked on calibration images: the fp32
model runs in onnxruntime with every intermediate tensor as an extra output,
and a node whose input or output activations (or weights) reach ``margin`` x
65504 stays fp32 too. The margin is headroom for images hotter than the
calibration set. Kept nodes and their reasons go into the model's metadata
(``extra["fp16.kept_fp32"]``). Inputs and outputs stay fp32 so callers feed
the same arrays as for the fp32 model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alexnet_deploy.artifacts.onnx_checks import graph_precision
from alexnet_deploy.artifacts.onnx_files import (Discard, check_onnx_file, files_size, inferred_value_info, save_model,
                                                 staged_output)
from alexnet_deploy.artifacts.paths import check_output
from alexnet_deploy.core.results import Result
from alexnet_deploy.core.tempfiles import temp_sibling
from alexnet_deploy.errors import DeployError, ExportError, InputError
from alexnet_deploy.runtimes.base import logits, run_batches
from alexnet_deploy.runtimes.registry import open_runner
from alexnet_deploy.verify.compare import ParityResult, compare_logits

FP16_MAX = 65504.0
DEFAULT_MARGIN = 1 / 16
MIN_AGREEMENT = 0.995
TIE_TOL = 1e-3  # relative to the largest |logit|: fp16 rounding decides near-ties either way
ALWAYS_FP32_OPS = ("LRN",)


@dataclass
class Fp16Result(Result):
    """What ``convert_fp16`` wrote; truthy when the fp16 model agreed with the fp32 one."""

    out: str
    kept_fp32: list[dict[str, str]]
    threshold: float
    calibration_images: int
    parity: ParityResult
    size_bytes: int
    seconds: dict[str, float] = field(default_factory=dict)
    written: bool = True

    def failures(self) -> list[str]:
        return [f"fp16 agreement: {f}" for f in self.parity.failures()]


def convert_fp16(
    onnx_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    calib_images: np.ndarray | None = None,
    check_images: np.ndarray | None = None,
    margin: float = DEFAULT_MARGIN,
    image_source: str = "calibration images",
    min_agreement: float = MIN_AGREEMENT,
) -> Fp16Result:
    """Write an fp16 version of the exported fp32 model ``onnx_path`` to ``out``.

    ``calib_images`` (N, 3, S, S float32, preprocessed) decide which nodes stay
    fp32 besides LRN; without them only LRN does. ``check_images`` (default:
    the calibration images) must give top-1 agreement with the fp32 model of
    at least ``min_agreement`` and finite logits; otherwise the result is falsy
    and nothing is written.
    """
    from alexnet_deploy.artifacts.onnx_meta import load_onnx, read_meta, write_meta

    start = time.perf_counter()
    src, dst = Path(onnx_path), Path(out)
    if not 0 < margin <= 1:
        raise InputError(f"The fp16 safety margin must be in (0, 1], got {margin}; 1/16 keeps 16x headroom.")
    check_output(dst, example="model.fp16.onnx", inputs={"the fp32 model": src})
    calib = calib_images if calib_images is not None else np.zeros((0, 3, 1, 1), np.float32)
    images = check_images if check_images is not None else calib
    if not len(images):
        raise InputError("The fp16 conversion needs calibration or check images to verify the fp16 model.")
    model = load_onnx(src)
    meta = read_meta(model, where=str(src))
    if meta.precision != "fp32":
        raise InputError(f"{src} is already {meta.precision}; convert the fp32 model made by `alexnet-deploy export` instead.")
    threshold = margin * FP16_MAX
    try:
        value_info = inferred_value_info(model)
    except Exception as exc:  # onnx raises InferenceError, ValidationError, ... for a graph it cannot type
        raise InputError(f"{src} fails ONNX shape inference ({str(exc).strip().splitlines()[0]}); re-export it.") \
            from None
    with _probe_runner(model, src, value_info) as probe:
        peaks = _peaks(probe, calib)
        reference = logits(probe, images)  # the graph's own output comes first
    # The probe's copy of the weights and extra outputs is not needed for the conversion.
    model.graph.value_info.extend(value_info)
    kept = _nodes_to_keep(model, peaks, threshold)
    converted = _convert(model, [k["node"] for k in kept])
    if graph_precision(converted) != "fp16":
        raise InputError(f"Every node of {src} would stay fp32 at margin {margin:g} (its activations reach "
                         f"{max(peaks.values(), default=0):.4g}), so there is no fp16 model to make; raise the margin.")
    del model
    extra = {
        "fp16.kept_fp32": json.dumps(kept),
        "fp16.margin": repr(margin),
        "fp16.threshold": f"{threshold:g}",
        "fp16.calibration_images": str(len(calib)),
    }
    write_meta(converted, meta.with_stage(precision="fp16", extra=extra))
    size = 0
    with staged_output(dst) as staged:
        external = save_model(converted, staged)
        del converted
        check_onnx_file(staged)
        with open_runner("ort-cpu", staged) as runner:
            candidate = logits(runner, images)
        parity = compare_logits(
            reference, candidate, rel_tol=0.0, tie_tol=TIE_TOL, image_source=image_source, min_agreement=min_agreement
        )
        if not parity:
            raise Discard
        size = files_size(staged, external)
    return Fp16Result(
        out=str(dst),
        kept_fp32=kept,
        threshold=threshold,
        calibration_images=len(calib),
        parity=parity,
        size_bytes=size,
        seconds={"total": round(time.perf_counter() - start, 3)},
        written=bool(parity),
    )


def activation_peaks(onnx_path: str | os.PathLike, images: np.ndarray) -> dict[str, float]:
    """Largest |value| of every float activation the fp32 model computes on ``images`` (input included)."""
    from alexnet_deploy.artifacts.onnx_meta import load_onnx

    model = load_onnx(onnx_path)
    with _probe_runner(model, Path(onnx_path), inferred_value_info(model)) as probe:
        return _peaks(probe, images)


def _probe_runner(model, src: Path, value_info: list):
    """An ort-cpu runner of ``model`` whose outputs are its own, then every float intermediate tensor."""
    import onnx

    from alexnet_deploy.artifacts.onnx_meta import load_onnx

    skip = {o.name for o in model.graph.output} | {i.name for i in model.graph.initializer}
    extra = [v for v in value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and v.name not in skip]
    n_out = len(model.graph.output)
    model.graph.output.extend(extra)
    try:
        serialized = model.SerializeToString()
    except Exception:  # past protobuf's 2 GB limit (upb raises ValueError or EncodeError)
        serialized = None
    finally:
        del model.graph.output[n_out:]
    # Fusions would hide the tensors we want to observe.
    if serialized is not None:
        return open_runner("ort-cpu", serialized, optimize=False)
    # Too big for one protobuf: a graph-only probe beside the source finds its external data.
    graph_only = load_onnx(src, load_weights=False)
    graph_only.graph.output.extend(extra)
    probe = temp_sibling(src)  # owner-tagged: a killed run's probe is swept later
    try:
        onnx.save_model(graph_only, str(probe))
        return open_runner("ort-cpu", probe, optimize=False)
    finally:
        probe.unlink(missing_ok=True)


def _peaks(runner, images: np.ndarray, *, chunk: int = 8) -> dict[str, float]:
    peaks: dict[str, float] = {runner.input_name: float(np.abs(images).max())} if len(images) else {}
    for outputs in run_batches(runner, images, chunk=chunk):
        for name, value in outputs.items():
            peak = float(np.abs(value).max()) if np.isfinite(value).all() else float("inf")
            peaks[name] = max(peaks.get(name, 0.0), peak)
    return peaks


def _nodes_to_keep(model, peaks: dict[str, float], threshold: float) -> list[dict[str, str]]:
    """Nodes that stay fp32, each with the reason."""
    from onnx import numpy_helper

    weight_peaks = {i.name: float(np.abs(numpy_helper.to_array(i)).max()) for i in model.graph.initializer if i.data_type == 1 and np.prod(i.dims) > 0}
    kept = []
    for node in model.graph.node:
        if node.op_type in ALWAYS_FP32_OPS:
            kept.append({"node": node.name, "op": node.op_type, "reason": "LRN sum of squares can pass the fp16 range"})
            continue
        for tensor in [*node.input, *node.output]:
            if peaks.get(tensor, 0.0) >= threshold:
                kind, value = "activation", peaks[tensor]
            elif weight_peaks.get(tensor, 0.0) >= threshold:
                kind, value = "weight", weight_peaks[tensor]
            else:
                continue
            kept.append({"node": node.name, "op": node.op_type, "reason": f"{kind} {tensor} reaches {value:.4g} >= {threshold:g}"})
            break
    return kept


def _convert(model, keep_nodes: list[str]):
    """fp16 weights and activations with fp32 I/O; ``keep_nodes`` and LRN in fp32; IR version ORT loads."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    from alexnet_deploy.artifacts.onnx_meta import IR_VERSION

    unnamed = [n for n in model.graph.node if not n.name]
    for i, node in enumerate(unnamed):
        node.name = f"{node.op_type}_{i}"
    converted = convert_float_to_float16(
        model,
        keep_io_types=True,
        disable_shape_infer=True,  # value_info was inferred once, on a weightless copy
        op_block_list=[*DEFAULT_OP_BLOCK_LIST, *ALWAYS_FP32_OPS],
        node_block_list=keep_nodes,
    )
    converted.ir_version = min(converted.ir_version, IR_VERSION)
    # The converter leaves stale value_info types around fp32-kept nodes; the checker re-infers them.
    del converted.graph.value_info[:]
    _topological_sort(converted.graph)
    return converted


def _topological_sort(graph) -> None:
    """Reorder nodes so each comes after its inputs' producers (the converter appends its casts)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ExportError("The fp16 graph has a cycle or a missing input; this is a bug in the conversion.")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def fp16_path(fp32: str | os.PathLike) -> Path:
    """``models/alexnet.onnx`` -> ``models/alexnet.fp16.onnx``."""
    path = Path(fp32)
    stem = path.stem if path.suffix == ".onnx" else path.name
    return path.with_name(f"{stem}.fp16.onnx")


def fp16_model_for(src: Path, *, source_sha256: str, calib_images: np.ndarray, workdir: Path) -> Path | None:
    """The fp16 model of ``src``: ``<stem>.fp16.onnx`` beside it when made from the same checkpoint
    (``source_sha256`` from ``src``'s metadata), else a fresh conversion in ``workdir``; None when the
    conversion fails its own checks."""
    from alexnet_deploy.artifacts.onnx_meta import read_meta

    sibling = fp16_path(src)
    if sibling.is_file():
        theirs = read_meta(sibling)
        # An empty hash (a model exported from an in-memory checkpoint) proves nothing: convert afresh.
        if theirs.precision == "fp16" and source_sha256 and theirs.source_sha256 == source_sha256:
            return sibling
    target = Path(workdir) / "model.fp16.onnx"
    try:
        converted = convert_fp16(src, target, calib_images=calib_images)
    except DeployError:
        return None
    return target if converted else None
