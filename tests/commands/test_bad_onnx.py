"""Class 4: an ONNX model is checked against its own metadata before use, by every command that reads one.

Each file lies in one way (builders.ONNX_LIES): an input shape, name or dtype the metadata does not describe,
more outputs than class names, an fp16 graph labelled fp32, an "int8" model without a quantized weight, an op
nobody defines, external data that does not fit, broken or missing metadata, garbage bytes. convert, quantize,
info, build-engine and triton export refuse each in one sentence with exit code 2, before any work and with
nothing written (convert's default output beside the model included).
"""

from __future__ import annotations

import pytest

from tests.builders import ONNX_LIES, assert_refused, lying_onnx

WHY = {
    "input-size": "takes input of shape",
    "class-count": "but its metadata names 3 classes",
    "input-name": "has inputs ['image']",
    "two-inputs": "has inputs ['input', 'extra']",
    "input-dtype": "not float32",
    "fp16-as-fp32": "says it is fp32 but its graph is fp16",
    "fp32-as-int8": "says it is int8 but its graph is fp32",
    "fp32-as-fp16": "says it is fp16 but its graph is fp32",
    "unknown-op": "'Frobnicate'",
    "zero-std": "every value must be above 0",
    "fractional-size": "input_size is 32.5, not a whole number",
    "bad-json": "corrupt alexnet-deploy metadata",
    "no-metadata": "has no alexnet-deploy metadata",
    "external-offset": "the data file is truncated or does not belong to this model",
    "external-truncated": "the data file is truncated or does not belong to this model",
    "garbage": "is not a readable ONNX model",
    "empty": "is empty (0 bytes)",
}


def _args(command, k, model):
    return {
        "convert": ["convert", "--model", model, "--json", k.tmp / "r.json"],
        "quantize": ["quantize", "--model", model, "--calib", k.world / "calib", "--out", k.tmp / "q.onnx",
                     "--json", k.tmp / "r.json"],
        "info": ["info", model],
        "build-engine": ["build-engine", "--model", model, "--out", k.tmp / "m.engine", "--json", k.tmp / "r.json"],
        "triton export": ["triton", "export", model, "--out", k.tmp / "repo", "--json", k.tmp / "r.json"],
    }[command]


@pytest.mark.parametrize("command", ["convert", "quantize", "info", "build-engine", "triton export"])
@pytest.mark.parametrize("lie", ONNX_LIES)
def test_lying_onnx_is_refused(kit, lie, command):
    model = lying_onnx(kit.tmp / "inputs" / "m.onnx", lie)
    assert_refused(_args(command, kit, model), watch=kit.watch, match=WHY[lie])
