"""INT8 QDQ on the exported paper AlexNet: graph properties, ORT agreement, cache, refusals, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationMethod
from onnxruntime.quantization.calibrate import TensorsData

from alexnet_deploy.model import zoo as models
from tests.builders import he_init, write_scenes
from alexnet_deploy.artifacts.checkpoint import make_checkpoint
from alexnet_deploy.cli import main
from alexnet_deploy.data.images import preprocess_files
from alexnet_deploy.errors import DataError
from alexnet_deploy.export.exporter import export_onnx
from alexnet_deploy.artifacts.onnx_meta import IR_VERSION, read_meta
from alexnet_deploy.precision.qdq import keep_lrn_outside_qdq, qdq_problems
from alexnet_deploy.precision.quantize import (
    Int8Result,
    QuantizeConfig,
    build_int8,
    lrn_fed_nodes,
    quantize_from_ranges,
)

CONFIG = QuantizeConfig(min_images=8)
QDQ = ("QuantizeLinear", "DequantizeLinear")


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """A 10-class paper AlexNet exported to ONNX, 16 calibration PNGs, and its INT8 model."""
    root = tmp_path_factory.mktemp("int8")
    torch.manual_seed(2)
    model = he_init(models.build("paper", num_classes=10))
    fp32 = root / "alexnet.onnx"
    export_onnx(make_checkpoint(model.eval(), arch="paper"), fp32)
    calib = root / "calib"
    write_scenes(calib, 16)
    events = []
    result = build_int8(fp32, calib, root / "alexnet.int8.onnx", config=CONFIG, cache_dir=root / "cache",
                        progress=lambda *event: events.append(event))
    return {"root": root, "fp32": fp32, "calib": calib, "result": result, "events": events,
            "int8": onnx.load(result.out)}


def _inits(model):
    return {t.name: t for t in model.graph.initializer}


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_qdq_graph_properties(paper):
    model = paper["int8"]
    inits = _inits(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    nodes = list(model.graph.node)
    assert sum(n.op_type == "LRN" for n in nodes) == 2 and model.ir_version <= 13  # onnxruntime 1.31 loads <= 13
    assert qdq_problems(model) == []
    for node in (n for n in nodes if n.op_type in QDQ):
        zero_point = inits[node.input[2]]
        assert zero_point.data_type == TensorProto.INT8 and not numpy_helper.to_array(zero_point).any()
    layers = [n for n in nodes if n.op_type in ("Conv", "Gemm")]
    assert len(layers) == 8 and paper["result"].quantized_nodes == [n.name for n in layers]
    for layer in layers:
        act, weight = producer[layer.input[0]], producer[layer.input[1]]
        assert act.op_type == "DequantizeLinear" and producer[act.input[0]].op_type == "QuantizeLinear"
        assert weight.op_type == "DequantizeLinear"
        quantized = inits[weight.input[0]]
        assert quantized.data_type == TensorProto.INT8
        axis = {a.name: helper.get_attribute_value(a) for a in weight.attribute}.get("axis", 1)
        trans_b = {a.name: helper.get_attribute_value(a) for a in layer.attribute}.get("transB", 0)
        assert layer.op_type == "Conv" or trans_b == 1
        assert axis == 0  # output channels: Conv (O, I, kh, kw) and Gemm with transB (O, I)
        assert list(inits[weight.input[1]].dims) == [quantized.dims[0]]  # one scale per output channel
        if len(layer.input) > 2:  # biases stay float initializers
            assert layer.input[2] in inits and inits[layer.input[2]].data_type == TensorProto.FLOAT
    # Only Conv/Gemm read dequantized tensors; nothing around LRN.
    for dq in (n for n in nodes if n.op_type == "DequantizeLinear"):
        assert {c.op_type for c in nodes if dq.output[0] in c.input} <= {"Conv", "Gemm"}
    for lrn in (n for n in nodes if n.op_type == "LRN"):
        assert producer[lrn.input[0]].op_type == "Relu"
        assert [c.op_type for c in nodes if lrn.output[0] in c.input] == ["MaxPool"]


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_int8_runs_agrees_with_fp32_and_is_small(paper):
    x = preprocess_files(sorted(paper["calib"].iterdir()), input_size=227, mean=models.IMAGENET_MEAN,
                         std=models.IMAGENET_STD)
    fp32 = ort.InferenceSession(str(paper["fp32"])).run(None, {"input": x})[0]
    int8 = ort.InferenceSession(paper["result"].out).run(None, {"input": x})[0]
    assert len(set(fp32.argmax(1))) > 1  # the check below would be empty if every image got one class
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 0.75
    assert np.corrcoef(fp32.ravel(), int8.ravel())[0, 1] > 0.95
    result = paper["result"]
    assert result.int8_bytes <= 0.3 * result.fp32_bytes


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_metadata_records_the_int8_build(paper):
    fp32, int8 = read_meta(paper["fp32"]), read_meta(paper["result"].out)
    assert int8.precision == "int8" and (int8.arch, int8.class_names, int8.mean) == (fp32.arch, fp32.class_names, fp32.mean)
    assert int8.extra["int8_method"] == "entropy" and int8.extra["int8_calib_images"] == "16"
    assert int8.extra["int8_calib_sha256"] == paper["result"].calib_digest
    assert int8.extra["int8_fallback_nodes"] == "[]"
    assert Int8Result.from_json(paper["result"].to_json()) == paper["result"] and paper["result"]


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_cache_hit_skips_calibration_and_a_changed_image_recalibrates(paper, tmp_path):
    first = paper["result"]
    assert not first.cache_hit and paper["events"][-1] == ("calibrate", 16, 16)
    events = []
    again = build_int8(paper["fp32"], paper["calib"], tmp_path / "again.onnx", config=CONFIG,
                       cache_dir=paper["root"] / "cache", progress=lambda *e: events.append(e))
    assert again.cache_hit and events == []  # the reader never served a batch
    assert again.cache_file == first.cache_file
    assert (tmp_path / "again.onnx").read_bytes() == Path(first.out).read_bytes()
    changed = tmp_path / "calib"
    shutil.copytree(paper["calib"], changed)
    write_scenes(changed, 1, first=5, seed=8)  # overwrites 05.png with another scene
    events.clear()
    third = build_int8(paper["fp32"], changed, tmp_path / "third.onnx", config=CONFIG,
                       cache_dir=paper["root"] / "cache", progress=lambda *e: events.append(e))
    assert not third.cache_hit and third.cache_file != first.cache_file and events[-1] == ("calibrate", 16, 16)


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_failures_leave_nothing_at_out(paper, tmp_path):
    bad = tmp_path / "calib"
    shutil.copytree(paper["calib"], bad)
    (bad / "07.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    out = tmp_path / "models" / "x.int8.onnx"
    with pytest.raises(DataError, match=r"Cannot read image .*07\.png"):
        build_int8(paper["fp32"], bad, out, config=CONFIG, cache_dir=tmp_path / "cache")
    assert not out.exists()
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    # A val split the model's classes do not name is refused (before any slow work), leaving nothing.
    (tmp_path / "data" / "val" / "zebra").mkdir(parents=True)
    write_scenes(tmp_path / "data" / "val" / "zebra", 1)
    with pytest.raises(DataError, match="named like the model's classes"):
        build_int8(paper["fp32"], paper["calib"], out, config=CONFIG, cache_dir=paper["root"] / "cache",
                   data_dir=tmp_path / "data")
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_cli_success_and_refusals(paper, tmp_path):
    runner = CliRunner()
    base = ["quantize", "--model", str(paper["fp32"]), "--cache-dir", str(paper["root"] / "cache")]
    out = tmp_path / "cli.int8.onnx"
    ok = runner.invoke(main, [*base, "--calib", str(paper["calib"]), "--min-calib-images", "8", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "calibration skipped" in ok.output and "8 layers in INT8" in ok.output and out.is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([*base, "--calib", str(empty)], "Found 0 calibration images"),
        ([*base, "--calib", str(paper["calib"])], "Found only 16 calibration images"),
        ([*base, "--calib", str(paper["calib"]), "--max-drop", "1"], "--max-drop needs --data"),
        ([*base, "--calib", str(paper["calib"]), "--data", str(tmp_path), "--max-drop", "-1"], "zero or more"),
        ([*base, "--calib", str(paper["calib"]), "--method", "kl"], "Invalid value for '--method'"),
    ]
    for args, message in cases:
        target = tmp_path / "refused.onnx"
        result = runner.invoke(main, [*args, "--out", str(target)])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
        assert not target.exists()
    npy = tmp_path / "wrong.npy"
    np.save(npy, np.zeros((40, 3, 224, 224), np.float32))
    result = runner.invoke(main, [*base, "--calib", str(npy), "--out", str(tmp_path / "n.onnx")])
    assert result.exit_code == 2 and "float32 of shape (N, 3, 227, 227)" in result.output


def _lrn_graph(path: Path, *, shared: bool) -> Path:
    """Conv-ReLU, then either LRN and a Conv both reading the ReLU (shared) or Pool-LRN-Conv (CaffeNet order)."""
    rng = np.random.default_rng(0)
    w = [numpy_helper.from_array(rng.normal(0, 0.3, s).astype(np.float32), f"w{i}")
         for i, s in enumerate([(4, 3, 3, 3), (4, 4, 3, 3)])]
    conv = dict(pads=[1, 1, 1, 1])
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], name="conv0", **conv),
             helper.make_node("Relu", ["c0"], ["r0"], name="relu0")]
    if shared:
        nodes += [helper.make_node("LRN", ["r0"], ["n0"], name="lrn", size=3),
                  helper.make_node("Conv", ["r0", "w1"], ["c1"], name="conv1", **conv),
                  helper.make_node("Add", ["n0", "c1"], ["y"], name="add")]
    else:
        nodes += [helper.make_node("MaxPool", ["r0"], ["p0"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("LRN", ["p0"], ["n0"], name="lrn", size=3),
                  helper.make_node("Conv", ["n0", "w1"], ["y"], name="conv1", **conv)]
    side = 8 if shared else 4
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, side, side])], w)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = IR_VERSION
    onnx.save(model, str(path))
    return path


def _ranges(names):
    one = np.array(4.0, dtype=np.float32)
    return TensorsData(CalibrationMethod.MinMax, {n: (-one, one) for n in names})


def test_lrn_sharing_a_quantized_tensor_reads_the_float_one(tmp_path):
    path = _lrn_graph(tmp_path / "shared.onnx", shared=True)
    model = quantize_from_ranges(path, _ranges(["x", "c0", "r0", "n0", "c1", "y"]))
    nodes = {n.name: n for n in model.graph.node}
    assert nodes["lrn"].input[0] == "r0"  # the float ReLU output, not the DQ the Conv reads
    assert nodes["conv1"].input[0] != "r0"  # conv1 is still quantized
    assert qdq_problems(model) == []
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32)
    ref = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()
    # The same graph straight from the quantizer has the LRN reading the DQ, which the fix rewires.
    broken = onnx.load(str(path))
    for node in broken.graph.node:
        if node.op_type == "LRN":
            node.input[0] = "r0_dq"
    broken.graph.node.extend([
        helper.make_node("QuantizeLinear", ["r0", "s", "z"], ["r0_q"], name="q"),
        helper.make_node("DequantizeLinear", ["r0_q", "s", "z"], ["r0_dq"], name="dq"),
    ])
    broken.graph.initializer.extend([numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                                     numpy_helper.from_array(np.array(0, np.int8), "z")])
    assert any("LRN lrn" in p for p in qdq_problems(broken))
    assert keep_lrn_outside_qdq(broken) == 1
    assert not [n for n in broken.graph.node if n.op_type in QDQ]  # the orphaned pair is gone


def test_conv_fed_by_lrn_stays_float(tmp_path):
    path = _lrn_graph(tmp_path / "caffe.onnx", shared=False)
    assert lrn_fed_nodes(onnx.load(str(path))) == ["conv1"]
    model = quantize_from_ranges(path, _ranges(["x", "c0", "r0", "p0", "n0", "y"]))
    nodes = {n.name: n for n in model.graph.node}
    assert nodes["conv1"].input[0] == "n0" and nodes["conv0"].input[0] != "x"
    assert qdq_problems(model) == []


@pytest.mark.slow  # shares the exported paper net (about 20 s to export and calibrate)
def test_cpu_layout_of_the_exported_paper_net_fuses_every_layer(paper, tmp_path):
    """The same cached ranges give the CPU layout: LRN lowered (grouped window sums), every layer fused."""
    from alexnet_deploy.precision.cpu_layout import cpu_layout_problems

    result = build_int8(paper["fp32"], paper["calib"], tmp_path / "alexnet.int8-cpu.onnx", config=CONFIG,
                        cache_dir=paper["root"] / "cache", layout="cpu")
    assert result.cache_hit and result.layout == "cpu" and result.lowering and result
    model = onnx.load(result.out)
    assert cpu_layout_problems(model) == [] and read_meta(result.out).extra["int8_layout"] == "cpu"
    ops = [n.op_type for n in model.graph.node]
    assert "LRN" not in ops and ops.count("Gather") == 2  # both LRNs (96 and 256 channels) sum in blocks
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(result.out, options, providers=["CPUExecutionProvider"])
    fused = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    assert fused.count("QLinearConv") == 5 and fused.count("QGemm") == 3
