"""``build_engine`` with this TensorRT version: a same-key engine returns at once; any change goes to the builder.

The GPU is named here (the stubs have none), so everything before the builder runs for real: the
profile, the cache key from this version's ``__version__``, the reuse test. A miss reaches
``trt.Builder(logger)``, the hardware boundary.
"""

from __future__ import annotations

import pytest
import tensorrt as trt

from alexnet_deploy.artifacts.engine_sidecar import read_sidecar, write_sidecar
from alexnet_deploy.engine.build import Toolchain, build_engine
from alexnet_deploy.engine.cache import KeyParts, cache_key
from alexnet_deploy.engine.plan import BatchProfile, BuildOptions
from alexnet_deploy.engine.source import read_source
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.trt_env import GpuIdentity, make_logger
from tests.builders import engine_with_sidecar, tiny_onnx

GPU = GpuIdentity("NVIDIA Jetson AGX Orin", "8.7")


def _toolchain() -> Toolchain:
    return Toolchain(trt=trt, logger=make_logger(trt), gpu=GPU)


def _engine_built_for(tmp_path, source, options):
    """An engine and sidecar as a build with ``options`` on GPU would have left them."""
    effective = BuildOptions(precision=options.precision, batch=options.batch or BatchProfile(),
                             workspace=options.workspace, opt_level=options.opt_level)
    parts = KeyParts(source.digest, trt.__version__, GPU.name, GPU.compute_capability, effective.to_dict())
    out = tmp_path / "alexnet.fp32.engine"
    sidecar = engine_with_sidecar(out, tensorrt_version=trt.__version__, compute_capability=GPU.compute_capability,
                                  gpu_name=GPU.name, key=cache_key(parts))
    sidecar.options, sidecar.onnx_sha256 = effective.to_dict(), source.digest
    write_sidecar(out, sidecar)
    return out


def test_same_key_returns_at_once_without_a_builder(tmp_path):
    source = read_source(tiny_onnx(tmp_path / "alexnet.onnx"))
    options = BuildOptions(batch=BatchProfile(1, 4, 16))
    out = _engine_built_for(tmp_path, source, options)
    toolchain = _toolchain()
    result = build_engine(source, out, options=options, toolchain=toolchain)
    assert result.cache_hit and result.sidecar == read_sidecar(out)
    assert toolchain._builder is None  # no builder was made


@pytest.mark.parametrize("change", ["options", "onnx", "rebuild"])
def test_anything_else_goes_to_the_builder(tmp_path, change):
    source = read_source(tiny_onnx(tmp_path / "alexnet.onnx"))
    options = BuildOptions(batch=BatchProfile(1, 4, 16))
    out = _engine_built_for(tmp_path, source, options)
    before = out.read_bytes()
    kwargs = {}
    if change == "options":
        options = BuildOptions(batch=BatchProfile(1, 4, 32))
    elif change == "onnx":
        source = read_source(tiny_onnx(tmp_path / "alexnet.onnx", seed=1))
    else:
        kwargs["rebuild"] = True
    with pytest.raises(BackendError, match="found no usable NVIDIA GPU"):
        build_engine(source, out, options=options, toolchain=_toolchain(), **kwargs)
    assert out.read_bytes() == before  # the old engine stays until a new one is built
