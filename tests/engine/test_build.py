"""What needs no GPU in engine.build: the toolchain's first refusal and the INT8 check on a result.

(The calls themselves reach the hardware boundary in tests/engine/conformance/check_build.py, per
TensorRT version.)
"""

from __future__ import annotations

import pytest

from alexnet_deploy.engine.build import EngineBuild, open_toolchain
from alexnet_deploy.errors import MissingDependencyError
from tests.builders import engine_with_sidecar


def test_toolchain_without_tensorrt_names_the_install_line():
    with pytest.raises(MissingDependencyError, match="tensorrt is not installed and building engines needs it: pip"):
        open_toolchain()


@pytest.mark.parametrize("precision, layers, passed", [
    ("int8", {"FP32": 5, "INT8": 3}, True),
    ("int8", {"FP32": 6}, False),
    ("fp32", {"FP32": 6}, True),
    ("fp16", {"FP16": 3, "FP32": 3}, True),
])
def test_an_int8_engine_without_int8_layers_fails_its_check(tmp_path, precision, layers, passed):
    sidecar = engine_with_sidecar(tmp_path / "m.engine", precision=precision, layer_precisions=layers)
    result = EngineBuild(out=str(tmp_path / "m.engine"), cache_hit=False, sidecar=sidecar)
    assert bool(result) is passed
    if not passed:
        assert result.failures() == [f"int8 layers: 0 of 6 engine layers run INT8 (6 FP32); TensorRT ignored the "
                                     f"Q/DQ nodes, so this would be a higher-precision engine under an INT8 name"]
        assert EngineBuild.from_json(result.to_json()).failures() == result.failures()  # the JSON keeps the check
