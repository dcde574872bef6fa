"""The tiny world as a store: deterministic, valid, labels consistent, roles as specified."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from assertions import assert_close
from kspbench.core import skeleton
from kspbench.data.store import PoseStore, validate
from kspbench.world import build


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_validates_and_has_every_role(tiny_store):
    path, _ = tiny_store
    assert validate(path) == []
    with PoseStore(path) as s:
        assert set(s.roles()) == {"h36m-train", "h36m-val", "h36m-test", "dunp", "3dhp-train", "3dhp-test", "prior"}
        assert "oracle detector" in s.attrs["source"]
        assert {i.subject for i in s.sequences(role="h36m-train")} == {"S1", "S5"}
        assert {i.subject for i in s.sequences(role="h36m-val")} == {"S2"}
        info = s.sequences(role="h36m-test")[0]
        assert info.sequence.split(" ")[0] == info.action and info.sequence.endswith(" 1")
        assert set(info.cameras) == {"54138969", "60457274"}


def test_same_seed_same_bytes_other_seed_differs(tiny_store, tiny_profile, tmp_path):
    path, _ = tiny_store
    again = tmp_path / "again.h5"
    build.build_world(again, tiny_profile, 0, jobs=2, datasheet=False)
    assert _sha(again) == _sha(path)
    other = tmp_path / "other.h5"
    build.build_world(other, tiny_profile, 1, jobs=1, datasheet=False)
    assert _sha(other) != _sha(path)
    with PoseStore(path) as a, PoseStore(other) as b:
        info = a.sequences(role="h36m-train")[0]
        assert not np.allclose(
            a.read(info.subject, info.sequence, "world_3d"), b.read(info.subject, info.sequence, "world_3d")
        )


def test_projection_matches_labels(tiny_store):
    path, _ = tiny_store
    with PoseStore(path) as s:
        for seq in s.iter_sequences():
            for cam in seq.cameras.values():
                rot = cam.rotation if cam.rotation.ndim == 3 else np.broadcast_to(cam.rotation, (seq.n_frames, 3, 3))
                t = (
                    cam.translation
                    if cam.translation.ndim == 2
                    else np.broadcast_to(cam.translation, (seq.n_frames, 3))
                )
                c3 = np.einsum("nij,nkj->nki", rot, seq.world_3d.astype(np.float64)) + t[:, None]
                np.testing.assert_allclose(c3, cam.camera_3d, atol=0.05)  # float32 storage, mm
                uv = (
                    cam.camera_3d[..., :2].astype(np.float64) / cam.camera_3d[..., 2:3] * cam.intrinsics.focal
                    + cam.intrinsics.center
                )
                assert np.abs(uv - cam.pose_2d).max() < 0.01, (seq.subject, seq.sequence, cam.camera_id)
                assert (cam.camera_3d[..., 2] > 0).all()
                assert np.all(cam.intrinsics.radial == 0)


def test_roles_extras_and_cameras(tiny_store):
    path, _ = tiny_store
    with PoseStore(path) as s:
        (prior,) = s.sequences(role="prior")
        assert prior.subject == "P" and prior.n_frames == build.PRIOR_SAMPLES == 20
        assert s.read("P", prior.sequence, "rotation", camera="0").shape == (20, 3, 3)
        for info in s.sequences(role="dunp"):
            assert s.read(info.subject, info.sequence, "rotation", camera="0").ndim == 3
            assert not s.has(info.subject, info.sequence, "backgrounds", camera="0")
        for info in s.sequences(role="h36m-train"):
            for cam in info.cameras:
                assert s.read(info.subject, info.sequence, "rotation", camera=cam).shape == (3, 3)
                assert s.has(info.subject, info.sequence, "backgrounds", camera=cam)
        invalid = 0
        for info in s.sequences(role="3dhp-test"):
            assert info.subject == info.sequence and info.cameras == ("0",)
            act = s.read(info.subject, info.sequence, "extras/activity", camera="0")
            assert act.min() >= 1 and act.max() <= 7
            univ = s.read(info.subject, info.sequence, "extras/univ_annot3", camera="0")
            c3 = s.read(info.subject, info.sequence, "camera_3d", camera="0")
            ratio = np.linalg.norm(univ[:, 10] - univ[:, 0], axis=-1) / np.linalg.norm(c3[:, 10] - c3[:, 0], axis=-1)
            assert_close(ratio, ratio[0], rtol=1e-4)  # one scale per person
            invalid += int((~s.read(info.subject, info.sequence, "valid", camera="0")).sum())
        assert invalid > 0
        for info in s.sequences(role="3dhp-train"):
            assert set(info.cameras) == {"0", "1"}
        g = s.read("S1", "Walking 1", "images", camera="54138969")
        assert g.shape[1:] == (32, 32, 3) and g.dtype == np.uint8
        occ = s.read("S1", "Walking 1", "extras/occluded", camera="54138969")
        assert occ.shape == (g.shape[0], skeleton.NUM_JOINTS) and occ.dtype == bool


def test_datasheet_written_beside_the_store(tiny_store):
    path, _ = tiny_store
    text = path.with_suffix(".md").read_text()
    for needle in (
        "oracle detector",
        "hidden by the depth buffer",
        "invalid frames",
        "kinematic ceiling",
        "Nearest train pose",
        "mean",
        "const",
        "nn2d",
    ):
        assert needle in text


@pytest.mark.parametrize("kind", ["mean", "const", "nn2d"])
def test_baselines_write_valid_predictions(tiny_store, tmp_path, kind):
    from kspbench.data.predictions import read_predictions, write_predictions
    from kspbench.world.baselines import baseline, score

    path, _ = tiny_store
    out = tmp_path / f"{kind}.h5"
    preds = baseline(path, kind)
    write_predictions(out, preds)
    back = read_predictions(out)
    assert len(back) == len(preds) > 0
    assert_close(back.poses_3d, preds.poses_3d)
    assert_close(back.poses_3d[:, 0], 0.0)  # root-relative
    assert score(path, back)["p_mpjpe_mm"] > 0
