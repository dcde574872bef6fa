"""Probe behind docs/model.md, "Can the decoder follow a pose?": train the generator alone (Tm's convs, DI, EA) on
the TRUE 2D poses of ``h36m-train`` (teacher forcing: Î = DI(Tm(p2D*), EA(Is), Bt) against It, L1, Adam 1e-3,
batch 16, EP untouched), then measure the teacher-forced pose-conditioning index (PCI, mask IoU) of
:mod:`kspbench.model.diagnose` on 256 held-out ``h36m-val`` tuples. No pose label reaches a trained card this way;
the probe bounds what DI can learn when the pose it is given is right, to compare with a card's checkpoint
(``kspbench diagnose``), whose DI learned from EP's poses.

    python benchmarks/decoder_probe.py [--store data/world.h5] [--profile cpu] [--map-skips on|off|profile]
                                       [--steps 1000] [--seed 0] [--save generator.pt]

Measured with this script on the cpu world (seed 0, 1,000 steps, 1 thread): the cpu decoder reaches teacher-forced
PCI 0.349 [0.326, 0.373] (mask IoU 0.70); with ``--map-skips on`` 0.418 [0.396, 0.440] (IoU 0.80). After 30 steps
PCI is already 0.17 (the silhouette prior alone). The ``unsup`` checkpoint's DI (3,600 steps, trained on EP's poses)
measures 0.13 with ``kspbench diagnose``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
import torch

from kspbench.model import data as D
from kspbench.model import diagnose as G
from kspbench.model.ksp import KSP
from kspbench.model.profiles import load_profile

BATCH = 16


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="data/world.h5")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--map-skips", choices=("on", "off", "profile"), default="profile")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tuples", type=int, default=256)
    ap.add_argument(
        "--save",
        metavar="PATH",
        help="write the trained generator's weights (Tm's convs, DI, EA; a state dict) for image_loss_probe.py",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    profile = load_profile(args.profile)
    if args.map_skips != "profile":
        decoder = dataclasses.replace(profile.decoder, map_skips=args.map_skips == "on")
        profile = dataclasses.replace(profile, decoder=decoder)
    train, _ = G.load_role(args.store, "h36m-train", profile.input_size)
    val, _ = G.load_role(args.store, "h36m-val", profile.input_size)
    model = KSP(profile)
    model.reset_parameters(torch.Generator().manual_seed(args.seed))
    params = [p for m in (model.pose_maps, model.di, model.ea) for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    # (Is, It) pairs of one clip >= 1 s apart, as LP draws them; F' is not used here.
    tup = G.draw_tuples(train, args.steps * BATCH, seed=args.seed + 1)
    ones = torch.ones(BATCH)
    model.train()
    started = time.time()
    for step in range(args.steps):
        rows = slice(step * BATCH, (step + 1) * BATCH)
        s, t = (torch.from_numpy(np.asarray(i[rows], np.int64)) for i in (tup.source, tup.target))
        target = D.to_float(train.images[t])
        fa = model.appearance(D.to_float(train.images[s]))
        out = model.render(torch.from_numpy(train.p2d[t.numpy()]), ones, fa, D.to_float(train.backgrounds[t]))
        loss = (out["image"] - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step}: image L1 {loss.item():.4f} ({time.time() - started:.0f} s)", file=sys.stderr)
    model.eval()
    if args.save:
        state = {k: v for k, v in model.state_dict().items() if k.split(".")[0] in ("pose_maps", "di", "ea")}
        torch.save({"profile": profile.name, "steps": args.steps, "seed": args.seed, "generator": state}, args.save)
    with torch.no_grad():
        report = G.measure(model, val, G.draw_tuples(val, args.tuples, seed=0))
    tf = report["modes"]["teacher_forced"]
    print(
        json.dumps(
            {
                "profile": profile.name,
                "map_skips": profile.decoder.map_skips,
                "steps": args.steps,
                "seed": args.seed,
                "pci": round(tf["pci"], 4),
                "pci_ci95": [round(v, 4) for v in tf["pci_ci95"]],
                "mask_iou": round(tf["mask_iou"], 4),
                "e_b": round(tf["e_b"], 4),
                "e_b_prime": round(tf["e_b_prime"], 4),
                "seconds": round(time.time() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
