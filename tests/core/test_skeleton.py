"""skeleton.py: the tables agree with each other and with the published layouts they cite."""

from __future__ import annotations

import numpy as np

from kspbench.core import skeleton as sk


def test_parents_precede_children_and_bones_follow_parents():
    assert all(p < j for j, p in enumerate(sk.PARENTS) if p >= 0)
    assert sk.BONES[0] == (0, 1) and sk.BONES[-1] == (15, 16)
    assert [c for _, c in sk.BONES] == list(range(1, 17))


def test_flip_is_an_involution_that_swaps_sides():
    flip = np.array(sk.FLIP_PERMUTATION)
    np.testing.assert_array_equal(flip[flip], np.arange(17))
    for left, right in zip(sk.LEFT_JOINTS, sk.RIGHT_JOINTS):
        assert flip[left] == right and sk.JOINT_NAMES[left][1:] == sk.JOINT_NAMES[right][1:]
    limb = np.array(sk.LIMB_FLIP_PERMUTATION)
    np.testing.assert_array_equal(limb[limb], np.arange(16))
    # A flipped bone joins the flipped joints.
    for b, (p, c) in enumerate(sk.BONES):
        assert sk.BONES[limb[b]] == (flip[p], flip[c])
    # Widths and lengths are left/right symmetric, so mirroring a pose keeps its maps' shapes.
    np.testing.assert_allclose(np.array(sk.LIMB_WIDTHS_MM)[limb], sk.LIMB_WIDTHS_MM)
    np.testing.assert_allclose(np.array(sk.BONE_LENGTHS_MM)[flip], sk.BONE_LENGTHS_MM)


def test_h36m32_mapping_preserves_the_tree():
    # The 17-joint parents are the 32-joint parents after removing the static joints (thorax rewired).
    idx = sk.H36M32_TO_17
    for j, p in enumerate(sk.PARENTS):
        if p < 0:
            continue
        anc = sk.H36M32_PARENTS[idx[j]]
        while anc not in idx:
            anc = sk.H36M32_PARENTS[anc]
        # H36M's shoulders hang from joint 13 (thorax) through static joints 16/24, which sit on the thorax.
        assert idx.index(anc) == p or (sk.JOINT_NAMES[j].endswith("Shoulder") and sk.JOINT_NAMES[p] == "Thorax")


def test_3dhp_correspondence_is_a_bijection_matching_names():
    fwd, back = np.array(sk.H36M_TO_MPI3DHP), np.array(sk.MPI3DHP_TO_H36M)
    np.testing.assert_array_equal(fwd[back], np.arange(17))
    np.testing.assert_array_equal(back[fwd], np.arange(17))
    assert sk.MPI3DHP_JOINT_NAMES[sk.MPI3DHP_ROOT] == "pelvis" and fwd[sk.MPI3DHP_ROOT] == sk.ROOT
    exact = {"right_knee": "RKnee", "left_wrist": "LWrist", "spine": "Spine", "head_top": "HeadTop"}
    for name3, name36 in {**exact, **sk.MPI3DHP_INEXACT_CORRESPONDENCES}.items():
        assert sk.JOINT_NAMES[fwd[sk.MPI3DHP_JOINT_NAMES.index(name3)]] == name36
    # The 28 -> 17 list picks the same-named training joints.
    for k, i28 in enumerate(sk.MPI3DHP28_TO_17):
        assert sk.MPI3DHP28_JOINT_NAMES[i28] == sk.MPI3DHP_JOINT_NAMES[k]


def test_canonical_ratios_follow_s1_lengths():
    ratios = np.array(sk.BONE_LENGTH_RATIOS)
    assert abs(ratios[7] + ratios[8] - 1.0) < 1e-12  # the straight trunk is the unit
    np.testing.assert_allclose(ratios[[1, 2, 3]], [0.2710, 0.9028, 0.9259], atol=5e-5)
    assert sk.VK_DIM == 1 + 3 * 13 and len(sk.PREDICTED_JOINTS) == 13
    assert set(sk.PREDICTED_JOINTS).isdisjoint({sk.ROOT, *sk.CANONICAL_ROOT_JOINTS})


def test_tables_are_read_only():
    try:
        sk.PARENTS_NP[0] = 3
    except ValueError:
        return
    raise AssertionError("PARENTS_NP must be read-only")
