"""Checkpoint to ONNX: one LRN node per LRN layer, metadata, checker, and a parity gate.

``export_onnx`` writes into a staging folder next to ``out``, runs
``onnx.checker`` (full check) and compares onnxruntime (CPU) with PyTorch on 16
real images, and only then renames the file(s) into place: a failed export
leaves nothing at ``out``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from alexnet_deploy.errors import ExportError, InputError

MIN_OPSET = 18  # the dynamo exporter and the onnxscript LRN translation (opset18.LRN)
MAX_OPSET = 26  # the newest opset onnxruntime 1.31 loads (27 and 28 exist in onnx 1.23 but are refused)
PROTOBUF_LIMIT = 2**31 - 1
# Headroom for the metadata and graph beside the weights when deciding whether one file fits.
SINGLE_FILE_LIMIT = PROTOBUF_LIMIT - (64 << 20)
PARITY_REL_TOL = 1e-4


@dataclass
class ParityResult:
    """Logits of a converted model against a reference; truthy when the gate passed.

    Passing means finite logits, ``max_abs_diff <= rel_tol * max_abs_logit``
    (skipped when ``rel_tol`` is 0) and top-1 agreement of at least ``min_agreement``. A
    different top-1 whose two reference logits lie within the tolerance is a
    tie, not a disagreement: an untrained model can have near-equal logits.
    ``agreement`` counts ties as agreeing; ``top1_agree`` alone does not.
    """

    images: int
    image_source: str
    max_abs_diff: float
    max_abs_logit: float
    rel_tol: float
    top1_agree: int
    top1_ties: int
    min_agreement: float = 1.0

    @property
    def tolerance(self) -> float:
        return self.rel_tol * self.max_abs_logit

    @property
    def agreement(self) -> float:
        return (self.top1_agree + self.top1_ties) / self.images if self.images else 1.0

    def __bool__(self) -> bool:
        if not math.isfinite(self.max_abs_diff):
            return False
        close = self.rel_tol == 0 or self.max_abs_diff <= self.tolerance
        return close and self.agreement >= self.min_agreement

    def describe(self) -> str:
        parts = [f"max |logit diff| {self.max_abs_diff:.3g}"]
        if self.rel_tol:
            parts.append(f"allowed {self.tolerance:.3g} = {self.rel_tol:g} x max |logit| {self.max_abs_logit:.3g}")
        parts.append(f"top-1 agreement {self.agreement:.2%} on {self.images} {self.image_source}")
        return ", ".join(parts)


def compare_logits(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    rel_tol: float,
    image_source: str,
    min_agreement: float = 1.0,
    tie_tol: float | None = None,
) -> ParityResult:
    """Compare two (N, classes) logit arrays; see ParityResult for the rule.

    ``tie_tol`` (relative to the largest |logit|, default ``rel_tol``) is how
    close two reference logits must be for a different top-1 to count as a tie.
    """
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ExportError(f"The model returns logits of shape {candidate.shape}, expected {reference.shape}.")
    max_logit = float(np.abs(reference).max()) if reference.size else 0.0
    diff = float(np.abs(reference - candidate).max()) if reference.size else 0.0
    if not np.isfinite(candidate).all():
        diff = float("inf")
    ref_top, cand_top = reference.argmax(axis=1), candidate.argmax(axis=1)
    rows = np.arange(len(reference))
    gap = np.abs(reference[rows, ref_top] - reference[rows, cand_top])
    agree = ref_top == cand_top
    tie_tol = rel_tol if tie_tol is None else tie_tol
    ties = ~agree & (gap <= max(tie_tol, 1e-6) * max_logit)
    return ParityResult(
        images=len(reference),
        image_source=image_source,
        max_abs_diff=diff,
        max_abs_logit=max_logit,
        rel_tol=rel_tol,
        top1_agree=int(agree.sum()),
        top1_ties=int(ties.sum()),
        min_agreement=min_agreement,
    )


def parity_batch(ckpt, *, data_dir: str | os.PathLike | None, count: int) -> tuple[np.ndarray, str]:
    """``count`` preprocessed images: spread over ``data_dir`` when given, else drawn shapes.

    Drawn images are written as PNG files and read back through the same
    preprocessing as real data, so the check covers the whole input path.
    """
    from alexnet_deploy.data import list_images, preprocess_files

    prep = dict(input_size=ckpt.input_size, mean=ckpt.mean, std=ckpt.std, resize=ckpt.resize)
    if data_dir is not None:
        files = list_images(data_dir)
        # Spread the picks so a class-per-folder tree contributes several classes.
        n = min(count, len(files))
        picks = [files[i * len(files) // n] for i in range(n)]
        return preprocess_files(picks, **prep), f"images from {Path(data_dir).name}/"
    with tempfile.TemporaryDirectory(prefix="alexnet-deploy-parity-") as tmp:
        files = [draw_image(Path(tmp) / f"shapes_{i:02d}.png", seed=i) for i in range(count)]
        return preprocess_files(files, **prep), "drawn images"


def draw_image(path: Path, *, seed: int, size: tuple[int, int] = (320, 288)) -> Path:
    """A PNG of a smooth colour gradient with random ellipses, boxes and polygons."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = rng.uniform(0, 255, (3, 1, 1)) * (0.5 + 0.5 * np.cos(2 * np.pi * (rng.uniform(0.3, 2, (3, 1, 1)) * xx + rng.uniform(0.3, 2, (3, 1, 1)) * yy)))
    img = Image.fromarray(np.clip(base.transpose(1, 2, 0), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        box = (x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2)))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([tuple(int(v) for v in rng.integers(0, (w, h))) for _ in range(3)], fill=colour)
    img.save(path, compress_level=1)  # speed over size: these files live for one check
    return path


@dataclass
class ExportResult:
    """What ``export_onnx`` wrote and how it was checked; truthy when the parity check passed."""

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

    def __bool__(self) -> bool:
        return bool(self.parity)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ExportResult":
        raw = json.loads(text)
        raw["parity"] = ParityResult(**raw["parity"])
        return cls(**raw)


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
    prove that the parity gate catches a bad export). Raises ExportError when a
    check fails, with nothing left at ``out``.
    """
    from alexnet_deploy.checkpoint import Checkpoint, load_checkpoint
    from alexnet_deploy.fsutil import sha256_file

    timings: dict[str, float] = {}
    start = time.perf_counter()
    out_path = _check_out(out, checkpoint)
    opset = _check_opset(opset)
    batch = _check_batch(batch)
    if parity_images < 1:
        raise InputError(f"The parity check needs at least 1 image, got parity_images={parity_images}.")
    if isinstance(checkpoint, Checkpoint):
        ckpt, source_sha = checkpoint, ""
    else:
        ckpt, source_sha = load_checkpoint(checkpoint), sha256_file(checkpoint)
    model = _build(ckpt)
    images, image_source = parity_batch(ckpt, data_dir=data_dir, count=parity_images)
    timings["load"] = time.perf_counter() - start

    proto = _to_onnx(model, ckpt.input_size, opset=opset, batch=batch, translations=translations)
    lrn_layers = _count_lrn_layers(model)
    lrn_nodes = sum(1 for n in proto.graph.node if n.op_type == "LRN")
    if lrn_nodes != lrn_layers:
        raise ExportError(
            f"The export has {lrn_nodes} ONNX LRN nodes for {lrn_layers} LRN layers (the LRN was decomposed "
            f"or lost); export with the alexnet_deploy LRN translation table."
        )
    from alexnet_deploy.onnx_meta import ModelMeta, exporter_versions, write_meta

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
        extra={"opset": str(opset), "batch": str(batch)},
    )
    write_meta(proto, meta)
    proto.doc_string = f"alexnet-deploy export of a {ckpt.arch} checkpoint ({ckpt.num_classes} classes)"
    timings["export"] = time.perf_counter() - start - sum(timings.values())

    with staged_output(out_path) as staged:
        external = save_model(proto, staged, external_data=external_data)
        del proto
        check_onnx_file(staged)
        timings["save_check"] = time.perf_counter() - start - sum(timings.values())
        parity = check_parity(model, staged, images, image_source=image_source)
        timings["parity"] = time.perf_counter() - start - sum(timings.values())
        if not parity:
            raise ExportError(f"The exported model does not match PyTorch ({parity.describe()}); nothing was written.")
        size = sum(p.stat().st_size for p in [staged, *external])
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
    )


def _build(ckpt):
    """The checkpoint's model in eval mode, without paying for a random init that is overwritten.

    Built on the meta device and given the checkpoint's tensors; anything that
    does not fit goes through ``build_model`` for its CheckpointError.
    """
    import torch

    from alexnet_deploy.models import build

    try:
        with torch.device("meta"):
            model = build(ckpt.arch, num_classes=ckpt.num_classes)
        model.load_state_dict(ckpt.state_dict, strict=True, assign=True)
    except RuntimeError:
        return ckpt.build_model()
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        return ckpt.build_model()
    return model.eval()


def _weight_bytes(proto) -> int:
    """Bytes the initializers take when serialised, from their shapes (no data is touched)."""
    from onnx import helper

    total = 0
    for init in proto.graph.initializer:
        itemsize = helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        total += int(np.prod(init.dims, dtype=np.int64)) * itemsize
    return total


def _check_out(out: str | os.PathLike, checkpoint) -> Path:
    path = Path(out)
    if path.is_dir():
        raise InputError(f"Output {path} is a folder; give a file path such as {path / 'model.onnx'}.")
    if isinstance(checkpoint, (str, os.PathLike)) and path.exists() and path.resolve() == Path(checkpoint).resolve():
        raise InputError(f"Output {path} is the checkpoint itself; choose another output path.")
    return path


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
    from alexnet_deploy.lrn import LocalResponseNorm

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

    from alexnet_deploy.lrn import onnx_translations

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


@contextlib.contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """A path in a fresh folder beside ``out``; on success its file(s) are renamed into place.

    Like ``fsutil.atomic_path`` but for a model that may come with an external
    data file: the data file moves first, the model last, so ``out`` never
    points at missing weights. On failure the folder is removed and ``out`` left alone.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        staged = stage / out.name
        yield staged
        for item in sorted(stage.iterdir(), key=lambda p: p == staged):
            os.replace(item, out.parent / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def save_model(proto, path: Path, *, external_data: bool | None = None) -> list[Path]:
    """Save ``proto`` as one file when it fits, else with ``<name>.data`` beside it; returns the data files."""
    import onnx

    if external_data is None:
        external_data = _weight_bytes(proto) > SINGLE_FILE_LIMIT
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

    from alexnet_deploy.onnx_meta import check_external_data_paths

    check_external_data_paths(path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"The exported model fails onnx.checker: {str(exc).strip().splitlines()[0]}") from None


def check_parity(model, onnx_path: Path, images: np.ndarray, *, image_source: str) -> ParityResult:
    """Logits of onnxruntime (CPU) against PyTorch on ``images``."""
    import torch

    from alexnet_deploy.onnx_meta import ort_session

    with torch.no_grad():
        reference = model(torch.from_numpy(images)).numpy()
    session = ort_session(onnx_path)
    candidate = run_session(session, images)
    return compare_logits(reference, candidate, rel_tol=PARITY_REL_TOL, image_source=image_source)


def run_session(session, images: np.ndarray, *, chunk: int = 16, output: int = 0) -> np.ndarray:
    """The ``output``-th output of an ORT session for ``images``, in chunks.

    A model with a fixed batch size gets chunks of exactly that size (the last
    one padded with copies of its final image, whose results are dropped).
    """
    return np.concatenate(list(iter_session(session, images, chunk=chunk, outputs=[output])))


def iter_session(session, images: np.ndarray, *, chunk: int = 16, outputs: list[int] | None = None):
    """Yield the requested outputs (all by default) chunk by chunk; one array, or a list for several."""
    first = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]
    wanted = names if outputs is None else [names[i] for i in outputs]
    fixed = first.shape[0] if isinstance(first.shape[0], int) and first.shape[0] > 0 else None
    size = fixed or chunk
    for lo in range(0, len(images), size):
        part = images[lo : lo + size]
        real = len(part)
        if fixed and real < fixed:
            part = np.concatenate([part, np.repeat(part[-1:], fixed - real, axis=0)])
        values = session.run(wanted, {first.name: np.ascontiguousarray(part, dtype=np.float32)})
        values = [v[:real] for v in values]
        yield values[0].astype(np.float32) if len(values) == 1 else values
