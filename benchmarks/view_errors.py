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

What is left after the view is the depth order (docs/model.md, "What is left is the depth order"): EP's 2D PCK at 0.2
crop units, the share of bones (pointing at least 20 % of their length in depth) whose depth sign the prediction gets
right, and the P-MPJPE of the truth with each bone's depth sign taken from the prediction. Measured on the stride-8
runs of 2026-12-06: ``unsup`` s0 / s1 2D PCK 0.54 / 0.21, signs right 0.54 / 0.45 (chance: 0.5), truth with its signs
92.3 / 99.0 mm; ``full-3d`` 0.73, 0.76, 53.7 mm. On the default run of 2026-12-07 (``unsup`` with its Dp warm-up):
``unsup`` 0.60 / 0.58, 0.61 / 0.61, 78.9 / 78.0 mm; ``full-3d`` 0.73 / 0.74, 0.77 / 0.78, 52.8 / 51.3 mm.
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


def _ancestors() -> np.ndarray:
    """``(17, 17)``: A[j, k] = 1 if joint k is j or one of its ancestors; positions = A @ per-joint offsets."""
    a = np.zeros((skeleton.NUM_JOINTS, skeleton.NUM_JOINTS))
    for j in range(skeleton.NUM_JOINTS):
        k = j
        while k >= 0:
            a[j, k] = 1.0
            k = skeleton.PARENTS[k]
    return a


def with_depth_signs(poses: np.ndarray, signs_from: np.ndarray) -> np.ndarray:
    """``(N, 17, 3)`` root-relative camera-frame ``poses`` with each bone's depth (z) sign taken from the same bone
    of ``signs_from`` ``(N, 17, 3)``: the same 2D (orthographically) and bone lengths, another depth order."""
    offsets = poses - poses[:, skeleton.PARENTS_NP.clip(min=0)]
    other = signs_from - signs_from[:, skeleton.PARENTS_NP.clip(min=0)]
    # Root's offset is zero in both (its parent index is clipped to itself).
    offsets[..., 2] = np.abs(offsets[..., 2]) * np.where(other[..., 2] < 0, -1.0, 1.0)
    return np.einsum("jk,nkc->njc", _ancestors(), offsets)


def depth_sign_agreement(pred: np.ndarray, truth: np.ndarray, min_fraction: float = 0.2) -> float:
    """Share of bones whose depth (z) sign the prediction gets right, over the bones of ``truth`` ``(N, 17, 3)``
    pointing at least ``min_fraction`` of their length towards or away from the camera (the sign of a bone lying in
    the image plane means nothing); NaN when there is none."""
    parents = skeleton.PARENTS_NP[1:]
    bp = pred[:, 1:] - pred[:, parents]
    bt = truth[:, 1:] - truth[:, parents]
    deep = np.abs(bt[..., 2]) >= min_fraction * np.linalg.norm(bt, axis=-1)
    if not deep.any():
        return float("nan")
    return float((np.sign(bp[..., 2]) == np.sign(bt[..., 2]))[deep].mean())


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
        cam, rot, p2d = [], [], []
        with torch.no_grad():
            for start in range(0, idx.size, 256):
                out = model.pose(D.to_float(frames.images[torch.from_numpy(idx[start : start + 256])]))
                cam.append(out["p3d_cam"].double())
                rot.append(out["rotation"].double())
                p2d.append(out["p2d"].double())
        gt = torch.from_numpy(frames.p3d[idx]).double()
        _, _, true_rot, _ = K.inverse_kinematics(gt)
        angle = geodesic_degrees(torch.cat(rot), true_rot)
        pred = torch.cat(cam).numpy() * skeleton.TRUNK_MM
        truth = gt.numpy() * skeleton.TRUNK_MM
        err = p_mpjpe(pred, truth)
        err_flipped = p_mpjpe(front_back_flip(pred), truth)
        flipped = (angle > 120).numpy()
        err_2d = np.linalg.norm(torch.cat(p2d).numpy() - frames.p2d[idx], axis=-1)
        truth_signed = with_depth_signs(truth, pred)
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
            "pck2d_at_0.2": round(float((err_2d < 0.2).mean()), 3),
            "depth_sign_agreement": round(depth_sign_agreement(pred, truth), 3),
            "p_mpjpe_mm_truth_with_predicted_depth_signs": round(float(p_mpjpe(truth_signed, truth).mean()), 1),
        }
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
