"""`alexnet-deploy bench` and `bench compare` through the CLI: exit codes, messages, files written or not."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from alexnet_deploy.bench.results import BenchResult
from alexnet_deploy.cli import main
from alexnet_deploy.runtimes.registry import available
from tests.builders import engine_with_sidecar, slowed_model, tiny_model

QUICK = ["--warmup", "20ms", "--duration", "0.1", "--min-iterations", "20", "--threads", "1"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    tiny = tiny_model(root / "tiny.onnx")
    slow = slowed_model(tiny, root / "slow.onnx")
    (root / "model.pt").write_bytes(b"not read: refused by its suffix first")
    return {"tiny": str(tiny), "slow": str(slow), "pt": str(root / "model.pt"), "root": root}


def _bench(*args):
    return CliRunner().invoke(main, ["bench", *args])


def test_bench_prints_the_table_and_writes_json_and_report(models, tmp_path):
    out, report = tmp_path / "bench.json", tmp_path / "report"
    result = _bench(models["tiny"], "--backend", "ort-cpu", "--batch-size", "1,2", *QUICK, "--json", str(out),
                    "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "p50 ms" in result.output and "ort-cpu" in result.output and "tiny.onnx" in result.output
    record = BenchResult.load(out)
    assert [(r.backend, r.batch) for r in record.rows] == [("ort-cpu", 1), ("ort-cpu", 2)]
    assert record.command  # the command line as typed (under CliRunner: pytest's argv)
    assert sorted(p.name for p in report.iterdir()) == ["bench.md", "latency_cdf.png", "latency_vs_batch.png",
                                                        "throughput_vs_batch.png"]


def test_without_backend_every_available_one_runs(models, tmp_path):
    result = _bench(models["tiny"], *QUICK, "--json", str(tmp_path / "b.json"))
    assert result.exit_code == 0, result.output
    ran = [r.backend for r in BenchResult.load(tmp_path / "b.json").rows]
    assert ran == [n for n in ("ort-cpu", "ort-cuda", "openvino") if available()[n].ok]
    for name in ("ort-cuda", "openvino"):
        if not available()[name].ok:
            assert f"Skipped {name}: " in result.output and "pip install" in result.output


def _fixed(models, batch=2):
    import onnx

    model = onnx.load(models["tiny"])
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    path = models["root"] / f"fixed{batch}.onnx"
    onnx.save(model, str(path))
    return str(path)


REFUSALS = [
    (lambda m: [m["tiny"], "--backend", "tensorflow"], "Unknown backend 'tensorflow'; choose one of"),
    (lambda m: [m["pt"], "--backend", "ort-cpu"], "ort-cpu runs an ONNX model, not a PyTorch checkpoint"),
    (lambda m: [m["tiny"], "--backend", "torch-cpu"], "torch-cpu runs a PyTorch checkpoint, not an ONNX model"),
    (lambda m: [m["tiny"], "--backend", "trt"], "trt runs a TensorRT engine, not an ONNX model"),
    (lambda m: [m["tiny"], "--batch", "0"], "not a batch size"),  # the old spelling still works
    (lambda m: [m["tiny"], "--batch-size", "1,0"], "not a batch size"),
    (lambda m: [m["tiny"], "--duration", "-1"], "--duration must be 0 s or more"),
    (lambda m: [m["tiny"], "--warmup", "later"], "--warmup takes a duration"),
    (lambda m: [m["tiny"], "--percentile", "100"], "outside (0, 100)"),
    (lambda m: [m["tiny"], "--min-iterations", "0"], "--min-iterations must be 1 or more"),
    (lambda m: [m["tiny"], "--backend", "ort-cpu", "--cuda-graphs"], "--cuda-graphs applies to runners on a CUDA GPU"),
    (lambda m: [_fixed(m), "--batch-size", "8"], "fixed batch of 2 and cannot run batch 8"),
    (lambda m: [str(m["root"] / "missing.onnx")], "does not exist"),
    (lambda m: [m["tiny"], "--report", m["tiny"]], "exists and is not a folder"),
    (lambda m: [m["tiny"], "--json", m["tiny"]], "the artifact"),
    (lambda m: [m["tiny"], "--json", str(m["root"])], "is a folder"),
]


@pytest.mark.parametrize("make_args, message", REFUSALS)
def test_refusals_are_one_sentence_with_exit_2(models, tmp_path, make_args, message):
    out = tmp_path / "never.json"
    args = make_args(models)
    result = _bench(*args, *([] if "--json" in args else ["--json", str(out)]))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.skipif(available()["ort-cuda"].ok, reason="ort-cuda runs here")
def test_a_backend_not_installed_names_the_pip_line(models):
    result = _bench(models["tiny"], "--backend", "ort-cuda")
    assert result.exit_code == 2 and "ort-cuda cannot run here" in result.output
    assert "pip install 'alexnet-deploy[gpu]'" in result.output


@pytest.mark.skipif(available()["trt"].ok, reason="TensorRT runs here")
def test_an_engine_where_tensorrt_cannot_run_names_the_install_line(models, tmp_path):
    engine_with_sidecar(tmp_path / "m.engine")
    result = _bench(str(tmp_path / "m.engine"))
    assert result.exit_code == 2 and "trt cannot run here" in result.output and "install: " in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_torch_cuda_without_a_gpu_is_refused(models):
    result = _bench(models["pt"], "--backend", "torch-cuda")
    assert result.exit_code == 2 and "torch-cuda cannot run here" in result.output and "no CUDA GPU" in result.output


def test_compare_passes_against_itself_and_fails_against_a_slower_model(models, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    args = ["--backend", "ort-cpu", "--warmup", "50ms", "--duration", "0.3", "--min-iterations", "40", "--threads", "1"]
    assert _bench(models["tiny"], *args, "--json", str(old)).exit_code == 0
    assert _bench(models["slow"], *args, "--json", str(new)).exit_code == 0
    same = _bench("compare", str(old), str(old), "--json", str(tmp_path / "same.json"))
    assert same.exit_code == 0, same.output
    assert json.loads((tmp_path / "same.json").read_text())["entries"][0]["ratios"][0]["ratio"] == 1.0
    slower = _bench("compare", str(old), str(new), "--json", str(tmp_path / "slower.json"))
    assert slower.exit_code == 1, slower.output
    assert "Check failed: ort-cpu fp32 b1 p50 is" in slower.output and "slower" in slower.output
    written = json.loads((tmp_path / "slower.json").read_text())  # the numbers are kept when the check fails
    assert written["entries"][0]["ratios"][0]["regressed"] is True


def test_compare_refuses_files_that_are_not_bench_records(models, tmp_path):
    (tmp_path / "other.json").write_text("{}")
    result = _bench("compare", str(tmp_path / "other.json"), str(tmp_path / "other.json"))
    assert result.exit_code == 2 and "not a benchmark record" in result.output


def test_help_shows_both_forms():
    result = _bench("-h")
    assert result.exit_code == 0 and "bench compare OLD.json NEW.json" in result.output and "compare" in result.output
    run_help = _bench("run", "-h")
    assert run_help.exit_code == 0 and "--duration" in run_help.output and "--scenario" in run_help.output


@pytest.mark.slow
def test_an_interrupted_bench_writes_nothing(models, tmp_path):
    """SIGTERM while a runner is timing: exit 143, one sentence, no JSON, no report, no temporary file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "alexnet_deploy", "bench", models["tiny"], "--backend", "ort-cpu",
                             "--duration", "60", "--json", str(out / "b.json"), "--report", str(out / "report")],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    maps = f"/proc/{proc.pid}/maps"
    deadline = time.monotonic() + 120
    # onnxruntime's library is loaded when the runner opens: from then on the run is timing.
    while "onnxruntime_pybind11_state" not in (open(maps).read() if os.path.exists(maps) else ""):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert [line for line in err.splitlines() if line.strip()] == [
        "Interrupted by SIGTERM; nothing was written and temporary files were removed."]
    assert list(out.iterdir()) == []
