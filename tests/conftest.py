"""Markers for hardware we may not have: `gpu` needs CUDA, `trt` needs TensorRT; they skip elsewhere."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    import torch

    from alexnet_deploy.core.environment import tensorrt_version

    no_cuda = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA")
    no_trt = pytest.mark.skip(reason="needs TensorRT")
    has_cuda = torch.cuda.is_available()
    has_trt = tensorrt_version() != "not installed"
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(no_cuda)
        if "trt" in item.keywords and not has_trt:
            item.add_marker(no_trt)
