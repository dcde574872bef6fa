"""Does LP's image loss point at the true pose? Behind docs/model.md, "Why `unsup`'s 2D does not learn".

    python benchmarks/image_loss_probe.py CHECKPOINT [--store data/world.h5] [--role h36m-val] [--tuples 128]
                                          [--steps 150] [--lr 0.01] [--generator generator.pt] [--seed 0]

The image term of LP, L(P) = mean |It - DI(Tm(P), EA(Is), Bt)| over the image, is what teaches EP's 2D pose without
labels: EP learns the pose only if L is lowest at the true pose. For ``--tuples`` held-out (Is, It) pairs of the role
(the tuples of ``kspbench diagnose``: one clip, >= 1 s apart, clean Bt), with the checkpoint's generator frozen (or
the generator of ``benchmarks/decoder_probe.py --save``, trained on the true 2D poses, with ``--generator``):

* L at the true 2D pose, at EP's 2D and at one constant 2D pose (the mean true 2D of the role's usable frames), with
  EP's limb-width scale; the share of tuples where the true pose beats EP's and the constant;
* descent: the pose of each tuple alone is moved down L's gradient with Adam (``--lr``, ``--steps``), (a) through
  the kinematic structure, from EP's own raw outputs (vk, camera, scale, offset -> Tfk, Tc: bone ratios kept), and
  (b) as 34 free numbers, from the constant 2D pose. Reported: 2D PCK at 0.2 crop units (0.1 x the crop side) and L
  after 0, 10, 30 and ``--steps`` steps. If the true pose were L's minimum, descending L would raise PCK and would
  not go below L at the true pose.

No card trains this way: a network's update pools the gradients of many frames, so the probe tells where the
per-frame signal points, not how far a trained EP follows it. One JSON line per checkpoint. Measured on the default
run of 2026-12-07 (``h36m-val``, 128 tuples, 150 steps, lr 0.01): see docs/model.md.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from kspbench.model import data as D
from kspbench.model import diagnose as G
from kspbench.model.predict import load_model

REPORT_STEPS = (0, 10, 30)


def pck(p2d: torch.Tensor, truth: torch.Tensor, threshold: float = G.PCK_THRESHOLD) -> float:
    """Share of joints within ``threshold`` crop units: ``(B, 17, 2)`` twice -> a float."""
    return float(((p2d - truth).norm(dim=-1) < threshold).double().mean())


def image_loss(model, p2d: torch.Tensor, scale: torch.Tensor, fa: torch.Tensor, bg: torch.Tensor, target: torch.Tensor):
    """LP's image term per tuple: mean |target - DI(Tm(p2d), fa, bg)|, ``(B,)``."""
    return (model.render(p2d, scale, fa, bg)["image"] - target).abs().mean(dim=(1, 2, 3))


def kinematic_p2d(model, raw: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """EP's raw outputs (vk, c6, log_scale, offset) -> (p2d, scale) through Tfk and Tc (``KSP.pose_from_head``)."""
    pose = model.pose_from_head(raw)
    return pose["p2d"], pose["scale"]


def descend(loss_of, params: list[torch.Tensor], p2d_of, truth: torch.Tensor, steps: int, lr: float) -> dict:
    """Adam on ``params`` down ``loss_of(*p2d_of())``; PCK and mean loss at ``REPORT_STEPS`` and at ``steps``."""
    opt = torch.optim.Adam(params, lr=lr)
    out = {}
    for step in range(steps + 1):
        p2d, scale = p2d_of()
        loss = loss_of(p2d, scale)
        if step in REPORT_STEPS or step == steps:
            out[str(step)] = {"pck": round(pck(p2d.detach(), truth), 3), "loss": round(float(loss.detach().mean()), 5)}
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.mean().backward()
        opt.step()
    return out


def probe(model, frames: D.Frames, tuples: G.Tuples, steps: int, lr: float) -> dict:
    s = torch.from_numpy(np.asarray(tuples.source, np.int64))
    t = torch.from_numpy(np.asarray(tuples.target, np.int64))
    source, target = D.to_float(frames.images[s]), D.to_float(frames.images[t])
    bg = D.to_float(frames.backgrounds[t])
    truth = torch.from_numpy(frames.p2d[t.numpy()]).to(target.dtype)
    const = torch.from_numpy(G.constant_2d(frames)).to(target.dtype).expand_as(truth).contiguous()
    with torch.no_grad():
        raw = model.ep(target)
        ep_p2d, scale = kinematic_p2d(model, raw)
        fa = model.appearance(source)
        at = {name: image_loss(model, p, scale, fa, bg, target) for name, p in (("true", truth), ("ep", ep_p2d))}
        at["constant"] = image_loss(model, const, scale, fa, bg, target)

    def loss_of(p2d, sc):
        return image_loss(model, p2d, sc, fa, bg, target)

    kin = {k: raw[k].detach().clone().requires_grad_(True) for k in ("vk", "c6", "log_scale", "offset")}
    free = const.clone().requires_grad_(True)
    return {
        "tuples": len(tuples),
        "loss_at": {k: round(float(v.mean()), 5) for k, v in at.items()},
        "pck_at": {"ep": round(pck(ep_p2d, truth), 3), "constant": round(pck(const, truth), 3)},
        "true_below_ep": round(float((at["true"] < at["ep"]).double().mean()), 3),
        "true_below_constant": round(float((at["true"] < at["constant"]).double().mean()), 3),
        "descent_kinematic_from_ep": descend(
            loss_of, list(kin.values()), lambda: kinematic_p2d(model, kin), truth, steps, lr
        ),
        "descent_free_from_constant": descend(loss_of, [free], lambda: (free, scale), truth, steps, lr),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--store", default="data/world.h5")
    ap.add_argument("--role", default="h36m-val")
    ap.add_argument("--tuples", type=int, default=128)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0, help="seed of the tuples")
    ap.add_argument("--generator", help="generator weights from benchmarks/decoder_probe.py --save")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    frames = None
    for path in args.checkpoints:
        model, _ = load_model(path)
        if args.generator:
            saved = torch.load(args.generator, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["generator"], strict=False)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if frames is None:
            frames, _ = G.load_role(args.store, args.role, model.profile.input_size)
            tuples = G.draw_tuples(frames, args.tuples, seed=args.seed)
        report = {"checkpoint": path, "generator": args.generator or "the checkpoint's", "role": args.role}
        report.update(probe(model, frames, tuples, args.steps, args.lr))
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
