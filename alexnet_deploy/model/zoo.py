"""The AlexNet model zoo: torchvision's layout, the 2012 paper net, and CaffeNet.

Every arch uses the module names ``features`` / ``avgpool`` / ``classifier`` so
that state_dict keys read the same way, and every arch comes with the metadata a
checkpoint records (input size, mean/std).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from alexnet_deploy.errors import InputError
from alexnet_deploy.model.lrn import LocalResponseNorm, paper_alpha_to_torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ArchSpec:
    """What an arch needs besides its weights: how to build it and feed it."""

    name: str
    description: str
    input_size: int
    min_input_size: int
    factory: Callable[[int], nn.Module]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


class AlexNet(nn.Module):
    """features -> avgpool -> classifier, the layout torchvision uses."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        # Identity at the native input size; lets smaller inputs reach the 6x6 the classifier needs.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _classifier(num_classes: int, *, dropout_first: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    # torchvision puts dropout before fc6 and fc7; the paper after fc6 and fc7.
    if dropout_first:
        layers += [nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True)]
        layers += [nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True)]
    else:
        layers += [nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5)]
        layers += [nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5)]
    layers.append(nn.Linear(4096, num_classes))
    return nn.Sequential(*layers)


def _torchvision(num_classes: int) -> nn.Module:
    features = nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    return AlexNet(features, _classifier(num_classes, dropout_first=True))


def paper_lrn() -> LocalResponseNorm:
    """The paper's LRN: k=2, n=5, beta=0.75, paper alpha 1e-4 (5e-4 divided by n)."""
    return LocalResponseNorm(5, alpha=paper_alpha_to_torch(1e-4, 5), beta=0.75, k=2.0)


def caffe_lrn() -> LocalResponseNorm:
    """Caffe's bvlc_alexnet / CaffeNet LRN: local_size 5, alpha 1e-4 (already divided), k=1."""
    return LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)


def _paper_convs(*, pool_before_lrn: bool, make_lrn: Callable[[], nn.Module]) -> nn.Sequential:
    def block(conv: nn.Conv2d) -> list[nn.Module]:
        relu, pool = nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2)
        return [conv, relu, pool, make_lrn()] if pool_before_lrn else [conv, relu, make_lrn(), pool]

    return nn.Sequential(
        *block(nn.Conv2d(3, 96, kernel_size=11, stride=4)),
        *block(nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2)),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _paper_init(model: AlexNet) -> AlexNet:
    """Weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.classifier if isinstance(m, nn.Linear)]
    ones = {id(convs[1]), id(convs[3]), id(convs[4]), id(fcs[0]), id(fcs[1])}
    for layer in convs + fcs:
        nn.init.normal_(layer.weight, mean=0.0, std=0.01)
        nn.init.constant_(layer.bias, 1.0 if id(layer) in ones else 0.0)
    return model


def _paper(num_classes: int) -> nn.Module:
    model = AlexNet(_paper_convs(pool_before_lrn=False, make_lrn=paper_lrn), _classifier(num_classes, dropout_first=False))
    return _paper_init(model)


def _caffenet(num_classes: int) -> nn.Module:
    model = AlexNet(_paper_convs(pool_before_lrn=True, make_lrn=caffe_lrn), _classifier(num_classes, dropout_first=False))
    return _paper_init(model)


ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("torchvision", "torchvision's AlexNet (One weird trick, 2014); no LRN", 224, 63, _torchvision),
        ArchSpec("paper", "Krizhevsky et al. 2012 on one device: LRN then pool, grouped convs", 227, 67, _paper),
        ArchSpec("caffenet", "CaffeNet: the paper net with pooling before LRN, Caffe's LRN", 227, 67, _caffenet),
    )
}


def get_spec(arch: str) -> ArchSpec:
    """The ArchSpec of ``arch`` or a clear error listing the known ones."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise InputError(f"Unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}.") from None


def build(arch: str, *, num_classes: int = 1000) -> nn.Module:
    """Build a freshly initialised model of ``arch`` with ``num_classes`` outputs."""
    if num_classes < 1:
        raise InputError(f"num_classes must be at least 1, got {num_classes}.")
    return get_spec(arch).factory(num_classes)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
