"""The real-image path: a store imported from image files feeds ``kspbench predict`` and the Fig. 4 frame selection.

The network is replaced by a stub that always answers one pose (training one is out of place here): what is tested
is that an imported store carries what prediction needs (crops, boxes, finite intrinsics from the fitted 3DHP test
camera) and that the predictions come back in the store camera's frame, one row per imported frame.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from formats_fixtures import gradient_background, paint_people, run_cli, standing_pose, write_3dhp_test, write_frames
from kspbench import skeleton
from kspbench.model import data as D
from kspbench.predictions import read_predictions
from kspbench.store import PoseStore

CROP = 32


class StubPose(torch.nn.Module):
    """Answers the standing pose (trunk units, crop camera frame, pelvis at the origin) for every image."""

    def __init__(self) -> None:
        super().__init__()
        pose = standing_pose()[:, [1, 2, 0]] * [1, -1, 1]   # world z up -> camera y down, facing the camera
        self.register_buffer("p3d", torch.tensor(pose / skeleton.TRUNK_MM))
        self.sizes: list[int] = []

    def pose(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.sizes.append(int(x.shape[-1]))
        return {"p3d_cam": self.p3d.expand(x.shape[0], -1, -1).float()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("real-images")
    t = write_3dhp_test(tmp_path, "TS5", np.random.default_rng(21), n=4, invalid=(), center_offset=(-3.0, 11.5))
    annot2 = t["annot2"][:, list(skeleton.MPI3DHP_TO_H36M)]
    write_frames(tmp_path / "mpi_inf_3dhp_test_set" / "TS5" / "imageSequence",
                 paint_people(gradient_background(1920, 1080), annot2), pattern="img_{:06d}.jpg")
    out = tmp_path / "ts5.h5"
    assert run_cli(["data", "import", "3dhp", "--root", str(tmp_path), "--images", "--crop-size", str(CROP),
                    "--out", str(out), "--quiet"]) == 0
    return out


def test_predict_on_a_store_imported_from_images(imported, tmp_path, monkeypatch):
    import kspbench.model.predict as P

    stub = StubPose()
    ckpt = {"profile": {"input_size": 16, "name": "stub"}, "threads": 1, "seed": 0, "step": 0,
            "card": {"name": "stub", "model": {"ablation": "none"}}, "card_sha256": "0" * 64}
    monkeypatch.setattr(P, "load_model", lambda checkpoint, device="cpu": (stub, ckpt))
    fake = tmp_path / "checkpoint.pt"
    fake.write_bytes(b"stub")
    out = tmp_path / "preds.h5"
    assert run_cli(["predict", "--checkpoint", str(fake), "--store", str(imported), "--role", "3dhp-test",
                    "--out", str(out), "--quiet"]) == 0
    preds = read_predictions(out)
    assert len(preds) == 4 and set(stub.sizes) == {16}   # the 32 px crops resized to the model's input
    np.testing.assert_array_equal(preds.frame, np.arange(4))
    with PoseStore(imported) as store:
        c = store.load_sequence("TS5", "TS5").cameras["0"]
    # Each prediction is the stub pose turned from the crop's virtual camera into the store camera, whose
    # principal point is the fitted one (-3, +11.5 px off centre), not the image centre.
    np.testing.assert_allclose(c.intrinsics.center, [957.0, 551.5], atol=1e-6)
    rot = D.crop_camera_rotation(c.boxes, c.intrinsics.focal, c.intrinsics.center)
    assert not np.allclose(rot, np.eye(3))
    want = skeleton.TRUNK_MM * np.einsum("nij,kj->nki", rot, stub.p3d.double().numpy())
    np.testing.assert_allclose(preds.poses_3d, want, atol=1e-2)


def test_fig4_frames_come_from_the_imported_crops(imported):
    from kspbench.figures import select_frames

    frames = select_frames(imported, "3dhp-test", CROP, 3)
    assert frames.images.shape == (3, 3, CROP, CROP) and frames.dataset == "mpi-inf-3dhp"
    assert frames.names[0].startswith("TS5 TS5 0 #")
    assert (frames.images[:, 0, CROP // 2, CROP // 2] > 180).all()   # the painted person at the crop centre
    assert np.isfinite(frames.p3d).all() and (frames.trunk_mm > 0).all()
