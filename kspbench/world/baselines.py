"""Baselines that calibrate how hard a world is, written as predictions files (``kspbench.data.predictions``).

* ``mean``: the training mean pose: the mean of the root-relative camera-frame 3D poses of every (valid) frame of
  every camera of the training role, predicted for every frame.
* ``const``: one constant pose, the generalized-Procrustes mean of the root-relative camera-frame 3D poses of the
  training role's valid frames (similarity alignment: proper rotation, uniform scale, translation; at most 20,000
  evenly spaced frames), scaled to the mean pelvis-relative RMS size of those poses, rotated about the pelvis onto
  their arithmetic mean pose and centred on the pelvis; predicted for every frame. The P-MPJPE floor of a model
  that ignores its input: a model that uses its input should beat it.
* ``nn2d``: the nearest training pose by 2D: the true 2D pose of a frame, root-relative and divided by its RMS
  distance to the root, is matched to the training set's 2D poses normalised the same way; the prediction is that
  training frame's root-relative camera-frame 3D pose.

A well-made world makes the mean pose clearly bad and the 2D nearest neighbour clearly better. ``mean`` blurs
the training poses over their orientations (a floor far too weak under P-MPJPE); ``const`` is the floor that
cannot be fooled by a model that predicts one pose for every input.
"""

from __future__ import annotations

import os

import numpy as np

from kspbench.core import skeleton
from kspbench.data.predictions import Predictions
from kspbench.data.store import PoseStore
from kspbench.errors import KspbenchError
from kspbench.evaluation import metrics

KINDS = ("mean", "const", "nn2d")
# Training poses the const baseline's Procrustes mean uses at most (evenly spaced, so deterministic): each GPA pass
# is one vectorised similarity fit over them.
CONST_MAX_FRAMES = 20_000


class BaselineError(KspbenchError):
    """A baseline cannot be computed from this store (no frames in a role); one line."""


def _gather(store: PoseStore, role: str, *, valid_only: bool):
    cam3d, p2d, keys = [], [], {"subject": [], "sequence": [], "camera": [], "frame": []}
    for info in store.sequences(role=role):
        for cam in info.cameras:
            c3 = store.read(info.subject, info.sequence, "camera_3d", camera=cam)
            p2 = store.read(info.subject, info.sequence, "pose_2d", camera=cam)
            valid = store.read(info.subject, info.sequence, "valid", camera=cam).astype(bool)
            idx = np.flatnonzero(valid) if valid_only else np.arange(info.n_frames)
            cam3d.append(c3[idx])
            p2d.append(p2[idx])
            for k, v in (("subject", info.subject), ("sequence", info.sequence), ("camera", cam)):
                keys[k].append(np.full(idx.size, v, dtype=object))
            keys["frame"].append(idx)
    if not cam3d:
        raise BaselineError(f"{store.path}: no sequence with role {role!r} (roles: {', '.join(store.roles())})")
    return (
        np.concatenate(cam3d).astype(np.float64),
        np.concatenate(p2d).astype(np.float64),
        {k: np.concatenate(v) for k, v in keys.items()},
    )


def normalise_2d(p2d: np.ndarray) -> np.ndarray:
    """Root-relative 2D divided by its RMS distance to the root: (N, 17, 2) -> (N, 34)."""
    rel = p2d - p2d[:, skeleton.ROOT : skeleton.ROOT + 1]
    scale = np.sqrt((rel**2).sum(-1).mean(-1))
    return (rel / np.maximum(scale, 1e-9)[:, None, None]).reshape(len(p2d), -1)


def nearest(query: np.ndarray, ref: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Index of the nearest row of ``ref`` for each row of ``query`` (Euclidean), in chunks."""
    import torch

    # float64 without the matrix-product shortcut: every distance is summed in a fixed order, so near-ties resolve
    # the same way whatever the BLAS threading (the mm form flipped a few neighbours between runs under load).
    r = torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float64))
    out = np.empty(len(query), np.int64)
    for a in range(0, len(query), chunk):
        q = torch.from_numpy(np.ascontiguousarray(query[a : a + chunk], dtype=np.float64))
        out[a : a + chunk] = torch.cdist(q, r, compute_mode="donot_use_mm_for_euclid_dist").argmin(dim=1).numpy()
    return out


def _rms_about_root(poses: np.ndarray) -> np.ndarray:
    """(N, 17, 3) -> (N,) RMS distance of the joints from the pelvis (the pose's size), mm."""
    rel = poses - poses[:, skeleton.ROOT : skeleton.ROOT + 1]
    return np.sqrt((rel**2).sum(-1).mean(-1))


def const_pose(train_rel: np.ndarray, max_frames: int = CONST_MAX_FRAMES) -> np.ndarray:
    """The const baseline's pose from pelvis-relative training poses.

    Args:
        train_rel: (N, 17, 3) pelvis-relative camera-frame training poses, mm.
        max_frames: at most this many evenly spaced training poses enter the Procrustes mean.

    Returns:
        (17, 3) pose, mm: the generalized-Procrustes mean (similarity alignment) of the poses, pelvis at the
        origin, RMS size about the pelvis = the training poses' mean, orientation = the rotation about the pelvis
        onto their arithmetic mean (the one that minimises the summed squared camera-frame error to them, which is
        what MPJPE and N-MPJPE, having no rotation, see).
    """
    train_rel = np.asarray(train_rel, np.float64)
    idx = np.unique(np.linspace(0, len(train_rel) - 1, min(len(train_rel), max_frames)).round().astype(np.int64))
    mean, _ = metrics.procrustes_mean(train_rel[idx], scale=True)
    pose = mean - mean[skeleton.ROOT]
    # The rotation about the pelvis minimising the summed squared error to the training poses is the one onto
    # their arithmetic mean. similarity_transform centres on the centroid; appending each pose's point reflection
    # through the pelvis moves the centroid onto the pelvis and only doubles the cross-covariance.
    gbar = train_rel.mean(0)
    fit = metrics.similarity_transform(np.concatenate([pose, -pose])[None], np.concatenate([gbar, -gbar])[None])
    pose = pose @ fit.rotation[0]
    size = _rms_about_root(pose[None])[0]
    return pose * (_rms_about_root(train_rel).mean() / size) if size > 0 else pose


def baseline(
    store_path: str | os.PathLike, kind: str, role: str = "h36m-test", train_role: str = "h36m-train"
) -> Predictions:
    """Predictions of a baseline for every frame of every camera of ``role``."""
    return baselines(store_path, kind, [role], train_role)[0]


def baselines(
    store_path: str | os.PathLike, kind: str, roles: list[str], train_role: str = "h36m-train"
) -> list[Predictions]:
    """:func:`baseline` for each of ``roles``, learnt once from ``train_role`` (one read of the store)."""
    if kind not in KINDS:
        raise BaselineError(f"unknown baseline {kind!r}; choose one of {', '.join(KINDS)}")
    with PoseStore(store_path) as store:
        tr3, tr2, _ = _gather(store, train_role, valid_only=True)
        targets = [_gather(store, role, valid_only=False) for role in roles]
    tr_rel = tr3 - tr3[:, skeleton.ROOT : skeleton.ROOT + 1]
    pose = ref_2d = None  # one pose for every frame (mean, const), or the 2D index a frame is matched in (nn2d)
    if kind == "mean":
        pose = tr_rel.mean(0)
    elif kind == "const":
        pose = const_pose(tr_rel)
    else:
        ref_2d = normalise_2d(tr2)
    out = []
    for role, (te3, te2, keys) in zip(roles, targets):
        if pose is not None:
            poses = np.broadcast_to(pose, te3.shape).copy()
        else:
            finite = np.isfinite(te2).all(axis=(1, 2))
            poses = np.zeros_like(te3)
            poses[finite] = tr_rel[nearest(normalise_2d(te2[finite]), ref_2d)]
        attrs = {
            "baseline": kind,
            "train_role": train_role,
            "role": role,
            "description": __doc__.split("\n\n")[1].strip().replace("\n", " "),
        }
        out.append(
            Predictions(
                poses_3d=poses.astype(np.float32),
                subject=keys["subject"].astype(str),
                sequence=keys["sequence"].astype(str),
                camera=keys["camera"].astype(str),
                frame=keys["frame"].astype(np.int64),
                attrs=attrs,
            )
        )
    return out


def score(store_path, preds: Predictions, protocol: str = "h36m-p2") -> dict:
    """The protocol's metrics of a predictions set on this store (``kspbench.evaluation.evaluate``)."""
    from kspbench.evaluation.evaluate import evaluate
    from kspbench.evaluation.protocol import load_protocol

    # A world's datasheet figure, not a result: any world profile (tiny ones cover few actions) is scored.
    ev = evaluate(load_protocol(protocol), store_path, preds, allow_missing=True, allow_partial=True)
    return dict(ev.metrics)
