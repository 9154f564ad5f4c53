"""``quantize --target``: both layouts from one calibration, where they go, what their metadata says, the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.cli import main
from alexnet_deploy.commands.quantize import TARGET_CHOICES
from alexnet_deploy.errors import InputError
from alexnet_deploy.precision.quantize import QuantizeConfig
from alexnet_deploy.precision.targets import TARGETS, Int8Build, build_targets, cpu_sibling, target_outputs
from tests.builders import make_split, tiny_model, write_images

CONFIG = QuantizeConfig(min_images=4, num_images=16)


def test_output_paths():
    assert cpu_sibling("m/alexnet.int8.onnx").as_posix() == "m/alexnet.int8-cpu.onnx"
    assert cpu_sibling("m/net.onnx").as_posix() == "m/net-cpu.onnx"
    assert {k: v.name for k, v in target_outputs("a.int8.onnx", "all").items()} == {
        "trt": "a.int8.onnx", "cpu": "a.int8-cpu.onnx"}
    assert {k: v.name for k, v in target_outputs("a.int8.onnx", "cpu").items()} == {"cpu": "a.int8.onnx"}
    assert set(TARGET_CHOICES) == set(TARGETS)
    with pytest.raises(InputError, match="--target"):
        target_outputs("a.onnx", "gpu")


def test_all_builds_both_layouts_from_one_calibration(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    calib = write_images(tmp_path / "calib", 8)[0].parent
    data = make_split(tmp_path / "data" / "val", classes=4, per_class=2, prefix="c").parent
    events = []
    build = build_targets(model, calib, tmp_path / "out" / "tiny.int8.onnx", target="all", config=CONFIG,
                          cache_dir=tmp_path / "cache", data_dir=data, progress=lambda *e: events.append(e))
    trt, cpu = build.results
    assert (trt.layout, cpu.layout) == ("trt", "cpu") and build
    assert not trt.cache_hit and cpu.cache_hit and trt.cache_file == cpu.cache_file
    assert events.count(("calibrate", 8, 8)) == 1  # calibrated once, for both
    assert cpu.top1["fp32"] == trt.top1["fp32"] and set(cpu.scores) == {"fp32", "fp16", "int8"}
    assert cpu.lowering is not None and cpu.lowering and trt.lowering is None
    assert read_meta(trt.out).extra["int8_layout"] == "trt"
    cpu_meta = read_meta(cpu.out)
    assert cpu.out.endswith("tiny.int8-cpu.onnx") and cpu_meta.extra["int8_layout"] == "cpu"
    assert "uint8" in cpu_meta.extra["int8_layout_description"] and cpu_meta.precision == "int8"
    assert Int8Build.from_json(build.to_json()) == build


def test_cli_target_cpu_and_a_refused_path_leaves_nothing(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    calib = write_images(tmp_path / "calib", 8)[0].parent
    runner = CliRunner()
    base = ["quantize", "--model", str(model), "--calib", str(calib), "--min-calib-images", "4",
            "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "tiny.cpu.onnx"
    result = runner.invoke(main, [*base, "--target", "cpu", "--out", str(out), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "(CPU layout)" in result.output and "LRN lowered" in result.output and out.is_file()
    assert not (tmp_path / "tiny.cpu-cpu.onnx").exists()
    assert [r["layout"] for r in json.loads((tmp_path / "r.json").read_text())["results"]] == ["cpu"]
    # --target all checks both paths first: a CPU path that is a folder refuses before the TensorRT one is written.
    (tmp_path / "x.int8-cpu.onnx").mkdir()
    refused = runner.invoke(main, [*base, "--out", str(tmp_path / "x.int8.onnx")])
    assert refused.exit_code == 2 and "is a folder" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "x.int8.onnx").exists()
    bad = runner.invoke(main, [*base, "--target", "gpu", "--out", str(tmp_path / "y.onnx")])
    assert bad.exit_code == 2 and "Invalid value for '--target'" in bad.output
