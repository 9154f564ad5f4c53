"""Shared test builders: small real artifacts the tests make themselves."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from alexnet_deploy.artifacts.engine_sidecar import EngineSidecar, write_sidecar
from alexnet_deploy.artifacts.onnx_meta import IR_VERSION, ModelMeta, write_meta

TINY_SIZE = 16
TINY_CLASSES = ("a", "b", "c")


def tiny_meta(precision: str = "fp32", **extra: str) -> ModelMeta:
    return ModelMeta(arch="paper", class_names=TINY_CLASSES, input_size=TINY_SIZE, resize=TINY_SIZE,
                     mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), precision=precision,
                     source_sha256="c" * 64, extra=dict(extra))


def tiny_onnx(path: Path, *, batch: int | str = "N", seed: int = 0, meta: ModelMeta | None = None,
              external_data: bool = False) -> Path:
    """Conv-Relu-LRN-MaxPool-Flatten-Gemm on 3x16x16 with alexnet-deploy metadata (an exported model's shape).

    ``external_data=True`` keeps the weights in ``<name>.data`` beside the model.
    """
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (len(TINY_CLASSES), 4 * 8 * 8)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(len(TINY_CLASSES), np.float32), "b2")]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("LRN", ["r1"], ["n1"], name="lrn1", size=3, alpha=5e-4, beta=0.75, bias=2.0),
        helper.make_node("MaxPool", ["n1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p1"], ["f1"], name="flatten"),
        helper.make_node("Gemm", ["f1", "w2", "b2"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, TINY_SIZE, TINY_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, len(TINY_CLASSES)])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = IR_VERSION
    write_meta(model, meta or tiny_meta())
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def engine_with_sidecar(path: Path, *, tensorrt_version: str = "10.3.0", compute_capability: str = "8.7",
                        gpu_name: str = "Orin", precision: str = "fp32", payload: bytes = b"plan bytes",
                        key: str = "k" * 64, layer_precisions: dict[str, int] | None = None) -> EngineSidecar:
    """An engine file (``payload`` stands for TensorRT's plan) and the sidecar build-engine writes beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    sidecar = EngineSidecar(
        key=key, engine_sha256=hashlib.sha256(payload).hexdigest(), engine_bytes=len(payload),
        tensorrt_version=tensorrt_version, gpu_name=gpu_name, compute_capability=compute_capability,
        onnx="models/alexnet.onnx", onnx_sha256="o" * 64, precision=precision,
        options={"precision": precision, "batch": [1, 8, 32], "workspace": 2 << 30, "opt_level": 3},
        model=tiny_meta(precision).to_dict(), input_name="input", output_names=["logits"],
        profile={"min": [1, 3, 16, 16], "opt": [8, 3, 16, 16], "max": [32, 3, 16, 16]},
        layer_precisions=layer_precisions or {"FP32": 3}, layers=[["conv1", "Convolution", "FP32"]] * 3,
        built_at="2026-01-01T00:00:00+00:00", build_seconds=12.5,
    )
    write_sidecar(path, sidecar)
    return sidecar
