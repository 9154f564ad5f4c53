import os
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from alexnet_deploy.artifacts.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from alexnet_deploy.cli import main
from alexnet_deploy.errors import CheckpointError
from alexnet_deploy.model.zoo import build


@pytest.fixture(scope="module")
def paper_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build("paper", num_classes=3)
    ckpt = make_checkpoint(model, arch="paper", class_names=["cat", "dog", "fox"], training={"epochs": 2, "best_top1": 0.5})
    path = tmp_path_factory.mktemp("ckpt") / "alexnet.pt"
    save_checkpoint(path, ckpt)
    return path, model


def test_round_trip_keeps_metadata_and_weights(paper_checkpoint):
    path, model = paper_checkpoint
    ckpt = load_checkpoint(path)
    assert (ckpt.arch, ckpt.num_classes, ckpt.class_names) == ("paper", 3, ["cat", "dog", "fox"])
    assert (ckpt.input_size, ckpt.resize) == (227, 256)
    assert ckpt.training == {"epochs": 2, "best_top1": 0.5}
    rebuilt = ckpt.build_model()
    x = torch.randn(1, 3, 227, 227)
    torch.testing.assert_close(rebuilt(x), model.eval()(x))


def test_bare_torchvision_state_dict_maps_to_torchvision(tmp_path):
    model = build("torchvision", num_classes=5)
    torch.save(model.state_dict(), tmp_path / "alexnet-owt.pth")
    ckpt = load_checkpoint(tmp_path / "alexnet-owt.pth")
    assert (ckpt.arch, ckpt.num_classes, ckpt.input_size, ckpt.source) == ("torchvision", 5, 224, "torchvision-state-dict")


def test_write_is_atomic_when_saving_fails(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    target.write_bytes(b"previous good checkpoint")
    ckpt = make_checkpoint(build("paper", num_classes=2), arch="paper")

    def failing_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(target, ckpt)
    assert target.read_bytes() == b"previous good checkpoint"
    assert os.listdir(tmp_path) == ["model.pt"]


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _bad_files(tmp_path, good_path):
    good = good_path.read_bytes()
    wrong_shapes = build("torchvision", num_classes=4).state_dict()
    wrong_shapes["features.0.weight"] = torch.zeros(64, 3, 7, 7)
    torch.save(wrong_shapes, tmp_path / "wrong.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    rng = np.random.default_rng(0)
    for i in range(20):  # garbage trips the unpickler in many different ways
        (tmp_path / f"random{i}.pt").write_bytes(rng.bytes(4096))
    (tmp_path / "truncated.pt").write_bytes(good[: len(good) // 2])
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"state_dict": RunsCode()}, fh)
    torch.save({"state_dict": RunsCode()}, tmp_path / "evil-zip.pt")
    return {
        "missing.pt": "does not exist",
        "empty.pt": "is empty",
        **{f"random{i}.pt": "not a" for i in range(20)},
        "truncated.pt": "truncated or corrupt",
        "evil.pt": "",
        "evil-zip.pt": "could run code",
        "wrong.pt": "do not fit",
    }


def test_info_refuses_bad_files_with_one_sentence(tmp_path, paper_checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expectations = _bad_files(tmp_path, paper_checkpoint[0])
    runner = CliRunner()
    for name, fragment in expectations.items():
        result = runner.invoke(main, ["info", str(tmp_path / name)])
        assert result.exit_code == 2, (name, result.output)
        assert "Traceback" not in result.output
        assert result.output.startswith("Error: ") and fragment in result.output, (name, result.output)
        assert result.output.strip().count("\n") == 0, (name, result.output)
    assert not (tmp_path / "PWNED").exists()


def test_load_checkpoint_never_runs_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "x", "payload": RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused unread"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()


def test_info_prints_a_good_checkpoint(paper_checkpoint):
    result = CliRunner().invoke(main, ["info", str(paper_checkpoint[0])])
    assert result.exit_code == 0, result.output
    assert "paper" in result.output and "cat, dog, fox" in result.output and "227" in result.output


def test_saved_checkpoint_has_the_mode_of_a_plain_file(tmp_path):
    save_checkpoint(tmp_path / "m.pt", make_checkpoint(build("paper", num_classes=2), arch="paper"))
    (tmp_path / "plain").write_bytes(b"")
    assert (tmp_path / "m.pt").stat().st_mode == (tmp_path / "plain").stat().st_mode
