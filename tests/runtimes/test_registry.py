"""Backends by name: what runs here and why not, refusals, and every backend giving the same logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
from alexnet_deploy.errors import BackendError, InputError
from alexnet_deploy.export.exporter import export_onnx
from alexnet_deploy.model.zoo import build
from alexnet_deploy.runtimes.base import logits
from alexnet_deploy.runtimes.registry import BACKENDS, available, open_runner
from tests.builders import he_init


@pytest.fixture(scope="module")
def demo_arch(tmp_path_factory):
    """The demo's arch (paper, 10 classes, 67 px like the fast recipe): checkpoint, ONNX and images."""
    root = tmp_path_factory.mktemp("runners")
    torch.manual_seed(0)
    ckpt = make_checkpoint(he_init(build("paper", num_classes=10)).eval(), arch="paper", input_size=67, resize=73)
    save_checkpoint(root / "m.pt", ckpt)
    assert export_onnx(root / "m.pt", root / "m.onnx", parity_images=2)
    images = np.random.default_rng(0).standard_normal((5, 3, 67, 67)).astype(np.float32)
    return root / "m.pt", root / "m.onnx", images


def test_torch_cpu_and_ort_cpu_give_the_same_logits(demo_arch):
    pt, onnx_path, images = demo_arch
    threads_before = torch.get_num_threads()
    with open_runner("torch-cpu", pt, threads=1) as torch_runner, open_runner("ort-cpu", onnx_path) as ort_runner:
        want, got = logits(torch_runner, images), logits(ort_runner, images)
        assert torch_runner.precision == ort_runner.precision == "fp32"
        assert torch_runner.describe()["threads"] == "1"
    assert want.shape == (5, 10) and np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    assert torch.get_num_threads() == threads_before  # torch's thread count is process-wide: restored on close


def test_openvino_gives_the_same_logits_where_installed(demo_arch):
    if not available()["openvino"].ok:
        pytest.skip(available()["openvino"].reason)
    pt, onnx_path, images = demo_arch
    with open_runner("torch-cpu", pt) as reference, open_runner("openvino", onnx_path, threads=2) as runner:
        want, got = logits(reference, images), logits(runner, images)
        assert runner.describe()["hint"] == "LATENCY"
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3 * np.abs(want).max())


def test_available_names_every_backend_and_says_why_not():
    states = available()
    assert list(states) == list(BACKENDS) and {"torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda", "openvino"} <= set(states)
    assert states["torch-cpu"].ok and states["ort-cpu"].ok
    for state in states.values():
        assert state.ok == (state.reason == "") and (state.ok or state.install)
    # Answers that hold on a GPU machine too: a CUDA backend is ok exactly when torch sees a GPU.
    assert states["torch-cuda"].ok == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in states["torch-cuda"].reason
        assert not states["ort-cuda"].ok and "onnxruntime-gpu" in states["ort-cuda"].install


def test_refusals_are_user_errors_naming_what_to_do(demo_arch, tmp_path):
    pt, onnx_path, _ = demo_arch
    with pytest.raises(BackendError, match="Unknown backend 'tensorflow'; choose one of: torch-cpu"):
        open_runner("tensorflow", pt)
    with pytest.raises(BackendError, match="ort-cpu runs an ONNX model, not a PyTorch checkpoint.*alexnet-deploy export"):
        open_runner("ort-cpu", pt)
    with pytest.raises(BackendError, match="torch-cpu runs a PyTorch checkpoint, not an ONNX model; use one of: ort-cpu"):
        open_runner("torch-cpu", onnx_path)
    with pytest.raises(InputError, match="not a model this tool knows by its suffix"):
        open_runner("ort-cpu", tmp_path / "model.tflite")
    with pytest.raises(BackendError, match="runs on the CPU, not on cuda"):
        open_runner("torch-cpu", pt, device="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="torch-cuda cannot run here: .* sees no CUDA GPU \\(install: pip install torch"):
            open_runner("torch-cuda", pt)
