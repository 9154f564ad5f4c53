"""Which torch device a command runs on."""

from __future__ import annotations

import torch

from alexnet_deploy.errors import InputError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(requested: str, *, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when available; under torchrun each process takes GPU ``local_rank``."""
    if requested not in DEVICES:
        raise InputError(f"Unknown device {requested!r}; choose auto, cpu or cuda.")
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto.")
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise InputError(
            f"LOCAL_RANK {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
            f"start at most one process per GPU (--nproc_per_node)."
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)
