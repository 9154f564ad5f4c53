"""Class 1: every output location is checked before any work starts, for every command that writes.

A folder where a file goes, a path under a file, /proc and /sys, a device, an output that is an input, two
outputs on one file, an unwritable folder: each is one sentence with exit code 2, and nothing is created
(the checks run before the model is even loaded, so a missing model does not matter to most of them).
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.builders import assert_refused


def _export(k, *extra):
    return ["export", "--model", k.paper, *extra]


def _convert(k, *extra):
    return ["convert", "--model", k.world / "tiny.onnx", *extra]


def _quantize(k, *extra):
    return ["quantize", "--model", k.world / "tiny.onnx", "--calib", k.world / "calib", *extra]


def _train(k, *extra):
    return ["train", "--data", k.world / "tree", "--recipe", "fast", "--epochs", "1", "--no-progress", *extra]


def _copy(source, target):
    shutil.copyfile(source, target)
    return target


def _engine(k, *extra):
    return ["build-engine", "--model", k.world / "tiny.onnx", *extra]


def _eval(k, *extra):
    return ["eval", "--model", k.paper, "--data", k.paper.parent / "data", *extra]


CASES = {
    # export: --out, the fp16 model beside it, --json
    "export out is a folder": (lambda k: _export(k, "--out", k.tmp), "is a folder; give a file path"),
    "export out under a file": (lambda k: _export(k, "--out", k.file("f") / "m.onnx"), "is a file, not a folder"),
    "export out in /proc": (lambda k: _export(k, "--out", "/proc/m.onnx"), "on a proc filesystem"),
    "export out in /sys": (lambda k: _export(k, "--out", "/sys/kernel/m.onnx"), "on a sysfs filesystem"),
    "export out is a device": (lambda k: _export(k, "--out", "/dev/null"), "not a regular file"),
    "export out is the model": (lambda k: _export(k, "--out", k.paper), "is --model itself"),
    "export json is the out": (lambda k: _export(k, "--out", k.tmp / "m.onnx", "--json", k.tmp / "m.onnx"),
                               "--out and --json both name"),
    "export json is a folder": (lambda k: _export(k, "--out", k.tmp / "m.onnx", "--json", k.tmp), "is a folder"),
    "export json under a file": (lambda k: _export(k, "--json", k.file("r") / "x.json"), "is a file, not a folder"),
    "export fp16 model is a folder": (lambda k: (k.tmp / "m.fp16.onnx").mkdir() or _export(
        k, "--out", k.tmp / "m.onnx", "--fp16"), "the fp16 model"),
    "export fp16 model is the json": (lambda k: _export(k, "--out", k.tmp / "m.onnx", "--fp16", "--json",
                                                        k.tmp / "m.fp16.onnx"), "both name"),
    # convert
    "convert out is a folder": (lambda k: _convert(k, "--out", k.tmp), "is a folder"),
    "convert out is the model": (lambda k: _convert(k, "--out", k.world / "tiny.onnx"), "is --model itself"),
    "convert out under a file": (lambda k: _convert(k, "--out", k.file("f") / "a" / "m.onnx"), "is a file"),
    "convert out in /proc": (lambda k: _convert(k, "--out", "/proc/self/m.onnx"), "on a proc filesystem"),
    "convert json in /sys": (lambda k: _convert(k, "--out", k.tmp / "m.onnx", "--json", "/sys/r.json"),
                             "on a sysfs filesystem"),
    # quantize: --out, --json, --cache-dir (a folder)
    "quantize out is a folder": (lambda k: _quantize(k, "--out", k.tmp), "is a folder"),
    "quantize out is the model": (lambda k: _quantize(k, "--out", k.world / "tiny.onnx"), "is --model itself"),
    "quantize out in /proc": (lambda k: _quantize(k, "--out", "/proc/m.onnx"), "on a proc filesystem"),
    "quantize json under a file": (lambda k: _quantize(k, "--out", k.tmp / "q.onnx", "--json", k.file("f") / "r.json"),
                                   "is a file, not a folder"),
    "quantize cache-dir is a file": (lambda k: _quantize(k, "--out", k.tmp / "q.onnx", "--cache-dir", k.file("c")),
                                     "exists and is not a folder"),
    "quantize cache-dir in /proc": (lambda k: _quantize(k, "--out", k.tmp / "q.onnx", "--cache-dir", "/proc/cache"),
                                    "on a proc filesystem"),
    "quantize default out is a folder": (lambda k: (k.tmp / "m.int8.onnx").mkdir() or [
        "quantize", "--model", k.tmp / "m.onnx", "--calib", k.world / "calib"], "is a folder"),
    # train: --out, the last-epoch checkpoint beside it, --json
    "train out is a folder": (lambda k: _train(k, "--out", k.tmp), "is a folder"),
    "train out under a file": (lambda k: _train(k, "--out", k.file("f") / "m.pt"), "is a file, not a folder"),
    "train out in /proc": (lambda k: _train(k, "--out", "/proc/m.pt"), "on a proc filesystem"),
    "train last checkpoint is a folder": (lambda k: (k.tmp / "m.last.pt").mkdir() or _train(k, "--out", k.tmp / "m.pt"),
                                          "the last-epoch checkpoint"),
    "train out is the fine-tune input": (lambda k: _train(k, "--out", k.paper, "--fine-tune", k.paper),
                                         "is --fine-tune itself"),
    "train json is the out": (lambda k: _train(k, "--out", k.tmp / "m.pt", "--json", k.tmp / "m.pt"), "both name"),
    # eval: --json
    "eval json is a folder": (lambda k: _eval(k, "--json", k.tmp), "is a folder"),
    "eval json is the model": (lambda k: _eval(k, "--json", k.paper), "is --model itself"),
    "eval json in /proc": (lambda k: _eval(k, "--json", "/proc/r.json"), "on a proc filesystem"),
    "eval json is a device": (lambda k: _eval(k, "--json", "/dev/zero"), "not a regular file"),
    # build-engine: --out, the sidecar beside it, --json, --timing-cache (checked before TensorRT is looked for)
    "engine out is a folder": (lambda k: _engine(k, "--out", k.tmp), "is a folder"),
    "engine out under a file": (lambda k: _engine(k, "--out", k.file("f") / "m.engine"), "is a file, not a folder"),
    "engine out in /proc": (lambda k: _engine(k, "--out", "/proc/m.engine"), "on a proc filesystem"),
    "engine sidecar is a folder": (lambda k: (k.tmp / "m.engine.json").mkdir() or _engine(
        k, "--out", k.tmp / "m.engine"), "the sidecar"),
    "engine json is the sidecar": (lambda k: _engine(k, "--out", k.tmp / "m.engine", "--json",
                                                     k.tmp / "m.engine.json"), "both name"),
    "engine timing cache is a folder": (lambda k: _engine(k, "--out", k.tmp / "m.engine", "--timing-cache", k.tmp),
                                        "is a folder"),
    "engine fp16 model is a folder": (lambda k: (k.tmp / "m.fp16.onnx").mkdir() or [
        "build-engine", "--model", _copy(k.world / "tiny.onnx", k.tmp / "m.onnx"), "--fp16", "--out",
        k.tmp / "e.engine"], "the fp16 model"),
    # triton export: --out is a folder output
    "triton out is a file": (lambda k: ["triton", "export", k.world / "tiny.onnx", "--out", k.file("repo")],
                             "exists and is not a folder"),
    "triton out under a file": (lambda k: ["triton", "export", k.world / "tiny.onnx", "--out", k.file("f") / "r"],
                                "is a file, not a folder"),
    "triton out in /proc": (lambda k: ["triton", "export", k.world / "tiny.onnx", "--out", "/proc/repo"],
                            "on a proc filesystem"),
    "triton out holds the input": (lambda k: ["triton", "export", k.world / "tiny.onnx", "--out", k.world],
                                   "lies inside --out"),
    "triton input inside the repository it replaces": (lambda k: k.file("repo/alexnet-deploy-triton.json") and [
        "triton", "export", _copy(k.world / "tiny.onnx", k.tmp / "repo" / "m.onnx"), "--out", k.tmp / "repo"],
        "lies inside --out"),
    "triton json in /sys": (lambda k: ["triton", "export", k.world / "tiny.onnx", "--out", k.tmp / "repo", "--json",
                                       "/sys/r.json"], "on a sysfs filesystem"),
    # data synth: --out is a folder output; data check: --json
    "synth out is a file": (lambda k: ["data", "synth", "--out", k.file("f"), "--no-progress"],
                            "exists and is not a folder"),
    "synth out under a file": (lambda k: ["data", "synth", "--out", k.file("f") / "d", "--no-progress"],
                               "is a file, not a folder"),
    "synth out in /proc": (lambda k: ["data", "synth", "--out", "/proc/synth", "--no-progress"],
                           "on a proc filesystem"),
    "synth too big for the disk": (lambda k: ["data", "synth", "--out", k.tmp / "d", "--classes", "12",
                                              "--train-per-class", "100000", "--val-per-class", "100000",
                                              "--calib-per-class", "100000"], "full filesystem"),
    "check json is a folder": (lambda k: ["data", "check", k.world / "labelled", "--json", k.tmp], "is a folder"),
    "check json in /sys": (lambda k: ["data", "check", k.world / "labelled", "--json", "/sys/r.json"],
                           "on a sysfs filesystem"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_output_location_is_refused_before_any_work(kit, case):
    make, match = CASES[case]
    args = make(kit)
    assert_refused(args, watch=kit.watch, match=match)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command", ["export", "quantize", "synth"])
def test_read_only_folder_is_refused(kit, command):
    folder = kit.tmp / "ro"
    folder.mkdir(mode=0o555)
    args = {"export": lambda: _export(kit, "--out", folder / "m.onnx"),
            "quantize": lambda: _quantize(kit, "--out", folder / "m.onnx"),
            "synth": lambda: ["data", "synth", "--out", folder / "d"]}[command]()
    assert_refused(args, watch=kit.watch, match="no permission to write")
