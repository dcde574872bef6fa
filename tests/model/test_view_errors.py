"""benchmarks/view_errors.py: the depth-sign decomposition (same 2D, same bone lengths, another depth order)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from assertions import assert_close
from kspbench.core import skeleton

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "view_errors.py"
_spec = importlib.util.spec_from_file_location("view_errors", _PATH)
view_errors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(view_errors)


def _poses(n: int = 6, seed: int = 0) -> np.ndarray:
    poses = np.random.default_rng(seed).normal(size=(n, skeleton.NUM_JOINTS, 3))
    return poses - poses[:, :1]


def _bones(poses: np.ndarray) -> np.ndarray:
    return poses[:, 1:] - poses[:, skeleton.PARENTS_NP[1:]]


def test_own_signs_give_the_pose_back():
    poses = _poses()
    assert_close(view_errors.with_depth_signs(poses, poses), poses, atol=1e-12)


def test_other_signs_keep_the_2d_and_bone_lengths_and_take_the_depth_order():
    poses, other = _poses(seed=0), _poses(seed=1)
    out = view_errors.with_depth_signs(poses, other)
    assert_close(_bones(out)[..., :2], _bones(poses)[..., :2], atol=1e-12)
    assert_close(np.linalg.norm(_bones(out), axis=-1), np.linalg.norm(_bones(poses), axis=-1), atol=1e-12)
    assert np.array_equal(np.sign(_bones(out)[..., 2]), np.sign(_bones(other)[..., 2]))
    assert not np.allclose(out, poses)  # the two random poses disagree on some sign


def test_sign_agreement_counts_only_bones_pointing_in_depth():
    poses = _poses()
    mirrored = poses * np.array([1.0, 1.0, -1.0])
    assert view_errors.depth_sign_agreement(poses, poses) == 1.0
    assert view_errors.depth_sign_agreement(mirrored, poses) == 0.0
    flat = poses.copy()
    flat[..., 2] *= 1e-3  # every bone nearly in the image plane: none counts, the mean of nothing is NaN
    assert np.isnan(view_errors.depth_sign_agreement(poses, flat))
