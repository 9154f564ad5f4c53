import pytest
import torch

from alexnet_deploy.errors import InputError
from alexnet_deploy.model.lrn import LocalResponseNorm
from alexnet_deploy.model.zoo import ARCHS, build, count_parameters, get_spec

# torchvision.models.alexnet().state_dict(), written out: torchvision has no CPU-only wheel to compare against.
TORCHVISION_SHAPES = {
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
    "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3),
    "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3),
    "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216),
    "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096),
    "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}


@pytest.mark.parametrize(("arch", "expected"), [("torchvision", 61_100_840), ("paper", 60_965_224), ("caffenet", 60_965_224)])
def test_parameter_counts(arch, expected):
    assert count_parameters(build(arch)) == expected


def test_torchvision_state_dict_matches_torchvision():
    state = build("torchvision").state_dict()
    assert list(state) == list(TORCHVISION_SHAPES)
    assert {k: tuple(v.shape) for k, v in state.items()} == TORCHVISION_SHAPES


@pytest.mark.parametrize("arch", list(ARCHS))
def test_native_and_minimum_input_sizes(arch):
    spec = get_spec(arch)
    model = build(arch, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, spec.input_size, spec.input_size)).shape == (2, 7)
        assert model(torch.zeros(1, 3, spec.min_input_size, spec.min_input_size)).shape == (1, 7)
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 3, spec.min_input_size - 4, spec.min_input_size - 4))


def test_torchvision_works_at_63():
    assert get_spec("torchvision").min_input_size == 63


def test_paper_layer_order_and_lrn_parameters():
    kinds = [type(m).__name__ for m in build("paper").features]
    assert kinds[:8] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"] * 2
    lrns = [m for m in build("paper").features if isinstance(m, LocalResponseNorm)]
    assert [(m.size, m.alpha, m.beta, m.k) for m in lrns] == [(5, pytest.approx(5e-4), 0.75, 2.0)] * 2


def test_caffenet_pools_before_lrn_with_caffe_constants():
    features = build("caffenet").features
    kinds = [type(m).__name__ for m in features]
    assert kinds[:8] == ["Conv2d", "ReLU", "MaxPool2d", "LocalResponseNorm"] * 2
    lrn = features[3]
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 1.0)


def test_paper_convolutions():
    convs = [m for m in build("paper").features if isinstance(m, torch.nn.Conv2d)]
    described = [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0], c.groups) for c in convs]
    assert described == [(96, 11, 4, 0, 1), (256, 5, 1, 2, 2), (384, 3, 1, 1, 1), (384, 3, 1, 1, 2), (256, 3, 1, 1, 2)]


def test_paper_init():
    torch.manual_seed(0)
    model = build("paper")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    biases = [float(layer.bias.detach().mean()) for layer in convs + fcs]
    assert biases == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert fcs[0].weight.std().item() == pytest.approx(0.01, rel=0.01)
    assert abs(fcs[0].weight.mean().item()) < 1e-4


def test_paper_dropout_follows_fc6_and_fc7():
    kinds = [type(m).__name__ for m in build("paper").classifier]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_unknown_arch_and_bad_class_count_are_user_errors():
    with pytest.raises(InputError, match="Unknown arch 'vgg'"):
        build("vgg")
    with pytest.raises(InputError, match="num_classes"):
        build("paper", num_classes=0)


def test_training_runs_through_the_custom_lrn():
    model = build("paper", num_classes=3)
    x = torch.randn(2, 3, 67, 67)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 2]))
    loss.backward()
    assert model.features[0].weight.grad is not None
    assert torch.isfinite(model.features[0].weight.grad).all()
