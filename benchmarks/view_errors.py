"""Where a checkpoint's 3D goes wrong: the view (the camera rotation Rc) or the pose? Behind docs/model.md, "Can DI
follow a pose at all?".

    python benchmarks/view_errors.py CHECKPOINT [CHECKPOINT ...] [--store data/world.h5] [--role h36m-test]
                                     [--nn-lift h36m-train]

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

Does EP's 2D carry the pose at all? ``--nn-lift h36m-train`` adds two floors and an oracle lifter (diagnostics, not
models): the 2D PCK of one constant 2D pose (the training frames' mean 2D in crop coordinates), overall and on the
limb ends (knees, ankles, elbows, wrists); and the P-MPJPE of lifting EP's 2D, and the true 2D, to the 3D pose of
the nearest training frame by normalised 2D (every other usable frame of the role named; as the ``nn2d`` baseline).
Measured on the default run of 2026-12-07 (h36m-test): the constant 2D pose scores PCK 0.613 (limb ends 0.501);
``unsup`` s0 / s1 0.596 / 0.580 (limb ends 0.492 / 0.479), lifted 102.3 / 105.2 mm, i.e. its 2D is no better than
the constant one and lifts to ``const``'s error; the true 2D lifts to 46.4 mm; ``full-3d`` s0 0.725 (0.591), lifted
88.9; ``weakly`` s0 0.739 (0.621), lifted 91.1 against its own 112.0.
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
from kspbench.world.baselines import nearest, normalise_2d


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


def role_labels(store: PoseStore, role: str, every: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """True 2D (crop coordinates) and 3D (crop camera frame, trunk units) of every ``every``-th usable frame of a role,
    without reading its images: ``(N, 17, 2)``, ``(N, 17, 3)``."""
    p2, p3 = [], []
    for info in store.sequences(role=role):
        for cam in info.cameras:
            if not store.has(info.subject, info.sequence, "boxes", camera=cam):
                continue
            boxes = store.read(info.subject, info.sequence, "boxes", camera=cam).astype(np.float64)
            a, b, _, usable, _ = D._labels(store, info.subject, info.sequence, cam, boxes)
            p2.append(a[usable])
            p3.append(b[usable])
    return np.concatenate(p2)[::every].astype(np.float64), np.concatenate(p3)[::every].astype(np.float64)


def nn_lift(query_2d: np.ndarray, ref_2d: np.ndarray, ref_3d: np.ndarray) -> np.ndarray:
    """The 3D pose of the reference frame nearest in normalised 2D (:func:`kspbench.world.baselines.normalise_2d`):
    a lifter with every training label, to ask whether a 2D pose carries the 3D pose (a diagnostic, not a model)."""
    return ref_3d[nearest(normalise_2d(query_2d), normalise_2d(ref_2d))]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--store", default="data/world.h5")
    ap.add_argument("--role", default="h36m-test")
    ap.add_argument(
        "--nn-lift",
        metavar="TRAIN_ROLE",
        help="also lift EP's 2D and the true 2D to 3D by the nearest 2D pose of this role's labelled frames",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.nn_lift:
        with PoseStore(args.store) as store:
            ref = role_labels(store, args.nn_lift, every=2)
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
        lifted = {}
        if args.nn_lift:
            for name, q in (("ep_2d", torch.cat(p2d).numpy()), ("true_2d", frames.p2d[idx].astype(np.float64))):
                lift = nn_lift(q, *ref) * skeleton.TRUNK_MM
                lifted[f"p_mpjpe_mm_nn_lift_{name}"] = round(float(p_mpjpe(lift, truth).mean()), 1)
                lifted[f"spread_ratio_nn_lift_{name}"] = round(spread_ratio(lift, truth), 3)
            # The 2D floor: the training frames' mean 2D pose in crop coordinates, for every frame.
            err_mean_2d = np.linalg.norm(ref[0].mean(0) - frames.p2d[idx], axis=-1)
            lifted["pck2d_at_0.2_mean_2d"] = round(float((err_mean_2d < 0.2).mean()), 3)
            limbs = [skeleton.JOINT_NAMES.index(f"{s}{j}") for s in "LR" for j in ("Knee", "Ankle", "Elbow", "Wrist")]
            lifted["pck2d_at_0.2_limb_ends"] = round(float((err_2d[:, limbs] < 0.2).mean()), 3)
            lifted["pck2d_at_0.2_limb_ends_mean_2d"] = round(float((err_mean_2d[:, limbs] < 0.2).mean()), 3)
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
            **lifted,
        }
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
