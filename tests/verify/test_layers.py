"""Per-layer pieces on real sessions: the probe model, the comparison, its guard, and PyTorch's hooked activations."""

from __future__ import annotations

import math

import numpy as np
import onnx
import torch

from alexnet_deploy.artifacts.layer_map import LayerTensor
from alexnet_deploy.runtimes.registry import open_runner
from alexnet_deploy.verify.layers import compare_layers, reference_activations, write_probe
from tests.builders import tiny_model

LAYERS = [LayerTensor("features.0", "Conv2d", "c1"), LayerTensor("features.1", "ReLU", "r1"),
          LayerTensor("features.2", "LocalResponseNorm", "n1"), LayerTensor("features.3", "MaxPool2d", "p1"),
          LayerTensor("classifier.0", "Linear", "g1"), LayerTensor("extra", "Conv2d", "no_such_tensor"),
          LayerTensor("classifier.2", "Linear", "logits")]


def _probe(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    path, missing = write_probe(model, [layer.tensor for layer in LAYERS], tmp_path)
    return path, missing


def test_the_probe_returns_the_mapped_tensors_and_lists_the_missing(tmp_path):
    path, missing = _probe(tmp_path)
    outputs = [o.name for o in onnx.load(str(path)).graph.output]
    assert outputs == ["logits", "c1", "r1", "n1", "p1", "g1"] and missing == ["no_such_tensor"]


def test_the_first_and_the_worst_layer_and_the_guard(tmp_path):
    path, missing = _probe(tmp_path)
    x = np.random.default_rng(0).normal(size=(6, 3, 32, 32)).astype(np.float32)
    with open_runner("ort-cpu", path) as probe:
        exact = probe.infer({"input": x})
        reference = {layer.module: exact[layer.tensor] for layer in LAYERS if layer.tensor in exact}
        reference["features.2"] = reference["features.2"] * 1.1  # PyTorch "disagrees" from the LRN on
        reference["classifier.0"] = reference["classifier.0"] * 2.0
        logits = exact["logits"]
        report = compare_layers(probe, x, reference, LAYERS, min_sqnr_db=30.0, model_logits=logits,
                                reference_logits=logits, missing=missing)
        assert [r.passed for r in report.layers] == [True, True, False, True, False, None, True]
        assert report.row("features.0").sqnr_db == math.inf and report.row("features.0").cosine == 1.0
        assert abs(report.row("features.2").sqnr_db - 20 * np.log10(1.1 / 0.1)) < 1e-4  # signal 1.1, noise 0.1
        assert report.first_failing == "features.2" and report.worst == "classifier.0"
        assert report.row("extra").note == "not in this model"
        assert "first past tolerance: features.2 (LocalResponseNorm, tensor n1)" in report.describe()
        # A probe whose logits stray from PyTorch's much further than the model's own do names no layer.
        shifted = logits + 0.5 * np.abs(logits).max()
        guarded = compare_layers(probe, x, reference, LAYERS, min_sqnr_db=30.0, model_logits=shifted,
                                 reference_logits=shifted, missing=missing)
        assert guarded.first_failing == "" and guarded.worst == "" and "computes this model differently" in guarded.note


def test_hooks_take_each_output_before_an_in_place_relu_overwrites_it():
    from alexnet_deploy.model import zoo

    torch.manual_seed(0)
    model = zoo.build("paper", num_classes=10).eval()
    x = np.random.default_rng(1).normal(size=(3, 3, 67, 67)).astype(np.float32)
    layers = [LayerTensor("features.0", "Conv2d", "conv2d"), LayerTensor("features.1", "ReLU", "relu")]
    with open_runner("torch-cpu", model) as runner:
        taken = reference_activations(runner, x, layers, chunk=2)
        logits = runner.infer({"input": x})["logits"]
    with torch.no_grad():
        conv = model.features[0](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(taken["features.0"], conv, rtol=1e-5, atol=1e-6)
    assert taken["features.0"].min() < 0 and taken["features.1"].min() == 0
    assert not model.features[0]._forward_hooks  # the hooks are gone afterwards
    assert logits.shape == (3, 10)


def test_openvino_runs_the_probe_file_and_returns_every_layer(tmp_path):
    path, missing = _probe(tmp_path)
    x = np.random.default_rng(2).normal(size=(4, 3, 32, 32)).astype(np.float32)
    with open_runner("ort-cpu", path, optimize=False) as exact:
        reference = exact.infer({"input": x})
    activations = {layer.module: reference[layer.tensor] for layer in LAYERS if layer.tensor in reference}
    with open_runner("openvino", path) as probe:
        report = compare_layers(probe, x, activations, LAYERS, min_sqnr_db=60.0, model_logits=reference["logits"],
                                reference_logits=reference["logits"], missing=missing)
    compared = [r for r in report.layers if r.passed is not None]
    assert len(compared) == 6 and all(r.passed and r.sqnr_db > 90 for r in compared), report.layers
    assert report.first_failing == "" and report.note == ""
