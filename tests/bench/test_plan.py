"""Planning: backends from the registry, refusals before any timing, batches, variants and the baseline."""

from __future__ import annotations

from dataclasses import replace

import onnx
import pytest
import torch

from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
from alexnet_deploy.artifacts.kinds import ONNX
from alexnet_deploy.artifacts.onnx_meta import read_meta, write_meta
from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.plan import Variants, _variants, make_plan, runner_parameters
from alexnet_deploy.core.fsutil import sha256_file
from alexnet_deploy.errors import BackendError, InputError
from alexnet_deploy.model.zoo import build
from alexnet_deploy.runtimes.registry import BACKENDS, Backend, available
from tests.builders import tiny_model

CONFIG = BenchConfig(threads=2)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A checkpoint and an ONNX model whose metadata names the checkpoint's sha256, side by side."""
    root = tmp_path_factory.mktemp("pair")
    torch.manual_seed(0)
    ckpt = save_checkpoint(root / "m.pt", make_checkpoint(build("paper", num_classes=2), arch="paper", input_size=67))
    model = onnx.load(str(tiny_model(root / "m.onnx")))
    write_meta(model, replace(read_meta(model), source_sha256=sha256_file(ckpt)))
    onnx.save(model, str(root / "m.onnx"))
    return ckpt, root / "m.onnx"


@pytest.fixture(scope="module")
def loose(tmp_path_factory):
    """An ONNX model with no checkpoint beside it."""
    return tiny_model(tmp_path_factory.mktemp("loose") / "tiny.onnx")


def _fixed(path, batch):
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = batch
    fixed = path.with_name(f"fixed{batch}.onnx")
    onnx.save(model, str(fixed))
    return fixed


def test_default_backends_are_every_available_one_for_the_kind(loose):
    plan = make_plan([str(loose)], config=CONFIG)
    states = available()
    want = [n for n, b in BACKENDS.items() if ONNX in b.kinds and states[n].ok]
    assert [r.backend for r in plan.runs] == want and "ort-cpu" in want
    for name, state in states.items():
        if ONNX in BACKENDS[name].kinds and not state.ok:
            assert any(line.startswith(f"{name}: ") and state.install in line for line in plan.skipped)
    ort = next(r for r in plan.runs if r.backend == "ort-cpu")
    assert dict(ort.options) == {"threads": 2, "spinning": False} and ort.batches == (1,) and not ort.baseline


def test_options_come_from_the_runner_signature():
    assert {"threads", "spinning"} <= runner_parameters(BACKENDS["ort-cpu"])
    assert "spinning" not in runner_parameters(BACKENDS["torch-cpu"])
    assert {"precision", "cuda_graphs", "channels_last"} <= runner_parameters(BACKENDS["torch-cuda"])


def test_a_backend_registered_later_plugs_in_unchanged(loose):
    twin = Backend("ort-cpu-twin", (ONNX,), "cpu", "alexnet_deploy.runtimes.ort:OrtRunner", "pip install x",
                   lambda: "", options=(("device", "cpu"),))
    BACKENDS[twin.name] = twin
    try:
        plan = make_plan([str(loose)], config=CONFIG, backends=["ort-cpu-twin"])
        runs = [(r.backend, dict(r.options)) for r in plan.runs]
        assert runs == [("ort-cpu-twin", {"threads": 2, "spinning": False})]
    finally:
        del BACKENDS[twin.name]


def test_unknown_backend_is_refused_before_reading_files(tmp_path):
    with pytest.raises(BackendError, match="Unknown backend 'tensorflow'"):
        make_plan([str(tmp_path / "missing.onnx")], config=CONFIG, backends=["tensorflow"])


def test_missing_artifact_and_unknown_suffix_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        make_plan([str(tmp_path / "missing.onnx")], config=CONFIG)
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(InputError, match="suffix"):
        make_plan([str(tmp_path / "model.bin")], config=CONFIG)


def test_a_backend_that_cannot_run_the_kind_is_refused(pair, loose):
    ckpt, _ = pair
    with pytest.raises(BackendError, match="ort-cpu runs an ONNX model, not a PyTorch checkpoint"):
        make_plan([str(ckpt)], config=CONFIG, backends=["ort-cpu"])
    with pytest.raises(BackendError, match="torch-cpu runs a PyTorch checkpoint, not an ONNX model"):
        make_plan([str(loose)], config=CONFIG, backends=["torch-cpu"])
    engine_backends = [n for n, b in BACKENDS.items() if "engine" in b.kinds]
    for name in engine_backends:  # trt, once registered: an .onnx is not an engine
        with pytest.raises(BackendError, match=f"{name} runs a TensorRT engine"):
            make_plan([str(loose)], config=CONFIG, backends=[name])


def test_a_backend_that_runs_none_of_the_artifacts_is_refused(pair, loose):
    with pytest.raises(BackendError, match="torch-cpu runs a PyTorch checkpoint"):
        make_plan([str(loose)], config=CONFIG, backends=["ort-cpu", "torch-cpu"])


@pytest.mark.skipif(available()["ort-cuda"].ok, reason="ort-cuda runs here")
def test_a_backend_not_installed_names_its_install_line(loose):
    with pytest.raises(BackendError, match=r"ort-cuda cannot run here: .* \(install: pip install"):
        make_plan([str(loose)], config=CONFIG, backends=["ort-cuda"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_torch_cuda_without_a_gpu_is_refused(pair):
    ckpt, _ = pair
    with pytest.raises(BackendError, match="torch-cuda cannot run here: .*sees no CUDA GPU"):
        make_plan([str(ckpt)], config=CONFIG, backends=["torch-cuda"])


def test_a_fixed_batch_refuses_other_batches_asked_for(loose):
    fixed = _fixed(loose, 2)
    with pytest.raises(InputError, match="fixed batch of 2 and cannot run batch 8"):
        make_plan([str(fixed)], config=BenchConfig(batches=(8,), batches_given=True), backends=["ort-cpu"])
    plan = make_plan([str(fixed)], config=BenchConfig(batches=(1, 8, 32)), backends=["ort-cpu"])
    assert plan.runs[0].batches == (2,) and "takes a fixed batch of 2: timed at batch 2" in plan.notes[0]


def test_the_baseline_is_found_beside_the_model_by_its_hash(pair):
    ckpt, model = pair
    plan = make_plan([str(model)], config=BenchConfig(batches=(1, 4)), backends=["ort-cpu"])
    baseline = plan.runs[0]
    assert baseline.baseline and baseline.backend == "torch-cpu" and baseline.artifact.path == str(ckpt)
    assert baseline.batches == (1, 4) and dict(baseline.options) == {"threads": 1}
    assert [a.kind for a in plan.artifacts] == ["checkpoint", "onnx"]
    assert len(make_plan([str(model)], config=CONFIG, backends=["ort-cpu"], find_baseline=False).runs) == 1


def test_no_baseline_without_its_checkpoint_unless_given(pair, loose):
    ckpt, _ = pair
    plan = make_plan([str(loose)], config=CONFIG, backends=["ort-cpu"])
    assert [r.backend for r in plan.runs] == ["ort-cpu"]
    plan = make_plan([str(loose)], config=CONFIG, backends=["ort-cpu"], checkpoint=str(ckpt))
    assert plan.runs[0].baseline and plan.runs[0].artifact.path == str(ckpt)
    with pytest.raises(InputError, match="--checkpoint takes a PyTorch checkpoint"):
        make_plan([str(loose)], config=CONFIG, backends=["ort-cpu"], checkpoint=str(loose))


def test_a_checkpoint_given_as_artifact_is_its_own_baseline(pair):
    ckpt, model = pair
    plan = make_plan([str(ckpt), str(model)], config=CONFIG, backends=["torch-cpu", "ort-cpu"])
    assert [(r.backend, r.baseline) for r in plan.runs] == [("torch-cpu", True), ("ort-cpu", False)]


def test_gpu_variants_expand_and_are_refused_where_nothing_takes_them(loose):
    torch_cuda = BACKENDS["torch-cuda"]
    params = runner_parameters(torch_cuda)
    labels = _variants(torch_cuda, params, Variants(fp16=True, cuda_graphs=True))
    assert [(label, options) for label, options in labels] == [
        ("", {}), ("", {"precision": "fp16"}), ("cuda-graphs", {"cuda_graphs": True}),
        ("cuda-graphs", {"precision": "fp16", "cuda_graphs": True})]
    torch_cpu = BACKENDS["torch-cpu"]
    assert _variants(torch_cpu, runner_parameters(torch_cpu), Variants(fp16=True)) == [("", {})]
    assert _variants(torch_cpu, runner_parameters(torch_cpu), Variants(channels_last=True)) == [
        ("", {}), ("channels-last", {"channels_last": True})]
    with pytest.raises(InputError, match="--cuda-graphs applies to runners on a CUDA GPU"):
        make_plan([str(loose)], config=CONFIG, backends=["ort-cpu"], variants=Variants(cuda_graphs=True))


def test_a_batch_range_keeps_the_batches_inside_it():
    from alexnet_deploy.bench.plan import _batches
    from alexnet_deploy.bench.targets import ArtifactInfo

    engine = ArtifactInfo(path="m.engine", kind="engine", sha256="e", bytes=1, precision="fp16", input_size=224,
                          source_sha256="", min_batch=1, max_batch=16)
    notes: list[str] = []
    assert _batches(engine, BenchConfig(batches=(1, 8, 32)), notes) == (1, 8)
    assert notes == ["m.engine takes batches from 1 to 16: timed at batch 1, 8."]
    with pytest.raises(InputError, match="takes batches from 1 to 16 and cannot run batch 32"):
        _batches(engine, BenchConfig(batches=(32,), batches_given=True), [])
