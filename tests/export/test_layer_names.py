"""The module -> tensor map export writes: complete, in order, and each tensor holds its module's output."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from alexnet_deploy.artifacts.checkpoint import make_checkpoint
from alexnet_deploy.artifacts.layer_map import LAYERS_KEY, decode_layers
from alexnet_deploy.artifacts.onnx_meta import read_meta
from alexnet_deploy.export.exporter import export_onnx
from alexnet_deploy.export.layer_names import layer_tensors
from alexnet_deploy.model import zoo
from tests.builders import he_init


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = he_init(zoo.build("paper", num_classes=10)).eval()
    path = tmp_path_factory.mktemp("layers") / "paper.onnx"
    assert export_onnx(make_checkpoint(model, arch="paper", input_size=67), path)
    return model, path


def test_every_module_that_computes_is_mapped_in_execution_order(exported):
    model, path = exported
    layers = decode_layers(read_meta(path).extra[LAYERS_KEY], where=str(path))
    expected = [(name, type(m).__name__) for name, m in model.named_modules()
                if name and not any(m.children()) and not isinstance(m, torch.nn.Dropout)]
    assert [(layer.module, layer.kind) for layer in layers] == expected
    assert [layer.kind for layer in layers].count("LocalResponseNorm") == 2
    assert layers[-1].tensor == "logits" and len({layer.tensor for layer in layers}) == len(layers)


def test_each_tensor_holds_its_modules_output(exported):
    """The map is right by construction; this proves it on values: every tensor equals the hooked activation."""
    model, path = exported
    layers = decode_layers(read_meta(path).extra[LAYERS_KEY], where=str(path))
    proto = onnx.load(str(path))
    proto.graph.output.extend(onnx.helper.make_tensor_value_info(layer.tensor, onnx.TensorProto.FLOAT, None)
                              for layer in layers[:-1])
    x = np.random.default_rng(0).normal(size=(2, 3, 67, 67)).astype(np.float32)
    outputs = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})
    got = dict(zip([o.name for o in proto.graph.output], outputs))
    taken = {}

    def keep(name):
        def hook(module, inputs, output):  # returns None: a hook's return value would replace the output
            taken[name] = output.detach().clone()
        return hook

    hooks = [model.get_submodule(layer.module).register_forward_hook(keep(layer.module)) for layer in layers]
    with torch.no_grad():
        model(torch.from_numpy(x))
    for hook in hooks:
        hook.remove()
    for layer in layers:
        expected = taken[layer.module].numpy()
        np.testing.assert_allclose(got[layer.tensor], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max(),
                                   err_msg=layer.module)


def test_a_graph_without_scopes_maps_nothing(exported):
    model, path = exported
    proto = onnx.load(str(path), load_external_data=False)
    for node in proto.graph.node:
        del node.metadata_props[:]
    assert layer_tensors(model, proto) == []
