"""build-engine: refusals before any work (exit 2, nothing written), and the fp16 / INT8 models it makes.

TensorRT is not installed on these machines, so a build stops at its import with the install line;
tests/engine/conformance takes each TensorRT version up to the GPU boundary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.cli import main
from alexnet_deploy.commands.engine import SourcePlan, check_int8_layout, make_source, plan_source
from alexnet_deploy.core.fsutil import sha256_file
from alexnet_deploy.errors import InputError
from tests.builders import tiny_meta, tiny_onnx


def _build(*args: str):
    return CliRunner().invoke(main, ["build-engine", *args])


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _calib(folder: Path, count: int = 32) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture
def fp32(tmp_path) -> Path:
    return tiny_onnx(tmp_path / "models" / "alexnet.onnx")


def test_without_tensorrt_exit_2_names_the_install_line_and_writes_nothing(fp32):
    for flags in ([], ["--fp16"]):
        result = _build("--onnx", str(fp32), *flags)
        assert result.exit_code == 2, result.output
        assert "tensorrt is not installed" in result.output and "pip install tensorrt-cu1" in result.output
        assert "Traceback" not in result.output
        assert _files(fp32.parent) == ["alexnet.onnx"]  # no engine, no sidecar, no fp16 model


@pytest.mark.parametrize("flags, message", [
    (["--fp16", "--int8"], "--fp16 and --int8 ask for two engines"),
    (["--calib", "calib"], "--calib quantizes the fp32 model for --int8"),
    (["--data", "data"], "--data picks the images of the fp16 conversion"),
    (["--int8"], "--int8 needs calibration images: pass --calib DIR (a folder of real images; random data is never"),
    (["--batch", "1:8"], "is not MIN:OPT:MAX"),
    (["--batch", "8:4:16"], "min <= opt <= max"),
    (["--workspace", "lots"], "--workspace 'lots' is not a size"),
    (["--opt-level", "7"], "7 is not in the range 0<=x<=5"),
    (["--out", "model.onnx"], "should end in .engine"),
])
def test_refusals_come_before_any_work(fp32, flags, message):
    result = _build("--onnx", str(fp32), *flags)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert _files(fp32.parent) == ["alexnet.onnx"]


def test_fixed_batch_model_refuses_another_profile(tmp_path):
    fixed = tiny_onnx(tmp_path / "fixed.onnx", batch=4)
    result = _build("--onnx", str(fixed), "--batch", "1:8:32")
    assert result.exit_code == 2 and "fixed batch of 4, so --batch 1:8:32 cannot apply" in result.output


def test_missing_model_and_model_without_metadata(tmp_path):
    result = _build("--onnx", str(tmp_path / "none.onnx"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_plan_source_picks_or_makes_the_model(fp32, tmp_path):
    meta = read_meta(fp32)
    assert plan_source(fp32, meta, fp16=False, int8=False, calib=None, data=None) == SourcePlan(fp32, "fp32")
    fp16 = fp32.with_name("alexnet.fp16.onnx")
    int8 = fp32.with_name("alexnet.int8.onnx")
    assert plan_source(fp32, meta, fp16=True, int8=False, calib=None, data=None) == SourcePlan(fp16, "fp16", "fp16")
    assert plan_source(fp32, meta, fp16=False, int8=True, calib="c", data=None) == SourcePlan(int8, "int8", "int8")
    tiny_onnx(fp16, meta=tiny_meta("fp16"))  # same source checkpoint hash as the fp32 model: fresh
    assert plan_source(fp32, meta, fp16=True, int8=False, calib=None, data=None) == SourcePlan(fp16, "fp16")
    tiny_onnx(int8, meta=tiny_meta("int8", int8_source_onnx_sha256=sha256_file(fp32)))
    assert plan_source(fp32, meta, fp16=False, int8=True, calib=None, data=None) == SourcePlan(int8, "int8")
    assert plan_source(int8, read_meta(int8), fp16=False, int8=True, calib=None, data=None) == SourcePlan(int8, "int8")


def test_plan_source_refuses_stale_and_mismatched_models(fp32):
    meta = read_meta(fp32)
    other_checkpoint = dataclasses.replace(tiny_meta("fp16"), source_sha256="d" * 64)
    fp16 = tiny_onnx(fp32.with_name("alexnet.fp16.onnx"), meta=other_checkpoint)
    with pytest.raises(InputError, match="alexnet.fp16.onnx was not made from .*alexnet.onnx; delete it or convert"):
        plan_source(fp32, meta, fp16=True, int8=False, calib=None, data=None)
    int8 = tiny_onnx(fp32.with_name("alexnet.int8.onnx"), meta=tiny_meta("int8", int8_source_onnx_sha256="e" * 64))
    with pytest.raises(InputError, match="was not made from .*add --calib DIR to quantize again"):
        plan_source(fp32, meta, fp16=False, int8=True, calib=None, data=None)
    with pytest.raises(InputError, match="is a fp16 model; --int8 starts from the fp32 model"):
        plan_source(fp16, read_meta(fp16), fp16=False, int8=True, calib=None, data=None)
    with pytest.raises(InputError, match="already INT8, so --calib has nothing to quantize"):
        plan_source(int8, read_meta(int8), fp16=False, int8=True, calib="c", data=None)


def test_make_source_writes_fp16_and_int8_models(fp32, tmp_path):
    from rich.console import Console

    console = Console(stderr=True, quiet=True)
    meta = read_meta(fp32)
    fp16 = SourcePlan(fp32.with_name("alexnet.fp16.onnx"), "fp16", make="fp16")
    make_source(fp16, fp32, meta, calib=None, data=None, console=console)
    assert read_meta(fp16.build_from).precision == "fp16"
    int8 = SourcePlan(fp32.with_name("alexnet.int8.onnx"), "int8", make="int8")
    make_source(int8, fp32, meta, calib=str(_calib(tmp_path / "calib")), data=None, console=console)
    made = read_meta(int8.build_from)
    assert made.precision == "int8" and made.extra["int8_source_onnx_sha256"] == sha256_file(fp32)
    check_int8_layout(int8.build_from)  # the TensorRT layout: passes
    # and now the sibling is fresh, so --int8 without --calib builds from it
    assert plan_source(fp32, meta, fp16=False, int8=True, calib=None, data=None) == SourcePlan(int8.build_from, "int8")


def test_int8_layout_refuses_a_model_without_qdq(tmp_path):
    fake = tiny_onnx(tmp_path / "fake.int8.onnx", meta=tiny_meta("int8"), graph_precision="fp32")
    with pytest.raises(InputError, match="says it is INT8 but has no Q/DQ nodes"):
        check_int8_layout(fake)
