"""Accuracy-guided fallback on a small real model whose INT8 ranges are deliberately damaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.cli import main
from alexnet_deploy.data.images import preprocess_files
from alexnet_deploy.data.labelled import load_labelled_split
from alexnet_deploy.errors import DataError, InputError
from alexnet_deploy.precision.calibration import ImageCalibrationReader, calibrate, find_calibration_set
from alexnet_deploy.precision.fallback import FallbackResult, LayerTrial, check_max_drop, search_fallback
from alexnet_deploy.precision.measure import top1
from alexnet_deploy.precision.quantize import quantizable_nodes, quantize_from_ranges
from tests.builders import PRE, tiny_model, write_images

DAMAGED_TENSOR, DAMAGED_NODE = "f", "fc1"  # fc1's input


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny model, 16 calibration images, and a val split labelled with the FP32 model's own answers."""
    root = tmp_path_factory.mktemp("fallback")
    model = tiny_model(root / "tiny.onnx", seed=2)
    write_images(root / "calib", 16, seed=1)
    paths = write_images(root / "pool", 24, seed=2, size=(64, 56))
    import onnxruntime as ort

    logits = ort.InferenceSession(str(model)).run(None, {"input": preprocess_files(paths, **PRE)})[0]
    predicted = logits.argmax(axis=1)
    assert np.bincount(predicted).max() <= 0.75 * len(paths)  # several classes, so a broken layer shows
    for path, label in zip(paths, predicted):
        (root / "data" / "val" / f"c{label}").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / "data" / "val" / f"c{label}" / path.name)
    return root, model


def damage(ranges):
    """Make the range of one tensor so wide that every value of it quantizes to 0."""
    td = ranges[DAMAGED_TENSOR]
    td.lowest, td.highest = np.array(-1e6, dtype=np.float32), np.array(1e6, dtype=np.float32)
    return ranges


def test_max_drop_needs_data_and_a_non_negative_budget():
    check_max_drop(None, has_data=False)
    check_max_drop(0.0, has_data=True)
    with pytest.raises(InputError, match="--max-drop needs --data"):
        check_max_drop(1.0, has_data=False)
    with pytest.raises(InputError, match="--max-fp32-layers only applies with --max-drop"):
        check_max_drop(None, has_data=True, max_layers=1)
    for bad in (-0.5, float("nan")):
        with pytest.raises(InputError, match="zero or more percentage points"):
            check_max_drop(bad, has_data=True)


def test_within_budget_tries_nothing():
    calls = []
    result = search_fallback(candidates=["a", "b"], top1_excluding=lambda nodes: calls.append(nodes) or 0.0,
                             fp32_top1=80.0, int8_top1=79.5, max_drop=1.0)
    assert calls == [] and result.excluded == [] and result and result.final_drop == pytest.approx(0.5)


def test_result_round_trips_through_json():
    result = FallbackResult(fp32_top1=90.0, int8_top1=70.0, max_drop=1.0,
                            ranking=[LayerTrial("fc1", 89.5, 19.5), LayerTrial("conv1", 71.0, 1.0)],
                            excluded=["fc1"], final_top1=89.5)
    again = FallbackResult.from_json(result.to_json())
    assert again == result and bool(again) and isinstance(again.ranking[0], LayerTrial)


def test_damaged_layer_is_found_and_only_it_goes_back_to_fp32(setup):
    root, model = setup
    names = read_meta(model).class_names
    val = load_labelled_split(root / "data", class_names=names, **PRE)
    assert top1(model, val, names) == 100.0  # labels are the FP32 model's answers
    calib = find_calibration_set(root / "calib", num_images=16, min_images=1, input_size=PRE["input_size"])
    ranges = damage(calibrate(model, ImageCalibrationReader(calib, **PRE), method="minmax",
                              op_types=("Conv", "Gemm")))

    def top1_excluding(nodes):
        return top1(quantize_from_ranges(model, ranges, exclude=nodes).SerializeToString(), val, names)

    int8 = top1_excluding([])
    assert int8 < 90.0
    candidates = quantizable_nodes(onnx.load(str(model)))
    assert candidates == ["conv1", "conv2", "fc1", "fc2"]
    result = search_fallback(candidates=candidates, top1_excluding=top1_excluding, fp32_top1=100.0,
                             int8_top1=int8, max_drop=10.0)
    assert [t.node for t in result.ranking][0] == DAMAGED_NODE
    assert result.ranking[0].recovered_pp > 10.0
    assert result.excluded == [DAMAGED_NODE] and result and result.final_drop <= 10.0
    capped = search_fallback(candidates=candidates, top1_excluding=top1_excluding, fp32_top1=100.0,
                             int8_top1=int8, max_drop=10.0, max_layers=0)
    assert not capped and capped.excluded == [] and "INT8 top-1 drop" in capped.failures()[0]


def test_cli_reports_and_records_the_fallback(setup, tmp_path):
    root, model = setup
    cache = tmp_path / "cache"
    args = ["quantize", "--model", str(model), "--calib", str(root / "calib"), "--min-calib-images", "8",
            "--cache-dir", str(cache), "--data", str(root / "data"), "--target", "trt"]
    first = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "plain.int8.onnx"), "--json",
                                      str(tmp_path / "root.json")])
    assert first.exit_code == 0, first.output
    assert "Calibrated on 16 images" in first.output and "int8" in first.output
    # --data as the folder of class folders itself measures on the same images as the dataset root.
    args_split = [a if a != str(root / "data") else str(root / "data" / "val") for a in args]
    split = CliRunner().invoke(main, [*args_split, "--out", str(tmp_path / "split.int8.onnx"), "--json",
                                      str(tmp_path / "split.json")])
    assert split.exit_code == 0, split.output
    by_root, by_split = (json.loads((tmp_path / f"{n}.json").read_text())["results"][0] for n in ("root", "split"))
    assert by_root["top1"] == by_split["top1"] and by_root["eval_images"] == by_split["eval_images"] == 24
    # Damage the cached range of fc1's input: the next build reuses it, drops, and must fall back.
    (cache_file,) = cache.iterdir()
    raw = json.loads(cache_file.read_text())
    for end, value in (("lowest", -1e6), ("highest", 1e6)):
        raw["ranges"]["data"][DAMAGED_TENSOR][end] = value
    cache_file.write_text(json.dumps(raw))
    out = tmp_path / "tiny.int8.onnx"
    second = CliRunner().invoke(main, [*args, "--out", str(out), "--max-drop", "10", "--json",
                                       str(tmp_path / "r.json")])
    assert second.exit_code == 0, second.output
    assert "Calibration cache hit" in second.output
    assert "Fallback ranking" in second.output and f"Kept 1 layer(s) in FP32: {DAMAGED_NODE}" in second.output
    meta = read_meta(out)
    assert meta.precision == "int8" and json.loads(meta.extra["int8_fallback_nodes"]) == [DAMAGED_NODE]
    report = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert report["fallback_nodes"] == [DAMAGED_NODE] and report["top1"]["fp32"] == 100.0
    assert report["top1"]["int8"] >= 90.0
    fc1 = next(n for n in onnx.load(str(out)).graph.node if n.name == DAMAGED_NODE)
    assert fc1.input[0] == DAMAGED_TENSOR  # reads the float tensor: no QDQ in front of it


def test_labelled_split_refuses_unknown_class_folders(tmp_path):
    (tmp_path / "val" / "zebra").mkdir(parents=True)
    write_images(tmp_path / "val" / "zebra", 1)
    with pytest.raises(DataError, match=r"must hold one folder per class named like the model's classes .*zebra"):
        load_labelled_split(tmp_path, class_names=("c0", "c1"), **PRE)


def test_cli_budget_that_cannot_be_met_fails_the_check_and_writes_no_model(setup, tmp_path):
    """A damaged range and --max-fp32-layers 0: the drop cannot be mended, exit code 1 names the check."""
    root, model = setup
    cache = tmp_path / "cache"
    args = ["quantize", "--model", str(model), "--calib", str(root / "calib"), "--min-calib-images", "8",
            "--cache-dir", str(cache), "--data", str(root / "data" / "val"), "--target", "trt"]
    assert CliRunner().invoke(main, [*args, "--out", str(tmp_path / "first.int8.onnx")]).exit_code == 0
    (cache_file,) = cache.iterdir()
    raw = json.loads(cache_file.read_text())
    for end, value in (("lowest", -1e6), ("highest", 1e6)):
        raw["ranges"]["data"][DAMAGED_TENSOR][end] = value
    cache_file.write_text(json.dumps(raw))
    out, report = tmp_path / "capped.int8.onnx", tmp_path / "capped.json"
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--max-drop", "10", "--max-fp32-layers", "0",
                                       "--json", str(report)])
    assert result.exit_code == 1, result.output
    assert "Check failed: INT8 top-1 drop:" in result.output and "> --max-drop 10 pp" in result.output
    assert "Traceback" not in result.output and not out.exists()
    assert json.loads(report.read_text())["results"][0]["written"] is False
