"""Layer precisions from the engine inspector's JSON: TensorRT 10 and 11 forms, names-only, the INT8 check.

The samples in tests/engine/samples follow the inspector output of a DETAILED build: the 10.x form as
in NVIDIA's engine explorer test inputs ("Format/Datatype" strings), the 11.x form per NVIDIA's 10->11
migration note ("I/O Tensors" objects, type and format in separate fields).
"""

from __future__ import annotations

from pathlib import Path

from alexnet_deploy.engine.inspection import UNKNOWN, int8_failure, summarize_layers, tensor_precision

SAMPLES = Path(__file__).parent / "samples"


def test_int8_engine_10x_counts_layers_by_first_input():
    summary = summarize_layers((SAMPLES / "inspector_10x_int8.json").read_text())
    assert summary.counts == {"FP32": 5, "INT8": 3}
    by_name = {name: (kind, precision) for name, kind, precision in summary.layers}
    assert by_name["conv1.weight + QuantizeLinear + conv1 + relu1"] == ("Convolution", "INT8")
    assert by_name["lrn1"] == ("LRN", "FP32")  # LRN stays outside Q/DQ: float
    assert by_name["input QuantizeLinear"] == ("Reformat", "FP32")  # the quantizing reformat reads float
    assert int8_failure(summary) == ""


def test_int8_engine_11x_form_reads_the_same():
    summary = summarize_layers((SAMPLES / "inspector_11x_int8.json").read_text())
    assert summary.counts == {"FP32": 5, "INT8": 3}


def test_fp16_engine():
    summary = summarize_layers((SAMPLES / "inspector_10x_fp16.json").read_text())
    assert summary.counts == {"FP16": 3, "FP32": 3}  # casts and LRN read fp32
    assert summary.runs("INT8") == 0


def test_an_int8_build_without_int8_layers_is_a_failed_check():
    summary = summarize_layers((SAMPLES / "inspector_10x_int8_ignored.json").read_text())
    assert summary.counts == {"FP32": 6}
    message = int8_failure(summary)
    assert message.startswith("int8 layers: 0 of 6 engine layers run INT8 (6 FP32)")


def test_names_only_verbosity_gives_unknown_precisions():
    summary = summarize_layers((SAMPLES / "inspector_names_only.json").read_text())
    assert summary.counts == {UNKNOWN: 8}
    assert summary.layers[0] == ("input QuantizeLinear", "", UNKNOWN)
    assert "0 of 8" in int8_failure(summary)


def test_tensor_type_words():
    cases = {
        "Row major linear FP32": "FP32", "Channel major FP16 format where channel % 8 == 0": "FP16",
        "Thirty-two wide channel vectorized row major Int8 format": "INT8", "Row major linear BFloat16 format": "BF16",
        "Row major linear UInt8 format": "UINT8", "Row major linear Int32": "INT32",
        "Row major linear FP8 format": "FP8",
        "Unknown format": UNKNOWN,
    }
    for text, precision in cases.items():
        assert tensor_precision({"Format/Datatype": text}) == precision, text
    assert tensor_precision({"DataType": "Half", "Format": "Row major linear FP32 format (kLINEAR)"}) == "FP16"
    assert tensor_precision({"DataType": "Float"}) == "FP32"
    assert tensor_precision({}) == UNKNOWN
    assert summarize_layers('{"Layers": []}').counts == {}
