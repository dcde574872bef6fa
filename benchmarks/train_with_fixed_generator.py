"""Diagnostic behind docs/model.md, "Why `unsup`'s 2D does not learn": train a card with its generator (Tm's convs,
DI, EA) fixed to weights trained on the TRUE 2D poses (``benchmarks/decoder_probe.py --save``).

    python benchmarks/train_with_fixed_generator.py GENERATOR --card dp-only --out runs/fixed/s0 [--seed 0]
                                                    [--store data/world.h5] [--threads 1]

Everything else is ``kspbench train``: the same card, schedule, optimisers and seeds. The generator's weights are
loaded after the seeded initialisation, take no gradient, and stay in eval mode (BatchNorm statistics frozen), so
LP's image and cycle terms train EP alone against a decoder whose image loss has been shaped by true poses. The
generator was trained with every training frame's 2D label, so a run of this script is not an unsupervised model:
it asks whether a better decoder would let EP learn its pose from the image loss, nothing more. The checkpoint is a
normal one (``kspbench predict`` and ``diagnose`` read it).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch
from torch import nn

from kspbench.model import train as T
from kspbench.model.cards import load_card


def fix_generator(model, state: dict[str, torch.Tensor]) -> None:
    """Load the generator's weights into ``model`` and freeze them: no gradient, eval mode whatever ``train()``
    is called with later."""
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise SystemExit(f"the generator file has keys the model lacks: {result.unexpected_keys[:3]}")
    for module in (model.pose_maps, model.di, model.ea):
        for p in module.parameters():
            p.requires_grad_(False)
        for sub in module.modules():
            sub.train = lambda mode=True, sub=sub: nn.Module.train(sub, False)
        nn.Module.train(module, False)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("generator", help="a file written by benchmarks/decoder_probe.py --save")
    ap.add_argument("--card", default="dp-only")
    ap.add_argument("--store", default="data/world.h5")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    saved = torch.load(args.generator, map_location="cpu", weights_only=True)
    build = T.Trainer._build

    def _build(self) -> None:
        build(self)
        fix_generator(self.model, saved["generator"])

    T.Trainer._build = _build
    card = load_card(args.card)
    if args.seed is not None:
        card = dataclasses.replace(card, seed=args.seed)
    T.train(card, args.store, args.out, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
