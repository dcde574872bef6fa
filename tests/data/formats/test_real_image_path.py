"""The real-image path: a store imported from image files feeds ``kspbench predict``, the Fig. 4 frame selection and
``kspbench figures --predictions`` (fig4_real.png, the predictions drawn over the stored crops).

The network is replaced by a stub that always answers one pose (training one is out of place here): what is tested
is that an imported store carries what prediction needs (crops, boxes, finite intrinsics from the fitted 3DHP test
camera), that the predictions come back in the store camera's frame, one row per imported frame, and that the figure
puts both skeletons where the joints project and leaves the crop elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from formats_fixtures import gradient_background, paint_people, run_cli, standing_pose, write_3dhp_test, write_frames
from kspbench.core import skeleton
from kspbench.data.predictions import read_predictions
from kspbench.data.store import PoseStore
from kspbench.model import data as D

CROP = 32


class StubPose(torch.nn.Module):
    """Answers the standing pose (trunk units, crop camera frame, pelvis at the origin) for every image."""

    def __init__(self) -> None:
        super().__init__()
        pose = standing_pose()[:, [1, 2, 0]] * [1, -1, 1]  # world z up -> camera y down, facing the camera
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
    write_frames(
        tmp_path / "mpi_inf_3dhp_test_set" / "TS5" / "imageSequence",
        paint_people(gradient_background(1920, 1080), annot2),
        pattern="img_{:06d}.jpg",
    )
    out = tmp_path / "ts5.h5"
    assert (
        run_cli(
            [
                "data",
                "import",
                "3dhp",
                "--root",
                str(tmp_path),
                "--images",
                "--crop-size",
                str(CROP),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return out


def _predict(store, tmp_path, monkeypatch) -> tuple[StubPose, object]:
    """``kspbench predict`` with the stub network on the store's 3dhp-test role; returns the stub and the file."""
    import kspbench.model.predict as P

    stub = StubPose().eval()  # predict folds BatchNorms, which needs eval mode
    ckpt = {
        "profile": {"input_size": 16, "name": "stub"},
        "threads": 1,
        "seed": 0,
        "step": 0,
        "card": {"name": "stub", "model": {"ablation": "none"}},
        "card_sha256": "0" * 64,
    }
    monkeypatch.setattr(P, "load_model", lambda checkpoint, device="cpu": (stub, ckpt))
    fake = tmp_path / "checkpoint.pt"
    fake.write_bytes(b"stub")
    out = tmp_path / "preds.h5"
    assert (
        run_cli(
            [
                "predict",
                "--checkpoint",
                str(fake),
                "--store",
                str(store),
                "--role",
                "3dhp-test",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return stub, out


def test_predict_on_a_store_imported_from_images(imported, tmp_path, monkeypatch):
    stub, out = _predict(imported, tmp_path, monkeypatch)
    preds = read_predictions(out)
    assert len(preds) == 4 and set(stub.sizes) == {16}  # the 32 px crops resized to the model's input
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
    from kspbench.reporting.figures import select_frames

    frames = select_frames(imported, "3dhp-test", CROP, 3)
    assert frames.images.shape == (3, 3, CROP, CROP) and frames.dataset == "mpi-inf-3dhp"
    assert frames.names[0].startswith("TS5 TS5 0 #")
    assert (frames.images[:, 0, CROP // 2, CROP // 2] > 180).all()  # the painted person at the crop centre
    assert np.isfinite(frames.p3d).all() and (frames.trunk_mm > 0).all()


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M,) distance of each of (M, 2) points to the nearest of the segments a[i] -> b[i] ((K, 2) each)."""
    ab = b - a
    t = np.clip(np.einsum("mkd,kd->mk", points[:, None] - a, ab) / np.maximum((ab**2).sum(1), 1e-12), 0, 1)
    near = a + t[..., None] * ab
    return np.linalg.norm(points[:, None] - near, axis=-1).min(1)


def test_fig4_on_real_frames_draws_both_skeletons_over_the_stored_crops(imported, tmp_path, monkeypatch, capsys):
    import matplotlib.colors
    import matplotlib.image

    from kspbench.reporting import figures

    _, preds_path = _predict(imported, tmp_path, monkeypatch)
    out = tmp_path / "figs"
    assert run_cli(["figures", "--predictions", str(preds_path), "--store", str(imported), "--out", str(out)]) == 0
    png = out / figures.OVERLAY_FIGURE
    assert f"wrote {png}" in capsys.readouterr().out
    img = matplotlib.image.imread(png)[..., :3]  # (H, W, 3) floats in [0, 1]
    P, B = figures.OVERLAY_PANEL_PX, figures.OVERLAY_BAND_PX
    assert img.shape == (P + B, 4 * P, 3)  # the four imported frames, one panel each

    # Where the joints should land, computed here with the plain pinhole of the fitted camera (no distortion).
    preds = read_predictions(preds_path)
    with PoseStore(imported) as store:
        c = store.load_sequence("TS5", "TS5", images=True).cameras["0"]
    (fx, fy), (cx, cy) = c.intrinsics.focal, c.intrinsics.center
    box = c.boxes[:, None, :]

    def panel_px(cam3d):  # (4, 17, 3) mm -> (4, 17, 2) figure pixels (x, y) of panels 0..3
        u = (fx * cam3d[..., 0] / cam3d[..., 2] + cx - box[..., 0]) * CROP / (box[..., 2] - box[..., 0])
        v = (fy * cam3d[..., 1] / cam3d[..., 2] + cy - box[..., 1]) * CROP / (box[..., 3] - box[..., 1])
        return np.stack([np.arange(4)[:, None] * P + u * P / CROP, B + v * P / CROP], axis=-1)

    truth = panel_px(c.camera_3d)
    pred_cam = preds.poses_3d - preds.poses_3d[:, :1] + c.camera_3d[:, :1]  # the prediction at the true pelvis
    pred = panel_px(pred_cam)
    colour = lambda xy: img[int(xy[1]), int(xy[0])]  # noqa: E731
    red, blue = (np.array(matplotlib.colors.to_rgb(x)) for x in (figures.PRED_COLOUR, figures.TRUTH_COLOUR))
    bones = np.array(skeleton.BONES)
    clear_joints = 0
    for f in range(4):
        for xy in pred[f]:  # the prediction is drawn last: its joints are red
            np.testing.assert_allclose(colour(xy), red, atol=0.06)
        # True joints away from the red bones are blue (the stub's standing pose differs from the fixture's).
        clear = _segment_distance(truth[f], pred[f][bones[:, 0]], pred[f][bones[:, 1]]) > 4
        for xy in truth[f][clear]:
            np.testing.assert_allclose(colour(xy), blue, atol=0.06)
        clear_joints += int(clear.sum())
    assert clear_joints >= 8
    # Away from every bone the panel is the stored crop, scaled up.
    both = np.concatenate([truth, pred], axis=1)
    checked = 0
    for f in range(4):
        segs = np.concatenate([both[f][bones], both[f][bones + 17]])
        for v in range(2, CROP - 2, 3):
            for u in range(2, CROP - 2, 3):
                xy = np.array([f * P + (u + 0.5) * P / CROP, B + (v + 0.5) * P / CROP])
                if _segment_distance(xy[None], segs[:, 0], segs[:, 1])[0] > 8:
                    np.testing.assert_allclose(colour(xy), c.images[f, v, u] / 255.0, atol=2 / 255)
                    checked += 1
    assert checked > 100


def test_fig4_on_real_frames_refuses_a_predictions_file_of_another_store(imported, tmp_path, capsys):
    from kspbench.data.predictions import Predictions, write_predictions

    other = tmp_path / "other.h5"
    poses = np.stack([standing_pose()] * 2).astype(np.float32)
    write_predictions(
        other,
        Predictions(
            poses_3d=poses,
            subject=np.array(["S9"] * 2),
            sequence=np.array(["Walking 1"] * 2),
            camera=np.array(["54138969"] * 2),
            frame=np.arange(2),
        ),
    )
    assert (
        run_cli(["figures", "--predictions", str(other), "--store", str(imported), "--out", str(tmp_path / "figs")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has both crops and rows in" in err[0]
    assert not (tmp_path / "figs" / "fig4_real.png").exists()
