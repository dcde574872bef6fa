"""Where a checkpoint's 3D goes wrong: the view (the camera rotation Rc) or the pose? Behind docs/model.md, "Can DI
follow a pose at all?".

    python benchmarks/view_errors.py CHECKPOINT [CHECKPOINT ...] [--store data/world.h5] [--role h36m-test]

For every other usable frame of the role: the geodesic angle between the predicted Rc and the truth's canonical
frame (:func:`kspbench.core.kinematics.inverse_kinematics`: the rotation from C to the camera), reported as the
median and the share of frames off by more than 120° (a front/back confusion) and under 30°; and the spread ratio of
the predicted poses (:func:`kspbench.evaluation.metrics.spread_ratio`). Measured (cpu world, seed 0, h36m-test):
``unsup`` 85° / 99° median, 34 / 36 % over 120° (seeds 0 / 1); with map skips 76° / 84°, 33 / 32 %; ``full-3d``
37°, 18 %.

What the view costs in P-MPJPE: the similarity Procrustes removes any rotation, so Rc itself never enters P-MPJPE;
only the pose in C does. The report therefore also gives P-MPJPE (trunk-normalised poses times ``TRUNK_MM``, the
frames above; not the protocol's per-action mean) on the frames whose Rc is over 120° off and on the rest, and a
*flip oracle*: per frame the better of the prediction and its front/back flip (joints relabelled left <-> right and
depth negated, which projects to the same 2D with the labels swapped), i.e. the error if an oracle settled every
front/back question. Measured (h36m-test, where const scores 98.7 mm this way): ``unsup`` s0 / s1 102.5 / 125.4 mm,
on Rc > 120° frames 100.9 / 126.0 against 103.3 / 125.1 on the rest, flip oracle 94.8 / 108.2; ``full-3d`` 81.4,
90.8 against 79.6, flip oracle 77.2.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from kspbench.core import kinematics as K
from kspbench.core import skeleton
from kspbench.data.store import PoseStore
from kspbench.evaluation.metrics import p_mpjpe, spread_ratio
from kspbench.model import data as D
from kspbench.model.predict import load_model


def geodesic_degrees(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle (degrees) of ``a^T b`` for rotations ``(N, 3, 3)``."""
    trace = (a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.rad2deg(torch.arccos(((trace - 1.0) / 2.0).clamp(-1.0, 1.0)))


def front_back_flip(poses: np.ndarray) -> np.ndarray:
    """``(N, 17, 3)`` camera-frame poses -> the same 2D (orthographically) seen from the other side: left and right
    relabelled and depth negated."""
    return poses[:, skeleton.FLIP_NP] * np.array([1.0, 1.0, -1.0])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--store", default="data/world.h5")
    ap.add_argument("--role", default="h36m-test")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for path in args.checkpoints:
        model, _ = load_model(path)
        with PoseStore(args.store) as store:
            frames = D.load_frames(store, [args.role], model.profile.input_size)
        idx = np.flatnonzero(frames.usable)[::2]
        cam, rot = [], []
        with torch.no_grad():
            for start in range(0, idx.size, 256):
                out = model.pose(D.to_float(frames.images[torch.from_numpy(idx[start : start + 256])]))
                cam.append(out["p3d_cam"].double())
                rot.append(out["rotation"].double())
        gt = torch.from_numpy(frames.p3d[idx]).double()
        _, _, true_rot, _ = K.inverse_kinematics(gt)
        angle = geodesic_degrees(torch.cat(rot), true_rot)
        pred = torch.cat(cam).numpy() * skeleton.TRUNK_MM
        err = p_mpjpe(pred, gt.numpy() * skeleton.TRUNK_MM)
        err_flipped = p_mpjpe(front_back_flip(pred), gt.numpy() * skeleton.TRUNK_MM)
        flipped = (angle > 120).numpy()
        report = {
            "checkpoint": path,
            "frames": int(idx.size),
            "spread_ratio": round(spread_ratio(pred, gt.numpy()), 3),
            "rc_error_median_deg": round(float(angle.median()), 1),
            "rc_error_over_120deg": round(float((angle > 120).double().mean()), 3),
            "rc_error_under_30deg": round(float((angle < 30).double().mean()), 3),
            "p_mpjpe_mm": round(float(err.mean()), 1),
            "p_mpjpe_mm_rc_over_120deg": round(float(err[flipped].mean()), 1) if flipped.any() else None,
            "p_mpjpe_mm_rest": round(float(err[~flipped].mean()), 1) if (~flipped).any() else None,
            "p_mpjpe_mm_flip_oracle": round(float(np.minimum(err, err_flipped).mean()), 1),
        }
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
