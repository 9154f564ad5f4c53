"""Which ONNX tensor each PyTorch module produced: the map export records and per-layer checks read.

Export decides it once, from the exporter's own record of which module every
node came from, and stores it in the model's metadata (``ModelMeta.extra``
under ``LAYERS_KEY``, a JSON list in execution order). fp16 and INT8 models
inherit the metadata of the export they were made from, and engine sidecars
copy it, so every artifact can name the tensor that holds ``features.4``'s
output without guessing from op types or tensor names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from alexnet_deploy.errors import InputError

LAYERS_KEY = "layers"


@dataclass(frozen=True)
class LayerTensor:
    """One module's output: its qualified name in the torch model, its class, and the ONNX tensor."""

    module: str  # "features.4"
    kind: str  # the module's class name: "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d", "Linear", ...
    tensor: str  # the ONNX tensor holding its output


def encode_layers(layers: list[LayerTensor]) -> str:
    """The metadata value for ``layers`` (a JSON list of [module, kind, tensor])."""
    return json.dumps([[layer.module, layer.kind, layer.tensor] for layer in layers])


def decode_layers(value: str | None, *, where: str) -> list[LayerTensor]:
    """The layers a metadata value lists; [] when absent. A corrupt value is an InputError naming ``where``."""
    if not value:
        return []
    try:
        raw = json.loads(value)
        return [LayerTensor(module=str(m), kind=str(k), tensor=str(t)) for m, k, t in raw]
    except (ValueError, TypeError):
        raise InputError(f"{where} has a corrupt layer map in its metadata ({LAYERS_KEY}); re-export it.") from None
