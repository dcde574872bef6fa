"""Data-parallel training on the standard engine: ``torchrun`` + ``torch.distributed`` + ``DistributedDataParallel``.

``torchrun --nproc_per_node=N kspbench train --card ...`` starts N processes; each reads its rank from the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and joins the process group (gloo on CPU, nccl on CUDA).

How the pieces fit the KSP training loop:

* Data: every rank draws the same *global* batch from the same seeded generator (so augmentation and pair sampling
  are identical to a one-process run) and keeps its contiguous shard of ``batch / N`` samples for the forward and
  backward passes. The global batch must divide by N.
* Gradients: the model is wrapped once, in a :class:`LossModule` whose ``forward(loss, batch)`` computes any of the
  card's losses, inside ``DistributedDataParallel(find_unused_parameters=True)``. Each alternating loss touches a
  different subset of parameters (Lprior only EP; LUNP freezes the decoder), so some parameters get no gradient on
  a given step; ``find_unused_parameters`` lets DDP finish its all-reduce anyway. We chose it over one DDP wrapper
  per sub-network because the losses cross sub-networks (LP runs EP, EA, Tm's convolutions and DI in one graph),
  and its cost (one graph traversal per step) is negligible next to the convolutions. Each rank's loss is the mean
  over its shard and DDP averages gradients over ranks, so the update is the global batch's mean gradient.
* BatchNorm: on CUDA the model is converted to ``SyncBatchNorm`` (statistics over the global batch). PyTorch's
  SyncBatchNorm has no CPU implementation, so under gloo each rank normalises with its shard's statistics (the usual
  DDP behaviour); a CPU run with N processes is therefore close to, not identical with, a one-process run.
* Outputs: rank 0 alone writes checkpoints, logs and validation; every rank resumes from the same checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from kspbench.errors import KspbenchError

__all__ = [
    "DistributedError",
    "DistContext",
    "context_from_env",
    "shard",
    "LossModule",
    "wrap",
    "mean_over_ranks",
    "barrier",
    "shutdown",
]


class DistributedError(KspbenchError):
    """A data-parallel run that cannot work as set up (e.g. a batch that does not split); one line."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a data-parallel run (``world_size == 1``: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env(device: str) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment; a one-process context otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    import torch.distributed as dist

    backend = "nccl" if device == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        backend=backend,
    )


def shard(batch: dict[str, torch.Tensor], ctx: DistContext) -> dict[str, torch.Tensor]:
    """This rank's contiguous slice of every tensor's first (batch) dimension: ``(B, ...) -> (B / N, ...)``."""
    if not ctx.enabled:
        return batch
    out = {}
    for k, v in batch.items():
        b = v.shape[0]
        if b % ctx.world_size:
            raise DistributedError(
                f"the global batch ({b}) does not divide by the {ctx.world_size} processes; choose a "
                "batch (card schedule.batch or the profile's) that is a multiple of --nproc_per_node"
            )
        per = b // ctx.world_size
        out[k] = v[ctx.rank * per : (ctx.rank + 1) * per]
    return out


class LossModule(nn.Module):
    """The model plus the loss function, so that DDP sees every loss as one ``forward``."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[str, dict[str, torch.Tensor]], Any]) -> None:
        super().__init__()
        self.model = model
        self._loss_fn = loss_fn

    def forward(self, loss: str, batch: dict[str, torch.Tensor]) -> Any:
        return self._loss_fn(loss, batch)


def wrap(
    model: nn.Module, loss_fn: Callable[[str, dict[str, torch.Tensor]], Any], ctx: DistContext, device: torch.device
) -> nn.Module:
    """``DistributedDataParallel`` around :class:`LossModule` (see the module docstring for the choices)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    module = LossModule(model, loss_fn)
    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, find_unused_parameters=True)


def mean_over_ranks(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of a (K,) tensor over ranks (for logging the global batch's losses)."""
    if not ctx.enabled:
        return values
    import torch.distributed as dist

    out = values.detach().clone()
    dist.all_reduce(out)
    return out / ctx.world_size


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
