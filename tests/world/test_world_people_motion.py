"""People (bodies, apparel, disjoint test people) and motion (families, limits, grounding, retargeting)."""

from __future__ import annotations

import numpy as np
import pytest

from assertions import assert_close
from kspbench.core import skeleton
from kspbench.world import motion, people


def test_test_people_and_apparel_are_disjoint_from_training(tiny_plans):
    train = {p.person.name: p.person for p in tiny_plans if p.role in ("h36m-train", "3dhp-train")}
    train["P"] = next(p for p in tiny_plans if p.role == "prior").person
    test = {p.person.name: p.person for p in tiny_plans if p.role in ("h36m-test", "h36m-val", "3dhp-test")}
    assert test and not set(test) & set(train)
    for a in test.values():
        for b in train.values():
            if b.name == "P":  # the prior's flat clothes are not apparel; its body still counts
                assert people.body_distance(a, b) >= people.BODY_MIN_DISTANCE
                continue
            assert people.apparel_distance(a, b) >= people.APPAREL_MIN_DISTANCE, (a.name, b.name)
            assert people.body_distance(a, b) >= people.BODY_MIN_DISTANCE, (a.name, b.name)


def test_people_vary_within_human_ranges():
    rng = np.random.default_rng(0)
    crowd = [people.sample_person(rng, f"p{i}") for i in range(40)]
    heights = np.array([p.height for p in crowd])
    assert heights.min() >= 1500 and heights.max() <= 1950 and heights.std() > 40
    lengths = np.array([motion.person_bone_lengths(p) for p in crowd])
    ratios = lengths / (lengths[:, 7] + lengths[:, 8])[:, None]  # per person, in trunk units
    spread = ratios[:, 1:].std(0) / ratios[:, 1:].mean(0)
    assert (spread > 0.03).all()  # proportions depart per person
    mean = lengths[:, [2, 3, 12, 13]].mean(0) / lengths[:, [2, 3, 12, 13]].mean(0)[0]
    canon = np.array(skeleton.BONE_LENGTHS_MM)[[2, 3, 12, 13]] / skeleton.BONE_LENGTHS_MM[2]
    np.testing.assert_allclose(mean, canon, rtol=0.05)  # the average person has the canonical limb ratios
    assert len({p.materials["top"].colour for p in crowd}) == len(crowd)


@pytest.mark.parametrize("family", sorted(motion.FAMILIES))
def test_every_family_moves_within_limits_and_stands_on_the_floor(family):
    rng = np.random.default_rng(1)
    person = people.sample_person(rng, "X")
    m = motion.action_motion(person, family, rng, 24, 8.0)
    for k, v in m.dofs.items():
        lo, hi = motion.DOFS[k][1:]
        assert np.isfinite(v).all() and v.min() >= lo - 1e-9 and v.max() <= hi + 1e-9, k
    body = motion.pose_body(person, m)
    assert body.joints.shape == (24, 17, 3) and np.isfinite(body.joints).all()
    assert np.abs(np.diff(body.joints, axis=0)).max() > 1.0  # it moves
    low = people.lowest_points(body.centres, body.rots, body.semi)
    ground = (m.dofs["lift"] == 0) & (m.dofs["sit"] == 0)
    assert_close(low[ground], 0.0, atol=1e-6)
    assert (low >= -1e-6).all()
    if family in motion.CHAIR_FAMILIES:
        assert m.chair is not None
        pel = people.lowest_points(body.centres, body.rots, body.semi, names=("pelvis",))
        assert np.allclose(pel, m.chair.height, atol=1e-6) or (pel >= m.chair.height - 1e-6).all()


def test_joints_sit_inside_their_body_parts():
    """Every joint but HeadTop is inside one of the ellipsoids it belongs to (HeadTop is on the head's surface), so
    its pixel always shows the person."""
    rng = np.random.default_rng(5)
    for k, family in enumerate(sorted(motion.FAMILIES)):
        person = people.sample_person(rng, f"X{k}")
        body = motion.pose_body(person, motion.action_motion(person, family, rng, 10, 8.0))
        for j, owners in enumerate(people.JOINT_OWNERS):
            idx = [people.PRIMITIVE_INDEX[n] for n in owners]
            off = body.joints[:, j, None, :] - body.centres[:, idx]  # (T, k, 3)
            q = np.einsum("tkji,tkj->tki", body.rots[:, idx], off) / body.semi[idx]
            inside = (np.linalg.norm(q, axis=-1) <= 1.0 + 1e-6).any(axis=1)
            assert inside.all(), (family, skeleton.JOINT_NAMES[j])


def test_standing_joints_are_read_off_the_body():
    person = people.sample_person(np.random.default_rng(2), "X")
    m = motion.action_motion(person, "Waiting", np.random.default_rng(3), 4, 8.0)
    j = motion.pose_body(person, m).joints[0]
    assert j[10, 2] == j[:, 2].max()  # head top is the highest joint
    assert abs(j[10, 2] - person.height) < 0.06 * person.height  # ... at about the person's height
    np.testing.assert_allclose(j[0], 0.5 * (j[1] + j[4]))  # pelvis = midpoint of the hips
    assert j[8, 2] > j[7, 2] > j[0, 2]  # thorax above spine above pelvis


def test_retarget_keeps_directions_and_person_lengths():
    rng = np.random.default_rng(0)
    src = np.cumsum(rng.normal(size=(6, 17, 3)) * 100, axis=1)
    person = people.sample_person(rng, "X")
    out = motion.retarget(person, src)
    parents = list(skeleton.PARENTS[1:])
    bones_out = out[:, 1:] - out[:, parents]
    bones_src = src[:, 1:] - src[:, parents]
    np.testing.assert_allclose(
        np.linalg.norm(bones_out, axis=-1), np.broadcast_to(motion.person_bone_lengths(person)[1:], (6, 16)), rtol=1e-9
    )
    cos = (bones_out * bones_src).sum(-1) / np.linalg.norm(bones_out, axis=-1) / np.linalg.norm(bones_src, axis=-1)
    assert_close(cos, 1.0)
    body = motion.retargeted_body(person, src + [0, 0, 1000.0])
    assert np.isfinite(body.centres).all() and body.joints.shape == (6, 17, 3)


def test_motion_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    np.savez(tmp_path / "shape.npz", positions=np.zeros((10, 16, 3)))
    np.savez(tmp_path / "nokey.npz", pos=np.zeros((10, 17, 3)))
    np.savez(tmp_path / "metres.npz", positions=np.random.default_rng(0).normal(size=(10, 17, 3)) * 0.1)
    for name in ("bad.npz", "shape.npz", "nokey.npz", "metres.npz", "missing.npz"):
        with pytest.raises(motion.MotionFileError) as err:
            motion.load_motion_file(str(tmp_path / name))
        assert "\n" not in str(err.value)
