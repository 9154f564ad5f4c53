"""Class 1, midway: a write the filesystem refuses after the work ran is one sentence and leaves nothing.

RLIMIT_FSIZE makes the kernel refuse any write past a file size (EFBIG), as a full disk refuses it (ENOSPC),
in a real subprocess, whichever library does the writing: onnx saving a model, numpy-made PNGs in synth's
worker processes, a JSON report, onnxruntime's calibration model in the scratch folder.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from tests import builders


def _run_with_file_limit(args: list, tmp, limit: int) -> tuple[int, str]:
    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "TMPDIR": str(tmp / "systmp"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "alexnet_deploy", *map(str, args)], env=env, capture_output=True,
                            text=True, timeout=600, preexec_fn=limit_file_size)
    return result.returncode, result.stderr


CASES = {
    "export": (8 << 20, lambda k: ["export", "--model", k.paper, "--out", k.tmp / "out" / "m.onnx"],
               "Writing {tmp}/out/m.onnx failed because the file grew past"),
    "convert": (12_000, lambda k: ["convert", "--model", k.world / "tiny.onnx", "--data", k.world / "labelled",
                                   "--out", k.tmp / "out" / "m.onnx"],
                "Writing {tmp}/out/m.onnx failed because the file grew past"),
    "convert drawing check images": (12_000, lambda k: ["convert", "--model", k.world / "tiny.onnx",
                                                        "--out", k.tmp / "out" / "m.onnx"],
                                     "Writing the drawn check images in {tmp}/systmp failed because the file grew"),
    # onnxruntime's quantizer writes its shape-inferred model from C++, which reports no failed write: the
    # truncated file is what fails, and the sentence says where to look.
    "quantize": (12_000, lambda k: ["quantize", "--model", k.world / "tiny.onnx", "--calib", k.world / "calib",
                                    "--out", k.tmp / "out" / "q.onnx", "--cache-dir", k.tmp / "out" / "cache"],
                 "onnxruntime could not calibrate"),
    "eval": (200, lambda k: ["eval", "--model", k.paper, "--data", k.paper.parent / "data", "--json",
                             k.tmp / "out" / "r.json"], "Writing {tmp}/out/r.json failed because the file grew past"),
    "data synth": (20_000, lambda k: ["data", "synth", "--out", k.tmp / "out" / "d", "--classes", "2",
                                      "--train-per-class", "40", "--workers", "2", "--no-progress"],
                   "Writing {tmp}/out/d failed because the file grew past"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(CASES))
def test_a_refused_write_is_one_sentence_and_leaves_nothing(kit, command):
    limit, make, message = CASES[command]
    (kit.tmp / "out").mkdir()
    args = make(kit)
    before = builders.tree_listing(*kit.watch) - builders.tree_listing(kit.tmp)
    code, err = _run_with_file_limit(args, kit.tmp, limit)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert message.format(tmp=kit.tmp) in lines[0], err
    assert builders.tree_listing(kit.tmp / "out", kit.tmp / "systmp") == set()
    assert builders.tree_listing(*kit.watch) - builders.tree_listing(kit.tmp) == before
