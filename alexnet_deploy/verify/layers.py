"""Per-layer diagnosis: which layer of a converted model first strays from PyTorch, and which strays most.

The layer map export wrote into the model (``artifacts.layer_map``) names the
ONNX tensor each torch module produced. A probe copy of the model returns those
tensors as extra graph outputs and runs on the backend under test; PyTorch's
activations come from forward hooks on the same modules of the reference
runner's model. Each layer gets cosine similarity, relative error (largest
absolute error over the largest |reference| value) and SQNR in dB, and passes
while its SQNR stays at or above the preset's floor.

Returning a tensor as a graph output keeps a runtime from fusing it away, so
the probe can run a little differently from the model itself (Polygraphy's
``mark all`` has the same caveat); the logits comparison uses the model as is.
A runtime can also get the probe wrong: OpenVINO 2026 computed the INT8 probe
of an untrained test net incorrectly (with the layer tensors as outputs its
INT8 fusions went astray and the probe's own logits came out as zeros; the
demo model's probe was right), while onnxruntime
merely fuses differently (an INT8 probe's logits move by a few % of the largest
logit, as much as INT8 itself moves them). So the probe's logits must stay as
close to PyTorch's as the model's own logits are (within ``PROBE_SLACK`` times
their error, plus ``PROBE_FLOOR`` of the largest logit); otherwise the report
says so instead of naming a layer from figures of a different computation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from alexnet_deploy.artifacts.layer_map import LayerTensor
from alexnet_deploy.artifacts.onnx_files import inferred_value_info
from alexnet_deploy.core.results import Result
from alexnet_deploy.runtimes.base import Runner, run_batches
from alexnet_deploy.verify.stats import LayerStats

PROBE_SLACK, PROBE_FLOOR = 2.0, 1e-3  # see the module docstring


@dataclass
class LayerRow:
    """One module's activation on the backend against PyTorch's; ``passed`` None when not compared."""

    module: str
    kind: str
    tensor: str
    cosine: float | None = None
    relative_error: float | None = None
    sqnr_db: float | None = None
    passed: bool | None = None
    note: str = ""


@dataclass
class LayerReport(Result):
    """The layers of one (artifact, backend) pair; a diagnosis, so it never fails the run by itself."""

    images: int
    min_sqnr_db: float | None
    layers: list[LayerRow] = field(default_factory=list)
    first_failing: str = ""  # the first module past its tolerance, in execution order
    worst: str = ""  # the module with the lowest SQNR
    note: str = ""  # why nothing was compared, when nothing was

    def row(self, module: str) -> LayerRow | None:
        return next((r for r in self.layers if r.module == module), None)

    def describe(self) -> str:
        if self.note:
            return self.note
        parts = []
        first = self.row(self.first_failing)
        if first is not None:
            parts.append(f"first past tolerance: {_name(first)}, SQNR {_db(first.sqnr_db)} < {self.min_sqnr_db:g} dB")
        else:
            parts.append("every layer within tolerance")
        worst = self.row(self.worst)
        if worst is not None:
            parts.append(f"worst: {_name(worst)}, SQNR {_db(worst.sqnr_db)}")
        return "; ".join(parts)


def _name(row: LayerRow) -> str:
    return f"{row.module} ({row.kind}, tensor {row.tensor})"


def _db(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "exact" if math.isinf(value) and value > 0 else f"{value:.1f} dB"


def reference_activations(runner: Runner, images: np.ndarray, layers: Sequence[LayerTensor], *,
                          chunk: int = 8) -> dict[str, np.ndarray]:
    """PyTorch's output of every module in ``layers`` for ``images``, taken by forward hooks on the runner's model.

    ``runner`` is a torch runner (it has ``.model``); the hooks copy each output
    at once, before an in-place ReLU after it can overwrite it.
    """
    model = runner.model
    taken: dict[str, list[np.ndarray]] = {layer.module: [] for layer in layers}
    handles = []
    for layer in layers:
        def hook(module, inputs, output, name=layer.module):
            taken[name].append(output.detach().float().cpu().numpy().copy())

        handles.append(model.get_submodule(layer.module).register_forward_hook(hook))
    try:
        for _ in run_batches(runner, images, chunk=chunk):
            pass
    finally:
        for handle in handles:
            handle.remove()
    return {name: np.concatenate(parts) for name, parts in taken.items() if parts}


def write_probe(model_path: str | os.PathLike, tensors: Sequence[str], folder: Path) -> tuple[Path, list[str]]:
    """A copy of the ONNX model at ``model_path`` in ``folder`` that also returns ``tensors``.

    Returns the probe's path and the tensors the model does not compute (left out).
    """
    import onnx

    from alexnet_deploy.artifacts.onnx_files import save_model
    from alexnet_deploy.artifacts.onnx_meta import load_onnx

    proto = load_onnx(model_path)
    produced = {name for node in proto.graph.node for name in node.output}
    present = {o.name for o in proto.graph.output}
    missing = [t for t in tensors if t not in produced]
    wanted = [t for t in tensors if t in produced and t not in present]
    types = _tensor_types(proto)
    proto.graph.output.extend(onnx.helper.make_tensor_value_info(t, types.get(t, onnx.TensorProto.FLOAT), None)
                              for t in wanted)
    path = folder / "probe.onnx"
    save_model(proto, path)
    return path, missing


def _tensor_types(proto) -> dict[str, int]:
    """Element type of every tensor, inferred on a weightless copy of the graph (cheap)."""
    known = inferred_value_info(proto) + list(proto.graph.value_info) + list(proto.graph.output)
    return {v.name: v.type.tensor_type.elem_type for v in known if v.type.tensor_type.elem_type}


def compare_layers(probe: Runner, images: np.ndarray, reference: dict[str, np.ndarray],
                   layers: Sequence[LayerTensor], *, min_sqnr_db: float | None, model_logits: np.ndarray,
                   reference_logits: np.ndarray, missing: Sequence[str] = (), chunk: int = 8) -> LayerReport:
    """Run ``probe`` on ``images`` and compare each layer's tensor with PyTorch's activation.

    ``model_logits`` are the unprobed model's logits for ``images`` on the same
    backend and ``reference_logits`` PyTorch's: the probe must be about as close
    to PyTorch as the model is (see the module docstring).
    """
    stats = {layer.module: LayerStats() for layer in layers}
    absent = set(missing)
    done = 0
    probe_logits = []
    for outputs in run_batches(probe, images, chunk=chunk):
        count = len(next(iter(outputs.values())))
        probe_logits.append(np.asarray(outputs[probe.output_names[0]], dtype=np.float32))
        for layer in layers:
            if layer.tensor in outputs and layer.module in reference:
                ours = reference[layer.module][done : done + count]
                theirs = np.asarray(outputs[layer.tensor], dtype=np.float32)
                if theirs.shape == ours.shape:
                    stats[layer.module].add(ours, theirs)
        done += count
    rows = []
    for layer in layers:
        row = LayerRow(module=layer.module, kind=layer.kind, tensor=layer.tensor)
        got = stats[layer.module]
        if layer.tensor in absent:
            row.note = "not in this model"
        elif not got.elements:
            row.note = "not returned by the backend, or of another shape"
        else:
            row.cosine, row.relative_error, row.sqnr_db = got.cosine, got.relative_error, got.sqnr_db
            row.passed = min_sqnr_db is None or got.sqnr_db >= min_sqnr_db
        rows.append(row)
    compared = [r for r in rows if r.passed is not None]
    first = next((r.module for r in compared if not r.passed), "")
    worst = min(compared, key=lambda r: r.sqnr_db, default=None)
    note = "" if compared else "no layer of the map could be compared on this backend"
    probe_error = _error(np.concatenate(probe_logits), reference_logits)
    model_error = _error(model_logits, reference_logits)
    if not probe_error <= PROBE_SLACK * model_error + PROBE_FLOOR:
        note = (f"{probe.name} computes this model differently once its layers are exposed as outputs (the probe's "
                f"logits are {probe_error:.3g} of the largest logit off PyTorch's, the model's {model_error:.3g}), "
                f"so no layer is named from its figures; diagnose on another backend")
        first, worst = "", None
    return LayerReport(images=len(images), min_sqnr_db=min_sqnr_db, layers=rows, first_failing=first,
                       worst=worst.module if worst is not None else "", note=note)


def _error(logits: np.ndarray, reference: np.ndarray) -> float:
    """Largest |logits - reference| over the largest |reference| logit (inf when not finite or misshapen)."""
    if logits.shape != reference.shape:
        return float("inf")
    scale = float(np.abs(reference).max()) or 1.0
    diff = np.abs(logits.astype(np.float64) - reference)
    return float(diff.max()) / scale if np.isfinite(diff).all() else float("inf")
