"""Builders the tests share: real image files, real ONNX models and dataset trees, made small."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from alexnet_deploy.artifacts.engine_sidecar import EngineSidecar, write_sidecar
from alexnet_deploy.artifacts.onnx_meta import IR_VERSION, ModelMeta, write_meta

SIZE = 32
PRE = {"input_size": SIZE, "resize": 36, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def write_images(folder: Path, count: int, *, seed: int = 0, size=(48, 40)) -> list[Path]:
    """Real PNG files: smooth colour fields with a bright rectangle."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        h, w = size[1], size[0]
        img = (rng.uniform(0, 255, (1, 1, 3)) * np.linspace(0.2, 1, w)[None, :, None]).repeat(h, 0)
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y : y + h // 3, x : x + w // 3] = rng.uniform(0, 255, 3)
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(img.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def tiny_model(path: Path, *, classes: int = 4, seed: int = 0) -> Path:
    """Conv-ReLU-LRN-Pool-Conv-ReLU-Pool-Gemm-ReLU-Gemm on 3x32x32 with metadata, made with onnx.helper."""
    rng = np.random.default_rng(seed)

    def w(name, *shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array(rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32), name)

    def b(name, n):
        return numpy_helper.from_array(rng.normal(0, 0.1, n).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("LRN", ["r1"], ["n1"], name="lrn1", size=3, alpha=5e-4, beta=0.75, bias=2.0),
        helper.make_node("MaxPool", ["n1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["g1"], name="fc1", transB=1),
        helper.make_node("Relu", ["g1"], ["r3"], name="relu3"),
        helper.make_node("Gemm", ["r3", "w4", "b4"], ["logits"], name="fc2", transB=1),
    ]
    inits = [w("w1", 8, 3, 3, 3), b("b1", 8), w("w2", 8, 8, 3, 3), b("b2", 8), w("w3", 16, 512), b("b3", 16),
             w("w4", classes, 16), b("b4", classes)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    write_meta(model, ModelMeta(arch="tiny", class_names=tuple(f"c{i}" for i in range(classes)), **PRE))
    onnx.save(model, str(path))
    return path


def triton_schema():
    """Triton's model_config_pb2 (ModelConfig, DataType, ...), from the schema the tritonclient package ships.

    Loaded from its file: importing ``tritonclient.grpc`` needs grpcio, which the schema itself does not.
    """
    import importlib.util

    import pytest

    if "module" not in _TRITON_SCHEMA:
        spec = importlib.util.find_spec("tritonclient")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("needs tritonclient (the test extra: pip install -e '.[test]')")
        schema = Path(list(spec.submodule_search_locations)[0]) / "grpc" / "model_config_pb2.py"
        module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", schema)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        _TRITON_SCHEMA["module"] = module
    return _TRITON_SCHEMA["module"]


_TRITON_SCHEMA: dict = {}  # loaded once: protobuf registers the schema in one pool per process


COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (200, 200, 40)]


def make_tree(root: Path, *, classes: int = 3, train: int = 6, val: int = 2, size: int = 80, seed: int = 0) -> Path:
    """root/{train,val}/c<k>/<i>.png: class-coloured noise images."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        for c in range(classes):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                base = np.array(COLOURS[c % len(COLOURS)], dtype=np.int16) // 2
                pixels = (rng.integers(0, 100, (size, size, 3)) + base).clip(0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def make_split(root: Path, *, classes: int, per_class: int = 2, size: int = 80, prefix: str = "k") -> Path:
    """root/<prefix><k>/<i>.png: noise images of several sizes, one folder per class."""
    rng = np.random.default_rng(1)
    for c in range(classes):
        folder = root / f"{prefix}{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size + 6 * i, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def write_scenes(folder: Path, count: int, *, first: int = 0, seed: int = 7) -> list[Path]:
    """``count`` PNG scenes of the built-in dataset (varied shapes and colours), named 00.png, 01.png, ..."""
    from alexnet_deploy.data import synth

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + count):
        path = folder / f"{i:02d}.png"
        synth.save_png(synth.render_image(seed, "calib", i % len(synth.CLASS_NAMES), i, size=128), path)
        paths.append(path)
    return paths


def he_init(model):
    """He init with zero biases instead of the paper's N(0, 0.01): logits that differ between images."""
    import torch

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)
    return model


def _layer_tensor(proto, module: str) -> str:
    """The tensor export recorded for ``module`` in the model's layer map."""
    from alexnet_deploy.artifacts.layer_map import LAYERS_KEY, decode_layers
    from alexnet_deploy.artifacts.onnx_meta import read_meta

    layers = decode_layers(read_meta(proto).extra[LAYERS_KEY], where="test model")
    return next(layer.tensor for layer in layers if layer.module == module)


def scale_weight_scale(int8: Path, out: Path, *, module: str, factor: float) -> Path:
    """A copy of an INT8 QDQ model whose ``module`` dequantizes its weights with ``factor`` times their scale."""
    proto = onnx.load(str(int8))
    tensor = _layer_tensor(proto, module)
    layer = next(n for n in proto.graph.node if tensor in n.output)
    dq = next(n for n in proto.graph.node if layer.input[1] in n.output and n.op_type == "DequantizeLinear")
    scale = next(i for i in proto.graph.initializer if i.name == dq.input[1])
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * factor, scale.name))
    onnx.save(proto, str(out))
    return out


def change_lrn_beta(fp32: Path, out: Path, *, module: str, beta: float) -> Path:
    """A copy of an exported model whose LRN ``module`` uses another beta."""
    proto = onnx.load(str(fp32))
    tensor = _layer_tensor(proto, module)
    lrn = next(n for n in proto.graph.node if tensor in n.output)
    assert lrn.op_type == "LRN", lrn.op_type
    next(a for a in lrn.attribute if a.name == "beta").f = beta
    onnx.save(proto, str(out))
    return out


# ---- engines: an exported model's shape at 3x16x16, and engines with their sidecars ----

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
