"""Class 2: an interruption is handled the same way everywhere, and what a killed run left is swept later.

Real subprocesses get real signals mid-run: SIGINT as a terminal sends it (to the whole process group, worker
processes included), SIGTERM as ``kill``, docker and Kubernetes send it (to the main process only). Each ends
with exit code 130 or 143, one sentence on stderr, no traceback (from the workers neither), nothing at the
output paths (training keeps its finished epochs) and no temporary file anywhere, the system temp folder
included. Temporary entries owned by a dead process are removed by the next run that writes beside them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import builders

SENTENCE = {signal.SIGINT: "Interrupted by SIGINT (Ctrl-C); ", signal.SIGTERM: "Interrupted by SIGTERM; "}
NOTHING = "nothing was written and temporary files were removed."


def _start(args: list, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp / "systmp"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "alexnet_deploy", *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _interrupt_when(proc: subprocess.Popen, ready, sig: int, *, timeout: float = 240) -> tuple[int, str]:
    """Wait until ``ready()`` (the run is mid-way), send ``sig`` as a terminal or ``kill`` would; (code, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (code {proc.returncode}) before it could be interrupted:\n{out}\n{err}")
        assert time.monotonic() < deadline, "the run never reached the point to interrupt"
        time.sleep(0.01)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches every process of the foreground group
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _assert_one_sentence(code: int, err: str, sig: int, ending: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 128 + sig, err
    assert lines == [SENTENCE[sig] + ending], err


def _leftovers(*folders: Path) -> list[str]:
    return sorted(str(p) for p in builders.tree_listing(*folders))


def _staging(folder: Path, name: str) -> list[Path]:
    return [p for p in folder.glob(f".{name}.ad-*") if p.is_dir()] if folder.exists() else []


@pytest.fixture
def space(tmp_path, system_temp) -> Path:
    """tmp_path with out/ for the outputs and systmp/ (conftest's system temp folder) for the child's TMPDIR."""
    (tmp_path / "out").mkdir()
    return tmp_path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    import torch

    from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
    from alexnet_deploy.model.zoo import build

    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    save_checkpoint(root / "paper.pt", make_checkpoint(builders.he_init(build("paper", num_classes=3)), arch="paper",
                                                       input_size=67, resize=76))
    builders.tiny_model(root / "tiny.onnx")
    builders.write_images(root / "calib", 512)
    builders.make_split(root / "labelled", classes=4, prefix="c", per_class=10)
    builders.make_tree(root / "tree", classes=3, train=8, val=2)
    return root


SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


@pytest.mark.slow
@pytest.mark.parametrize("sig, moment", [
    pytest.param(signal.SIGINT, "drawing check images", id="SIGINT-drawing"),
    pytest.param(signal.SIGTERM, "checking the staged model", id="SIGTERM-staged"),
])
def test_export_interrupted(inputs, space, sig, moment):
    out, scratch = space / "out", space / "systmp"
    ready = {"drawing check images": lambda: bool(list(scratch.glob("alexnet-deploy-check.ad-*"))),
             "checking the staged model": lambda: bool(_staging(out, "m.onnx"))}[moment]
    proc = _start(["export", "--model", inputs / "paper.pt", "--out", out / "m.onnx", "--json", out / "r.json"], space)
    code, err = _interrupt_when(proc, ready, sig)
    _assert_one_sentence(code, err, sig, NOTHING)
    assert _leftovers(out, scratch) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS)
def test_quantize_interrupted_while_calibrating(inputs, space, sig):
    out, scratch = space / "out", space / "systmp"
    proc = _start(["quantize", "--model", inputs / "tiny.onnx", "--calib", inputs / "calib", "--data",
                   inputs / "labelled", "--out", out / "q.onnx", "--json", out / "r.json"], space)
    code, err = _interrupt_when(proc, lambda: bool(list(scratch.glob("alexnet-deploy-calib.ad-*"))), sig)
    _assert_one_sentence(code, err, sig, NOTHING)
    assert _leftovers(out, scratch) == []


KEPT = "the checkpoints of finished epochs are intact; continue with --resume."


@pytest.mark.slow
def test_train_interrupted_while_writing_its_first_checkpoint_leaves_nothing(inputs, space):
    out = space / "out"
    proc = _start(["train", "--data", inputs / "tree", "--recipe", "fast", "--epochs", "50", "--device", "cpu",
                   "--out", out / "m.pt", "--no-progress"], space)
    code, err = _interrupt_when(proc, lambda: bool(list(out.glob(".m.pt.ad-*"))), signal.SIGINT)
    _assert_one_sentence(code, err, signal.SIGINT, KEPT)
    assert _leftovers(out, space / "systmp") == []


@pytest.mark.slow
def test_train_interrupted_after_an_epoch_keeps_that_epoch(inputs, space):
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint

    out = space / "out"
    proc = _start(["train", "--data", inputs / "tree", "--recipe", "fast", "--epochs", "50", "--device", "cpu",
                   "--out", out / "m.pt", "--no-progress"], space)
    code, err = _interrupt_when(proc, lambda: (out / "m.last.pt").exists(), signal.SIGTERM)
    _assert_one_sentence(code, err, signal.SIGTERM, KEPT)
    assert {p.name for p in out.iterdir()} <= {"m.last.pt", "m.pt"} and (out / "m.last.pt").exists()
    assert load_checkpoint(out / "m.last.pt").training["epoch"] >= 1
    assert _leftovers(space / "systmp") == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS)
def test_synth_interrupted_while_its_workers_draw(space, sig):
    out = space / "out"

    def drawing() -> bool:
        return any(sum(1 for _ in stage.rglob("*.png")) >= 24 for stage in _staging(out, "d"))

    proc = _start(["data", "synth", "--out", out / "d", "--train-per-class", "60", "--val-per-class", "10",
                   "--calib-per-class", "10", "--workers", "2", "--no-progress"], space)
    code, err = _interrupt_when(proc, drawing, sig)
    _assert_one_sentence(code, err, sig, NOTHING)  # no BrokenPipe or KeyboardInterrupt from the workers
    assert _leftovers(out, space / "systmp") == []


# --- A run killed outright cannot clean up: the next run that writes beside its leftovers removes them ---------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _owned_by(folder: Path, prefix: str, pid: int, *, folder_entry: bool = False) -> Path:
    from alexnet_deploy.core.tempfiles import owner_tag

    path = folder / (prefix + owner_tag().replace(f"-{os.getpid()}-", f"-{pid}-"))
    if folder_entry:
        (path / "sub").mkdir(parents=True)
        (path / "sub" / "big.onnx").write_bytes(b"0" * 1000)
    else:
        path.write_bytes(b"0" * 1000)
    return path


SWEEPS = {
    "export": (".m.onnx", lambda i, o: ["export", "--model", i / "missing.pt", "--out", o / "m.onnx"]),
    "convert": (".m.fp16.onnx", lambda i, o: ["convert", "--model", i / "missing.onnx", "--out", o / "m.fp16.onnx"]),
    "quantize": (".q.onnx", lambda i, o: ["quantize", "--model", i / "missing.onnx", "--calib", i, "--out",
                                          o / "q.onnx"]),
    "train": (".m.pt", lambda i, o: ["train", "--data", i / "missing", "--out", o / "m.pt"]),
    "eval": (".r.json", lambda i, o: ["eval", "--model", i / "missing.pt", "--data", i, "--json", o / "r.json"]),
    "data synth": (".d", lambda i, o: ["data", "synth", "--out", o / "d", "--classes", "2", "--train-per-class", "1",
                                       "--val-per-class", "0", "--calib-per-class", "0", "--no-progress"]),
    "data check": (".r.json", lambda i, o: ["data", "check", i / "missing", "--json", o / "r.json"]),
}


@pytest.mark.parametrize("command", list(SWEEPS))
def test_stale_temporary_entries_of_a_dead_run_are_swept(tmp_path, command):
    from click.testing import CliRunner

    from alexnet_deploy.cli import main

    out = tmp_path / "out"
    out.mkdir()
    prefix, make = SWEEPS[command]
    dead = _dead_pid()
    stale = [_owned_by(out, prefix, dead), _owned_by(out, ".replaced", dead, folder_entry=True),
             _owned_by(out, prefix, dead, folder_entry=True)]
    live = _owned_by(out, prefix, os.getpid())
    result = CliRunner().invoke(main, [str(a) for a in make(tmp_path, out)])
    assert "Traceback" not in result.output
    assert not any(p.exists() for p in stale), result.output
    assert live.exists()


def test_stale_scratch_folders_in_the_system_temp_are_swept(system_temp):
    from alexnet_deploy.data.samples import image_batch

    stale = _owned_by(system_temp, "alexnet-deploy-calib", _dead_pid(), folder_entry=True)

    class Geometry:
        input_size, resize, mean, std = 32, 36, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

    images, _ = image_batch(Geometry(), data_dir=None, count=2)  # draws its images in a scratch folder
    assert images.shape == (2, 3, 32, 32)
    assert not stale.exists() and list(system_temp.iterdir()) == []
