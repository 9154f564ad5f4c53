"""FP16 conversion: fp16 weights, fp32 I/O, LRN and overflow-prone nodes kept fp32, agreement with fp32."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.model import zoo as models
from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
from alexnet_deploy.cli import main
from alexnet_deploy.errors import InputError
from alexnet_deploy.data.samples import image_batch
from alexnet_deploy.precision.fp16 import FP16_MAX, Fp16Result, activation_peaks, convert_fp16
from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.runtimes.ort import open_session

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`alexnet-deploy export --fp16` of a 10-class paper net: (cli result, fp32 path, fp16 path)."""
    folder = tmp_path_factory.mktemp("fp16")
    torch.manual_seed(0)
    ckpt = folder / "paper.pt"
    save_checkpoint(ckpt, make_checkpoint(models.build("paper", num_classes=10), arch="paper"))
    out = folder / "models" / "alexnet.onnx"
    args = ["export", "--model", str(ckpt), "--out", str(out), "--fp16", "--check-images", "4",
            "--json", str(folder / "export.json")]
    result = CliRunner().invoke(main, args)
    return result, out, out.with_name("alexnet.fp16.onnx")


def _types(path) -> dict[str, int]:
    """Element type of every tensor in the graph (inputs, initializers, inferred intermediates)."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    infos = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    types = {i.name: i.type.tensor_type.elem_type for i in infos}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    return types


def test_export_fp16_writes_both_models_and_keeps_lrn_fp32(exported):
    result, fp32, fp16 = exported
    assert result.exit_code == 0, result.output
    assert f"Wrote {fp16}" in result.output and "kept in fp32: node_lrn (LRN), node_lrn_1 (LRN)" in result.output
    model = onnx.load(str(fp16))
    types = _types(fp16)
    lrns = [n for n in model.graph.node if n.op_type == "LRN"]
    assert len(lrns) == 2
    for node in lrns:
        assert types[node.input[0]] == FLOAT and types[node.output[0]] == FLOAT
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert convs and all(types[n.input[1]] == FLOAT16 and types[n.output[0]] == FLOAT16 for n in convs)
    assert types["input"] == FLOAT and types["logits"] == FLOAT
    assert fp16.stat().st_size < 0.55 * fp32.stat().st_size


def test_export_json_records_both_results(exported):
    from alexnet_deploy.commands.results import ExportRun

    _, fp32, fp16 = exported
    run = ExportRun.from_json((fp32.parent.parent / "export.json").read_text())
    assert run and run.export.out == str(fp32) and run.fp16.out == str(fp16)
    assert run.export.parity.images == 4 and run.fp16.parity.images == 4 and run.fp16.written


def test_fp16_metadata_records_precision_and_kept_nodes(exported):
    _, fp32, fp16 = exported
    meta, base = read_meta(fp16), read_meta(fp32)
    assert meta.precision == "fp16" and base.precision == "fp32"
    assert (meta.arch, meta.class_names, meta.source_sha256) == (base.arch, base.class_names, base.source_sha256)
    kept = json.loads(meta.extra["fp16.kept_fp32"])
    assert [k["op"] for k in kept] == ["LRN", "LRN"] and all("fp16 range" in k["reason"] for k in kept)
    assert float(meta.extra["fp16.threshold"]) == FP16_MAX / 16
    info = CliRunner().invoke(main, ["info", str(fp16)])
    assert info.exit_code == 0
    assert "precision fp16" in {" ".join(line.split()) for line in info.output.splitlines()}


def test_fp16_runs_in_onnxruntime_with_fp32_io_and_agrees(exported):
    _, fp32, fp16 = exported
    images, _ = image_batch(read_meta(fp32), data_dir=None, count=3)
    session = open_session(fp16)
    assert session.get_inputs()[0].type == "tensor(float)" and session.get_outputs()[0].type == "tensor(float)"
    got = session.run(None, {"input": images})[0]
    want = open_session(fp32).run(None, {"input": images})[0]
    assert got.dtype == np.float32 and np.isfinite(got).all()
    assert (got.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(got, want, atol=1e-2 * np.abs(want).max())


def test_nodes_whose_activations_near_the_limit_stay_fp32(exported, tmp_path):
    """With a margin below the largest activations, exactly the nodes touching them stay fp32."""
    _, fp32, _ = exported
    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (256, 280, 3), dtype=np.uint8)).save(data / f"{i}.jpg")
    images, _ = image_batch(read_meta(fp32), data_dir=data, count=3)
    peaks = activation_peaks(fp32, images)
    model = onnx.load(str(fp32), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    acts = sorted(v for k, v in peaks.items() if k not in weights)
    threshold = (acts[-1] + acts[-4]) / 2  # between the 4th largest activation and the largest
    expected = {
        n.name for n in model.graph.node
        if n.op_type == "LRN" or any(peaks.get(t, 0.0) >= threshold for t in [*n.input, *n.output] if t not in weights)
    }
    out, report = tmp_path / "hot.fp16.onnx", tmp_path / "r.json"
    args = ["convert", "--model", str(fp32), "--out", str(out), "--data", str(data), "--calib-images", "3",
            "--check-images", "3"]
    result = CliRunner().invoke(main, [*args, "--margin", repr(threshold / FP16_MAX), "--json", str(report)])
    assert result.exit_code == 0, result.output
    fp16 = Fp16Result.from_json(report.read_text())
    assert fp16 and fp16.parity.images == 3 and fp16.calibration_images == 3
    kept = {k["node"] for k in fp16.kept_fp32}
    assert kept == expected and len(kept) > 2
    types = _types(out)
    for node in onnx.load(str(out), load_external_data=False).graph.node:
        if node.name in kept:
            assert all(types[t] == FLOAT for t in [*node.input, *node.output] if t)
    assert json.loads(read_meta(out).extra["fp16.kept_fp32"]) == fp16.kept_fp32


def test_fp16_refusals(exported, tmp_path):
    _, fp32, fp16 = exported
    images = np.zeros((1, 3, 227, 227), np.float32)
    with pytest.raises(InputError, match="margin"):
        convert_fp16(fp32, tmp_path / "x.onnx", calib_images=images, margin=0)
    with pytest.raises(InputError, match="is already fp16"):
        convert_fp16(fp16, tmp_path / "x.onnx", calib_images=images)
    with pytest.raises(InputError, match="is a folder"):
        convert_fp16(fp32, tmp_path, calib_images=images)
    result = CliRunner().invoke(main, ["convert", "--model", str(fp32), "--check-images", "5"])
    assert result.exit_code == 2 and "--check-images only applies with --data" in result.output
    assert list(tmp_path.iterdir()) == []
