"""TensorRT on this machine: install lines, the missing-module errors, dtype names, the GPU's identity."""

from __future__ import annotations

import enum

import pytest

from alexnet_deploy.errors import BackendError, MissingDependencyError
from alexnet_deploy.runtimes.trt_env import (
    INSTALL_ANY,
    dtype_name,
    gpu_identity,
    import_tensorrt,
    install_line,
    last_error,
    tensorrt_problem,
)


def test_install_line_follows_the_cuda_major():
    assert install_line(12) == "pip install tensorrt-cu12"
    assert install_line(13) == "pip install tensorrt-cu13"
    assert install_line(None) == install_line(11) == INSTALL_ANY
    assert "tensorrt-cu12" in INSTALL_ANY and "tensorrt-cu13" in INSTALL_ANY and "JetPack 6" in INSTALL_ANY
    assert "comes with JetPack" in install_line(12, jetson=True)


def test_missing_tensorrt_is_one_sentence_with_the_install_line():
    with pytest.raises(MissingDependencyError, match="tensorrt is not installed and the trt backend needs it: pip"):
        import_tensorrt(purpose="the trt backend")
    assert tensorrt_problem().startswith("tensorrt is not installed (pip install tensorrt-cu1")


def test_dtype_names_go_by_member_name():
    DataType = enum.Enum("DataType", "FLOAT HALF INT8 INT32 INT64 BOOL UINT8 BF16 FP8")  # names as in TensorRT
    assert dtype_name(DataType.FLOAT) == "float32" and dtype_name(DataType.HALF) == "float16"
    assert dtype_name(DataType.INT64) == "int64"
    with pytest.raises(BackendError, match="TensorRT type FP8, which this runner cannot hold"):
        dtype_name(DataType.FP8)


def test_last_error():
    class Kept:
        errors = ["first", "CUDA initialization failure with error: 35"]

    assert last_error(Kept()) == "CUDA initialization failure with error: 35"
    assert last_error(object(), "none") == "none"


@pytest.mark.gpu
def test_gpu_identity_names_the_device():
    import torch

    identity = gpu_identity()
    major, minor = torch.cuda.get_device_capability(0)
    assert identity.name == torch.cuda.get_device_name(0) and identity.compute_capability == f"{major}.{minor}"
