"""Device buffers on a GPU: pinned copies in and out around a launch on the buffers' stream, and the
CUDA-event split. The launch here is a torch kernel standing in for TensorRT's execute_async_v3."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture
def buffers():
    import torch

    from alexnet_deploy.runtimes.cuda_io import DeviceBuffers

    device = torch.device("cuda", 0)
    return DeviceBuffers(torch, device, torch.cuda.Stream(device), input_shape=(4, 3, 8, 8), input_dtype=torch.float32,
                         outputs={"logits": ((4, 3), torch.float32), "half": ((4, 3, 8, 8), torch.float16)})


def _launch(buffers):
    def launch():  # runs inside torch.cuda.stream(buffers.stream), as TensorRT's launch does
        x = buffers.device_in
        buffers.device_out["logits"].copy_(x.sum(dim=(2, 3)))
        buffers.device_out["half"].copy_(x * 2)
    return launch


def test_run_copies_in_launches_and_copies_out(buffers):
    x = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)
    buffers.load(x)
    out = buffers.run(_launch(buffers))
    np.testing.assert_allclose(out["logits"], x.sum(axis=(2, 3)), rtol=1e-5, atol=1e-5)
    assert out["half"].dtype == np.float16
    np.testing.assert_allclose(out["half"], (2 * x).astype(np.float16), rtol=1e-3)
    buffers.load(x + 1)
    again = buffers.run(_launch(buffers))
    np.testing.assert_allclose(again["logits"], (x + 1).sum(axis=(2, 3)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["logits"], x.sum(axis=(2, 3)), rtol=1e-5, atol=1e-5)  # earlier result kept


def test_timed_splits_every_iteration(buffers):
    buffers.load(np.ones((4, 3, 8, 8), np.float32))
    timing = buffers.timed(_launch(buffers), 7)
    assert len(timing.total) == len(timing.h2d) == len(timing.compute) == len(timing.d2h) == 7
    assert min(timing.h2d) > 0 and min(timing.compute) > 0 and min(timing.d2h) > 0
    np.testing.assert_allclose(timing.total, np.add(np.add(timing.h2d, timing.compute), timing.d2h))


def test_load_refuses_another_shape(buffers):
    with pytest.raises(ValueError, match=r"shape \(2, 3, 8, 8\)"):
        buffers.load(np.zeros((2, 3, 8, 8), np.float32))
