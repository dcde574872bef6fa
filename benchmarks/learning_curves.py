"""Learning curves of the KSP cards: validation P-MPJPE against training steps, with seeds and baselines.

Reads the ``val.csv`` and ``run.json`` of every training run under ``--runs`` (one folder per card and seed, as
``kspbench train --card C --seed S --out RUNS/C-sS`` writes them), adds the ``const`` floor (one pose: the
Procrustes mean of the training poses) and the mean pose scored on the same fixed validation frames, and writes a
PNG (one line per run, the mean over seeds in bold) and a Markdown table of the final numbers (mean +- sd over seeds,
the ratio to ``const``, and each finished run's spread ratio on the whole validation role).

    python benchmarks/learning_curves.py --runs runs/lc --store data/world.h5 \
        --png docs/learning-curves.png --md docs/learning-curves.md

The validation role is held out from every card's training roles (the world's ``h36m-val`` subject); nothing here
reads the test role.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def read_runs(root: Path) -> dict[str, dict[int, dict]]:
    """card -> seed -> {steps, p_mpjpe, mpjpe, total_steps, val_role, val_frames, samples_per_second}."""
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for rj in sorted(root.glob("*/run.json")):
        run = json.loads(rj.read_text())
        val = rj.parent / "val.csv"
        if not val.exists():
            continue
        with open(val) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        card = run["card"]
        summary = rj.parent / "summary.json"
        sps = json.loads(summary.read_text())["samples_per_second"] if summary.exists() else None
        runs[card["name"]][int(card["seed"])] = {
            "steps": np.array([int(r["step"]) for r in rows]),
            "p_mpjpe": np.array([float(r["p_mpjpe_mm"]) for r in rows]),
            "mpjpe": np.array([float(r["mpjpe_mm"]) for r in rows]),
            "total_steps": int(run["total_steps"]),
            "val_role": card["data"]["val"],
            "val_frames": int(run["profile"]["val_frames"]),
            "input_size": int(run["profile"]["input_size"]),
            "finished": summary.exists(),
            "samples_per_second": sps,
            "dir": str(rj.parent),
        }
    return runs


def baselines_p_mpjpe(
    store_path: str, val_role: str, val_frames: int, input_size: int, train_role: str = "h36m-train"
) -> dict[str, float]:
    """P-MPJPE (mm) of the world's ``const`` (the floor) and ``mean`` baselines on the trainer's validation frames."""
    from kspbench.core import skeleton
    from kspbench.data.store import PoseStore
    from kspbench.evaluation.metrics import p_mpjpe
    from kspbench.model import data as D
    from kspbench.world.baselines import _gather, const_pose

    with PoseStore(store_path) as store:
        tr3, _, _ = _gather(store, train_role, valid_only=True)
        frames = D.load_frames(store, [val_role], input_size, backgrounds=False)
    rel = tr3 - tr3[:, skeleton.ROOT : skeleton.ROOT + 1]
    idx = D.validation_index(frames.usable, val_frames)
    gt = frames.p3d[idx].astype(np.float64) * frames.trunk_mm[idx][:, None, None]
    return {
        name: float(p_mpjpe(np.broadcast_to(pose, gt.shape), gt).mean())
        for name, pose in (("const", const_pose(rel)), ("mean", rel.mean(0)))
    }


def final_spread(run_dir: str, store_path: str, val_role: str, input_size: int) -> float:
    """Spread ratio (kspbench.evaluation.metrics.spread_ratio) of a finished run's checkpoint on every usable frame of
    the validation role: how much its predictions vary with the input, relative to the truth."""
    import torch

    from kspbench.data.store import PoseStore
    from kspbench.evaluation.metrics import spread_ratio
    from kspbench.model import data as D
    from kspbench.model.cards import Card
    from kspbench.model.profiles import ModelProfile
    from kspbench.model.train import build_model, load_checkpoint

    ckpt = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    model = build_model(Card.from_dict(ckpt["card"]), ModelProfile.from_dict(ckpt["profile"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    with PoseStore(store_path) as store:
        frames = D.load_frames(store, [val_role], input_size, backgrounds=False)
    idx = np.flatnonzero(frames.usable)
    with torch.no_grad():
        pred = np.concatenate(
            [
                model.pose(D.to_float(frames.images[torch.from_numpy(idx[a : a + 256])]))["p3d_cam"].double().numpy()
                for a in range(0, idx.size, 256)
            ]
        )
    return float(spread_ratio(pred, frames.p3d[idx].astype(np.float64)))


def final_table(
    runs: dict[str, dict[int, dict]], floors: dict[str, float], spreads: dict[str, dict[int, float]]
) -> tuple[list[list], dict[str, tuple]]:
    stats: dict[str, tuple] = {}
    rows = []
    for card in sorted(runs):
        finals = np.array([r["p_mpjpe"][-1] for r in runs[card].values()])
        steps = sorted({int(r["steps"][-1]) for r in runs[card].values()})
        sd = float(finals.std(ddof=1)) if finals.size > 1 else float("nan")
        stats[card] = (float(finals.mean()), sd, finals.size)
        sps = [r["samples_per_second"] for r in runs[card].values() if r["samples_per_second"]]
        spr = [spreads.get(card, {}).get(s) for s in sorted(runs[card])]
        rows.append(
            [
                card,
                ", ".join(str(s) for s in sorted(runs[card])),
                "/".join(map(str, steps)),
                " / ".join(f"{v:.1f}" for v in finals),
                f"{finals.mean():.1f}",
                "n/a" if np.isnan(sd) else f"{sd:.1f}",
                f"{finals.mean() / floors['const']:.2f}",
                f"{finals.mean() - floors['mean']:+.1f}",
                " / ".join("n/a" if v is None else f"{v:.2f}" for v in spr),
                f"{np.mean(sps):.0f}" if sps else "n/a",
            ]
        )
    return rows, stats


def plot(runs: dict[str, dict[int, dict]], floors: dict[str, float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, card in enumerate(sorted(runs)):
        c = colours[i % len(colours)]
        seeds = runs[card]
        for _seed, r in sorted(seeds.items()):
            ax.plot(r["steps"], r["p_mpjpe"], color=c, lw=0.8, alpha=0.5)
        common = min(len(r["steps"]) for r in seeds.values())
        mean = np.mean([r["p_mpjpe"][:common] for r in seeds.values()], axis=0)
        ax.plot(
            next(iter(seeds.values()))["steps"][:common],
            mean,
            color=c,
            lw=2.2,
            label=f"{card} (mean of {len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
        )
    ax.axhline(
        floors["const"],
        color="black",
        ls="-",
        lw=1.4,
        label="const: one pose, the Procrustes mean of h36m-train (the floor)",
    )
    ax.axhline(floors["mean"], color="grey", ls="--", lw=1.0, label="mean pose (h36m-train, camera frame)")
    ax.set_xlabel("training step (one loss per step)")
    ax.set_ylabel("validation P-MPJPE (mm), h36m-val")
    ax.set_title("kspbench synthetic world, cpu profile: learning curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial.png")
    fig.savefig(tmp)
    tmp.replace(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", required=True, type=Path, help="folder of run folders (each with run.json, val.csv)")
    ap.add_argument("--store", required=True, help="the store the runs trained on (for the baseline lines)")
    ap.add_argument("--png", type=Path, help="write the curves here")
    ap.add_argument("--md", type=Path, help="write the Markdown table here")
    args = ap.parse_args(argv)
    from tabulate import tabulate

    runs = read_runs(args.runs)
    if not runs:
        print(f"{args.runs}: no run with a val.csv", file=sys.stderr)
        return 2
    any_run = next(iter(next(iter(runs.values())).values()))
    floors = baselines_p_mpjpe(args.store, any_run["val_role"], any_run["val_frames"], any_run["input_size"])
    spreads = {
        card: {
            seed: final_spread(r["dir"], args.store, r["val_role"], r["input_size"])
            for seed, r in seeds.items()
            if r["finished"]
        }
        for card, seeds in runs.items()
    }
    rows, stats = final_table(runs, floors, spreads)
    headers = [
        "card",
        "seeds",
        "steps",
        "final P-MPJPE per seed",
        "mean",
        "sd",
        "/ const",
        "vs mean pose",
        "spread ratio per seed",
        "samples/s",
    ]
    lines = [
        f"Validation P-MPJPE (mm) on `{any_run['val_role']}` ({any_run['val_frames']} fixed frames); "
        f"const (Procrustes mean of h36m-train, the floor): {floors['const']:.1f} mm; mean pose: "
        f"{floors['mean']:.1f} mm. Spread ratio: on every usable `{any_run['val_role']}` frame at the last "
        "step (< 0.3: collapsed).",
        "",
        tabulate(rows, headers, tablefmt="github"),
        "",
    ]
    if "unsup" in stats:
        u = stats["unsup"]
        for other in ("prior-only", "full-3d"):
            if other in stats:
                o = stats[other]
                noise = np.nanmax([u[1], o[1]])
                lines.append(f"- unsup - {other}: {u[0] - o[0]:+.1f} mm (largest seed sd {noise:.1f} mm)")
        lines.append(f"- unsup - const: {u[0] - floors['const']:+.1f} mm (sd {u[1]:.1f} mm)")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text)
    if args.png:
        plot(runs, floors, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
