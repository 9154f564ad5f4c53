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


# --- Bad inputs: files that lie about themselves, and the check that a command refused cleanly ---------------


def fake_checkpoint(path: Path, *, digest: bool = True, **fields) -> Path:
    """A file in the checkpoint format whose state_dict is only a 3-output head (checked before the rest).

    ``fields`` replace entries of the dict (None removes one); ``digest`` stores the weights' sha256.
    """
    import torch

    from alexnet_deploy.artifacts.checkpoint import FORMAT, FORMAT_VERSION, weights_digest

    state = {"classifier.6.weight": torch.ones(3, 4), "classifier.6.bias": torch.zeros(3)}
    raw = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": "paper", "class_names": ["a", "b", "c"],
           "input_size": 67, "resize": 76, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "state_dict": state,
           "training": {}}
    if digest:
        raw["weights_sha256"] = weights_digest(state)
    for key, value in fields.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    torch.save(raw, path)
    return path


def flip_weight_bit(path: Path) -> Path:
    """Flip one bit inside the first tensor's bytes of a torch zip file (torch itself does not notice)."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entry = next(i for i in archive.infolist() if "/data/" in i.filename)
    with open(path, "r+b") as fh:
        fh.seek(entry.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
        start = entry.header_offset + 30 + name_len + extra_len
        fh.seek(start)
        byte = fh.read(1)[0]
        fh.seek(start)
        fh.write(bytes([byte ^ 0x10]))
    return path


def bomb_png(path: Path, side: int = 15000) -> Path:
    """A valid 1-bit PNG of side x side pixels: a few kB on disk, 225 megapixels once decoded."""
    import struct
    import zlib

    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def tree_listing(*folders: Path) -> set[str]:
    """Every path under ``folders`` (hidden ones included): what a command left behind.

    What the libraries keep in the system temp folder for themselves is not ours and is left out: torch's
    compile cache (``torchinductor_<user>``) and onnxruntime's ``.ses`` (written when it is imported).
    """
    return {str(p) for folder in folders if folder.exists() for p in folder.rglob("*")
            if "torchinductor_" not in str(p) and p.name != ".ses"}


def assert_refused(args: list[str], *, watch: list[Path], code: int = 2, match: str | None = None,
                   env: dict | None = None):
    """Run the CLI in-process and check a clean refusal.

    The exit code is ``code``; stderr is one line ("Error: ..." for 2, "Check failed: ..." for 1) that contains
    ``match``; no traceback; and nothing under ``watch`` changed: nothing at the output paths, no temporary file
    left behind, no folder created.
    """
    from click.testing import CliRunner

    from alexnet_deploy.cli import main

    before = tree_listing(*watch)
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    detail = f"{args}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.exit_code == code, detail
    assert isinstance(result.exception, SystemExit), f"{detail}\n{result.exception!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, detail
    assert lines[0].startswith("Error: " if code == 2 else "Check failed: "), detail
    assert "Traceback" not in result.output, detail
    if match is not None:
        assert match in lines[0], detail
    after = tree_listing(*watch)
    assert after == before, f"{detail}\n--- appeared\n{sorted(after - before)}\n--- vanished\n{sorted(before - after)}"
    return result


ONNX_LIES = ("input-size", "class-count", "input-name", "two-inputs", "input-dtype", "fp16-as-fp32", "fp32-as-int8",
             "fp32-as-fp16", "unknown-op", "zero-std", "fractional-size", "bad-json", "no-metadata",
             "external-offset", "external-truncated", "garbage", "empty")


def lying_onnx(path: Path, lie: str) -> Path:
    """``tiny_model`` changed after the fact so that graph and metadata disagree, or the file is damaged (ONNX_LIES)."""
    from dataclasses import replace

    from alexnet_deploy.artifacts.onnx_meta import PREFIX, read_meta

    path.parent.mkdir(parents=True, exist_ok=True)
    if lie in ("garbage", "empty"):
        path.write_bytes(b"\x08\xff not a protobuf \x00\x12" * 8 if lie == "garbage" else b"")
        return path
    tiny_model(path)
    model = onnx.load(str(path))
    meta = read_meta(model)
    props = {p.key: p for p in model.metadata_props}
    if lie == "input-size":
        write_meta(model, replace(meta, input_size=36))
    elif lie == "class-count":
        write_meta(model, replace(meta, class_names=meta.class_names[:3]))
    elif lie == "input-name":
        model.graph.input[0].name = "image"
        model.graph.node[0].input[0] = "image"
    elif lie == "two-inputs":
        model.graph.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    elif lie == "input-dtype":
        model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    elif lie == "fp16-as-fp32":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(model, keep_io_types=True, op_block_list=["LRN"])
        write_meta(model, meta)
    elif lie in ("fp32-as-int8", "fp32-as-fp16"):
        write_meta(model, replace(meta, precision=lie.split("-")[-1]))
    elif lie == "unknown-op":
        model.graph.node[1].op_type = "Frobnicate"
    elif lie == "zero-std":
        props[PREFIX + "std"].value = "[0.0, 0.2, 0.2]"
    elif lie == "fractional-size":
        props[PREFIX + "input_size"].value = "32.5"
    elif lie == "bad-json":
        props[PREFIX + "class_names"].value = "[oops"
    elif lie == "no-metadata":
        del model.metadata_props[:]
    elif lie.startswith("external-"):
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{path.name}.data", size_threshold=0)
        data = path.parent / f"{path.name}.data"
        if lie == "external-truncated":
            data.write_bytes(data.read_bytes()[:100])
            return path
        model = onnx.load(str(path), load_external_data=False)
        entry = next(e for e in model.graph.initializer[0].external_data if e.key == "offset")
        entry.value = str(data.stat().st_size + 4096)
    else:
        raise ValueError(f"unknown lie {lie!r}")
    onnx.save(model, str(path))
    return path


# ---- engines: an exported model's shape at 3x16x16, and engines with their sidecars ----

TINY_SIZE = 16
TINY_CLASSES = ("a", "b", "c")


def tiny_meta(precision: str = "fp32", **extra: str) -> ModelMeta:
    return ModelMeta(arch="paper", class_names=TINY_CLASSES, input_size=TINY_SIZE, resize=TINY_SIZE,
                     mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), precision=precision,
                     source_sha256="c" * 64, extra=dict(extra))


def tiny_onnx(path: Path, *, batch: int | str = "N", seed: int = 0, meta: ModelMeta | None = None,
              external_data: bool = False, graph_precision: str | None = None) -> Path:
    """Conv-Relu-LRN-MaxPool-Flatten-Gemm on 3x16x16 with alexnet-deploy metadata (an exported model's shape).

    The graph is in the precision the metadata names (fp16 weights with fp32 I/O; INT8 Q/DQ in the TensorRT
    layout), since every loader checks that it is; ``graph_precision`` makes one that lies.
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
    meta = meta or tiny_meta()
    precision = graph_precision or meta.precision
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(model, keep_io_types=True, op_block_list=["LRN"])
        model.ir_version = IR_VERSION
    elif precision == "int8":
        _quantize_by_hand(model)
    write_meta(model, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def _quantize_by_hand(model) -> None:
    """Q/DQ in the TensorRT layout: int8 per-channel weights (axis 0, zero point 0), Q/DQ on each Conv/Gemm input."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    extra_nodes, extra_inits = [], []
    for node in [n for n in graph.node if n.op_type in ("Conv", "Gemm")]:
        weights = numpy_helper.to_array(inits[node.input[1]])
        scale = np.abs(weights.reshape(len(weights), -1)).max(axis=1) / 127 + 1e-8
        quantized = np.round(weights / scale.reshape(-1, *[1] * (weights.ndim - 1))).astype(np.int8)
        name, act = node.name, node.input[0]
        extra_inits += [numpy_helper.from_array(quantized, f"{name}_wq"),
                        numpy_helper.from_array(scale.astype(np.float32), f"{name}_ws"),
                        numpy_helper.from_array(np.zeros(len(weights), np.int8), f"{name}_wz"),
                        numpy_helper.from_array(np.array(0.05, np.float32), f"{name}_as"),
                        numpy_helper.from_array(np.array(0, np.int8), f"{name}_az")]
        extra_nodes += [
            helper.make_node("DequantizeLinear", [f"{name}_wq", f"{name}_ws", f"{name}_wz"], [f"{name}_w"],
                             name=f"{name}_wdq", axis=0),
            helper.make_node("QuantizeLinear", [act, f"{name}_as", f"{name}_az"], [f"{name}_q"], name=f"{name}_aq"),
            helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_as", f"{name}_az"], [f"{name}_x"],
                             name=f"{name}_adq"),
        ]
        node.input[0], node.input[1] = f"{name}_x", f"{name}_w"
    graph.initializer.extend(extra_inits)
    for old in ("w1", "w2"):
        graph.initializer.remove(inits[old])
    nodes = extra_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


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


def slowed_model(src: Path, dst: Path, *, convs: int = 64, seed: int = 1) -> Path:
    """``src`` (a ``tiny_model``) with a chain of ``convs`` extra 8->8 3x3 convolutions after relu1: same
    inputs, outputs and metadata, several times the work. A deliberately slower model for regression gates."""
    rng = np.random.default_rng(seed)
    model = onnx.load(str(src))
    graph = model.graph
    previous = "r1"
    chain, weights = [], []
    for i in range(convs):
        out = f"slow{i}"
        # Near-identity kernels keep the activations (and the logits) in a sane range.
        kernel = np.zeros((8, 8, 3, 3), np.float32)
        kernel[np.arange(8), np.arange(8), 1, 1] = 1.0
        kernel += rng.normal(0, 0.01, kernel.shape).astype(np.float32)
        weights.append(numpy_helper.from_array(kernel, f"slow_w{i}"))
        chain.append(helper.make_node("Conv", [previous, f"slow_w{i}"], [out], name=f"slow_conv{i}", pads=[1, 1, 1, 1]))
        previous = out
    nodes = list(graph.node)
    at = next(i for i, n in enumerate(nodes) if n.name == "relu1") + 1
    for node in nodes[at:]:
        node.input[:] = [previous if name == "r1" else name for name in node.input]
    del graph.node[:]
    graph.node.extend(nodes[:at] + chain + nodes[at:])
    graph.initializer.extend(weights)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))
    return dst
