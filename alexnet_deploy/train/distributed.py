"""Multi-process training under ``torchrun``: detection, setup and the few collectives training needs.

``torchrun`` (``python -m torch.distributed.run``) starts one process per GPU
(or per CPU slot) and tells each its place through ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``. Without them training runs as a single process and every helper
here is a no-op, so the training loop has one code path.
"""

from __future__ import annotations

import datetime
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
    if world > 1:
        _check_rendezvous_address(env)
    return DistEnv(world_size=world, rank=rank, local_rank=local)


def _check_rendezvous_address(env) -> None:
    """torch's env:// rendezvous needs MASTER_ADDR and MASTER_PORT; without them it fails with a traceback."""
    missing = [n for n in ("MASTER_ADDR", "MASTER_PORT") if not env.get(n)]
    if missing:
        raise InputError(f"Distributed training needs MASTER_ADDR and MASTER_PORT to meet the other processes; "
                         f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Start it with "
                         f"torchrun, or set both.")
    port = env["MASTER_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"MASTER_PORT must be a port number from 1 to 65535, got {port!r}.")


def init(env: DistEnv, device: torch.device, *, timeout: float = 300.0) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPUs.

    ``timeout`` (seconds) bounds the wait for the other processes: without it a
    rank whose peers never start waits half an hour. It is also the limit of
    each collective step, so it must exceed the longest wait of one rank for the
    others (rank 0 writing checkpoints).
    """
    if env.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend=backend, world_size=env.world_size, rank=env.rank,
                                    timeout=datetime.timedelta(seconds=timeout))
        except (RuntimeError, ValueError) as exc:  # DistStoreError, DistNetworkError, ...: all RuntimeErrors
            where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"Process {env.rank} of {env.world_size} could not meet the others at {where} within "
                             f"{timeout:g} s ({reason}); start every process (torchrun does), check MASTER_ADDR "
                             f"and MASTER_PORT, or raise --rendezvous-timeout.") from None


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
    from alexnet_deploy.artifacts.checkpoint import weights_digest

    return weights_digest(model.state_dict())


def gather_strings(value: str) -> list[str]:
    """``value`` from every rank, in rank order (just ``[value]`` in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return [str(v) for v in out]
