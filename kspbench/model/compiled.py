"""Opt-in ``torch.compile`` of the networks (``kspbench train --compile``), with a clean fallback to eager.

The default (and exact) mode is eager. With ``--compile`` EP, EA, the pose-map convs and DI each get a compiled
forward (inductor; on CPU it needs a C++ compiler). Compilation happens at a network's first call, so a failure
(no compiler, an unsupported torch or Python) shows there: the run prints one warning line and continues eager from
that call on, for every network, so a run never mixes a half-compiled model with an eager one after a failure.

What it buys (``benchmarks/train_side_by_side.py``-style timings, docs/model.md "Throughput"): little on CPU, where
the convolutions (oneDNN either way) dominate a step, and a few minutes of compilation per process.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["compile_networks", "COMPILE_WARNING"]

COMPILE_WARNING = "warning: torch.compile is unavailable or failed ({}); training continues eager"


class _Switch:
    """The networks given a compiled forward; one failure sends each back to its class's (eager) forward."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.wrapped: list[nn.Module] = []
        self.failed = False
        self.warn = warn

    def fail(self, err: BaseException) -> None:
        self.failed = True
        for module in self.wrapped:
            vars(module).pop("forward", None)  # the class's forward again
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        self.warn(COMPILE_WARNING.format(f"{type(err).__name__}: {first[:160]}"))

    def wrap(self, module: nn.Module, compile_fn: Callable[..., Callable[..., Any]]) -> None:
        eager = module.forward
        self.wrapped.append(module)
        try:
            compiled = compile_fn(eager, dynamic=False)
        except Exception as err:  # torch.compile itself refused (e.g. an unsupported Python)
            self.fail(err)
            return

        def forward(*args: Any, **kwargs: Any) -> Any:
            if self.failed:
                return eager(*args, **kwargs)
            try:
                return compiled(*args, **kwargs)
            except Exception as err:  # compilation runs here, at the first call with each new input signature
                self.fail(err)
                return eager(*args, **kwargs)

        module.forward = forward  # an instance attribute: state_dict keys and checkpoints are unchanged


def compile_networks(
    modules: list[nn.Module],
    *,
    warn: Callable[[str], None] | None = None,
    compile_fn: Callable[..., Callable[..., Any]] | None = None,
) -> None:
    """Give each of ``modules`` a compiled forward that falls back to eager (one warning) if compiling fails.

    ``compile_fn`` defaults to ``torch.compile`` (tests pass a failing one). The inductor's deterministic flag is
    set from torch's (the training's :func:`~kspbench.model.train.deterministic` block sets torch's without loading
    the inductor).
    """
    switch = _Switch(warn or (lambda line: print(line, file=sys.stderr, flush=True)))
    if compile_fn is None:
        compile_fn = torch.compile
        try:
            import torch._inductor.config as inductor_config

            inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()
        except Exception as err:  # no inductor in this build
            switch.fail(err)
            return
    for module in modules:
        switch.wrap(module, compile_fn)
        if switch.failed:
            return
