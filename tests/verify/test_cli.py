"""``alexnet-deploy verify`` through click: figures, report files, exit 1 on a broken model, exit 2 on refusals."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner

from alexnet_deploy.artifacts.onnx_meta import read_meta, write_meta
from alexnet_deploy.cli import main
from tests.builders import scale_weight_scale, write_images

pytestmark = pytest.mark.slow  # shares the verify setup (an exported and quantized paper net)


def _run(*args):
    return CliRunner().invoke(main, ["verify", *[str(a) for a in args]])


def _with_meta(src: Path, out: Path, **changes) -> Path:
    """A copy of ``src`` whose metadata says something else."""
    proto = onnx.load(str(src))
    write_meta(proto, dataclasses.replace(read_meta(proto), **changes))
    onnx.save(proto, str(out))
    return out


def _other_model(src: Path, out: Path, *, classes: int | None = None, input_size: int | None = None) -> Path:
    """A copy of ``src`` that is, in its graph and its metadata alike, a model of ``classes`` outputs or one
    that takes ``input_size`` px inputs (not the checkpoint's)."""
    from onnx import numpy_helper

    proto = onnx.load(str(src))
    meta = read_meta(proto)
    if classes is not None:
        last = next(n for n in reversed(proto.graph.node) if n.op_type == "Gemm")
        for init in proto.graph.initializer:
            if init.name in last.input[1:]:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init)[:classes], init.name))
        proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = classes
        meta = dataclasses.replace(meta, class_names=tuple(f"k{i}" for i in range(classes)))
    if input_size is not None:
        for dim in proto.graph.input[0].type.tensor_type.shape.dim[2:]:
            dim.dim_value = input_size
        meta = dataclasses.replace(meta, input_size=input_size)
    write_meta(proto, meta)
    onnx.save(proto, str(out))
    return out


def test_prints_the_figures_and_writes_json_and_report(verify_setup, tmp_path):
    s = verify_setup
    result = _run("--checkpoint", s["checkpoint"], s["fp32"], s["int8"], "--data", s["data"], "--backend", "ort-cpu",
                  "--images", 20, "--max-drop", "int8=off", "--json", tmp_path / "v.json", "--report", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    assert "reference top-1 100.00 %" in result.output and result.output.count("PASS") == 2
    assert "minimum tolerance abs=" in result.output and "rel err max" in result.output
    assert "Warning" not in result.output
    report = json.loads((tmp_path / "v.json").read_text())
    assert [row["precision"] for row in report["rows"]] == ["fp32", "int8"] and report["images"] == 20
    markdown = (tmp_path / "rep" / "verify.md").read_text()
    assert "**PASS**" in markdown and "alexnet.int8.onnx | ort-cpu | int8" in markdown
    assert "![logit error distribution](verify.png)" in markdown
    assert (tmp_path / "rep" / "verify.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_int8_model_exits_1_and_per_layer_names_its_layer(verify_setup, tmp_path):
    s = verify_setup
    broken = scale_weight_scale(s["int8"], tmp_path / "scaled.int8.onnx", module="features.4", factor=50)
    result = _run("--checkpoint", s["checkpoint"], broken, "--data", s["data"], "--backend", "ort-cpu",
                  "--images", 20, "--per-layer", "--layer-images", 2, "--json", tmp_path / "v.json")
    assert result.exit_code == 1, result.output
    assert "Check failed:" in result.output and "top-1 drop" in result.output and "FAIL" in result.output
    assert "first past tolerance: features.4 (Conv2d, tensor" in result.output
    report = json.loads((tmp_path / "v.json").read_text())  # written although the check failed
    assert report["rows"][0]["layers"]["first_failing"] == "features.4"


def test_refusals_exit_2_with_one_sentence(verify_setup, tmp_path):
    s = verify_setup
    flat = tmp_path / "flat"
    write_images(flat, 3)
    five = _other_model(s["fp32"], tmp_path / "five.onnx", classes=5)
    bigger = _other_model(s["fp32"], tmp_path / "bigger.onnx", input_size=99)
    cases = [
        (["--checkpoint", s["checkpoint"], "--data", s["data"]], "needs at least one artifact"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", flat], "needs labels"),
        (["--checkpoint", s["checkpoint"], s["fp32"]], "pass --data DIR"),
        (["--checkpoint", s["checkpoint"], five, "--data", s["data"]], "has 5 classes"),
        (["--checkpoint", s["checkpoint"], bigger, "--data", s["data"]], "takes 99 px inputs"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--backend", "tpu"], "Unknown backend"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--backend", "torch-cpu"],
         "runs a PyTorch checkpoint, and no artifact given is one"),
        (["--checkpoint", s["checkpoint"], tmp_path / "missing.onnx", "--data", s["data"]], "does not exist"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--max-drop", "int4=1"], "not a precision"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--report", s["fp32"]], "exists and is not a folder"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--json", s["fp32"]], "artifact"),
        (["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--layer-images", 4], "add --per-layer"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append((["--checkpoint", s["checkpoint"], s["fp32"], "--data", s["data"], "--reference-device", "cuda"],
                      "torch-cuda cannot run here"))
    for args, message in cases:
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (args, result.output)


def test_an_unreadable_image_is_named(verify_setup, tmp_path):
    data = shutil.copytree(verify_setup["data"], tmp_path / "data")
    bad = data / "val" / "c3" / "000.png"
    bad.write_bytes(b"not a png at all")
    result = _run("--checkpoint", verify_setup["checkpoint"], verify_setup["fp32"], "--data", data,
                  "--backend", "ort-cpu", "--json", tmp_path / "v.json")
    assert result.exit_code == 2 and str(bad) in result.output and "Traceback" not in result.output
    assert not (tmp_path / "v.json").exists()


def test_another_checkpoint_warns_and_outputs_alone_need_no_labels(verify_setup, tmp_path):
    s = verify_setup
    other = _with_meta(s["int8"], tmp_path / "other.int8.onnx", source_sha256="0" * 64)
    flat = tmp_path / "flat"
    write_images(flat, 4)
    result = _run("--checkpoint", s["checkpoint"], other, "--data", flat, "--no-accuracy", "--backend", "ort-cpu")
    assert result.exit_code == 0, result.output
    assert "Warning" in result.output and "made from another checkpoint" in result.output
    assert "not checked: top-1 drop <= 1 pp (no labels)" in result.output and "n/a" in result.output
