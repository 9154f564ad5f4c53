"""Training: resume equals an uninterrupted run, Ctrl-C keeps the last checkpoint, corrupt and empty data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.artifacts.checkpoint import load_checkpoint
from alexnet_deploy.cli import main
from alexnet_deploy.errors import CheckpointError, InputError
from alexnet_deploy.model.zoo import build
from alexnet_deploy.train.recipes import FAST, PAPER, PlateauState, Recipe, get_recipe
from alexnet_deploy.train.loop import TrainConfig, last_path, train
from tests.builders import make_tree

TINY = dict(input_size=67, resize=72, batch_size=8, workers=0, pca_max_images=10)


def tiny_recipe(**changes) -> Recipe:
    return PAPER.with_overrides(**{**TINY, "lr": 0.001, **changes})


@pytest.mark.slow
def test_resume_after_ctrl_c_ends_with_the_same_weights(tmp_path):
    data = make_tree(tmp_path / "data", train=4, val=1)
    recipe = tiny_recipe(cache_images=True)
    straight = train(TrainConfig(data=data, out=tmp_path / "a" / "m.pt", recipe=recipe, epochs=2, seed=3, progress=False))

    def interrupt(epoch: int, step: int) -> None:
        if epoch == 1 and step == 0:
            raise KeyboardInterrupt

    config = TrainConfig(data=data, out=tmp_path / "b" / "m.pt", recipe=recipe, epochs=2, seed=3, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=interrupt)
    survivor = load_checkpoint(last_path(config.out))  # the last good checkpoint loads after Ctrl-C
    assert survivor.training["epoch"] == 1
    assert sorted(p.name for p in config.out.parent.iterdir()) == ["m.last.pt", "m.pt"]  # no temp files

    resumed = train(TrainConfig(data=data, out=config.out, recipe=PAPER, epochs=2, seed=3, resume=True, progress=False))
    a = load_checkpoint(last_path(tmp_path / "a" / "m.pt")).state_dict
    b = load_checkpoint(last_path(config.out)).state_dict
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in straight.history]
    assert resumed.history[-1].epoch == 2


@pytest.mark.slow
def test_corrupt_images_are_skipped_with_one_warning_per_epoch_and_metadata_is_recorded(tmp_path):
    data = make_tree(tmp_path / "data", train=2, val=1)
    (data / "train" / "c0" / "broken.png").write_bytes(b"not a png")
    (data / "train" / "c2" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    out = tmp_path / "m.pt"
    result = CliRunner().invoke(main, [
        "train", "--data", str(data), "--epochs", "2", "--out", str(out), "--input-size", "67", "--resize", "72",
        "--batch-size", "8", "--workers", "0", "--lr", "0.001", "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert result.output.count("Skipped 2 unreadable training image(s)") == 2  # once per epoch
    last = load_checkpoint(out.with_name("m.last.pt"))
    assert [h["skipped"] for h in last.training["history"]] == [2, 2]
    assert "optimizer" in last.training["resume"]

    best = load_checkpoint(out)
    assert best.arch == "paper" and best.class_names == ["c0", "c1", "c2"]
    assert (best.input_size, best.resize) == (67, 72)  # the geometry later stages preprocess with
    meta = best.training
    assert meta["recipe"]["name"] == "paper" and meta["recipe"]["input_size"] == 67
    assert meta["epochs"] == 2 and meta["seed"] == 0 and meta["images_per_s"] > 0
    assert meta["best_val_top1"] == max(h["val_top1"] for h in last.training["history"])
    assert set(meta["pca"]) >= {"eigvals", "eigvecs"}
    assert "resume" not in meta  # the optimizer state lives only in the .last file


@pytest.mark.parametrize("layout", ["missing", "no-classes", "empty-class", "no-val"])
def test_unusable_data_is_a_clear_error_before_work_starts(tmp_path, layout):
    data = tmp_path / "data"
    if layout != "missing":
        (data / "train").mkdir(parents=True)
        (data / "val").mkdir()
    if layout in ("empty-class", "no-val"):
        make_tree(data, classes=2, train=1, val=1)
        if layout == "empty-class":
            (data / "train" / "c9").mkdir()
        else:
            for f in (data / "val").rglob("*.png"):
                f.unlink()
    out = tmp_path / "models" / "m.pt"
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    expected = {"missing": "does not exist", "no-classes": "holds no class folders", "empty-class": "c9 holds no",
                "no-val": "holds no JPEG or PNG"}[layout]
    assert expected in result.output
    assert not out.parent.exists()


@pytest.mark.slow
def test_fine_tune_keeps_the_features_and_replaces_the_head(tmp_path):
    data = make_tree(tmp_path / "data", train=2, val=1)
    torch.manual_seed(0)
    source = build("torchvision", num_classes=1000)
    weights = tmp_path / "alexnet-owt.pth"
    torch.save(source.state_dict(), weights)  # a bare state_dict, like torchvision's ImageNet file
    out = tmp_path / "ft.pt"
    recipe = tiny_recipe(lr=1e-9, input_size=63, resize=70, pca_color=False)
    train(TrainConfig(data=data, out=out, recipe=recipe, epochs=1, fine_tune=weights, progress=False))
    ckpt = load_checkpoint(out)
    assert ckpt.arch == "torchvision" and ckpt.num_classes == 3
    assert ckpt.state_dict["classifier.6.weight"].shape == (3, 4096)
    assert torch.allclose(ckpt.state_dict["features.0.weight"], source.state_dict()["features.0.weight"], atol=1e-6)


def test_conflicting_and_impossible_requests_are_refused(tmp_path):
    data = make_tree(tmp_path / "data", train=1, val=1)
    runner = CliRunner()
    both = runner.invoke(main, ["train", "--data", str(data), "--resume", "--fine-tune", str(tmp_path / "x.pt")])
    assert both.exit_code == 2 and "conflict" in both.output
    flags = runner.invoke(main, ["train", "--data", str(data), "--resume", "--lr", "0.1"])
    assert flags.exit_code == 2 and "recorded recipe" in flags.output
    nothing = runner.invoke(main, ["train", "--data", str(data), "--resume", "--out", str(tmp_path / "m.pt")])
    assert nothing.exit_code == 2 and "Nothing to resume" in nothing.output
    with pytest.raises(InputError, match="at least 67"):
        train(TrainConfig(data=data, out=tmp_path / "m.pt", recipe=tiny_recipe(input_size=40, resize=48), epochs=1))
    with pytest.raises(CheckpointError):
        train(TrainConfig(data=data, out=tmp_path / "m.pt", resume=True, epochs=1))


def test_recipes_are_frozen_and_overridable():
    assert get_recipe("paper") is PAPER and (PAPER.lr, PAPER.momentum, PAPER.weight_decay, PAPER.batch_size) == (0.01, 0.9, 5e-4, 128)
    assert FAST.init == "kaiming" and FAST.input_size == 67
    with pytest.raises(Exception):
        PAPER.lr = 1.0  # type: ignore[misc]
    assert PAPER.with_overrides(lr=0.1, batch_size=None).lr == 0.1
    with pytest.raises(InputError):
        PAPER.with_overrides(lr=-1.0)
    with pytest.raises(InputError, match="Unknown recipe"):
        get_recipe("slow")
    assert Recipe.from_dict(FAST.to_dict()) == FAST


def test_schedules():
    cosine = FAST.with_overrides(warmup_epochs=1.0, min_lr=0.0)
    rates = [cosine.lr_at(epoch=e, step=s, steps_per_epoch=4, epochs=3, plateau_lr=0) for e in range(3) for s in range(4)]
    assert rates[3] == pytest.approx(FAST.lr)  # end of warm-up
    assert rates[4] == pytest.approx(FAST.lr) and rates[-1] < rates[6] < rates[4]
    plateau = PlateauState(lr=0.01)
    for acc in (0.5, 0.6, 0.6):
        plateau.update(acc, PAPER)
    assert plateau.lr == pytest.approx(0.001)  # divided by 10 when val accuracy stops improving
    assert PlateauState.from_dict(plateau.to_dict()) == plateau


@pytest.mark.gpu
def test_cuda_training_uses_mixed_precision_and_learns(tmp_path):
    data = make_tree(tmp_path / "data", train=8, val=2)
    result = train(TrainConfig(data=data, out=tmp_path / "m.pt", recipe=FAST.with_overrides(**TINY), epochs=3, seed=0,
                               device="cuda", progress=False))
    ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt.training["device"].startswith("cuda")
    assert all(torch.isfinite(t).all() for t in ckpt.state_dict.values())
    assert result.history[-1].train_loss < result.history[0].train_loss
