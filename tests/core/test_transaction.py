"""All outputs of a command as one unit: placed together, or undone together with the earlier files back."""

from __future__ import annotations

import pytest

from alexnet_deploy.core import transaction as tx
from alexnet_deploy.core.fsutil import atomic_path, write_text_atomic


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_outside_a_transaction_place_renames_at_once(tmp_path):
    write_text_atomic(tmp_path / "a.json", "1")
    write_text_atomic(tmp_path / "a.json", "2")
    assert (tmp_path / "a.json").read_text() == "2"
    assert _entries(tmp_path) == ["a.json"]


def test_a_failure_after_some_outputs_removes_them_and_restores_earlier_files(tmp_path):
    (tmp_path / "model.onnx").write_text("old model")
    with pytest.raises(RuntimeError):
        with tx.transaction():
            write_text_atomic(tmp_path / "model.onnx", "new model")
            write_text_atomic(tmp_path / "new" / "deeper" / "report.json", "{}")
            assert (tmp_path / "model.onnx").read_text() == "new model"
            raise RuntimeError("the --json write failed")
    assert (tmp_path / "model.onnx").read_text() == "old model"
    assert _entries(tmp_path) == ["model.onnx"]  # folders made for outputs are gone too


def test_an_interruption_inside_a_write_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with tx.transaction():
            with atomic_path(tmp_path / "model.pt") as tmp:
                tmp.write_bytes(b"half")
                raise KeyboardInterrupt
    assert _entries(tmp_path) == []


def test_commit_deletes_the_replaced_files(tmp_path):
    (tmp_path / "model.onnx").write_text("old")
    with tx.transaction():
        write_text_atomic(tmp_path / "model.onnx", "new")
        assert len(_entries(tmp_path)) == 2  # the earlier file waits aside until the end
    assert _entries(tmp_path) == ["model.onnx"]
    assert (tmp_path / "model.onnx").read_text() == "new"


def test_nested_units_join_the_outer_one_unless_independent(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with tx.transaction():
            with tx.transaction():
                write_text_atomic(tmp_path / "joined.json", "1")
            with tx.transaction(independent=True):
                write_text_atomic(tmp_path / "epoch1.pt", "kept")
            raise KeyboardInterrupt
    assert _entries(tmp_path) == ["epoch1.pt"]


def test_folders_are_placed_and_restored_like_files(tmp_path):
    target = tmp_path / "tree"
    (target / "old").mkdir(parents=True)
    new = tmp_path / "staged"
    (new / "fresh").mkdir(parents=True)
    with pytest.raises(ValueError):
        with tx.transaction():
            tx.place(new, target)
            assert (target / "fresh").is_dir()
            raise ValueError
    assert (target / "old").is_dir() and not (target / "fresh").exists()
    assert _entries(tmp_path) == ["tree"]
