"""Per-frame P-MPJPE binned by how far the true pose is from the `const` pose. Behind docs/model.md, "Why `unsup`'s 2D
does not learn".

    python benchmarks/error_by_pose_rarity.py [--results results] [--role h36m-test] [--protocol h36m-p2]
                                              [--floor const] [CARD ...]

The frames of the role are put in bins by the floor's own per-frame error (quantiles 0-25-50-75-90-100 %: from the
poses nearest the one constant pose to the rarest), read from the per-frame file that `kspbench eval` writes beside
each result (the one its ``<protocol>.json`` names). For each card and seed: the mean error per bin and its ratio
to the floor's mean in the same bin. A model that reads the pose from the image gains most where the pose is far
from the mean (full-3d: 0.75-0.81 of the floor's error on the rarest half); a model at the floor's ratio in every
bin predicts nothing that the constant pose does not. Frames are paired by (subject, sequence, camera, frame); a
card whose result lacks a frame of the floor is reported on the frames it has.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kspbench.evaluation import results

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
DEFAULT_CARDS = ("full-3d", "semi", "weakly", "unsup", "dp-only", "no-tfk", "no-tm", "prior-only", "nn2d")


def per_frame(folder: Path, protocol: str, metric: str = "p_mpjpe_mm") -> dict[str, float]:
    """Key "subject|sequence|camera|frame" -> the metric, from the per-frame file that ``folder/<protocol>.json``
    names (:func:`kspbench.evaluation.results.per_frame`, which checks it)."""
    z = results.per_frame(results.load_result(folder / f"{protocol}.json"))
    keys = ["|".join(map(str, row)) for row in zip(z["subject"], z["sequence"], z["camera"], z["frame"])]
    return dict(zip(keys, z[f"metric:{metric}"].astype(np.float64)))


def bins_of(floor: np.ndarray, quantiles: tuple[float, ...] = QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """Bin index (0 .. len(quantiles) - 2) of each frame by the floor's error, and the bin edges."""
    edges = np.quantile(floor, quantiles)
    return np.clip(np.searchsorted(edges, floor, side="right") - 1, 0, len(edges) - 2), edges


def runs_of(root: Path, card: str, role: str) -> list[tuple[str, Path]]:
    """(label, folder) of each seed of a card's result for the role (one folder for a baseline)."""
    base = root / card / role
    seeds = sorted(p for p in base.glob("s*") if p.is_dir())
    return [(f"{card} {p.name}", p) for p in seeds] or ([(card, base)] if base.is_dir() else [])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cards", nargs="*", default=list(DEFAULT_CARDS))
    ap.add_argument("--results", default="results")
    ap.add_argument("--role", default="h36m-test")
    ap.add_argument("--protocol", default="h36m-p2")
    ap.add_argument("--floor", default="const")
    args = ap.parse_args(argv)
    root = Path(args.results)
    floor = per_frame(root / args.floor / args.role, args.protocol)
    keys = np.array(sorted(floor))
    fv = np.array([floor[k] for k in keys])
    b, edges = bins_of(fv)
    nb = len(edges) - 1
    edges_mm = np.round(edges, 1).tolist()
    print(f"{args.role}, {args.protocol}: bins of {args.floor}'s per-frame error, edges (mm) {edges_mm}")
    print(f"{'row':16s}" + "".join(f"{f'bin {i + 1}':>16s}" for i in range(nb)) + f"{'all':>8s}")
    print(f"{args.floor:16s}" + "".join(f"{fv[b == i].mean():16.1f}" for i in range(nb)) + f"{fv.mean():8.1f}")
    for card in args.cards:
        for label, folder in runs_of(root, card, args.role):
            d = per_frame(folder, args.protocol)
            have = np.array([k in d for k in keys])
            v = np.array([d.get(k, np.nan) for k in keys])
            cells = []
            for i in range(nb):
                m = have & (b == i)
                cells.append(f"{v[m].mean():9.1f} ({v[m].mean() / fv[m].mean():.2f})" if m.any() else f"{'-':>16s}")
            print(f"{label:16s}" + "".join(cells) + f"{np.nanmean(v):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
