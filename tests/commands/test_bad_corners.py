"""Class 5: the corners. Decompression bombs, torchrun without a rendezvous, counts and sizes past their bounds,
flags without their partner, and user strings that look like rich markup or terminal escapes.

Every case is one sentence (exit code 2, or 1 where `data check` reports the unreadable file as a failed check),
no traceback, and nothing written.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from alexnet_deploy.cli import main
from tests.builders import assert_refused, bomb_png, write_images

BIG = str(10**9)


def _eval_data_with_bomb(k):
    for name in ("[bold]a", "plain", "[red]c"):
        write_images(k.tmp / "data" / name, 1)
    bomb_png(k.tmp / "data" / "plain" / "bomb.png")
    return k.tmp / "data"


BOMBS = {
    "export --data": lambda k: ["export", "--model", k.paper, "--data", k.world / "labelled-bomb",
                                "--out", k.tmp / "m.onnx"],
    "convert --data": lambda k: ["convert", "--model", k.world / "tiny.onnx", "--data", k.world / "labelled-bomb",
                                 "--out", k.tmp / "m.onnx"],
    "quantize --calib": lambda k: ["quantize", "--model", k.world / "tiny.onnx", "--calib", k.world / "calib-bomb",
                                   "--out", k.tmp / "q.onnx", "--cache-dir", k.tmp / "cache"],
    "quantize --data": lambda k: ["quantize", "--model", k.world / "tiny.onnx", "--calib", k.world / "calib",
                                  "--data", k.world / "labelled-bomb", "--out", k.tmp / "q.onnx"],
    "eval --data": lambda k: ["eval", "--model", k.paper, "--data", _eval_data_with_bomb(k),
                              "--json", k.tmp / "r.json"],
    "train --data": lambda k: ["train", "--data", k.world / "tree-bomb", "--recipe", "fast", "--epochs", "1",
                               "--out", k.tmp / "m.pt", "--no-progress"],
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_decompression_bomb_is_named_in_one_sentence(kit, case):
    args = BOMBS[case](kit)
    assert_refused(args, watch=kit.watch, match="bomb.png has 225 megapixels, over the limit of 89 megapixels")


def test_data_check_lists_a_bomb_as_unreadable(kit):
    assert_refused(["data", "check", kit.world / "labelled-bomb"], watch=kit.watch, code=1,
                   match="readable images: 1 of 9 cannot be read")


LIMITS = {
    "models --num-classes": (["models", "--num-classes", BIG], "1<=x<=32768"),
    "synth --train-per-class": (["data", "synth", "--out", "{tmp}/d", "--train-per-class", BIG], "1<=x<=100000"),
    "synth --classes": (["data", "synth", "--out", "{tmp}/d", "--classes", "13"], "2<=x<=12"),
    "synth --workers": (["data", "synth", "--out", "{tmp}/d", "--workers", BIG], "1<=x<=256"),
    "train --input-size": (["train", "--data", "{tree}", "--input-size", "100000"], "1<=x<=1024"),
    "train --resize": (["train", "--data", "{tree}", "--resize", BIG], "1<=x<=4096"),
    "train --epochs": (["train", "--data", "{tree}", "--epochs", BIG], "1<=x<=100000"),
    "eval --batch-size": (["eval", "--model", "m.pt", "--data", "{tree}", "--batch-size", BIG], "1<=x<=65536"),
    "export --check-images": (["export", "--model", "m.pt", "--check-images", BIG], "1<=x<=100000"),
    "export drawn check images": (["export", "--model", "m.pt", "--check-images", "5000"],
                                  "more drawn images than 4096"),
    "quantize --calib-images": (["quantize", "--model", "m.onnx", "--calib", "c", "--calib-images", BIG],
                                "1<=x<=100000"),
    "export --batch-dim": (["export", "--model", "m.pt", "--batch-dim", BIG], "an integer from 1 to 65536"),
    "build-engine --opt-level": (["build-engine", "--model", "{tiny}", "--opt-level", "9"], "0<=x<=5"),
    "triton --instances": (["triton", "export", "{tiny}", "--out", "{tmp}/r", "--instances", BIG], "1<=x<=256"),
    "triton --max-batch-size": (["triton", "export", "{tiny}", "--out", "{tmp}/r", "--max-batch-size", BIG],
                                "1<=x<=65536"),
}

PARTNERS = {
    "convert --calib-images": (["convert", "--model", "{tiny}", "--calib-images", "8"], "--calib-images only applies "
                               "with --data"),
    "convert --check-images": (["convert", "--model", "{tiny}", "--check-images", "8"], "--check-images only applies "
                               "with --data"),
    "quantize --eval-images": (["quantize", "--model", "{tiny}", "--calib", "{calib}", "--eval-images", "5"],
                               "--eval-images only applies with --data"),
    "quantize --max-drop": (["quantize", "--model", "{tiny}", "--calib", "{calib}", "--max-drop", "1"],
                            "--max-drop needs --data"),
    "quantize --max-fp32-layers": (["quantize", "--model", "{tiny}", "--calib", "{calib}", "--max-fp32-layers", "2"],
                                   "--max-fp32-layers only applies with --max-drop"),
    "export --margin": (["export", "--model", "m.pt", "--margin", "0.1"], "--margin only applies with --fp16"),
    "eval --split": (["eval", "--model", "m.pt", "--data", "{labelled}", "--split", "train"],
                     "has no train/ folder"),
    "train --resume --recipe": (["train", "--data", "{tree}", "--resume", "--recipe", "fast"],
                                "--resume continues with the recorded recipe"),
    "train --resize below --input-size": (["train", "--data", "{tree}", "--input-size", "80", "--resize", "70"],
                                          "--resize 70 is smaller than --input-size 80"),
    "train --resume --fine-tune": (["train", "--data", "{tree}", "--resume", "--fine-tune", "{tiny}", "--out",
                                    "{tmp}/m.pt", "--no-progress"], "--resume and --fine-tune conflict"),
    "build-engine --calib without --int8": (["build-engine", "--model", "{tiny}", "--calib", "{calib}", "--out",
                                             "{tmp}/m.engine"], "--calib quantizes the fp32 model for --int8"),
    "build-engine --data without --fp16": (["build-engine", "--model", "{tiny}", "--data", "{labelled}", "--out",
                                            "{tmp}/m.engine"], "--data picks the images of the fp16 conversion"),
    "train --resume without a run": (["train", "--data", "{tree}", "--resume", "--out", "{tmp}/m.pt",
                                      "--no-progress"], "Nothing to resume"),
}

MARKUP = {
    "info of a markup path": (["info", "{tmp}/[bold]x/v[/]1.pt"], "[bold]x/v[/]1.pt does not exist"),
    "eval of a markup path": (["eval", "--model", "{tmp}/[red]m.pt", "--data", "{labelled}"], "[red]m.pt"),
    "quantize of a markup calib folder": (["quantize", "--model", "{tiny}", "--calib", "{tmp}/[/]calib"],
                                          "[/]calib does not exist"),
    "terminal escape in a path": (["info", "{tmp}/\x1b[31mred.pt"], "\\x1b[31mred.pt"),
}


def _fill(args, k):
    names = {"tmp": k.tmp, "tree": k.world / "tree", "tiny": k.world / "tiny.onnx", "calib": k.world / "calib",
             "labelled": k.world / "labelled"}
    return [str(a).format(**names) if "{" in str(a) else a for a in args]


@pytest.mark.parametrize("case", list(LIMITS) + list(PARTNERS) + list(MARKUP))
def test_bounds_partners_and_markup_are_one_sentence(kit, case):
    args, match = {**LIMITS, **PARTNERS, **MARKUP}[case]
    result = assert_refused(_fill(args, kit), watch=kit.watch, match=match)
    assert "\x1b" not in result.stderr


def test_torchrun_without_master_addr_is_one_sentence(kit):
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": None, "MASTER_PORT": None}
    assert_refused(["train", "--data", kit.world / "tree", "--out", kit.tmp / "m.pt", "--no-progress"],
                   watch=kit.watch, env=env, match="MASTER_ADDR and MASTER_PORT are not set")


@pytest.mark.slow
def test_torchrun_without_a_peer_times_out_in_one_sentence(kit):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "TMPDIR": str(kit.tmp / "systmp")}
    args = ["train", "--data", kit.world / "tree", "--recipe", "fast", "--device", "cpu", "--out", kit.tmp / "m.pt",
            "--rendezvous-timeout", "2", "--no-progress"]
    result = subprocess.run([sys.executable, "-m", "alexnet_deploy", *map(str, args)], env=env, capture_output=True,
                            text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "could not meet the others at 127.0.0.1" in lines[0] and "within 2 s" in lines[0]
    assert not (kit.tmp / "m.pt").exists() and not list((kit.tmp / "systmp").iterdir())


def test_markup_in_class_names_and_paths_is_printed_as_it_is(kit):
    """eval prints the class names in a table and the model's path in its title, through rich."""
    data = kit.paper.parent / "data"
    result = CliRunner().invoke(main, ["eval", "--model", str(kit.paper), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "[bold]a" in result.stdout and "[red]c" in result.stdout
    out = kit.tmp / "[bold]m" / "v[/]1.int8.onnx"
    result = CliRunner().invoke(main, ["quantize", "--model", str(kit.world / "tiny.onnx"), "--calib",
                                       str(kit.world / "calib"), "--out", str(out), "--method", "minmax"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.stdout and out.is_file()
