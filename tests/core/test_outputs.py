"""Output locations are refused in one sentence before any work; refused writes are recognised."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from alexnet_deploy.core import outputs
from alexnet_deploy.errors import OutputError


@pytest.mark.parametrize("make, message", [
    (lambda t: t, "is a folder; give a file path such as"),
    (lambda t: (t / "f.txt").write_text("") or t / "f.txt" / "model.onnx", "is a file, not a folder"),
    (lambda t: (t / "f.txt").write_text("") or t / "f.txt" / "a" / "b" / "model.onnx", "is a file, not a folder"),
    (lambda t: "/proc/model.onnx", "is on a proc filesystem"),
    (lambda t: "/sys/kernel/model.onnx", "is on a sysfs filesystem"),
    (lambda t: "/dev/null", "is not a regular file"),
    (lambda t: "   ", "is empty"),
])
def test_unwritable_file_locations_are_refused(tmp_path, make, message):
    with pytest.raises(OutputError, match=message):
        outputs.check_location(make(tmp_path), what="--out", example="model.onnx")


def test_a_folder_output_may_not_be_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        outputs.check_location(tmp_path / "f", what="--out", folder=True)
    assert outputs.check_location(tmp_path / "new" / "tree", what="--out", folder=True) == tmp_path / "new" / "tree"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    with pytest.raises(OutputError, match="no permission to write"):
        outputs.check_location(folder / "model.onnx", what="--out")


def test_more_than_the_free_space_is_refused(tmp_path):
    with pytest.raises(OutputError, match="is on a full filesystem .* needs about"):
        outputs.check_location(tmp_path / "m.onnx", what="--out", need_bytes=1 << 62)


def test_outputs_may_not_collide_with_each_other_or_an_input(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"x")
    with pytest.raises(OutputError, match="--out and --json both name"):
        outputs.check_outputs({"--out": tmp_path / "a.onnx", "--json": tmp_path / "." / "a.onnx"})
    with pytest.raises(OutputError, match="is --model itself"):
        outputs.check_outputs({"--out": tmp_path / "x" / ".." / "model.pt"}, inputs={"--model": model})
    with pytest.raises(OutputError, match="lies inside --out"):
        outputs.check_outputs({}, folders={"--out": tmp_path}, inputs={"--model": model})


def test_refused_writes_are_recognised_through_the_cause_chain():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/model.onnx")
    assert outputs.write_failure(full) == "no space is left on the device"
    try:
        try:
            raise full
        except OSError as exc:
            raise ValueError("wrapped") from exc
    except ValueError as wrapped:
        error = outputs.refused_write_error(wrapped)
    assert "/data/model.onnx" in str(error) and "no space is left" in str(error)
    torch_style = RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert outputs.write_failure(torch_style) is not None
    assert outputs.write_failure(OSError(errno.EACCES, "denied")) is None
    assert outputs.write_failure(KeyboardInterrupt()) is None


def test_a_write_past_the_file_size_limit_is_one_sentence_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse the write midway, as a full disk does (EFBIG instead of ENOSPC)."""
    script = textwrap.dedent(f"""
        import resource, sys
        from alexnet_deploy.core.fsutil import atomic_path
        from alexnet_deploy.errors import OutputError
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            with atomic_path({str(tmp_path / 'model.onnx')!r}) as tmp:
                tmp.write_bytes(b"w" * 100_000)
        except OutputError as exc:
            print(exc)
            sys.exit(2)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "failed because the file grew past" in result.stdout and "nothing was written" in result.stdout
    assert list(tmp_path.iterdir()) == []
