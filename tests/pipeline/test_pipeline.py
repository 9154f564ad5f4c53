"""``alexnet-deploy pipeline`` end to end on a real (small-input) paper checkpoint: interrupted during INT8,
resumed without redoing export, run again with every step kept, and a report whose figures are verify's and
bench's own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import builders

CLASSES = ["a", "b", "c"]
FAST = ["--backends", "ort-cpu", "--warmup", "0.1s", "--duration", "0.2s", "--min-iterations", "5",
        "--min-calib-images", "8"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    import torch

    from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
    from alexnet_deploy.model.zoo import build

    root = tmp_path_factory.mktemp("pipeline")
    torch.manual_seed(0)
    save_checkpoint(root / "paper.pt", make_checkpoint(builders.he_init(build("paper", num_classes=3)).eval(),
                                                       arch="paper", class_names=CLASSES, input_size=67, resize=76))
    for name in CLASSES:
        builders.write_images(root / "data" / "val" / name, 3, size=(80, 76))
    builders.write_images(root / "data" / "calib", 16, size=(80, 76))
    return root


def _command(inputs: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "alexnet_deploy", "pipeline", "--checkpoint", str(inputs / "paper.pt"), "--data",
            str(inputs / "data"), *FAST, "--out", str(out), *extra]


def _run(inputs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(inputs, out, *extra), capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def run(inputs, tmp_path_factory) -> dict:
    """Interrupt a run with SIGTERM while INT8 calibrates, then run it again to the end."""
    out = tmp_path_factory.mktemp("runs") / "demo"
    scratch = tmp_path_factory.mktemp("tmp")
    proc = subprocess.Popen(_command(inputs, out), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1"},
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(scratch.glob("alexnet-deploy-calib.ad-*")):  # the int8 step is calibrating
        assert proc.poll() is None, f"the run ended before INT8 calibrated:\n{proc.communicate()}"
        assert time.monotonic() < deadline, "the run never reached INT8 calibration"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # to the pipeline alone, as `timeout` or docker would: it must pass it on
    _, interrupted_err = proc.communicate(timeout=120)
    after_interrupt = {"code": proc.returncode, "stderr": interrupted_err,
                       "files": sorted(str(p.relative_to(out)) for p in out.rglob("*")),
                       "scratch": sorted(builders.tree_listing(scratch)),
                       "manifest": json.loads((out / "pipeline.json").read_text())}
    export_mtime = (out / "paper.onnx").stat().st_mtime_ns
    resumed = _run(inputs, out)
    return {"out": out, "interrupted": after_interrupt, "export_mtime": export_mtime, "resumed": resumed}


@pytest.mark.slow
def test_sigterm_during_int8_stops_the_run_and_keeps_the_finished_steps(run):
    interrupted = run["interrupted"]
    assert interrupted["code"] == 143, interrupted["stderr"]
    assert "Interrupted by SIGTERM; the steps that finished are kept" in interrupted["stderr"]
    assert "Traceback" not in interrupted["stderr"]
    assert interrupted["manifest"]["steps"]["export"]["status"] == "done"
    assert "int8" not in interrupted["manifest"]["steps"]
    assert not [f for f in interrupted["files"] if "int8" in f or f.startswith(".") or "/." in f], interrupted
    assert interrupted["scratch"] == []


@pytest.mark.slow
def test_the_resumed_run_keeps_export_and_finishes(run):
    resumed, out = run["resumed"], run["out"]
    assert resumed.returncode == 0, resumed.stderr
    assert "[1/6] export: inputs unchanged since it finished, kept" in resumed.stderr
    assert "[2/6] int8: alexnet-deploy quantize" in resumed.stderr
    assert (out / "paper.onnx").stat().st_mtime_ns == run["export_mtime"]
    assert "engine-fp16: skipped: no TensorRT engine can be built here" in resumed.stderr
    assert f"Report: {out / 'report.md'}" in resumed.stdout
    for name in ("paper.int8.onnx", "paper.int8-cpu.onnx", "report.md", "report.json", "report.png",
                 "verify/verify.png", "bench/latency_cdf.png"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_the_report_shows_the_figures_verify_and_bench_recorded(run):
    from alexnet_deploy.pipeline.markdown import cells

    out = run["out"]
    report = json.loads((out / "report.json").read_text())
    verify = json.loads((out / "json" / "verify.json").read_text())
    bench = json.loads((out / "json" / "bench.json").read_text())
    rows = {(Path(row["artifact"]).name, row["backend"]): row for row in report["rows"]}
    assert len(rows) == len(report["rows"]) == 1 + len(verify["rows"]) == len(bench["rows"]) == 5

    reference = rows[("paper.pt", "torch-cpu")]
    assert reference["status"] == "reference"
    assert reference["top1"] == 100.0 * verify["reference"]["accuracy"]["top1"]
    for checked in verify["rows"]:
        row = rows[(Path(checked["artifact"]).name, checked["backend"])]
        assert row["status"] == ("pass" if all(c["passed"] for c in checked["checks"]) else "FAIL")
        assert (row["top1"], row["top1_change"], row["agreement"]) == \
            (checked["top1"], checked["top1_change"], checked["agreement"])
    for timed in bench["rows"]:
        row = rows[(Path(timed["artifact"]).name, timed["backend"])]
        assert row["p50_ms"] == timed["stats"]["median_ms"]
        assert row["p99_ms"] == timed["stats"]["percentiles_ms"]["99"]
        assert row["images_per_s"] == timed["throughput"]
        assert row["speedup"] == (1.0 if timed["baseline"] else timed["speedup"])
        artifact = next(a for a in bench["artifacts"] if a["path"] == timed["artifact"])
        assert row["size_mb"] == artifact["bytes"] / 1e6

    from alexnet_deploy.pipeline.report import ReportRow

    text = (out / "report.md").read_text()
    for row in report["rows"]:
        assert "| " + " | ".join(cells(ReportRow(**row))) + " |" in text
    for step in ("export", "int8", "verify", "bench"):
        assert report["steps"][["export", "int8", "engine-fp16", "engine-int8", "verify", "bench"].index(step)][
            "command"] in text


@pytest.mark.slow
def test_a_second_run_keeps_every_step_and_a_touched_input_changes_nothing(run, inputs):
    out = run["out"]
    before = {p: p.stat().st_mtime_ns for p in out.glob("*.onnx")}
    os.utime(inputs / "paper.pt")  # a new timestamp, the same bytes
    again = _run(inputs, out)
    assert again.returncode == 0, again.stderr
    for number, step in ((1, "export"), (2, "int8"), (5, "verify"), (6, "bench")):
        assert f"[{number}/6] {step}: inputs unchanged since it finished, kept" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.onnx")} == before


@pytest.mark.slow
def test_changed_options_rerun_only_the_steps_they_reach(run, inputs):
    out = run["out"]
    again = _run(inputs, out, "--images", "6")
    assert again.returncode == 0, again.stderr
    assert "[2/6] int8: inputs unchanged since it finished, kept" in again.stderr
    assert "[5/6] verify: alexnet-deploy verify" in again.stderr
    assert "[6/6] bench: inputs unchanged since it finished, kept" in again.stderr
    assert json.loads((out / "report.json").read_text())["images"] == 6


def test_a_failed_verify_row_makes_a_failed_report(run, tmp_path):
    """The report reads verify's verdicts as they are: a failed check there is a FAIL row and exit code 1 here."""
    from alexnet_deploy.pipeline.markdown import markdown
    from alexnet_deploy.pipeline.report import build_report
    from alexnet_deploy.pipeline.steps import Layout

    copy = tmp_path / "demo"
    shutil.copytree(run["out"] / "json", copy / "json")
    verify = json.loads((copy / "json" / "verify.json").read_text())
    verify["rows"][2]["checks"][0]["passed"] = False
    (copy / "json" / "verify.json").write_text(json.dumps(verify))
    report = build_report(Layout(out=copy, checkpoint=Path(verify["checkpoint"]), stem="paper"), data="data",
                          steps=[], command="alexnet-deploy pipeline")
    failed = [row for row in report.rows if row.status == "FAIL"]
    assert [Path(row.artifact).name for row in failed] == [Path(verify["rows"][2]["artifact"]).name]
    assert not report and report.failures() == failed[0].failures
    assert "## Failed checks" in markdown(report)


def test_a_step_that_refuses_its_input_stops_the_run_with_its_reason(tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    builders.make_split(tmp_path / "data" / "val", classes=2)
    builders.write_images(tmp_path / "data" / "calib", 8)
    out = tmp_path / "runs" / "x"
    done = subprocess.run([sys.executable, "-m", "alexnet_deploy", "pipeline", "--checkpoint",
                           str(tmp_path / "broken.pt"), "--data", str(tmp_path / "data"), *FAST, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Error: the export step failed (exit code 2)" in done.stderr
    assert "broken.pt" in done.stderr.splitlines()[-2]  # the export command's own sentence, just above
    manifest = json.loads((out / "pipeline.json").read_text())
    assert manifest["steps"]["export"]["status"] == "failed"
    assert not list(out.glob("*.onnx"))
