"""User image folders: scanning, reading odd image formats, and the errors for bad folders."""

from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.cli import main
from alexnet_deploy.data.images import check_image_folder, load_rgb, scan_image_folder
from alexnet_deploy.errors import DataError


def write_odd_images(root: Path) -> dict[str, tuple[int, int]]:
    """One image per PIL mode worth converting, at odd sizes, in two class folders; returns name -> (w, h)."""
    rng = np.random.default_rng(0)
    (root / "b_cats").mkdir(parents=True)
    (root / "a_dogs" / "nested").mkdir(parents=True)
    sizes = {}

    def save(img: Image.Image, rel: str, **kw) -> None:
        img.save(root / rel, **kw)
        sizes[rel] = img.size

    save(Image.fromarray(rng.integers(0, 256, (37, 53), dtype=np.uint8), mode="L"), "a_dogs/gray.png")
    save(Image.fromarray(rng.integers(0, 256, (41, 29, 4), dtype=np.uint8), mode="RGBA"), "a_dogs/rgba.png")
    save(Image.fromarray(rng.integers(0, 256, (31, 67, 3), dtype=np.uint8)).convert("P"), "b_cats/palette.png")
    sixteen = Image.fromarray(rng.integers(0, 65536, (23, 45), dtype=np.uint16).astype(np.uint16))
    save(sixteen, "b_cats/deep.png")
    save(Image.fromarray(rng.integers(0, 256, (33, 61, 3), dtype=np.uint8)), "a_dogs/nested/photo.JPG", format="JPEG",
         quality=90)
    save(Image.fromarray(rng.integers(0, 256, (19, 17, 3), dtype=np.uint8)), "b_cats/small.jpeg", format="JPEG")
    (root / "b_cats" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return sizes


def test_scan_finds_classes_sorted_and_nested_images(tmp_path):
    write_odd_images(tmp_path)
    classes, samples = scan_image_folder(tmp_path)
    assert classes == ["a_dogs", "b_cats"]
    rel = [(str(p.relative_to(tmp_path)), label) for p, label in samples]
    assert rel == [("a_dogs/gray.png", 0), ("a_dogs/nested/photo.JPG", 0), ("a_dogs/rgba.png", 0),
                   ("b_cats/deep.png", 1), ("b_cats/palette.png", 1), ("b_cats/small.jpeg", 1)]


def test_every_odd_format_loads_as_8_bit_rgb(tmp_path):
    sizes = write_odd_images(tmp_path)
    assert Image.open(tmp_path / "b_cats" / "deep.png").mode.startswith("I")  # really a 16-bit file
    for rel, size in sizes.items():
        img = load_rgb(tmp_path / rel)
        assert img.mode == "RGB" and img.size == size, rel
    # 16-bit values are scaled into 8 bits, not clipped to white.
    deep = np.asarray(load_rgb(tmp_path / "b_cats" / "deep.png"))
    assert 60 < deep.mean() < 200 and deep.min() < 30


def test_missing_folder_is_one_sentence_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"nope does not exist"):
        scan_image_folder(tmp_path / "nope")


def test_a_file_is_not_an_image_folder(tmp_path):
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(DataError, match="is not a folder"):
        scan_image_folder(tmp_path / "f.png")


def test_folder_without_class_folders(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match=f"{tmp_path} holds no class folders"):
        scan_image_folder(tmp_path)


def test_empty_class_folder_is_named(tmp_path):
    (tmp_path / "full").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "full" / "x.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"Class folder .*empty holds no JPEG or PNG images"):
        scan_image_folder(tmp_path)


def test_a_dataset_root_is_not_a_split(tmp_path):
    for split in ("train", "val"):
        (tmp_path / split / "cls").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / "cls" / "x.png")
    with pytest.raises(DataError, match=r"holds the splits train, val rather than class folders"):
        scan_image_folder(tmp_path)
    assert scan_image_folder(tmp_path / "train")[0] == ["cls"]


def test_check_reports_unreadable_files(tmp_path):
    write_odd_images(tmp_path)
    bad = tmp_path / "a_dogs" / "broken.jpg"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    report = check_image_folder(tmp_path)
    assert not report
    assert report.counts == [4, 3] and report.unreadable == [str(bad)]
    assert type(report).from_json(report.to_json()) == report
    with pytest.raises(DataError, match="broken.jpg"):
        load_rgb(bad)


def test_cli_check(tmp_path):
    write_odd_images(tmp_path)
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 classes, 6 images, 0 unreadable." in result.output
    (tmp_path / "b_cats" / "bad.png").write_bytes(b"\x89PNG not really")
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1  # a check that ran and failed, not a user error
    assert "Check failed: readable images: 1 of 7 cannot be read" in result.output and "bad.png" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["unreadable"] == [str(tmp_path / "b_cats" / "bad.png")]
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
