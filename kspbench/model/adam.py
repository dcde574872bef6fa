"""Adam through torch's fused kernel, without ``torch.optim``'s start-up cost.

``torch.optim.Adam(fused=True)`` is what the trainer used: one pass over each parameter (docs/model.md,
"Throughput"). Its ``step`` (and ``zero_grad``, ``state_dict``, ...) imports ``torch._dynamo`` on first use, which
costs about 1.3 s of every training process on this machine: a sixth of a smoke-profile card's whole run, eleven
times in ``kspbench check``. :class:`FusedAdam` calls the same kernel (``torch._fused_adam_``) with the same
arguments and keeps the same state layout, so its updates are bit-identical to ``torch.optim.Adam(fused=True)`` and
a state dict of either loads into the other (tested in tests/model/test_adam.py). Only what kspbench uses: plain
Adam (no weight decay, AMSGrad, maximize or gradient scaling), one parameter group.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

__all__ = ["FusedAdam", "fused_adam_supported"]

# The defaults torch.optim.Adam(fused=True) writes into its parameter group (and so into every checkpoint).
_GROUP_DEFAULTS: dict[str, Any] = {
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": True,
    "decoupled_weight_decay": False,
}
_FIXED = {k: v for k, v in _GROUP_DEFAULTS.items() if k not in ("betas", "eps")}


def fused_adam_supported(params: Iterable[torch.Tensor]) -> bool:
    """Whether the fused kernel takes these parameters: floating point, on the CPU or a CUDA device."""
    return all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)


class FusedAdam:
    """Adam (Kingma & Ba, 2015) with ``torch._fused_adam_``: ``param_groups``, ``state``, ``step``,
    ``state_dict`` and ``load_state_dict`` as ``torch.optim.Adam(fused=True)`` has them.

    Args:
        params: the parameters (one group).
        lr: learning rate; a group's ``lr`` may be changed between steps (the trainer's decay does).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        params = list(params)
        if not params:
            raise ValueError("FusedAdam got an empty parameter list")
        if not fused_adam_supported(params):
            raise ValueError("FusedAdam needs floating-point parameters on the CPU or a CUDA device")
        self.param_groups: list[dict[str, Any]] = [
            {"lr": lr, **_GROUP_DEFAULTS, "betas": tuple(betas), "eps": eps, "params": params}
        ]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (others, and their state, are left alone)."""
        for group in self.param_groups:
            params, grads, avgs, sqs, steps = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if not state:
                    # torch.optim.Adam's first-step state: a float32 step counter on the parameter's device.
                    state = self.state[p] = {
                        "step": torch.zeros((), dtype=torch.float32, device=p.device),
                        "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                    }
                params.append(p)
                grads.append(p.grad)
                avgs.append(state["exp_avg"])
                sqs.append(state["exp_avg_sq"])
                steps.append(state["step"])
            if not params:
                continue
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                grads,
                avgs,
                sqs,
                [],
                steps,
                amsgrad=False,
                lr=float(group["lr"]),
                beta1=float(beta1),
                beta2=float(beta2),
                weight_decay=0.0,
                eps=float(group["eps"]),
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` with parameters numbered in
        group order, as torch.optim writes it (tensors are the live state, not copies)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            groups.append(
                {**{k: v for k, v in group.items() if k != "params"}, "params": [index[id(p)] for p in group["params"]]}
            )
        state = {index[id(p)]: s for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this class or of ``torch.optim.Adam`` (fused or not) over the same parameters.

        Raises:
            ValueError: another number of groups or parameters, or settings this class does not implement.
        """
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"the state has {len(saved)} parameter group(s), this optimiser {len(self.param_groups)}")
        state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        for group, old in zip(self.param_groups, saved):
            if len(old["params"]) != len(group["params"]):
                raise ValueError(
                    f"a saved parameter group has {len(old['params'])} parameters, this optimiser's "
                    f"{len(group['params'])}"
                )
            unsupported = {
                k: old[k] for k, v in _FIXED.items() if k in old and k not in ("foreach", "fused") and old[k] != v
            }
            if unsupported:
                raise ValueError(f"the saved Adam state uses settings FusedAdam does not implement: {unsupported}")
            for i, p in zip(old["params"], group["params"]):
                if i not in state_dict["state"]:
                    continue
                s = state_dict["state"][i]
                state[p] = {
                    "step": torch.as_tensor(s["step"], dtype=torch.float32).to(p.device).reshape(()).clone(),
                    "exp_avg": s["exp_avg"].to(dtype=p.dtype, device=p.device),
                    "exp_avg_sq": s["exp_avg_sq"].to(dtype=p.dtype, device=p.device),
                }
            # Hyperparameters (lr, betas, eps, initial_lr, ...) as saved; the layout keys as this class has them.
            params = group["params"]
            group.clear()
            group.update({k: v for k, v in old.items() if k != "params"})
            group.update(_FIXED)
            group["betas"] = tuple(group["betas"])
            group["params"] = params
        self.state = state
