"""Checkpoint to ONNX: one LRN node per LRN layer, metadata, checker, and a parity gate.

``export_onnx`` writes into a staging folder next to ``out``, runs
``onnx.checker`` (full check) and compares onnxruntime (CPU) with PyTorch on 16
real images, and only then renames the file(s) into place: a failed export
leaves nothing at ``out``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from alexnet_deploy.artifacts.onnx_files import Discard, check_onnx_file, files_size, save_model, staged_output
from alexnet_deploy.artifacts.paths import check_output
from alexnet_deploy.core.results import Result
from alexnet_deploy.data.samples import image_batch
from alexnet_deploy.errors import ExportError, InputError
from alexnet_deploy.verify.compare import PARITY_REL_TOL, ParityResult, compare_logits

MIN_OPSET = 18  # the dynamo exporter and the onnxscript LRN translation (opset18.LRN)
MAX_OPSET = 26  # the newest opset onnxruntime 1.31 loads (27 and 28 exist in onnx 1.23 but are refused)


@dataclass
class ExportResult(Result):
    """What ``export_onnx`` wrote and how it was checked; truthy when the parity check passed.

    When it did not pass, nothing was written (``written`` is False).
    """

    out: str
    arch: str
    num_classes: int
    opset: int
    batch: str | int
    lrn_nodes: int
    size_bytes: int
    external_data: list[str]
    parity: ParityResult
    source_sha256: str
    seconds: dict[str, float] = field(default_factory=dict)
    written: bool = True

    def failures(self) -> list[str]:
        return [f"export parity: {f}" for f in self.parity.failures()]


def export_onnx(
    checkpoint,
    out: str | os.PathLike,
    *,
    opset: int = MIN_OPSET,
    batch: str | int = "dynamic",
    data_dir: str | os.PathLike | None = None,
    parity_images: int = 16,
    external_data: bool | None = None,
    translations: dict | None = None,
) -> ExportResult:
    """Export ``checkpoint`` (a path or a ``Checkpoint``) to ``out`` and prove it matches PyTorch.

    ``batch`` is ``"dynamic"`` or a fixed batch size. ``external_data`` forces
    (True) or forbids (False) weights in a ``<out>.data`` file beside the model;
    by default they go there only when one file would pass protobuf's 2 GB limit.
    ``translations`` replaces the LRN translation table (a wrong one lets tests
    prove that the parity gate catches a bad export). When onnxruntime does not
    match PyTorch the result is falsy and nothing is left at ``out``.
    """
    from alexnet_deploy.artifacts.checkpoint import Checkpoint, load_checkpoint
    from alexnet_deploy.core.fsutil import sha256_file

    timings: dict[str, float] = {}
    start = time.perf_counter()
    source = checkpoint if isinstance(checkpoint, (str, os.PathLike)) else None
    out_path = check_output(out, example="model.onnx", inputs={"the checkpoint": source})
    opset = _check_opset(opset)
    batch = _check_batch(batch)
    if parity_images < 1:
        raise InputError(f"The parity check needs at least 1 image, got parity_images={parity_images}.")
    if isinstance(checkpoint, Checkpoint):
        ckpt, source_sha = checkpoint, ""
    else:
        ckpt, source_sha = load_checkpoint(checkpoint), sha256_file(checkpoint)
    model = ckpt.build_model()
    images, image_source = image_batch(ckpt, data_dir=data_dir, count=parity_images)
    timings["load"] = time.perf_counter() - start

    proto = _to_onnx(model, ckpt.input_size, opset=opset, batch=batch, translations=translations)
    lrn_layers = _count_lrn_layers(model)
    lrn_nodes = sum(1 for n in proto.graph.node if n.op_type == "LRN")
    if lrn_nodes != lrn_layers:
        raise ExportError(
            f"The export has {lrn_nodes} ONNX LRN nodes for {lrn_layers} LRN layers (the LRN was decomposed "
            f"or lost); export with the alexnet_deploy LRN translation table."
        )
    from alexnet_deploy.artifacts.layer_map import LAYERS_KEY, encode_layers
    from alexnet_deploy.artifacts.onnx_meta import ModelMeta, exporter_versions, write_meta
    from alexnet_deploy.export.layer_names import layer_tensors

    meta = ModelMeta(
        arch=ckpt.arch,
        class_names=tuple(ckpt.class_names),
        input_size=ckpt.input_size,
        resize=ckpt.resize,
        mean=tuple(ckpt.mean),
        std=tuple(ckpt.std),
        precision="fp32",
        source_sha256=source_sha,
        versions=exporter_versions(),
        # Which tensor each module produced, decided here where both graphs are known (per-layer checks).
        extra={"opset": str(opset), "batch": str(batch), LAYERS_KEY: encode_layers(layer_tensors(model, proto))},
    )
    write_meta(proto, meta)
    proto.doc_string = f"alexnet-deploy export of a {ckpt.arch} checkpoint ({ckpt.num_classes} classes)"
    timings["export"] = time.perf_counter() - start - sum(timings.values())

    size = 0
    with staged_output(out_path) as staged:
        external = save_model(proto, staged, external_data=external_data)
        del proto
        check_onnx_file(staged)
        timings["save_check"] = time.perf_counter() - start - sum(timings.values())
        parity = check_parity(model, staged, images, image_source=image_source)
        timings["parity"] = time.perf_counter() - start - sum(timings.values())
        if not parity:
            raise Discard
        size = files_size(staged, external)
    timings["total"] = time.perf_counter() - start
    return ExportResult(
        out=str(out_path),
        arch=ckpt.arch,
        num_classes=ckpt.num_classes,
        opset=opset,
        batch=batch,
        lrn_nodes=lrn_nodes,
        size_bytes=size,
        external_data=[p.name for p in external],
        parity=parity,
        source_sha256=source_sha,
        seconds={k: round(v, 3) for k, v in timings.items()},
        written=bool(parity),
    )


def _check_opset(opset: int) -> int:
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise InputError(
            f"Opset {opset} is not supported; use {MIN_OPSET} to {MAX_OPSET} (the exporter and the ONNX LRN "
            f"translation need {MIN_OPSET} or later, and onnxruntime runs up to {MAX_OPSET})."
        )
    return opset


def _check_batch(batch: str | int) -> str | int:
    if batch == "dynamic":
        return batch
    if isinstance(batch, str) and batch.isdigit():
        batch = int(batch)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise InputError(f"Batch must be 'dynamic' or a positive integer, got {batch!r}.")
    return batch


def _count_lrn_layers(model) -> int:
    from alexnet_deploy.model.lrn import LocalResponseNorm

    return sum(1 for m in model.modules() if isinstance(m, LocalResponseNorm))


@contextlib.contextmanager
def quiet_exporter() -> Iterator[io.StringIO]:
    """Collect what torch.onnx prints and logs, so the CLI stays clean; the caller shows it on failure."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("torch.onnx")
    saved = (logger.propagate, logger.handlers[:])
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        logger.propagate, logger.handlers[:] = saved[0], saved[1]


def _to_onnx(model, input_size: int, *, opset: int, batch: str | int, translations: dict | None):
    """torch.onnx.export (dynamo) with the LRN translation; returns the ModelProto."""
    import torch

    from alexnet_deploy.model.lrn import onnx_translations

    # A batch of 1 would let torch.export specialise the batch dimension to a constant.
    example = torch.zeros(2 if batch == "dynamic" else batch, 3, input_size, input_size)
    dynamic = ({0: torch.export.Dim("batch")},) if batch == "dynamic" else None
    with quiet_exporter() as log:
        try:
            program = torch.onnx.export(
                model,
                (example,),
                None,
                opset_version=opset,
                custom_translation_table=onnx_translations() if translations is None else translations,
                dynamic_shapes=dynamic,
                input_names=["input"],
                output_names=["logits"],
            )
            proto = program.model_proto
        except Exception as exc:
            exc.add_note("torch.onnx.export output:\n" + log.getvalue())
            raise
    return proto


def check_parity(model, onnx_path: Path, images: np.ndarray, *, image_source: str) -> ParityResult:
    """Logits of onnxruntime (CPU) against PyTorch on ``images``: the export's gate."""
    from alexnet_deploy.runtimes.base import logits
    from alexnet_deploy.runtimes.registry import open_runner

    with open_runner("torch-cpu", model) as reference, open_runner("ort-cpu", onnx_path) as candidate:
        return compare_logits(logits(reference, images), logits(candidate, images), rel_tol=PARITY_REL_TOL,
                              image_source=image_source)
