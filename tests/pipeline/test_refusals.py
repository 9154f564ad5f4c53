"""What a later step would refuse is refused before any work: exit code 2, one sentence, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import builders


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world")
    (root / "model.pt").write_bytes(b"not opened before the refusals")
    builders.make_split(root / "data" / "val", classes=2)
    builders.write_images(root / "data" / "calib", 4)
    builders.write_images(root / "many", 40)
    (root / "file").write_text("a file, not a folder")
    return root


CASES = {
    "neither": ([], "Give either --checkpoint FILE"),
    "both": (["--checkpoint", "{r}/model.pt", "--train"], "Give either --checkpoint FILE"),
    "arch-without-train": (["--checkpoint", "{r}/model.pt", "--arch", "paper"], "--arch only applies with --train"),
    "missing-checkpoint": (["--checkpoint", "{r}/nothing.pt"], "is not a file"),
    "train-without-train-split": (["--train"], "has no train/ folder"),
    "few-calibration-images": (["--checkpoint", "{r}/model.pt"], "Found 4 calibration images"),
    "missing-calibration": (["--checkpoint", "{r}/model.pt", "--calib", "{r}/nowhere"], "does not exist"),
    "unknown-backend": (["--checkpoint", "{r}/model.pt", "--calib", "{r}/many", "--backends", "ort-cpu,tpu"],
                        "Unknown backend 'tpu'"),
    "bad-duration": (["--checkpoint", "{r}/model.pt", "--calib", "{r}/many", "--duration", "soon"],
                     "--duration takes a duration"),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_before_any_work(world, tmp_path, case):
    args, match = CASES[case]
    out = tmp_path / "runs" / "x"
    builders.assert_refused(["pipeline", *(a.format(r=world) for a in args), "--data", world / "data",
                             "--out", out], watch=[world, tmp_path], match=match)


def test_an_out_that_is_a_file_is_refused(world, tmp_path):
    builders.assert_refused(["pipeline", "--checkpoint", world / "model.pt", "--calib", world / "many", "--data",
                             world / "data", "--out", world / "file"], watch=[world, tmp_path], match="--out")
