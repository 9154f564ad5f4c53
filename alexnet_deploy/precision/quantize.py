"""FP32 ONNX to INT8 QDQ ONNX, calibrated on real images, built on ``onnxruntime.quantization``.

The INT8 model is what TensorRT 10 and 11 (strongly typed) build as is, and
what onnxruntime's CPU provider runs:

* QDQ format (QuantizeLinear/DequantizeLinear pairs around float ops);
* int8 activations and int8 weights, symmetric: every zero point is 0;
* per-channel weight scales: axis 0 for Conv, axis 0 for Gemm with transB=1
  (axis 1 without it);
* only the inputs of Conv, Gemm and MatMul are quantized (their outputs are not:
  TensorRT fuses a DQ into the layer that follows it);
* biases stay float: TensorRT's DequantizeLinear does not take int32;
* LRN stays outside QDQ regions (TensorRT runs LRN in FP32/FP16 only): no Q/DQ
  pair sits on an LRN node's input or output. A Conv/Gemm fed directly by an
  LRN (CaffeNet's pool-then-LRN order) therefore stays in float, and an LRN that
  shares its input with a quantized Conv reads the float tensor, not the DQ.

Calibration (entropy, minmax or percentile) runs ORT's calibrators in chunks,
so memory stays bounded; the resulting ranges are cached (``calibration.py``)
and quantization itself runs ``quantize_static`` from the cached ranges. ORT's
``quant_pre_process`` is not run: on the exported graph it changes no node
(the exporter already folds constants) and ``quantize_static`` runs shape
inference itself.

``layout="cpu"`` writes the layout for CPU runtimes instead (``cpu_layout.py``)
from the same cached ranges: calibration covers the tensors both layouts use.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import onnx
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import TensorsData, save_tensors_data

from alexnet_deploy.precision.calibration import (
    CHUNK_BATCHES,
    METHODS,
    ImageCalibrationReader,
    RangeCache,
    cache_key,
    calibrate,
    find_calibration_set,
    quiet_ort,
)
from alexnet_deploy.precision.model_view import model_view
from alexnet_deploy.artifacts.paths import check_output
from alexnet_deploy.core.results import Result
from alexnet_deploy.core.tempfiles import scratch_dir
from alexnet_deploy.data.labelled import load_labelled_split
from alexnet_deploy.precision.measure import ScoreBoard, top1
from alexnet_deploy.errors import ExportError, InputError
from alexnet_deploy.precision.fallback import FallbackResult, check_max_drop, search_fallback
from alexnet_deploy.precision.qdq import OP_TYPES, has_dq_input, keep_lrn_outside_qdq, qdq_problems
from alexnet_deploy.precision import cpu_layout
from alexnet_deploy.verify.compare import ParityResult
from alexnet_deploy.verify.result import VerifyRow

# ORT's untyped extra_options, kept in one place; QuantizeConfig is the typed face of the rest.
QUANT_OPTIONS = {
    "ActivationSymmetric": True,
    "WeightSymmetric": True,
    "QuantizeBias": False,
    "OpTypesToExcludeOutputQuantization": list(OP_TYPES),
}
# One calibration serves both layouts: the CPU layout also quantizes ReLU, pool and reshape outputs.
CALIBRATED_OP_TYPES = cpu_layout.OP_TYPES_CPU


@dataclass(frozen=True)
class QuantizeConfig:
    """How to calibrate and quantize."""

    method: str = "entropy"
    num_images: int = 512
    min_images: int = 32
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"Unknown calibration method {self.method!r}; choose one of: {', '.join(METHODS)}.")
        if self.batch_size < 1:
            raise InputError(f"The calibration batch size must be at least 1, got {self.batch_size}.")

    def cache_settings(self) -> dict:
        """Everything besides the data and the model that changes the computed ranges."""
        import onnxruntime

        return {
            "method": self.method,
            "op_types": list(CALIBRATED_OP_TYPES),
            "symmetric": True,
            "chunk_images": CHUNK_BATCHES * self.batch_size,
            "batch_size": self.batch_size,
            "onnxruntime": onnxruntime.__version__,
        }


def lrn_fed_nodes(model: onnx.ModelProto) -> list[str]:
    """Conv/Gemm/MatMul nodes whose activation input is an LRN output; quantizing them would put a Q on it."""
    lrn_outputs = {out for node in model.graph.node if node.op_type == "LRN" for out in node.output}
    return [n.name for n in model.graph.node if n.op_type in OP_TYPES and n.input and n.input[0] in lrn_outputs]


def quantizable_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes this scheme quantizes (the fallback candidates)."""
    skip = set(lrn_fed_nodes(model))
    return [n.name for n in model.graph.node if n.op_type in OP_TYPES and n.name not in skip]


def quantize_from_ranges(
    model_path: str | Path, ranges: TensorsData, *, exclude: Sequence[str] = (), base: onnx.ModelProto | None = None
) -> onnx.ModelProto:
    """The QDQ model of ``model_path`` from precomputed ranges; ``exclude`` nodes stay float.

    Runs ``quantize_static`` with the ranges as its calibration cache (no data
    reader: nothing is calibrated here), then keeps LRN outside QDQ and checks
    the result against the scheme in the module docstring. ``base`` is the
    model as already loaded by the caller (only its nodes are read): the
    fallback search quantizes once per trial and need not parse it each time.
    """
    if base is None:
        base = onnx.load(str(model_path), load_external_data=False)
    excluded = sorted(set(exclude) | set(lrn_fed_nodes(base)))
    with scratch_dir("int8", hold_tempfiles=True) as tmp, quiet_ort():
        cache, out = Path(tmp) / "ranges.json", Path(tmp) / "int8.onnx"
        save_tensors_data(ranges, cache)
        quantize_static(
            str(model_view(model_path, Path(tmp))),  # its shape-inferred copy then lands in tmp
            str(out),
            None,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(OP_TYPES),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=ranges.calibration_method,
            calibration_cache_path=str(cache),
            extra_options=dict(QUANT_OPTIONS),
        )
        model = onnx.load(str(out))
    keep_lrn_outside_qdq(model)
    problems = qdq_problems(model)
    if problems:
        raise ExportError(f"The INT8 model breaks the QDQ scheme TensorRT needs: {'; '.join(problems[:5])}.")
    return model


# layout -> (quantize from ranges, fallback candidates, what the metadata says about it)
LAYOUTS = {
    "trt": (quantize_from_ranges, quantizable_nodes,
            "QDQ on Conv/Gemm inputs only, int8 symmetric, per-channel weights, float biases, LRN native and float"),
    cpu_layout.LAYOUT: (cpu_layout.quantize_cpu_from_ranges, cpu_layout.cpu_quantizable_nodes, cpu_layout.DESCRIPTION),
}


@dataclass
class Int8Result(Result):
    """What ``build_int8`` wrote and measured (top-1 in percent, None when not measured).

    Falsy when a --max-drop budget was set and not met; then nothing was written at ``out``.
    """

    out: str
    method: str
    num_images: int
    calib_source: str
    calib_digest: str
    cache_hit: bool
    cache_file: str
    calibration_seconds: float
    quantized_nodes: list[str]
    fallback_nodes: list[str]
    fp32_bytes: int
    int8_bytes: int
    top1: dict[str, float | None] = field(default_factory=dict)
    scores: dict[str, VerifyRow] = field(default_factory=dict)  # verify's row per model, against fp32 (with --data)
    eval_images: int = 0
    fallback: FallbackResult | None = None
    written: bool = True
    layout: str = "trt"
    lowering: ParityResult | None = None  # CPU layout: FP32 with LRN lowered against the native LRN

    def failures(self) -> list[str]:
        out = self.fallback.failures() if self.fallback is not None else []
        if self.lowering is not None:
            out += [f"LRN lowering parity: {f}" for f in self.lowering.failures()]
        return out


def build_int8(
    onnx_path: str | os.PathLike,
    calib: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: QuantizeConfig = QuantizeConfig(),
    cache_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    max_drop: float | None = None,
    max_fp32_layers: int | None = None,
    eval_limit: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    layout: str = "trt",
) -> Int8Result:
    """Calibrate (or reuse cached ranges), quantize, optionally measure and fall back, write ``out``.

    ``layout`` is a key of ``LAYOUTS``.

    ``cache_dir`` defaults to ``.calib-cache`` next to ``out``. ``progress(stage,
    done, total)`` reports calibration images and fallback trials. Nothing is
    written at ``out`` unless every step succeeds and the --max-drop budget holds.
    """
    from alexnet_deploy.core.fsutil import atomic_path, sha256_file
    from alexnet_deploy.artifacts.onnx_meta import load_onnx, read_meta, write_meta

    src, dst = Path(onnx_path), Path(out)
    if layout not in LAYOUTS:
        raise InputError(f"Unknown INT8 layout {layout!r}; choose one of: {', '.join(LAYOUTS)}.")
    quantize, candidates_of, layout_description = LAYOUTS[layout]
    check_max_drop(max_drop, has_data=data_dir is not None, max_layers=max_fp32_layers)
    check_output(dst, example="model.int8.onnx", inputs={"the FP32 model": src})
    base = load_onnx(src, load_weights=False)  # vets its external data paths
    meta = read_meta(base, where=str(src))
    # Parsed once for the whole build: only its nodes are read from here on, so its weights need no memory.
    del base.graph.initializer[:]
    if meta.precision != "fp32":
        raise InputError(f"{src} is a {meta.precision} model; quantize the FP32 export instead.")
    calib_set = find_calibration_set(
        calib, num_images=config.num_images, min_images=config.min_images, input_size=meta.input_size
    )
    val = None
    if data_dir is not None:  # read the labelled split first: a bad one fails before the slow work
        val = load_labelled_split(data_dir, class_names=meta.class_names, input_size=meta.input_size,
                                  resize=meta.resize, mean=meta.mean, std=meta.std, limit=eval_limit)
    settings = config.cache_settings()
    model_sha = sha256_file(src)
    key = cache_key(calib_digest=calib_set.digest, model_sha256=model_sha, settings=settings)
    cache = RangeCache(Path(cache_dir) if cache_dir is not None else dst.parent / ".calib-cache")
    start = time.perf_counter()
    ranges = cache.load(key)
    hit = ranges is not None
    if ranges is None:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress:
                progress("calibrate", done[0], calib_set.count)

        reader = ImageCalibrationReader(
            calib_set, input_size=meta.input_size, resize=meta.resize, mean=meta.mean, std=meta.std,
            batch_size=config.batch_size, on_batch=step,
        )
        ranges = calibrate(src, reader, method=config.method, op_types=CALIBRATED_OP_TYPES)
        cache.save(key, ranges, inputs={"calib": str(calib_set.source), "images": calib_set.count,
                                        "calib_sha256": calib_set.digest, "model": str(src), **settings})
    seconds = time.perf_counter() - start
    lowering = None
    if layout == cpu_layout.LAYOUT:  # the export-style parity gate for the LRN lowering, on calibration images
        first = ImageCalibrationReader(calib_set, input_size=meta.input_size, resize=meta.resize, mean=meta.mean,
                                       std=meta.std, batch_size=config.batch_size).get_next()
        lowering = cpu_layout.check_lowering(src, first["input"])
    proto = quantize(src, ranges, base=base)
    top1s: dict[str, float | None] = {}
    fallback = None
    evaluated = 0
    if val is not None:
        evaluated = len(val)
        names = meta.class_names
        board = ScoreBoard(val, names)  # verify's scoring, against the fp32 model's logits
        measures = {"fp32": lambda: board.add("fp32", src, precision="fp32").top1,
                    "fp16": lambda: board.add_fp16(src, meta=meta),
                    "int8": lambda: board.add("int8", proto.SerializeToString(), precision="int8").top1}
        for i, (name, measure) in enumerate(measures.items()):
            if progress:
                progress("evaluate", i, len(measures))
            top1s[name] = measure()
        if progress:
            progress("evaluate", len(measures), len(measures))
        if max_drop is not None:
            candidates = candidates_of(base)

            def top1_excluding(nodes: Sequence[str]) -> float:
                return top1(quantize(src, ranges, exclude=nodes, base=base).SerializeToString(), val, names)

            tried: list[str] = []

            def trial(node: str, score: float) -> None:
                tried.append(node)
                if progress:
                    progress("fallback", len(tried), len(candidates))

            fallback = search_fallback(candidates=candidates, top1_excluding=top1_excluding,
                                       fp32_top1=top1s["fp32"], int8_top1=top1s["int8"], max_drop=max_drop,
                                       max_layers=max_fp32_layers, on_trial=trial)
            if fallback.excluded:
                proto = quantize(src, ranges, exclude=fallback.excluded, base=base)
                top1s["int8 before fallback"] = top1s["int8"]
                top1s["int8"] = fallback.final_top1
                board.rows["int8 before fallback"] = board.rows.pop("int8")
                board.add("int8", proto.SerializeToString(), precision="int8")
    fallback_nodes = list(fallback.excluded) if fallback is not None else []
    quantized = [n.name for n in proto.graph.node if n.op_type in OP_TYPES and has_dq_input(proto, n)]
    write_meta(proto, meta.with_stage(precision="int8", extra={
        "int8_method": config.method, "int8_calib_images": calib_set.count, "int8_calib_sha256": calib_set.digest,
        "int8_fallback_nodes": json.dumps(fallback_nodes), "int8_source_onnx_sha256": model_sha,
        "int8_layout": layout, "int8_layout_description": layout_description,
    }))
    serialized = proto.SerializeToString()
    passed = (fallback is None or bool(fallback)) and (lowering is None or bool(lowering))
    if passed:
        with atomic_path(dst) as tmp:
            tmp.write_bytes(serialized)
    return Int8Result(
        out=str(dst), method=config.method, num_images=calib_set.count, calib_source=str(calib_set.source),
        calib_digest=calib_set.digest, cache_hit=hit, cache_file=str(cache.path_for(key)),
        calibration_seconds=round(seconds, 3), quantized_nodes=quantized, fallback_nodes=fallback_nodes,
        fp32_bytes=src.stat().st_size, int8_bytes=len(serialized), top1=top1s,
        scores=board.rows if val is not None else {}, eval_images=evaluated,
        fallback=fallback, written=passed, layout=layout, lowering=lowering,
    )
