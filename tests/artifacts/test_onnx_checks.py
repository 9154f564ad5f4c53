"""The graph's own precision, told from its weights and casts, and agreement of graph and metadata."""

from __future__ import annotations

from dataclasses import replace

import onnx
import pytest

from alexnet_deploy.artifacts.onnx_checks import check_graph, graph_precision
from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.errors import InputError
from tests.builders import tiny_model, write_images


def test_precision_of_fp32_fp16_and_int8_models(tmp_path):
    from alexnet_deploy.precision.fp16 import convert_fp16
    from alexnet_deploy.precision.quantize import QuantizeConfig, build_int8

    fp32 = tiny_model(tmp_path / "m.onnx")
    assert graph_precision(onnx.load(str(fp32))) == "fp32"
    import numpy as np

    images = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    fp16 = convert_fp16(fp32, tmp_path / "m.fp16.onnx", calib_images=images, min_agreement=0.0)
    assert graph_precision(onnx.load(fp16.out)) == "fp16" and read_meta(fp16.out).precision == "fp16"
    write_images(tmp_path / "calib", 8)
    int8 = build_int8(fp32, tmp_path / "calib", tmp_path / "m.int8.onnx",
                      config=QuantizeConfig(method="minmax", num_images=8, min_images=8))
    assert graph_precision(onnx.load(int8.out)) == "int8" and read_meta(int8.out).precision == "int8"


def test_a_batch_fixed_or_dynamic_and_a_symbolic_channel_pass(tmp_path):
    proto = onnx.load(str(tiny_model(tmp_path / "m.onnx")))
    meta = read_meta(proto)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 8
    check_graph(proto, meta, "m.onnx")
    with pytest.raises(InputError, match="3x33x33"):
        check_graph(proto, replace(meta, input_size=33), "m.onnx")
