import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from alexnet_deploy.errors import InputError
from alexnet_deploy.model.lrn import LocalResponseNorm, check_size, lrn_reference, paper_alpha_to_torch

PARAMS = [(1, 1e-4, 0.75, 1.0), (3, 0.3, 0.5, 1.5), (5, 5e-4, 0.75, 2.0), (7, 1e-2, 0.9, 1.0)]


@pytest.mark.parametrize(("size", "alpha", "beta", "k"), PARAMS)
def test_matches_torch_and_numpy_reference(size, alpha, beta, k):
    torch.manual_seed(size)
    x = torch.randn(2, 11, 5, 4) * 3
    ours = LocalResponseNorm(size, alpha, beta, k)(x)
    torch.testing.assert_close(ours, F.local_response_norm(x, size, alpha, beta, k), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(ours.numpy(), lrn_reference(x.numpy(), size, alpha, beta, k), atol=1e-6, rtol=1e-6)


def _onnx_lrn_model(shape, **attrs):
    node = onnx.helper.make_node("LRN", ["x"], ["y"], **attrs)
    graph = onnx.helper.make_graph(
        [node],
        "lrn",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, shape)],
    )
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)], ir_version=10)


def test_reference_matches_onnxruntimes_lrn_operator():
    # onnx.reference's LRN loops over the batch axis instead of channels, so onnxruntime's
    # kernel stands in for the operator definition.
    x = np.random.default_rng(0).normal(size=(2, 9, 4, 3)).astype(np.float32) * 2
    model = _onnx_lrn_model(x.shape, size=5, alpha=5e-4, beta=0.75, bias=2.0)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"x": x})
    np.testing.assert_allclose(lrn_reference(x, 5, 5e-4, 0.75, 2.0), expected, atol=1e-6, rtol=1e-6)


def test_reference_by_hand():
    # ONNX: square_sum[c] sums channels max(0, c-1)..min(C-1, c+1) for size 3; alpha is divided by size.
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32).reshape(1, 4, 1, 1)
    sums = np.array([1 + 4, 1 + 4 + 9, 4 + 9 + 16, 9 + 16], dtype=np.float64)
    expected = x.ravel() / (1.0 + 0.3 / 3 * sums) ** 0.5
    np.testing.assert_allclose(lrn_reference(x, 3, 0.3, 0.5, 1.0).ravel(), expected, rtol=1e-6)


def test_three_dimensional_input():
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(LocalResponseNorm(3, 0.5, 0.75, 1.0)(x), F.local_response_norm(x, 3, 0.5, 0.75, 1.0))


@pytest.mark.parametrize(("size", "alpha", "beta", "k"), [(5, 0.3, 0.75, 2.0), (3, 1.0, 0.5, 1.0), (1, 0.2, 0.9, 1.0)])
def test_gradcheck_float64(size, alpha, beta, k):
    x = torch.randn(2, 7, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: torch.ops.alexnet_deploy.lrn(t, size, alpha, beta, k), (x,))


def test_gradient_matches_torch_autograd():
    x = torch.randn(3, 10, 6, 6, requires_grad=True)
    ours = torch.autograd.grad(LocalResponseNorm(5, 5e-4 * 100, 0.75, 2.0)(x).square().sum(), x)[0]
    theirs = torch.autograd.grad(F.local_response_norm(x, 5, 5e-2, 0.75, 2.0).square().sum(), x)[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [2, 4, 6])
def test_even_sizes_are_refused(size):
    with pytest.raises(InputError, match="even"):
        LocalResponseNorm(size)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_non_positive_or_non_integer_sizes_are_refused(size):
    with pytest.raises(InputError):
        check_size(size)


def test_paper_alpha_conversion():
    assert paper_alpha_to_torch(1e-4, 5) == pytest.approx(5e-4)


def test_export_keeps_the_op_intact():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), LocalResponseNorm(5, 5e-4, 0.75, 2.0))
    program = torch.export.export(model, (torch.randn(1, 3, 9, 9),))
    targets = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
    assert "alexnet_deploy.lrn.default" in targets
    assert not any("avg_pool" in t or "pow" in t for t in targets)
    x = torch.randn(1, 3, 9, 9)
    torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.gpu
def test_lrn_stays_fp32_under_cuda_autocast():
    x = torch.randn(2, 96, 27, 27, device="cuda") * 300  # squares sum past fp16's 65504
    conv = torch.nn.Conv2d(96, 96, 1).cuda()
    with torch.autocast("cuda", dtype=torch.float16):
        y = LocalResponseNorm(5, 5e-4, 0.75, 2.0)(conv(x))
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
