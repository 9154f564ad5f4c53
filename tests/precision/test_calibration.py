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

from alexnet_deploy.data.images import preprocess_files
from alexnet_deploy.errors import DataError, InputError
from alexnet_deploy.precision.calibration import (
    CacheWarning,
    ImageCalibrationReader,
    RangeCache,
    cache_key,
    calibrate,
    find_calibration_set,
)
from tests.builders import PRE, SIZE, tiny_model, write_images


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
    with pytest.raises(DataError, match=r"Found only 5 calibration images in .*few.*--min-calib-images 8"):
        find_calibration_set(tmp_path / "few", num_images=512, min_images=8, input_size=SIZE)
    with pytest.raises(DataError, match="does not exist"):
        find_calibration_set(tmp_path / "missing", num_images=8, min_images=1, input_size=SIZE)
    with pytest.raises(InputError, match="--min-calib-images 9 is more than --calib-images 8"):
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
    args = ["quantize", "--model", str(model), "--calib", str(tmp_path / "calib"), "--min-calib-images", "8",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "tiny.int8.onnx")]
    assert CliRunner().invoke(main, args).exit_code == 0
    (cache_file,) = (tmp_path / "cache").iterdir()
    cache_file.write_text("{broken")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"Warning: Ignoring unusable calibration cache {cache_file}" in result.output
    assert "Calibrated on 8 images" in result.output
    assert RangeCache(tmp_path / "cache").load(cache_file.stem) is not None  # rewritten, usable again
