"""Several processes training one model, launched by ``torchrun`` (``torch.distributed``).

What a step is, with or without ranks: the global batch (``TrainConfig.batch_size`` tiles, all
ranks together) is cut into ``shards`` equal parts; each rank takes ``shards / ranks`` of them,
one after the other, accumulating gradients, and DistributedDataParallel averages the gradients
over the ranks, so every rank steps with the mean gradient of the whole batch. Shard ``k`` of a
step draws its randomness (dropout, MRIFE's masks and pairs) from (seed, step, k), and batch
norm's running statistics are estimated on shard 0 only (the other shards run with momentum 0;
rank 0 then hands its statistics to the others), so one process with ``shards=2`` computes what
two ranks compute: the runs are interchangeable, and a resume file of a two-rank run continues
in one process. The EMA teacher is then updated identically on every rank.

Backends: ``gloo`` on the CPU, ``nccl`` on CUDA (a rank uses ``cuda:LOCAL_RANK``). Rank 0
alone validates and writes the model and resume files (atomically, as in one process).
SyncBatchNorm is an option on CUDA (``sync_batchnorm``); PyTorch has no CPU implementation.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


class DistributedError(RuntimeError):
    """Ranks that cannot train together; the message says what to change."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    def describe(self) -> str:
        return f"{self.size} ranks ({self.backend})" if self.active else "1 process"


def launched() -> bool:
    """True under torchrun (or any launcher that sets WORLD_SIZE > 1)."""
    size = os.environ.get("WORLD_SIZE", "1")
    return size.isdigit() and int(size) > 1


def start(device: str) -> World:
    """Join the process group torchrun set up (``env://``: MASTER_ADDR, MASTER_PORT, RANK,
    WORLD_SIZE), with gloo for a CPU device and nccl for CUDA; one process: World()."""
    if not launched():
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return current()


def join(device: str) -> World:
    """:func:`start` for a job's device choice (``auto`` resolved first)."""
    if not launched():
        return World()
    from .devices import resolve_device

    return start(resolve_device(device).key)


def current() -> World:
    """The world this process trains in (set up by :func:`start`); World() when alone."""
    if not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size(),
                 int(os.environ.get("LOCAL_RANK", dist.get_rank())), dist.get_backend())


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: str, world: World) -> str:
    """Each rank its own GPU: ``cuda`` / ``auto`` on a CUDA machine becomes cuda:LOCAL_RANK."""
    if world.active and device.startswith("cuda") and ":" not in device:
        return f"cuda:{world.local_rank}"
    return device


def resolve_shards(requested: int, batch_size: int, world: World) -> int:
    """Shards per step: ``requested`` (0: as many as ranks), a multiple of the rank count that
    divides the batch."""
    shards = requested or world.size
    if shards % world.size:
        raise DistributedError(
            f"{shards} shard(s) per step cannot be shared by {world.size} ranks: start a number "
            f"of ranks that divides {shards} (the run was made with {shards} shards per step)")
    if batch_size % shards:
        raise DistributedError(
            f"a batch of {batch_size} tiles cannot be cut into {shards} equal shards; choose a "
            f"batch size that is a multiple of {shards}")
    return shards


def my_shards(shards: int, world: World) -> range:
    per = shards // world.size
    return range(world.rank * per, (world.rank + 1) * per)


class Losses(nn.Module):
    """The training forward pass as a module (DistributedDataParallel wraps a forward)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, y, generator, kwargs: dict) -> dict:
        return self.model.compute_losses(x, y, generator, **kwargs)


def wrap(model: nn.Module, world: World, device: torch.device, sync_batchnorm: bool = False
         ) -> nn.Module:
    """The module a step calls: ``Losses(model)``, under DistributedDataParallel when there are
    ranks (parameters broadcast from rank 0 at the start; buffers are handed over by
    :func:`share_statistics` after each step instead of before each forward)."""
    if sync_batchnorm:
        if not world.active:
            pass
        elif device.type != "cuda":
            raise DistributedError("SyncBatchNorm runs on CUDA only (PyTorch has no CPU "
                                   "implementation); leave it off for CPU ranks")
        else:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    losses = Losses(model)
    if not world.active:
        return losses
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        losses, device_ids=[device.index] if device.type == "cuda" else None,
        broadcast_buffers=False,
        # ICSSN's phases and MRIFE without an eligible pair leave parts without gradient
        find_unused_parameters=True)


def no_sync(module: nn.Module, last: bool):
    """Gradient accumulation: no all-reduce until the rank's last shard of the step."""
    if last or not hasattr(module, "no_sync"):
        return contextlib.nullcontext()
    return module.no_sync()


@contextlib.contextmanager
def frozen_statistics(model: nn.Module, frozen: bool):
    """Batch norm that normalises with the shard's statistics but leaves its running
    statistics as they are (momentum 0), for every shard but the first."""
    if not frozen:
        yield
        return
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


def share_statistics(model: nn.Module, world: World) -> None:
    """Every rank gets rank 0's buffers (batch-norm statistics estimated on shard 0)."""
    if world.active:
        for buf in model.buffers():
            dist.broadcast(buf.data, src=0)


def any_rank(flag: bool, world: World) -> bool:
    """True when ``flag`` is true on any rank (a cancel, a non-finite loss)."""
    if not world.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_over_ranks(values: dict[str, float], world: World) -> dict[str, float]:
    """The step's scalar losses averaged over the ranks (what the log shows)."""
    if not world.active or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / world.size for k, v in zip(keys, t.tolist())}


def sum_over_ranks(values, world: World):
    """A numpy vector summed over the ranks (counts of a sharded job)."""
    if not world.active:
        return values
    t = torch.as_tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.numpy()


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()
