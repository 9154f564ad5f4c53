"""Multi-process training under ``torchrun``: detection, setup and the few collectives training needs.

``torchrun`` (``python -m torch.distributed.run``) starts one process per GPU
(or per CPU slot) and tells each its place through ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``. Without them training runs as a single process and every helper
here is a no-op, so the training loop has one code path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist

from alexnet_deploy.errors import InputError


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job (world_size 1, rank 0 when not under torchrun)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and logs; the others stay quiet."""
        return self.rank == 0


def detect(environ: dict[str, str] | None = None) -> DistEnv:
    """Read torchrun's variables; a partial or inconsistent set is an InputError."""
    env = os.environ if environ is None else environ
    names = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
    present = [n for n in names if n in env]
    if not present:
        return DistEnv()
    if len(present) != len(names):
        missing = ", ".join(n for n in names if n not in env)
        raise InputError(f"Distributed training needs WORLD_SIZE, RANK and LOCAL_RANK; {missing} is not set. Start it with torchrun.")
    try:
        world, rank, local = (int(env[n]) for n in names)
    except ValueError:
        raise InputError("WORLD_SIZE, RANK and LOCAL_RANK must be integers; start training with torchrun.") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise InputError(f"Inconsistent torchrun environment: WORLD_SIZE={world}, RANK={rank}, LOCAL_RANK={local}.")
    return DistEnv(world_size=world, rank=rank, local_rank=local)


def init(env: DistEnv, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPUs."""
    if env.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, world_size=env.world_size, rank=env.rank)


def shutdown() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: Sequence[float], device: torch.device) -> list[float]:
    """Elementwise sum of ``values`` over all ranks (float64 so counts stay exact)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def shard(n: int, env: DistEnv) -> list[int]:
    """Indices ``rank, rank + world, ...`` of ``range(n)``: every item scored exactly once across ranks."""
    return list(range(env.rank, n, env.world_size))


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over the parameters and buffers (name, dtype, shape, bytes), in state_dict order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def gather_strings(value: str) -> list[str]:
    """``value`` from every rank, in rank order (just ``[value]`` in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return [str(v) for v in out]
