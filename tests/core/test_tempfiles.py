"""Temporary entries carry their owner; a later run removes those of dead processes only."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from alexnet_deploy.core import tempfiles


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _named(folder: Path, prefix: str, pid: int, host: str | None = None) -> Path:
    tag = tempfiles.owner_tag().replace(f"-{os.getpid()}-", f"-{pid}-")
    if host is not None:
        tag = tag.replace(f".ad-{tempfiles._host()}-", f".ad-{host}-")
    return folder / f"{prefix}{tag}"


def test_temp_sibling_names_its_owner(tmp_path):
    path = tempfiles.temp_sibling(tmp_path / "model.onnx")
    assert path.parent == tmp_path and path.name.startswith(".model.onnx.ad-")
    assert tempfiles.owner_pid(path.name) == os.getpid()
    assert tempfiles.owner_pid("model.onnx") is None
    assert tempfiles.owner_pid(".model.onnx.123.tmp") is None


def test_sweep_removes_entries_of_dead_processes_only(tmp_path):
    dead = _dead_pid()
    stale_file = _named(tmp_path, ".m.onnx", dead)
    stale_file.write_bytes(b"x" * 10)
    stale_dir = _named(tmp_path, ".m.onnx", dead)
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "big.onnx").write_bytes(b"y")
    live = _named(tmp_path, ".m.onnx", os.getpid())
    live.write_bytes(b"")
    foreign = _named(tmp_path, ".m.onnx", dead, host="otherhost")
    foreign.write_bytes(b"")
    user_file = tmp_path / f".m.onnx.ad-x-{dead}-ab.tmp.keep"
    user_file.write_bytes(b"")
    removed = tempfiles.sweep_stale(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert live.exists() and foreign.exists() and user_file.exists()
    assert not stale_file.exists() and not stale_dir.exists()


def test_scratch_dir_is_removed_and_sweeps_stale_scratch(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = _named(tmp_path, "alexnet-deploy-calib", _dead_pid())
    stale.mkdir()
    with tempfiles.scratch_dir("calib") as scratch:
        assert scratch.is_dir() and scratch.parent == tmp_path
        assert not stale.exists()
        (scratch / "augmented.onnx").write_bytes(b"z")
    assert list(tmp_path.iterdir()) == []
