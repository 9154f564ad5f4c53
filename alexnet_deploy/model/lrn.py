"""Local Response Normalization: the only place its math lives.

Convention (the same as ``torch.nn.LocalResponseNorm`` and the ONNX ``LRN``
operator): for an input ``x`` of shape (N, C, ...)::

    y[c] = x[c] / (k + alpha / size * sum(x[j] ** 2 for j in window(c))) ** beta

where ``window(c)`` runs over channels ``c - (size - 1) // 2 .. c + size // 2``
clipped to the valid range. Alpha is divided by ``size``.

The AlexNet paper (Krizhevsky et al. 2012) writes the sum *without* dividing by
``n``: its ``alpha = 1e-4`` with ``n = 5`` is ``alpha = 5e-4`` here
(``paper_alpha * size``). Caffe's bvlc_alexnet already uses the divided form,
so its ``alpha = 1e-4`` is used as is.

Only odd sizes are accepted: for even sizes PyTorch and ONNX centre the window
differently, and onnxruntime and TensorRT refuse them (TensorRT takes odd
windows in [1, 15]).

This module provides:

* ``torch.ops.alexnet_deploy.lrn``: a ``torch.library.custom_op`` with a fake
  kernel (for ``torch.export`` / ``torch.compile``) and an analytic backward,
  so models train through it and export with the op intact;
* ``LocalResponseNorm``: the ``nn.Module`` wrapper used by the model zoo;
* ``lrn_reference``: a plain numpy reference;
* ``lrn_onnx``: the onnxscript translation that turns the op into exactly one
  ONNX ``LRN`` node (see ``ONNX_TRANSLATIONS``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_deploy.errors import InputError


def paper_alpha_to_torch(paper_alpha: float, size: int) -> float:
    """Convert the paper's (undivided) alpha to the PyTorch/ONNX convention."""
    return paper_alpha * size


def check_size(size: int) -> None:
    """Refuse window sizes that ONNX runtimes and TensorRT cannot run."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise InputError(f"LRN size must be a positive odd integer, got {size!r}.")
    if size % 2 == 0:
        raise InputError(
            f"LRN size {size} is even; use an odd size (onnxruntime and TensorRT only run odd "
            f"windows, and PyTorch and ONNX centre even windows differently)."
        )


def _window_sum(t: torch.Tensor, size: int) -> torch.Tensor:
    """Sum of ``t`` over a centred window of ``size`` channels (zero padded)."""
    # (N, C, *rest) -> (N, 1, C, prod(rest)) so one 2-d pool slides over channels.
    n, c = t.shape[0], t.shape[1]
    flat = t.reshape(n, 1, c, -1)
    half = (size - 1) // 2
    padded = F.pad(flat, (0, 0, half, size // 2))
    summed = F.avg_pool2d(padded, (size, 1), stride=1) * size
    return summed.reshape(t.shape)


def _scale(x: torch.Tensor, size: int, alpha: float, k: float) -> torch.Tensor:
    return _window_sum(x * x, size).mul_(alpha / size).add_(k)


@torch.library.custom_op("alexnet_deploy::lrn", mutates_args=())
def lrn(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """LRN over channels; see the module docstring for the convention."""
    return x * _scale(x, size, alpha, k).pow_(-beta)


@lrn.register_fake
def _lrn_fake(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    return torch.empty_like(x)


def _lrn_setup_context(ctx, inputs, output):
    x, size, alpha, beta, k = inputs
    ctx.save_for_backward(x, output)
    ctx.params = (size, alpha, beta, k)


def _lrn_backward(ctx, grad_out):
    # y = x * s^-beta with s = k + alpha/n * W(x^2), W a symmetric window sum (odd n), so
    # dL/dx = g * s^-beta - 2 * beta * alpha/n * x * W(g * y / s).
    x, y = ctx.saved_tensors
    size, alpha, beta, k = ctx.params
    scale = _scale(x, size, alpha, k)
    grad_x = grad_out * scale.pow(-beta)
    grad_x -= (2.0 * beta * alpha / size) * x * _window_sum(grad_out * y / scale, size)
    return grad_x, None, None, None, None


lrn.register_autograd(_lrn_backward, setup_context=_lrn_setup_context)
# Under CUDA mixed precision the sum of squares can pass fp16's 65504 and turn into inf.
torch.library.register_autocast("alexnet_deploy::lrn", "cuda", torch.float32)


class LocalResponseNorm(nn.Module):
    """Drop-in for ``torch.nn.LocalResponseNorm`` that exports as one ONNX LRN node.

    Same signature and alpha convention (alpha is divided by ``size``); odd
    sizes only. For the paper's alpha use ``paper_alpha_to_torch``.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        check_size(size)
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.alexnet_deploy.lrn(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def lrn_reference(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """Numpy LRN written straight from the ONNX operator definition (float64 inside)."""
    check_size(size)
    x64 = np.asarray(x, dtype=np.float64)
    channels = x64.shape[1]
    square_sum = np.zeros_like(x64)
    for c in range(channels):
        lo = max(0, c - (size - 1) // 2)
        hi = min(channels - 1, c + size // 2)
        square_sum[:, c] = (x64[:, lo : hi + 1] ** 2).sum(axis=1)
    return (x64 / (k + alpha / size * square_sum) ** beta).astype(np.asarray(x).dtype)


def lrn_onnx(x, size: int, alpha: float, beta: float, k: float):
    """onnxscript translation: one ONNX ``LRN`` node (``bias`` is ONNX's name for k)."""
    from onnxscript import opset18 as op

    return op.LRN(x, size=size, alpha=alpha, beta=beta, bias=k)


def onnx_translations() -> dict:
    """The ``custom_translation_table`` for ``torch.onnx.export``."""
    return {torch.ops.alexnet_deploy.lrn.default: lrn_onnx}
