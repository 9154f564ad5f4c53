"""Class 3: what a checkpoint says about itself is checked on load, by every command that reads one.

Each bad checkpoint is refused in one sentence (exit code 2) by export, eval, info and train --fine-tune,
before any work and with nothing written. A bit flipped in the weights is caught by the digest stored in the
checkpoint; checkpoints from before the digest still load, and ``info`` reads the trainer's ``.last.pt``.
"""

from __future__ import annotations

import pytest
import torch

from tests.builders import assert_refused, fake_checkpoint, flip_weight_bit

BAD = {
    "fewer class names than outputs": (dict(class_names=["a", "b"]), "names 2 classes but the model has 3 outputs"),
    "more class names than outputs": (dict(class_names=list("abcd")), "names 4 classes but the model has 3"),
    "repeated class names": (dict(class_names=["a", "a", "b"]), "class names repeat"),
    "empty class name": (dict(class_names=["a", "", "b"]), "a class name is empty"),
    "class names as one string": (dict(class_names="abc"), "not a list of names"),
    "mean of two values": (dict(mean=[0.5, 0.5]), "mean must hold 3 values"),
    "std with a zero": (dict(std=[0.2, 0.0, 0.2]), "every value must be above 0"),
    "std negative": (dict(std=[0.2, -0.1, 0.2]), "every value must be above 0"),
    "mean not a number": (dict(mean=[0.5, float("nan"), 0.5]), "not a finite number"),
    "fractional input size": (dict(input_size=67.5), "input_size is 67.5, not a whole number"),
    "input size as text": (dict(input_size="67"), "not a whole number"),
    "input size below the arch's minimum": (dict(input_size=32), "input_size is 32, outside 67"),
    "input size far too large": (dict(input_size=100_000), "outside 67 to 1024"),
    "zero resize": (dict(resize=0), "resize is 0"),
    "training metadata not a mapping": (dict(training=[1, 2]), "training is a list"),
    "unknown arch": (dict(arch="vgg"), "which this tool does not know"),
    "missing mean": (dict(mean=None), "is missing mean"),
    "flipped weight bit": ("flip", "do not match the sha256 stored with them"),
    "empty file": ("empty", "is empty (0 bytes)"),
    "not a checkpoint": ("garbage", "not a readable PyTorch checkpoint"),
}


def _bad_checkpoint(folder, case):
    fields, _ = BAD[case]
    path = folder / "bad.pt"
    if fields == "empty":
        path.write_bytes(b"")
    elif fields == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip" * 20)
    elif fields == "flip":
        flip_weight_bit(fake_checkpoint(path))
    else:
        fake_checkpoint(path, **fields)
    return path


def _args(command, k, model):
    return {
        "export": ["export", "--model", model, "--out", k.tmp / "m.onnx", "--json", k.tmp / "r.json"],
        "eval": ["eval", "--model", model, "--data", k.world / "labelled", "--json", k.tmp / "r.json"],
        "info": ["info", model],
        "train": ["train", "--data", k.world / "tree", "--fine-tune", model, "--recipe", "fast", "--epochs", "1",
                  "--out", k.tmp / "m.pt", "--no-progress"],
    }[command]


@pytest.mark.parametrize("command", ["export", "eval", "info", "train"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_checkpoint_is_refused(kit, case, command):
    inputs = kit.tmp / "inputs"
    inputs.mkdir()
    model = _bad_checkpoint(inputs, case)
    assert_refused(_args(command, kit, model), watch=kit.watch, match=BAD[case][1])


def test_a_checkpoint_without_digest_still_loads(kit):
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint

    raw = torch.load(kit.paper, weights_only=True)
    assert len(raw.pop("weights_sha256")) == 64
    torch.save(raw, kit.tmp / "old.pt")
    assert load_checkpoint(kit.tmp / "old.pt").num_classes == 3


def test_info_reads_the_trainers_last_checkpoint(kit):
    """The optimizer state in ``.last.pt`` is tensors, not JSON: info summarises it instead of failing."""
    from click.testing import CliRunner

    from alexnet_deploy.artifacts.checkpoint import load_checkpoint, save_checkpoint
    from alexnet_deploy.cli import main

    ckpt = load_checkpoint(kit.paper)
    state = {"optimizer": {"state": {0: {"momentum_buffer": torch.zeros(2, 3)}}, "param_groups": [{"lr": 0.1}]},
             "rng": {"torch": torch.get_rng_state()}, "plateau": {"lr": 0.1}}
    ckpt.training = {"recipe": {"name": "fast", "lr": 1e-3}, "pca": {"sigma": 0.1, "eigvals": [0.2, 0.1, 0.0]},
                     "history": [{"epoch": 1}], "resume": state, "odd": torch.ones(2)}
    save_checkpoint(kit.tmp / "m.last.pt", ckpt)
    result = CliRunner().invoke(main, ["info", str(kit.tmp / "m.last.pt")])
    assert result.exit_code == 0, result.output
    assert "training.resume" in result.output and "optimizer, schedule and random state" in result.output
    assert "<Tensor 2 torch.float32>" in result.output
    assert "[bold]a" in result.output and "[red]c" in result.output
