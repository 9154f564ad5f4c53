"""Inputs the bad-input suites share (made once per session, never changed by a test), and a private temp folder."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import builders

# Class names a rich console would read as markup: they must come out as they are.
MARKUP_CLASSES = ["[bold]a", "[red]c", "plain"]  # sorted, as class folders are


@pytest.fixture(autouse=True)
def system_temp(tmp_path, monkeypatch) -> Path:
    """The system temp folder of this test only, so that leftovers in it are seen."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    """A tiny fp32 ONNX model (classes c0..c3, 32 px), calibration images, labelled data, a training tree, a bomb."""
    root = tmp_path_factory.mktemp("world")
    builders.tiny_model(root / "tiny.onnx")
    builders.write_images(root / "calib", 40)
    builders.make_split(root / "labelled", classes=4, prefix="c")
    builders.make_tree(root / "tree", classes=3)
    builders.bomb_png(root / "bomb.png")
    for target in (root / "calib-bomb", root / "labelled-bomb" / "c0", root / "tree-bomb" / "val" / "c0"):
        target.mkdir(parents=True)
    builders.write_images(root / "calib-bomb", 40)
    builders.bomb_png(root / "calib-bomb" / "zz_bomb.png")
    builders.make_split(root / "labelled-bomb", classes=4, prefix="c")
    builders.bomb_png(root / "labelled-bomb" / "c0" / "bomb.png")
    builders.make_tree(root / "tree-bomb", classes=3)
    builders.bomb_png(root / "tree-bomb" / "val" / "c0" / "bomb.png")
    return root


@pytest.fixture(scope="session")
def paper_checkpoint(tmp_path_factory) -> Path:
    """A real paper-arch checkpoint (67 px, 3 classes named like markup) and a dataset with those class folders."""
    import torch

    from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
    from alexnet_deploy.model.zoo import build

    root = tmp_path_factory.mktemp("paper")
    torch.manual_seed(0)
    ckpt = make_checkpoint(builders.he_init(build("paper", num_classes=3)), arch="paper", class_names=MARKUP_CLASSES,
                           input_size=67, resize=76)
    save_checkpoint(root / "paper.pt", ckpt)
    for name in MARKUP_CLASSES:
        builders.write_images(root / "data" / "val" / name, 2, size=(80, 76))
    return root / "paper.pt"


@dataclass
class Kit:
    """What a case needs: its own folder, the shared inputs, and the folders to watch for leftovers."""

    tmp: Path
    world: Path
    request: pytest.FixtureRequest
    used_paper: bool = False

    @property
    def paper(self) -> Path:
        self.used_paper = True
        return self.request.getfixturevalue("paper_checkpoint")

    @property
    def watch(self) -> list[Path]:
        return [self.tmp, self.world] + ([self.paper.parent] if self.used_paper else [])

    def file(self, name: str, text: str = "") -> Path:
        """A plain file in the case's folder (something to put an output under)."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


@pytest.fixture
def kit(tmp_path, world, request) -> Kit:
    return Kit(tmp=tmp_path, world=world, request=request)
