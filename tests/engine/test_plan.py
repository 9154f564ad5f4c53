"""The pure build decisions that need no TensorRT: batch profiles, sizes, options, profile shapes, paths.

(Network flags and builder settings need TensorRT's enums: tests/engine/conformance/check_decisions.py
checks them against each supported version.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_deploy.engine.plan import (
    BatchProfile,
    BuildOptions,
    default_engine_path,
    parse_batch,
    parse_size,
    profile_shapes,
)
from alexnet_deploy.errors import InputError


def test_parse_batch():
    assert parse_batch("1:8:32") == BatchProfile(1, 8, 32)
    assert parse_batch("4") == BatchProfile(4, 4, 4)
    assert str(parse_batch("2:4:16")) == "2:4:16"
    for bad in ("1:8", "a:b:c", "0:1:2", "8:4:16", "1:64:32", "", "1:2:3:4"):
        with pytest.raises(InputError, match="--batch|min <= opt <= max"):
            parse_batch(bad)


def test_parse_size():
    assert parse_size("4G") == 4 << 30
    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5g") == 3 << 29
    assert parse_size("2GiB") == 2 << 30
    assert parse_size(str(64 << 20)) == 64 << 20
    for bad in ("lots", "4 X", "-1G", "100K"):
        with pytest.raises(InputError, match="--workspace"):
            parse_size(bad)


def test_build_options_validate_and_serialize():
    options = BuildOptions(precision="int8", batch=BatchProfile(1, 4, 8), workspace=1 << 30, opt_level=5)
    assert options.to_dict() == {"precision": "int8", "batch": [1, 4, 8], "workspace": 1 << 30, "opt_level": 5}
    assert BuildOptions().to_dict()["batch"] is None
    with pytest.raises(InputError, match="--opt-level must be 0 to 5"):
        BuildOptions(opt_level=6)
    with pytest.raises(InputError, match="precision must be one of"):
        BuildOptions(precision="int4")


def test_profile_shapes_dynamic_batch():
    shapes = profile_shapes("input", ("N", 3, 227, 227), batch=BatchProfile(2, 8, 64), input_size=227)
    assert (shapes.min, shapes.opt, shapes.max) == ((2, 3, 227, 227), (8, 3, 227, 227), (64, 3, 227, 227))
    default = profile_shapes("input", ("batch", 3, "h", "w"), batch=None, input_size=67)
    assert (default.min, default.opt, default.max) == ((1, 3, 67, 67), (8, 3, 67, 67), (32, 3, 67, 67))


def test_profile_shapes_fixed_batch_takes_only_itself():
    shapes = profile_shapes("input", (4, 3, 224, 224), batch=None, input_size=224)
    assert shapes.min == shapes.opt == shapes.max == (4, 3, 224, 224)
    assert profile_shapes("input", (4, 3, 224, 224), batch=BatchProfile(4, 4, 4), input_size=224).max[0] == 4
    with pytest.raises(InputError, match="fixed batch of 4, so --batch 1:8:32 cannot apply"):
        profile_shapes("input", (4, 3, 224, 224), batch=BatchProfile(1, 8, 32), input_size=224)
    with pytest.raises(InputError, match="3 dimensions"):
        profile_shapes("input", ("N", 3, 224), batch=None, input_size=224)


def test_default_engine_path_names_the_precision():
    assert default_engine_path("models/alexnet.onnx", "fp32") == Path("models/alexnet.fp32.engine")
    assert default_engine_path("models/alexnet.int8.onnx", "int8") == Path("models/alexnet.int8.engine")
    assert default_engine_path("m/net.fp16.onnx", "fp16") == Path("m/net.fp16.engine")
