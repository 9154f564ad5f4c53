"""Calibration sets, the data reader, ORT calibration on a small real model, and the range cache."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from alexnet_deploy.precision.calibration import (
    CacheWarning,
    ImageCalibrationReader,
    RangeCache,
    cache_key,
    calibrate,
    evenly_spaced,
    find_calibration_set,
)
from alexnet_deploy.data.images import preprocess_files
from alexnet_deploy.errors import DataError, InputError
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


def test_evenly_spaced_is_deterministic_distinct_and_spread():
    picks = evenly_spaced(1000, 10)
    assert picks == evenly_spaced(1000, 10) == sorted(set(picks))
    assert picks[0] == 0 and picks[-1] >= 900
    assert evenly_spaced(5, 10) == [0, 1, 2, 3, 4]


def test_flat_folder_and_class_tree_subset(tmp_path):
    write_images(tmp_path / "tree" / "cat", 6, seed=1)
    write_images(tmp_path / "tree" / "dog", 6, seed=2)
    calib = find_calibration_set(tmp_path / "tree", num_images=4, min_images=2, input_size=SIZE)
    assert calib.kind == "images" and calib.found == 12 and calib.count == 4
    assert list(calib.files) == sorted(calib.files)
    assert {p.parent.name for p in calib.files} == {"cat", "dog"}  # spread over the tree, not the first 4
    again = find_calibration_set(tmp_path / "tree", num_images=4, min_images=2, input_size=SIZE)
    assert again == calib
    flat = find_calibration_set(tmp_path / "tree" / "cat", num_images=512, min_images=2, input_size=SIZE)
    assert flat.count == 6 and flat.digest != calib.digest


def test_digest_follows_the_bytes_not_the_names(tmp_path):
    paths = write_images(tmp_path / "a", 4)
    first = find_calibration_set(tmp_path / "a", num_images=8, min_images=1, input_size=SIZE).digest
    paths[0].rename(tmp_path / "a" / "zz_renamed.png")
    assert find_calibration_set(tmp_path / "a", num_images=8, min_images=1, input_size=SIZE).digest == first
    write_images(tmp_path / "b", 1, seed=9)[0].replace(paths[1])
    assert find_calibration_set(tmp_path / "a", num_images=8, min_images=1, input_size=SIZE).digest != first


def test_refusals(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"Found 0 calibration images in .*empty.*at least 32"):
        find_calibration_set(tmp_path / "empty", num_images=512, min_images=32, input_size=SIZE)
    write_images(tmp_path / "few", 5)
    with pytest.raises(DataError, match=r"Found only 5 calibration images in .*few.*--min-images 8"):
        find_calibration_set(tmp_path / "few", num_images=512, min_images=8, input_size=SIZE)
    with pytest.raises(DataError, match="does not exist"):
        find_calibration_set(tmp_path / "missing", num_images=8, min_images=1, input_size=SIZE)
    with pytest.raises(InputError, match="--min-images 9 is more than --num-images 8"):
        find_calibration_set(tmp_path / "few", num_images=8, min_images=9, input_size=SIZE)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a .npy"):
        find_calibration_set(tmp_path / "notes.txt", num_images=8, min_images=1, input_size=SIZE)


@pytest.mark.parametrize(
    "shape,dtype", [((4, 3, SIZE + 1, SIZE + 1), np.float32), ((4, SIZE, SIZE, 3), np.float32),
                    ((4, 3, SIZE, SIZE), np.float64), ((3, SIZE, SIZE), np.float32)],
)
def test_npy_with_wrong_shape_or_dtype_is_refused(tmp_path, shape, dtype):
    np.save(tmp_path / "c.npy", np.zeros(shape, dtype=dtype))
    with pytest.raises(DataError, match=rf"float32 of shape \(N, 3, {SIZE}, {SIZE}\)"):
        find_calibration_set(tmp_path / "c.npy", num_images=8, min_images=1, input_size=SIZE)


def test_npy_reader_serves_the_selected_rows(tmp_path):
    array = np.random.default_rng(0).normal(size=(10, 3, SIZE, SIZE)).astype(np.float32)
    np.save(tmp_path / "c.npy", array)
    calib = find_calibration_set(tmp_path / "c.npy", num_images=5, min_images=2, input_size=SIZE)
    assert calib.kind == "npy" and calib.indices == (0, 2, 4, 6, 8)
    reader = ImageCalibrationReader(calib, batch_size=2, **PRE)
    got = np.concatenate([batch["input"] for batch in reader])
    np.testing.assert_array_equal(got, array[[0, 2, 4, 6, 8]])
    assert reader.batches_served == 3 == len(reader)


def test_image_reader_preprocesses_like_the_model_says(tmp_path):
    paths = write_images(tmp_path / "c", 5)
    calib = find_calibration_set(tmp_path / "c", num_images=5, min_images=1, input_size=SIZE)
    seen = []
    reader = ImageCalibrationReader(calib, batch_size=2, on_batch=seen.append, **PRE)
    batches = list(reader)
    assert [set(b) for b in batches] == [{"input"}] * 3 and seen == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b["input"] for b in batches]), preprocess_files(paths, **PRE))


@pytest.mark.parametrize("method", ["entropy", "minmax", "percentile"])
def test_calibrate_real_images_on_a_real_model(tmp_path, method):
    model = tiny_model(tmp_path / "tiny.onnx")
    calib = find_calibration_set(write_images(tmp_path / "c", 12)[0].parent, num_images=12, min_images=1,
                                 input_size=SIZE)
    reader = ImageCalibrationReader(calib, batch_size=2, **PRE)  # 6 batches: two collect_data chunks
    ranges = calibrate(model, reader, method=method, op_types=("Conv", "Gemm"))
    assert reader.batches_served == 6
    # Every activation the scheme quantizes has a range (zero points are set by the quantizer).
    for tensor in ("input", "p1", "f", "r3"):
        low, high = ranges[tensor].range_value
        assert np.isfinite(low) and np.isfinite(high) and low <= 0 < high


def test_corrupt_image_is_named(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    paths = write_images(tmp_path / "c", 4)
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    calib = find_calibration_set(tmp_path / "c", num_images=4, min_images=1, input_size=SIZE)
    with pytest.raises(DataError, match=r"Cannot read image .*img_002\.png"):
        calibrate(model, ImageCalibrationReader(calib, **PRE), method="minmax", op_types=("Conv", "Gemm"))


def test_cache_round_trip_corruption_and_keys(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    calib = find_calibration_set(write_images(tmp_path / "c", 4)[0].parent, num_images=4, min_images=1,
                                 input_size=SIZE)
    ranges = calibrate(model, ImageCalibrationReader(calib, **PRE), method="entropy", op_types=("Conv", "Gemm"))
    cache = RangeCache(tmp_path / "cache")
    key = cache_key(calib_digest=calib.digest, model_sha256="m" * 64, settings={"method": "entropy"})
    assert cache.load(key) is None
    path = cache.save(key, ranges, inputs={"images": 4})
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]  # no temp file left behind
    loaded = cache.load(key)
    assert loaded.calibration_method == ranges.calibration_method and set(loaded.data) == set(ranges.data)
    for name in ranges.data:
        np.testing.assert_allclose(loaded[name].range_value, ranges[name].range_value)
    assert json.loads(path.read_text())["inputs"] == {"images": 4}
    # Every input of the key matters.
    others = [cache_key(calib_digest="x", model_sha256="m" * 64, settings={"method": "entropy"}),
              cache_key(calib_digest=calib.digest, model_sha256="n" * 64, settings={"method": "entropy"}),
              cache_key(calib_digest=calib.digest, model_sha256="m" * 64, settings={"method": "minmax"})]
    assert len({key, *others}) == 4
    for damage in ("{not json", json.dumps({"format": "other"}), path.read_text()[: len(path.read_text()) // 2]):
        path.write_text(damage)
        with pytest.warns(CacheWarning, match="Ignoring unusable calibration cache"):
            assert cache.load(key) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.save(key, ranges, inputs={})
        assert cache.load(key) is not None


def test_cli_warns_about_a_damaged_cache_and_recalibrates(tmp_path):
    from click.testing import CliRunner

    from alexnet_deploy.cli import main

    model = tiny_model(tmp_path / "tiny.onnx")
    write_images(tmp_path / "calib", 8)
    args = ["quantize", "--onnx", str(model), "--calib", str(tmp_path / "calib"), "--min-images", "8",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "tiny.int8.onnx")]
    assert CliRunner().invoke(main, args).exit_code == 0
    (cache_file,) = (tmp_path / "cache").iterdir()
    cache_file.write_text("{broken")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"Warning: Ignoring unusable calibration cache {cache_file}" in result.output
    assert "Calibrated on 8 images" in result.output
    assert RangeCache(tmp_path / "cache").load(cache_file.stem) is not None  # rewritten, usable again
