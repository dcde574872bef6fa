"""world/baselines.py: the const baseline (one pose, the Procrustes mean of the training poses) against mean.

These read the committed golden tiny world (baselines/golden/world-tiny.h5, read only): a real world store with
h36m-train, h36m-test and 3dhp-test roles that needs no build.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kspbench.cli import build_parser
from kspbench.core import skeleton
from kspbench.data.store import PoseStore
from kspbench.evaluation import metrics as M
from kspbench.world.baselines import KINDS, BaselineError, baseline, const_pose, score

STORE = Path(__file__).resolve().parents[2] / "baselines" / "golden" / "world-tiny.h5"


def _train_rel() -> np.ndarray:
    """(N, 17, 3) pelvis-relative camera-frame poses of the valid h36m-train frames, mm."""
    parts = []
    with PoseStore(STORE) as store:
        for info in store.sequences(role="h36m-train"):
            for cam in info.cameras:
                c3 = store.read(info.subject, info.sequence, "camera_3d", camera=cam).astype(np.float64)
                valid = store.read(info.subject, info.sequence, "valid", camera=cam).astype(bool)
                parts.append(c3[valid])
    poses = np.concatenate(parts)
    return poses - poses[:, skeleton.ROOT : skeleton.ROOT + 1]


def _rms_about_root(p: np.ndarray) -> np.ndarray:
    return np.sqrt(((p - p[:, :1]) ** 2).sum(-1).mean(-1))


@pytest.fixture(scope="module")
def const():
    return baseline(STORE, "const")


def test_const_is_one_pose_for_every_frame(const):
    poses = const.poses_3d
    assert len(poses) > 1 and np.array_equal(poses, np.broadcast_to(poses[0], poses.shape))
    assert np.all(poses[:, skeleton.ROOT] == 0.0)  # pelvis-relative, like mean
    assert const.attrs["baseline"] == "const" and const.attrs["train_role"] == "h36m-train"
    tr = _train_rel()
    # Millimetres at the training poses' mean size about the pelvis (float32 storage of the predictions).
    assert _rms_about_root(poses[:1].astype(np.float64))[0] == pytest.approx(_rms_about_root(tr).mean(), rel=1e-6)


def test_const_is_the_procrustes_mean_of_the_training_poses():
    tr = _train_rel()
    pose = const_pose(tr)
    gpa, _ = M.procrustes_mean(tr)
    assert M.p_mpjpe(pose[None], gpa[None]).max() < 1e-6  # the same shape, up to a similarity
    # Among constant guesses it is the better P-MPJPE floor: below the plain mean pose on the training poses.
    n = len(tr)
    assert (
        M.p_mpjpe(np.broadcast_to(pose, tr.shape), tr).mean()
        < M.p_mpjpe(np.broadcast_to(tr.mean(0), (n, 17, 3)), tr).mean()
    )
    # Subsampling evenly spaced training poses (the cap for large worlds) gives nearly the same pose.
    sub = const_pose(tr, max_frames=len(tr) // 2)
    assert M.p_mpjpe(sub[None], pose[None]).max() < 10.0


def test_const_beats_mean_under_p_mpjpe_and_has_no_spread(const):
    mean = score(STORE, baseline(STORE, "mean"))
    got = score(STORE, const)
    assert got["p_mpjpe_mm"] < mean["p_mpjpe_mm"]
    assert got["spread_ratio"] == pytest.approx(0.0, abs=1e-9)
    pa = score(STORE, baseline(STORE, "const", role="3dhp-test"), "3dhp-pa")
    assert pa["spread_ratio"] == pytest.approx(0.0, abs=1e-9) and pa["pck150"] > 0


def test_kinds_and_the_cli_agree():
    assert KINDS == ("mean", "const", "nn2d")
    parser = build_parser()
    for kind in KINDS:
        assert parser.parse_args(["world", "baseline", "--kind", kind, "--out", "x.h5"]).kind == kind
    with pytest.raises(BaselineError, match="unknown baseline"):
        baseline(STORE, "median")
