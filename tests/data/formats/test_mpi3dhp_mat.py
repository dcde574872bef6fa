"""MPI-INF-3DHP: test annot_data.mat (v7.3/HDF5), training annot.mat + camera.calibration (formats.mpi3dhp_mat)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from formats_fixtures import (
    MATLAB_HEADER,
    gradient_background,
    paint_people,
    write_3dhp_test,
    write_3dhp_train,
    write_calibration,
    write_frames,
    write_mat73,
)
from kspbench.core import skeleton
from kspbench.data.formats import FormatError, camera_check, camera_to_world, mpi3dhp_mat, project
from kspbench.data.store import Intrinsics


def _by_key(jobs):
    return {(j.subject, j.sequence): j for j in jobs}


def test_joint_tables():
    # H36M pelvis <- 3DHP test 14 <- 28-joint 4 (pelvis); H36M head top <- test 0 <- 28-joint 7 (head_top).
    assert mpi3dhp_mat.TEST17_TO_H36M[0] == 14 and mpi3dhp_mat.TEST17_TO_H36M[10] == 0
    assert mpi3dhp_mat.TRAIN28_TO_H36M[0] == 4 and mpi3dhp_mat.TRAIN28_TO_H36M[10] == 7
    names28 = skeleton.MPI3DHP28_JOINT_NAMES
    assert [names28[i] for i in mpi3dhp_mat.TRAIN28_TO_H36M[1:4]] == ["right_hip", "right_knee", "right_ankle"]
    assert [names28[i] for i in mpi3dhp_mat.TRAIN28_TO_H36M[11:14]] == ["left_shoulder", "left_elbow", "left_wrist"]


def test_v73_fixture_is_hdf5_with_a_matlab_header(tmp_path):
    path = tmp_path / "a.mat"
    write_mat73(path, {"x": np.ones((3, 1, 17, 3))})
    assert path.read_bytes()[: len(MATLAB_HEADER)] == MATLAB_HEADER
    with h5py.File(path, "r") as h5:
        assert h5.userblock_size == 512 and h5["x"].shape == (3, 1, 17, 3)


def test_test_set_values_mapping_validity_and_intrinsics(tmp_path):
    rng = np.random.default_rng(0)
    truth = {ts: write_3dhp_test(tmp_path, ts, rng, invalid=(1, 4)) for ts in ("TS1", "TS5")}
    jobs = mpi3dhp_mat.scan(tmp_path, split="test")
    assert [(j.subject, j.sequence) for j in jobs] == [("TS1", "TS1"), ("TS5", "TS5")]
    for job in jobs:
        s = job.load()
        t = truth[s.subject]
        assert s.role == "3dhp-test" and s.world_3d is None and list(s.cameras) == ["0"]
        assert s.fps == (25.0 if s.subject == "TS1" else 50.0)
        c = s.cameras["0"]
        np.testing.assert_allclose(c.camera_3d, t["h36m"], atol=1e-9)  # H36M order, mm
        np.testing.assert_array_equal(c.valid, t["valid"] == 1)
        np.testing.assert_allclose(c.extras["univ_annot3"], t["h36m"] * 0.95, rtol=1e-6)
        np.testing.assert_array_equal(c.extras["activity"], np.arange(6) % 7 + 1)
        np.testing.assert_allclose(c.rotation, np.eye(3))
        np.testing.assert_allclose(c.translation, 0)
        w, h = (2048, 2048) if s.subject == "TS1" else (1920, 1080)
        f = 2048 / 10 * 7.320339203 if s.subject == "TS1" else 1920 / 10 * 8.770747185
        assert (c.intrinsics.width, c.intrinsics.height) == (w, h)
        np.testing.assert_allclose(c.intrinsics.focal, [f, f])
        np.testing.assert_allclose(c.intrinsics.center, [w / 2, h / 2])
        assert np.abs(project(c.camera_3d, c.intrinsics) - c.pose_2d).max() < 0.5


def test_test_set_wrong_dims_and_missing_keys(tmp_path):
    folder = tmp_path / "mpi_inf_3dhp_test_set" / "TS2"
    write_mat73(
        folder / "annot_data.mat",
        {
            "annot2": np.ones((4, 1, 17, 2)),
            "annot3": np.ones((3, 17, 1, 4)),
            "univ_annot3": np.ones((4, 1, 17, 3)),
            "valid_frame": np.ones((4, 1)),
        },
    )
    (job,) = mpi3dhp_mat.scan(tmp_path)
    with pytest.raises(
        FormatError,
        match=r"'annot3' has shape \(3, 17, 1, 4\) as read by h5py, expected "
        r"\(N, 1, 17, 3\)",
    ):
        job.load()
    write_mat73(folder / "annot_data.mat", {"annot2": np.ones((4, 1, 17, 2)), "annot3": np.ones((4, 1, 17, 3))})
    with pytest.raises(FormatError, match="no variable 'univ_annot3'"):
        job.load()


def test_test_set_images_give_crops(tmp_path):
    rng = np.random.default_rng(1)
    t = write_3dhp_test(tmp_path, "TS5", rng, n=3, invalid=())
    annot2 = t["annot2"][:, list(skeleton.MPI3DHP_TO_H36M)]
    write_frames(
        tmp_path / "mpi_inf_3dhp_test_set" / "TS5" / "imageSequence",
        paint_people(gradient_background(1920, 1080), annot2),
        pattern="img_{:06d}.jpg",
    )
    (job,) = mpi3dhp_mat.scan(tmp_path, images=True, crop_size=16)
    c = job.load().cameras["0"]
    assert c.images.shape == (3, 16, 16, 3) and c.backgrounds.shape == (3, 16, 16, 3) and c.images_kind == "crop"
    assert (c.images[:, 8, 8, 0] > 180).all()


def test_test_set_too_few_images_is_an_error(tmp_path):
    write_3dhp_test(tmp_path, "TS6", np.random.default_rng(2), n=4)
    write_frames(
        tmp_path / "mpi_inf_3dhp_test_set" / "TS6" / "imageSequence",
        np.zeros((2, 1080, 1920, 3), np.uint8),
        pattern="img_{:06d}.jpg",
    )
    (job,) = mpi3dhp_mat.scan(tmp_path, images=True)
    with pytest.raises(FormatError, match="2 images but annot_data.mat has 4 frames"):
        job.load()


# --- training set --------------------------------------------------------------------------------------------------


def test_train_values_cameras_world_and_fps(tmp_path):
    rng = np.random.default_rng(3)
    t1 = write_3dhp_train(tmp_path, 1, 2, rng)
    write_3dhp_train(tmp_path, 2, 1, rng)
    warnings = []
    jobs = _by_key(mpi3dhp_mat.scan(tmp_path, cameras=(0, 2, 8), warn=warnings.append))
    assert sorted(jobs) == [("S1", "Seq2"), ("S2", "Seq1")]
    s = jobs[("S1", "Seq2")].load()
    assert s.fps == 50.0 and jobs[("S2", "Seq1")].load().fps == 25.0  # S1 Seq2 is a 50 fps sequence
    assert s.role == "3dhp-train" and sorted(s.cameras) == ["0", "2", "8"] and s.n_frames == 6
    assert any("6 annotated frames, fewer than the 12430 expected" in w for w in warnings)
    np.testing.assert_allclose(s.world_3d, t1["world17"], atol=1e-3)  # 28 -> 17 -> H36M order, via the extrinsics
    for cam, c in s.cameras.items():
        cal = t1["cams"][int(cam)]
        np.testing.assert_allclose(c.rotation, cal["R"], atol=1e-8)
        np.testing.assert_allclose(c.translation, cal["t"], atol=1e-6)
        np.testing.assert_allclose(c.camera_3d, t1["world17"] @ cal["R"].T + cal["t"], atol=1e-3)
        np.testing.assert_allclose(camera_to_world(c.camera_3d, c.rotation, c.translation), s.world_3d, atol=1e-3)
        assert (c.intrinsics.width, c.intrinsics.height) == (160, 120)
        np.testing.assert_allclose(c.intrinsics.center, cal["c"])
        assert np.abs(project(c.camera_3d, c.intrinsics) - c.pose_2d).max() < 0.5
        np.testing.assert_allclose(c.extras["univ_annot3"], c.camera_3d * 0.9, rtol=1e-5)


def test_train_default_cameras(tmp_path):
    write_3dhp_train(tmp_path, 4, 1, np.random.default_rng(4), n=3)
    (job,) = mpi3dhp_mat.scan(tmp_path / "S4" / "..", split="train")
    assert sorted(job.load().cameras, key=int) == ["0", "1", "2", "4", "5", "6", "7", "8"]


def test_train_truncated_to_known_video_length(tmp_path, monkeypatch):
    write_3dhp_train(tmp_path, 1, 1, np.random.default_rng(5), n=6)
    monkeypatch.setitem(mpi3dhp_mat.TRAIN_FRAME_COUNTS, (1, 1), 4)
    (job,) = mpi3dhp_mat.scan(tmp_path, cameras=(0,))
    assert job.load().n_frames == 4


def test_train_images_with_frame_count_note(tmp_path):
    rng = np.random.default_rng(6)
    t = write_3dhp_train(tmp_path, 7, 2, rng, n=5)
    for cam in (0, 1):
        write_frames(
            t["folder"] / "imageFrames" / f"video_{cam}",
            rng.integers(0, 255, (4, 120, 160, 3), np.uint8),
            pattern="frame_{:06d}.jpg",
        )
    (job,) = mpi3dhp_mat.scan(tmp_path, cameras=(0, 1), images=True, crop_size=8)
    assert any("frames video_0 4" in n and "truncated to 4" in n for n in job.notes)
    s = job.load()
    assert s.n_frames == 4 and s.cameras["1"].images.shape == (4, 8, 8, 3)


def test_calibration_parsed_by_keyword(tmp_path):
    rot = np.eye(3)[[1, 2, 0]]
    path = tmp_path / "camera.calibration"
    write_calibration(path, {0: {"R": rot, "t": [1, 2, 3], "f": 1500.0, "c": (1024.5, 1000.25), "size": (2048, 2048)}})
    cams = mpi3dhp_mat.parse_calibration(path)
    np.testing.assert_allclose(cams[0].rotation_translation()[0], rot)
    # Tabs, no indentation, keys in another order, an unknown key, CRLF line ends: same result.
    lines = path.read_text().splitlines()
    shuffled = [
        lines[0],
        lines[1].replace("          ", "\t"),
        lines[6].strip(),
        lines[5].strip(),
        "comment x",
        lines[3].strip(),
        lines[2].strip(),
        lines[4].strip(),
        lines[7].strip(),
    ]
    path.write_text("\r\n".join(shuffled) + "\r\n")
    again = mpi3dhp_mat.parse_calibration(path)[0]
    np.testing.assert_allclose(again.intrinsic, cams[0].intrinsic)
    np.testing.assert_allclose(again.extrinsic, cams[0].extrinsic)
    assert again.size == (2048, 2048)
    assert tuple(again.intrinsics().center) == (1024.5, 1000.25)


@pytest.mark.parametrize(
    "text,match",
    [
        ("name 0\n size 10 10\n", "not a camera calibration file"),
        ("Skeletool Camera Calibration File V1.0\nname 0\n size 10 ten\n", r":3: 'size' must be followed by numbers"),
        (
            "Skeletool Camera Calibration File V1.0\nname 0\n size 10 10\n intrinsic 1 2 3\n extrinsic "
            + " ".join(["1"] * 16)
            + "\n",
            "camera 0: 'intrinsic' needs 16 numbers, got 3",
        ),
    ],
)
def test_bad_calibration(tmp_path, text, match):
    path = tmp_path / "camera.calibration"
    path.write_text(text)
    with pytest.raises(FormatError, match=match):
        mpi3dhp_mat.parse_calibration(path)


def test_train_annot_errors(tmp_path):
    t = write_3dhp_train(tmp_path, 3, 1, np.random.default_rng(7), n=3)
    with pytest.raises(FormatError, match=r"no camera 14|no camera 14 \(cells"):
        mpi3dhp_mat.read_train_annot(t["folder"] / "annot.mat", (14,))
    import scipy.io

    scipy.io.savemat(
        t["folder"] / "annot.mat",
        {"annot2": np.ones((3, 56)), "annot3": np.ones((3, 84)), "univ_annot3": np.ones((3, 84))},
    )
    with pytest.raises(FormatError, match="must be a cell array"):
        mpi3dhp_mat.read_train_annot(t["folder"] / "annot.mat", (0,))


def test_nothing_found(tmp_path):
    with pytest.raises(FormatError, match="no MPI-INF-3DHP data found"):
        mpi3dhp_mat.scan(tmp_path)
    write_3dhp_train(tmp_path, 1, 1, np.random.default_rng(8), n=2)
    with pytest.raises(FormatError, match="no test set found"):
        mpi3dhp_mat.scan(tmp_path, split="test")


# --- cameras: fitted (test set) and checked (training set) ---------------------------------------------------------

# The fixtures' cameras: MMPose's published fits of the real sequences (open-mmlab/mmpose
# tests/data/mpi_inf_3dhp/cameras_test.pkl, rounded): fx != fy, principal points 7-20 px from the image centre.
FIT_TRUTH = {
    "TS1": ((1500.07, 1500.66), (-6.62, 19.06)),
    "TS2": ((1503.78, 1501.27), (-8.77, 14.68)),
    "TS3": ((1500.04, 1500.59), (-6.61, 19.05)),
    "TS4": ((1499.93, 1500.76), (-6.63, 18.99)),
    "TS5": ((1683.48, 1671.93), (-20.07, 20.21)),
    "TS6": ((1683.98, 1672.67), (-20.15, 20.12)),
}


def test_test_cameras_fitted_per_sequence(tmp_path):
    rng = np.random.default_rng(11)
    for ts, (focal, offset) in FIT_TRUTH.items():
        write_3dhp_test(
            tmp_path, ts, rng, n=40, invalid=(3, 17), focal=focal, center_offset=offset, noise_px=0.3, junk_invalid=True
        )
    for job in mpi3dhp_mat.scan(tmp_path, split="test"):
        c = job.load().cameras["0"]
        focal, offset = FIT_TRUTH[job.subject]
        w, h = c.intrinsics.width, c.intrinsics.height
        np.testing.assert_allclose(c.intrinsics.focal, focal, atol=1.5)
        np.testing.assert_allclose(c.intrinsics.center - [w / 2, h / 2], offset, atol=0.5)
        assert 0.2 < c.attrs["reprojection_mean_px"] <= 1.0  # the 0.3 px noise, not the junk of invalid frames
        assert c.attrs["reprojection_joints"] == 38 * 17 and "fitted" in c.attrs["intrinsics_source"]
        (line,) = job.checks
        assert line.startswith(f"{job.subject}: intrinsics fitted") and f"cx {c.intrinsics.center[0]:.3f}" in line
        # The image centre, which the release suggests, misses by about the offset: the reason for the fit.
        centred = Intrinsics(focal=c.intrinsics.focal, center=np.array([w / 2, h / 2]), width=w, height=h)
        assert camera_check.reprojection(c.camera_3d, c.pose_2d, centred, c.valid).mean_px > 5


def test_fit_is_exact_without_noise():
    rng = np.random.default_rng(12)
    cam3d = rng.normal(scale=400, size=(9, 17, 3)) + [0, 0, 4500]
    pose2d = cam3d[..., :2] / cam3d[..., 2:] * [1500.5, 1499.25] + [1031.0, 1043.0]
    focal, center = camera_check.fit_pinhole(cam3d, pose2d)
    np.testing.assert_allclose(focal, [1500.5, 1499.25], rtol=1e-9)
    np.testing.assert_allclose(center, [1031.0, 1043.0], atol=1e-6)
    with pytest.raises(FormatError, match="too few"):
        camera_check.fit_pinhole(cam3d, pose2d, np.zeros(9, bool))
    with pytest.raises(FormatError, match="do not determine a camera"):
        camera_check.fit_pinhole(np.tile(cam3d[:1, :1], (9, 17, 1)), pose2d)


@pytest.mark.parametrize("damage", ["swapped joints", "millimetre shift"])
def test_inconsistent_test_sequence_is_refused(tmp_path, damage):
    t = write_3dhp_test(tmp_path, "TS2", np.random.default_rng(13), n=12, invalid=())
    path = tmp_path / "mpi_inf_3dhp_test_set" / "TS2" / "annot_data.mat"
    annot2 = t["annot2"].copy()
    if damage == "swapped joints":  # the 2D of half the frames in another joint order
        annot2[:6] = annot2[:6, ::-1]
    else:  # 2D from another camera position: no pinhole explains it
        annot2[::2] += 60.0
    test_order = t["h36m"][:, list(skeleton.H36M_TO_MPI3DHP)]
    write_mat73(
        path,
        {
            "annot2": annot2[:, None],
            "annot3": test_order[:, None],
            "univ_annot3": test_order[:, None],
            "valid_frame": np.ones((12, 1)),
        },
    )
    (job,) = mpi3dhp_mat.scan(tmp_path)
    with pytest.raises(
        FormatError,
        match=r"annot_data.mat: the camera fitted to TS2 does not reproduce the 2D "
        r"annotations \(mean [\d.]+ px",
    ):
        job.load()


def test_train_calibration_is_checked(tmp_path):
    t = write_3dhp_train(tmp_path, 5, 1, np.random.default_rng(14), n=4)
    (job,) = mpi3dhp_mat.scan(tmp_path, cameras=(0, 3))
    s = job.load()
    assert all(c.attrs["reprojection_mean_px"] < 1e-6 for c in s.cameras.values())
    assert job.checks and job.checks[0].startswith("S5/Seq1: camera.calibration reprojects annot3 onto annot2")
    cams = dict(t["cams"])
    cams[3] = {**cams[3], "f": 130.0}  # a wrong focal length for camera 3
    write_calibration(t["folder"] / "camera.calibration", cams)
    (job,) = mpi3dhp_mat.scan(tmp_path, cameras=(0, 3))
    with pytest.raises(FormatError, match="camera.calibration: camera 3 does not reproduce the 2D annotations"):
        job.load()
