"""One training iteration: the loss's terms, its optimiser's step, and the optimisers' checkpointed state.

Optimisers and the parameters they hold (one per loss, the paper; or one shared by every loss, a profile's choice):

=========  ===============================================  =====================================
loss       parameters                                       notes
=========  ===============================================  =====================================
prior      EP                                               Lprior
paired     EP, EA, pose-map convs (no-tm: its network), DI  LP
unpaired   EP, EA                                           LUNP; pose-map convs and DI frozen
sup2d      EP                                               weakly-supervised 2D
sup3d      EP                                               semi-supervised / ceiling 3D (+ 2D)
=========  ===============================================  =====================================
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import torch
from torch import nn

from kspbench.core import skeleton
from kspbench.model import distributed as DIST
from kspbench.model import losses as L
from kspbench.model.adam import FusedAdam, fused_adam_supported
from kspbench.model.cards import Card, Losses, Optimiser
from kspbench.model.ksp import KSP
from kspbench.model.profiles import ModelProfile
from kspbench.model.run_folder import TrainingError

__all__ = [
    "AnyOptimiser",
    "LossSteps",
    "lr_factor",
    "make_optimisers",
    "scale_learning_rates",
    "optimiser_states",
    "restore_optimisers",
    "validation_errors",
]

# What the trainer steps: torch.optim's (Adagrad, Adam off CPU/CUDA) or FusedAdam, which has the same interface.
AnyOptimiser = torch.optim.Optimizer | FusedAdam

# Validation frames per forward pass.
_VAL_BATCH = 64


def _make_optimiser(spec: Optimiser, params: list[nn.Parameter]) -> AnyOptimiser:
    if spec.name == "adagrad":
        return torch.optim.Adagrad(params, lr=spec.lr)
    # The fused kernel: one pass over each parameter instead of a chain of foreach ops (measured on CPU: an Adam
    # step of the cpu model 7 ms -> 2 ms); deterministic like the other. FusedAdam is torch.optim.Adam(fused=True)
    # bit for bit without its 1.3 s import of torch._dynamo (adam.py).
    if fused_adam_supported(params):
        return FusedAdam(params, lr=spec.lr)
    return torch.optim.Adam(params, lr=spec.lr)


def make_optimisers(card: Card, profile: ModelProfile, model: KSP) -> dict[str, AnyOptimiser]:
    """Each configured loss's optimiser over its parameters (the table above), in the card's loss order."""
    groups = {
        "prior": [model.ep],
        "paired": [model],
        "unpaired": [model.ep, model.ea],
        "sup2d": [model.ep],
        "sup3d": [model.ep],
    }
    default = Optimiser(profile.optimiser.name, profile.optimiser.lr)
    if profile.optimiser.per_loss:
        return {
            name: _make_optimiser(cfg.optimiser or default, [p for m in groups[name] for p in m.parameters()])
            for name, cfg in card.losses.items()
        }
    # One optimiser over the parameters any loss trains: each loss steps it in its own iterations, and parameters
    # without a gradient in an iteration are left alone.
    params = list(dict.fromkeys(p for name in card.losses.names for m in groups[name] for p in m.parameters()))
    shared = _make_optimiser(default, params)
    return {name: shared for name in card.losses.names}


def lr_factor(decay: str, step: int, total: int) -> float:
    """The multiplier of every optimiser's learning rate at 0-based global step ``step`` of a ``total``-step run:
    1 for ``constant``; ``cosine`` falls from 1 at the first step towards 0 at the last (half a cosine period)."""
    if decay == "constant":
        return 1.0
    if decay == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    raise ValueError(f"unknown learning-rate decay {decay!r}")


def scale_learning_rates(optimisers: dict[str, AnyOptimiser], factor: float) -> None:
    """Set each parameter group's ``lr`` to ``factor`` times its first ``lr`` (kept as ``initial_lr``, which the
    optimiser's state dict saves, so a resumed run scales the same base)."""
    for opt in {id(o): o for o in optimisers.values()}.values():  # a shared optimiser once
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


def _canonical_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimiser state dict in a canonical layout (sorted keys, unshared CPU tensors), so that a resumed run's
    checkpoint is byte-identical to an uninterrupted one's, not only equal in value."""

    def canon(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone(memory_format=torch.contiguous_format)  # layout-free bytes
        if isinstance(v, str):
            return sys.intern(v)  # one object per text: the pickle memo then writes it once, as a fresh run does
        if isinstance(v, dict):
            return {canon(k): canon(v[k]) for k in sorted(v, key=lambda x: (str(type(x)), x))}
        if isinstance(v, (list, tuple)):
            return type(v)(canon(x) for x in v)
        return v

    return canon(state)


def optimiser_states(optimisers: dict[str, AnyOptimiser], names: Any) -> dict[str, Any]:
    """The checkpointed state of each optimiser, keyed by ``names`` (the card record's loss names, the same objects:
    pickle then writes each name once)."""
    return {k: _canonical_state(optimisers[k].state_dict()) for k in names}


def restore_optimisers(optimisers: dict[str, AnyOptimiser], states: dict[str, Any]) -> None:
    """Load checkpointed states; each per-parameter state tensor takes its parameter's memory layout (checkpoints
    store them contiguous; the fused Adam kernel walks parameter, gradient and moments in memory order, so the
    layouts must agree)."""
    for name, opt in optimisers.items():
        opt.load_state_dict(states[name])
        for group in opt.param_groups:
            for p in group["params"]:
                state = opt.state.get(p, {})
                for key, v in state.items():
                    if isinstance(v, torch.Tensor) and v.shape == p.shape:
                        state[key] = torch.empty_like(p, dtype=v.dtype).copy_(v)


class LossSteps:
    """Computes a loss's terms and steps its optimiser; with several processes, through DDP (each rank its shard of
    the global batch, :mod:`kspbench.model.distributed`)."""

    def __init__(
        self,
        model: KSP,
        optimisers: dict[str, AnyOptimiser],
        losses: Losses,
        device: torch.device,
        dist: DIST.DistContext,
        amp: str,
    ) -> None:
        self.model, self.optimisers, self.losses = model, optimisers, losses
        self.device, self.dist, self.amp = device, dist, amp
        self.ddp = DIST.wrap(model, self.terms, dist, device) if dist.enabled else None

    def terms(self, loss: str, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted loss and its logged terms on ``batch``."""
        m, cfg = self.model, self.losses[loss]
        if loss == "prior":
            return L.prior_loss(
                m, batch["images"], batch["p2d"], batch["p3d"], w3d=cfg.w3d, w2d=cfg.w2d, wkp=cfg.wkp, wcan=cfg.wcan
            )
        if loss == "paired":
            return L.paired_loss(
                m,
                batch["source"],
                batch["target"],
                batch["background"],
                lambda1=cfg.lambda1,
                lambda2=cfg.lambda2,
                detach_cycle=cfg.detach_cycle,
            )
        if loss == "unpaired":
            return L.unpaired_loss(
                m,
                batch["source"],
                batch["target"],
                batch["background"],
                batch["flip"],
                batch["angle"],
                lambda2=cfg.lambda2,
                detach_cycle=cfg.detach_cycle,
            )
        if loss == "sup2d":
            return L.sup2d_loss(m, batch["images"], batch["p2d"], weight=cfg.weight, wkp=cfg.wkp)
        return L.sup3d_loss(
            m, batch["images"], batch["p2d"], batch["p3d"], w3d=cfg.w3d, w2d=cfg.w2d, wkp=cfg.wkp, wcan=cfg.wcan
        )

    def step(self, loss: str, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """One iteration of ``loss`` on the global ``batch`` (global step ``step``, 1-based, for the error message);
        returns the logged values (the global batch's, on every rank)."""
        # Every rank drew the same global batch; each computes on its own shard (no-op in one process).
        batch = DIST.shard(batch, self.dist)
        self.model.train()
        freeze = self.model.generator_modules() if loss == "unpaired" else ()
        with L.frozen(freeze):
            self.model.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16"):
                value, terms = self.ddp(loss, batch) if self.ddp is not None else self.terms(loss, batch)
            value = value.float()
            # The global batch's values, on every rank, before backward: a non-finite loss stops all ranks alike.
            logged = DIST.mean_over_ranks(
                torch.stack([value.detach(), *[t.float() for t in terms.values()]]), self.dist
            )
            if not torch.isfinite(logged[0]):
                raise TrainingError(
                    f"loss {loss} is not finite at step {step}; the last checkpoint is "
                    "intact (try a smaller learning rate)"
                )
            value.backward()
            self.optimisers[loss].step()
        self.model.zero_grad(set_to_none=True)
        return {"value": float(logged[0]), **{k: float(v) for k, v in zip(terms, logged[1:])}}


def validation_errors(model: KSP, frames: Any, idx: np.ndarray, images: Any) -> dict[str, float]:
    """MPJPE and P-MPJPE (mm) of ``model`` on the frames ``idx`` of ``frames``, in eval mode (train mode after);
    ``images(frames, idx)`` lays a batch out for the model."""
    from kspbench.evaluation.metrics import mpjpe, p_mpjpe

    preds = []
    model.eval()
    with torch.no_grad():
        for start in range(0, idx.size, _VAL_BATCH):
            part = idx[start : start + _VAL_BATCH]
            preds.append(model.pose(images(frames, part))["p3d_cam"].cpu().double().numpy())
    model.train()
    pred = np.concatenate(preds) * skeleton.TRUNK_MM
    gt = frames.p3d[idx].astype(np.float64) * frames.trunk_mm[idx][:, None, None]
    return {
        "frames": int(idx.size),
        "mpjpe_mm": float(mpjpe(pred, gt).mean()),
        "p_mpjpe_mm": float(p_mpjpe(pred, gt).mean()),
    }
