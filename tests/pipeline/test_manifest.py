"""The step records: keys from file contents (never timestamps), hashes reused while a file is untouched."""

from __future__ import annotations

import os

from alexnet_deploy.pipeline.manifest import MANIFEST, Manifest


def test_a_key_follows_contents_and_settings_not_timestamps(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"weights")
    manifest = Manifest()
    key = manifest.key("export", files=[model], settings={"args": ["a"]})
    os.utime(model, ns=(1, 1))  # touched: same bytes
    assert manifest.key("export", files=[model], settings={"args": ["a"]}) == key
    assert manifest.key("export", files=[model], settings={"args": ["b"]}) != key
    assert manifest.key("int8", files=[model], settings={"args": ["a"]}) != key
    model.write_bytes(b"weight5")
    assert manifest.key("export", files=[model], settings={"args": ["a"]}) != key


def test_a_folder_key_sees_a_changed_renamed_or_added_file(tmp_path):
    data = tmp_path / "val" / "cat"
    data.mkdir(parents=True)
    (data / "1.png").write_bytes(b"one")
    manifest = Manifest()
    first = manifest.tree_hash(tmp_path / "val")
    (data / "1.png").rename(data / "2.png")
    renamed = manifest.tree_hash(tmp_path / "val")
    (data / "3.png").write_bytes(b"three")
    added = manifest.tree_hash(tmp_path / "val")
    assert len({first, renamed, added}) == 3


def test_an_untouched_file_is_not_read_again(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"weights")
    manifest = Manifest()
    digest = manifest.file_hash(model)
    # The memo is keyed by size, mtime and inode: with those unchanged the stored digest is trusted as is.
    manifest.hashes[str(model)][3] = "remembered"
    assert manifest.file_hash(model) == "remembered"
    model.write_bytes(b"changed")
    assert manifest.file_hash(model) not in ("remembered", digest)


def test_a_finished_step_is_unchanged_until_its_key_or_an_output_changes(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"model")
    manifest = Manifest()
    manifest.finish("export", "k1", [out], seconds=1.0)
    manifest.save(tmp_path)
    again = Manifest.load(tmp_path)
    assert again.unchanged("export", "k1")
    assert not again.unchanged("export", "k2")
    assert not again.unchanged("int8", "k1")
    out.write_bytes(b"edited")
    assert not again.unchanged("export", "k1")
    out.unlink()
    assert not again.unchanged("export", "k1")


def test_an_unreadable_or_foreign_manifest_is_a_fresh_start(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    assert Manifest.load(tmp_path).steps == {}
    (tmp_path / MANIFEST).write_text('{"format": "something else", "steps": {"export": {"name": "export"}}}')
    assert Manifest.load(tmp_path).steps == {}
