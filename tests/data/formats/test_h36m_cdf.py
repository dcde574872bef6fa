"""Human3.6M: published cameras, CDF reading, names, roles, truncation, defects, crops
(kspbench.data.formats.h36m_cdf)."""

from __future__ import annotations

import numpy as np
import pytest

from assertions import assert_close
from formats_fixtures import (
    CAM_IDS,
    S1_CAM0,
    gradient_background,
    paint_people,
    published_extrinsics,
    to32,
    vp3d_project_px,
    vp3d_world_to_camera,
    world_poses,
    write_cdf,
    write_frames,
    write_h36m_take,
)
from kspbench.core import crops, skeleton
from kspbench.data.formats import FormatError, h36m_cameras, h36m_cdf, project, world_to_camera
from kspbench.data.formats import frames as frames_mod
from kspbench.data.formats.frames import crop_frame


def _load_all(jobs):
    return {(j.subject, j.sequence): j.load() for j in jobs}


# --- cameras -------------------------------------------------------------------------------------------------------


def test_world_to_camera_fixture_point_s1_cam0():
    # protocols-notes 1.4: world (0, 0, 1.0) m through S1/cam0 -> (-0.32030331, -0.4352653, 5.2886616) m.
    rot, t = h36m_cameras.extrinsics("S1", "54138969")
    got = world_to_camera(np.array([0.0, 0.0, 1000.0]), rot, t)
    np.testing.assert_allclose(got / 1000, [-0.32030331, -0.4352653, 5.2886616], atol=1e-6)
    assert_close(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)


def test_transcribed_values_match_the_notes():
    q, c = h36m_cameras.EXTRINSICS_VP3D["S1"][0]
    assert list(q) == S1_CAM0[0] and list(c) == S1_CAM0[1]
    assert h36m_cameras.CAMERA_IDS == CAM_IDS
    assert not h36m_cameras.has_extrinsics("S2") and h36m_cameras.has_extrinsics("S11")


@pytest.mark.parametrize("subject", ["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
def test_matrix_extrinsics_equal_videopose3d_quaternion_formula(subject):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=1000.0, size=(20, 3))
    for k, cam in enumerate(h36m_cameras.CAMERA_IDS):
        rot, t = h36m_cameras.extrinsics(subject, cam)
        q, c = h36m_cameras.EXTRINSICS_VP3D[subject][k]
        # VideoPose3D rotates by the quaternion as stored (norm 1 +- 1e-8); kspbench normalises it first so that R
        # is orthonormal: the two differ by < 1e-4 mm at 5 m.
        np.testing.assert_allclose(world_to_camera(x, rot, t), vp3d_world_to_camera(x, q, c), atol=1e-3)


def test_projection_fixture_pixel_and_videopose3d_agreement():
    intr = h36m_cameras.intrinsics("54138969")
    # protocols-notes 1.4: camera-frame (0.1, 0.2, 5.0) m through 54138969 -> (535.42904362, 561.17705923) px.
    np.testing.assert_allclose(project(np.array([100.0, 200.0, 5000.0]), intr), [535.42904362, 561.17705923], atol=1e-5)
    rng = np.random.default_rng(2)
    pts = np.c_[rng.uniform(-1500, 1500, (50, 2)), rng.uniform(3000, 7000, 50)]
    for cam in h36m_cameras.CAMERA_IDS:
        np.testing.assert_allclose(project(pts, h36m_cameras.intrinsics(cam)), vp3d_project_px(pts, cam), atol=1e-6)


def test_unknown_camera_or_subject_raises():
    with pytest.raises(KeyError):
        h36m_cameras.extrinsics("S2", "54138969")
    with pytest.raises(KeyError):
        h36m_cameras.intrinsics("12345678")


# --- names ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem,want",
    [
        ("Directions 1", ("Directions", "Directions 1")),
        ("Directions", ("Directions", "Directions")),
        ("TakingPhoto 1", ("Photo", "Photo 1")),
        ("TakingPhoto", ("Photo", "Photo")),
        ("WalkingDog 1", ("WalkDog", "WalkDog 1")),
        ("WalkDog", ("WalkDog", "WalkDog")),
        ("Eating 2", ("Eating", "Eating 2")),
        ("SittingDown", ("SittingDown", "SittingDown")),
        ("WalkTogether 2", ("WalkTogether", "WalkTogether 2")),
    ],
)
def test_canonical_names(stem, want):
    assert h36m_cdf.canonical_name(stem) == want


@pytest.mark.parametrize("stem", ["Dancing 1", "directions 1", "Directions_1", "Walking 1 2", ""])
def test_unknown_action_names_raise(stem):
    with pytest.raises(FormatError, match="unknown action"):
        h36m_cdf.canonical_name(stem)


def test_roles():
    assert [h36m_cdf.role_of(s) for s in ("S1", "S5", "S8", "S9", "S11", "S2", "S10")] == [
        "h36m-train",
        "h36m-train",
        "h36m-train",
        "h36m-test",
        "h36m-test",
        "h36m-other",
        "h36m-other",
    ]


# --- reading -------------------------------------------------------------------------------------------------------


@pytest.fixture()
def h36m_root(tmp_path):
    """S1 and S9 with three takes each (+ an _ALL file), consistent through the published cameras."""
    rng = np.random.default_rng(0)
    root = tmp_path / "h36m"
    truth = {}
    for subj in ("S1", "S9"):
        ext = published_extrinsics(subj)
        for stem in ("Directions 1", "TakingPhoto", "Eating 2", "_ALL 1"):
            w = world_poses(rng, 6)
            write_h36m_take(root, subj, stem, w, ext, n2d_extra=3 if stem == "Eating 2" else 0)
            truth[(subj, stem)] = w
    return root, truth


def test_import_values_units_mapping_and_projection(h36m_root):
    root, truth = h36m_root
    jobs = h36m_cdf.scan(root)
    assert sorted((j.subject, j.sequence) for j in jobs) == [
        ("S1", "Directions 1"),
        ("S1", "Eating 2"),
        ("S1", "Photo"),
        ("S9", "Directions 1"),
        ("S9", "Eating 2"),
        ("S9", "Photo"),
    ]
    seqs = _load_all(jobs)
    s = seqs[("S9", "Photo")]
    assert (s.action, s.role, s.fps, s.n_frames) == ("Photo", "h36m-test", 50.0, 6)
    assert seqs[("S1", "Photo")].role == "h36m-train"
    np.testing.assert_allclose(s.world_3d, truth[("S9", "TakingPhoto")], atol=1e-9)  # mm, 17 joints
    ext = published_extrinsics("S9")
    for cam, c in s.cameras.items():
        want3d = vp3d_world_to_camera(truth[("S9", "TakingPhoto")], *ext[cam])
        np.testing.assert_allclose(c.camera_3d, want3d, atol=1e-6)  # read from D3_Positions_mono
        # The file's 2D poses and the projection of the file's 3D poses agree within 0.5 px.
        assert np.abs(project(c.camera_3d, c.intrinsics) - c.pose_2d).max() < 0.5
        np.testing.assert_allclose(world_to_camera(s.world_3d, c.rotation, c.translation), c.camera_3d, atol=1e-3)
        assert c.valid.all() and c.images is None and c.intrinsics.width == 1000


def test_joint_mapping_takes_the_17_videopose3d_indices(tmp_path):
    pose32 = np.arange(5 * 32 * 3, dtype=float).reshape(5, 32, 3) * 10 + 1000.0
    path = tmp_path / "S1" / "MyPoseFeatures" / "D3_Positions" / "Walking 1.cdf"
    write_cdf(path, pose32)
    got = h36m_cdf.read_pose_cdf(path, 3)
    np.testing.assert_array_equal(got, pose32)
    np.testing.assert_array_equal(got[:, list(skeleton.H36M32_TO_17)][:, 8], pose32[:, 13])  # thorax = index 13


def test_2d_longer_than_3d_is_truncated_and_recorded(h36m_root):
    root, _ = h36m_root
    jobs = {(j.subject, j.sequence): j for j in h36m_cdf.scan(root)}
    job = jobs[("S9", "Eating 2")]
    assert any("frame counts differ" in n and "D2_Positions 9" in n and "truncated to 6" in n for n in job.notes)
    assert job.load().n_frames == 6
    assert not any("frame counts" in n for n in jobs[("S9", "Photo")].notes)


def test_missing_per_camera_files_are_computed(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "h36m"
    w = world_poses(rng, 5)
    write_h36m_take(root, "S11", "Walking 1", w, published_extrinsics("S11"), mono=False, d2=False)
    (s,) = _load_all(h36m_cdf.scan(root)).values()
    assert s.role == "h36m-test" and sorted(s.cameras) == sorted(CAM_IDS)
    for cam, c in s.cameras.items():
        want = vp3d_world_to_camera(w, *published_extrinsics("S11")[cam])
        np.testing.assert_allclose(c.camera_3d, want, atol=1e-3)
        np.testing.assert_allclose(c.pose_2d, vp3d_project_px(want, cam), atol=1e-4)


def test_s11_directions_kept_with_a_note_or_dropped(tmp_path):
    rng = np.random.default_rng(4)
    root = tmp_path / "h36m"
    for stem in ("Directions", "Directions 1"):
        write_h36m_take(root, "S11", stem, world_poses(rng, 4), published_extrinsics("S11"), d2=False)
    jobs = h36m_cdf.scan(root)
    assert sorted(j.sequence for j in jobs) == ["Directions", "Directions 1"]
    (note,) = [n for j in jobs for n in j.notes]
    assert note.startswith("S11/Directions: the video of camera 54138969 is damaged")
    assert [j.sequence for j in h36m_cdf.scan(root, drop_defective=True)] == ["Directions 1"]


def test_subject_without_published_extrinsics_estimates_them(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "h36m"
    w = world_poses(rng, 8)
    write_h36m_take(root, "S2", "Posing 1", w, published_extrinsics("S1"))  # S2 unpublished: S1's cameras used
    (job,) = h36m_cdf.scan(root)
    assert any("estimated" in n for n in job.notes)
    s = job.load()
    assert s.role == "h36m-other"
    for cam, c in s.cameras.items():
        rot, t = h36m_cameras.extrinsics("S1", cam)
        np.testing.assert_allclose(c.rotation, rot, atol=1e-6)
        np.testing.assert_allclose(c.translation, t, atol=1e-2)


def test_subject_without_extrinsics_and_mono_is_refused(tmp_path):
    root = tmp_path / "h36m"
    write_h36m_take(
        root, "S3", "Posing 1", world_poses(np.random.default_rng(6), 4), published_extrinsics("S1"), mono=False
    )
    with pytest.raises(FormatError, match="no published camera extrinsics for S3"):
        h36m_cdf.scan(root)


def test_spelling_collision_is_refused(tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "h36m"
    for stem in ("WalkDog 1", "WalkingDog 1"):
        write_h36m_take(root, "S1", stem, world_poses(rng, 3), published_extrinsics("S1"), mono=False, d2=False)
    with pytest.raises(FormatError, match="both map to S1/WalkDog 1"):
        h36m_cdf.scan(root)


@pytest.mark.parametrize("shape,match", [((1, 5, 95), r"shape \(1, 5, 95\)"), ((2, 5, 96), r"shape \(2, 5, 96\)")])
def test_wrong_pose_shape(tmp_path, shape, match):
    from spacepy import pycdf

    path = tmp_path / "Walking 1.cdf"
    with pycdf.CDF(str(path), "") as cdf:
        cdf["Pose"] = np.ones(shape)
    with pytest.raises(FormatError, match=match):
        h36m_cdf.read_pose_cdf(path, 3)


def test_cdf_without_pose_variable(tmp_path):
    from spacepy import pycdf

    path = tmp_path / "Walking 1.cdf"
    with pycdf.CDF(str(path), "") as cdf:
        cdf["Positions"] = np.ones((1, 5, 96))
    with pytest.raises(FormatError, match="no variable 'Pose'"):
        h36m_cdf.read_pose_cdf(path, 3)


def test_metres_in_a_cdf_are_refused(tmp_path):
    root = tmp_path / "h36m"
    w = world_poses(np.random.default_rng(8), 4)
    write_h36m_take(root, "S9", "Walking 1", w, published_extrinsics("S9"))
    write_cdf(root / "S9" / "MyPoseFeatures" / "D3_Positions" / "Walking 1.cdf", to32(w) / 1000)
    (job,) = h36m_cdf.scan(root)
    with pytest.raises(FormatError, match=r"D3_Positions/Walking 1.cdf: median bone length .* looks like metres"):
        job.load()


def test_d2_files_are_checked_by_reprojection_and_reported(h36m_root, tmp_path):
    from kspbench.data.formats import camera_check

    root, _ = h36m_root
    jobs = {(j.subject, j.sequence): j for j in h36m_cdf.scan(root)}
    job = jobs[("S9", "Photo")]
    s = job.load()
    (line,) = job.checks
    assert line.startswith("S9/Photo: the 3D poses projected with the published cameras reproduce D2_Positions: worst")
    assert "over 4 camera(s), 6 frames" in line
    for c in s.cameras.values():  # the figures of the report are those of the stored cameras
        err = np.linalg.norm(project(c.camera_3d, c.intrinsics) - c.pose_2d, axis=-1)
        assert c.attrs["reprojection_joints"] == 6 * 17
        np.testing.assert_allclose(
            [c.attrs["reprojection_mean_px"], c.attrs["reprojection_worst_px"]], [err.mean(), err.max()], rtol=1e-9
        )
        assert c.attrs["reprojection_worst_px"] < 0.5 < camera_check.MAX_MEAN_PX  # float32 files: rounding only
    worst = max(c.attrs["reprojection_worst_px"] for c in s.cameras.values())
    assert f"worst {worst:.3g} px" in line
    # Without 2D files the 2D poses are the projection: nothing to check, no line.
    other = tmp_path / "no2d"
    write_h36m_take(
        other, "S9", "Walking 1", world_poses(np.random.default_rng(4), 3), published_extrinsics("S9"), d2=False
    )
    (job,) = h36m_cdf.scan(other)
    job.load()
    assert job.checks == []


def test_d2_file_of_another_camera_is_refused(tmp_path, capsys):
    from formats_fixtures import run_cli

    root = tmp_path / "h36m"
    w = world_poses(np.random.default_rng(12), 5)
    ext = published_extrinsics("S9")
    write_h36m_take(root, "S9", "Walking 1", w, ext)
    # The 2D file of camera 54138969 holds camera 55011271's projections (a misnamed file).
    d2 = root / "S9" / "MyPoseFeatures" / "D2_Positions" / "Walking 1.54138969.cdf"
    write_cdf(d2, to32(vp3d_project_px(vp3d_world_to_camera(w, *ext["55011271"]), "55011271")), dtype=np.float32)
    (job,) = h36m_cdf.scan(root)
    with pytest.raises(
        FormatError,
        match=r"Walking 1\.54138969\.cdf: the published camera 54138969 .*does not "
        r"reproduce the 2D annotations \(mean .* px, worst .* px",
    ):
        job.load()
    out = tmp_path / "h36m.h5"
    assert run_cli(["data", "import", "h36m", "--root", str(root), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not reproduce the 2D annotations" in err[0]
    assert not out.exists()


# --- frames --------------------------------------------------------------------------------------------------------


def test_frames_give_oracle_crops_and_median_backgrounds(tmp_path):
    rng = np.random.default_rng(9)
    root, frames = tmp_path / "h36m", tmp_path / "frames"
    w = world_poses(rng, 5, spread=0.0, step=900.0)  # the person walks along x: never twice at the same place
    ext = published_extrinsics("S9")
    write_h36m_take(root, "S9", "TakingPhoto 1", w, ext)
    bgs = {}
    for cam in CAM_IDS:
        p2 = vp3d_project_px(vp3d_world_to_camera(w, *ext[cam]), cam)
        width, height = h36m_cameras.intrinsics(cam).width, h36m_cameras.intrinsics(cam).height
        bgs[cam] = gradient_background(width, height)
        # Folder named like the video (release spelling); two extra video frames beyond the mocap length.
        imgs = paint_people(bgs[cam], np.concatenate([p2, p2[-1:], p2[-1:]]))
        write_frames(frames / "S9" / f"TakingPhoto 1.{cam}", imgs)
    (job,) = h36m_cdf.scan(root, frames_root=frames, crop_size=32)
    assert any("frames 7" in n and "truncated to 5" in n for n in job.notes)
    s = job.load()
    checked = 0
    for cam, c in s.cameras.items():
        assert c.images.shape == (5, 32, 32, 3) and c.backgrounds.shape == (5, 32, 32, 3)
        assert c.images_kind == "crop" and c.boxes.shape == (5, 4)
        side = c.boxes[:, 2] - c.boxes[:, 0]
        np.testing.assert_allclose(side, c.boxes[:, 3] - c.boxes[:, 1], rtol=1e-5)  # squares
        extent = (c.pose_2d.max(1) - c.pose_2d.min(1)).max(1)
        np.testing.assert_allclose(side, 1.2 * extent, rtol=1e-4)  # kspbench.core.crops.DEFAULT_MARGIN
        inside = (c.boxes[:, :2] >= 0).all(1) & (c.boxes[:, 2] <= 1000) & (c.boxes[:, 3] <= 1000)
        for i in np.flatnonzero(inside):
            r, g, b = c.images[i, 16, 16].astype(int)
            assert r > 200 and g < 60 and b < 60  # the (red) person fills the crop's centre
            bg = c.backgrounds[i, 16, 16].astype(int)
            assert bg[0] < 230 and bg[2] > 40  # the median removed the person
            checked += 1
        # Background crops are the static background cut with the box, by the shared crop rule (the gradient is
        # smooth, so the anti-aliasing pre-shrink changes next to nothing).
        ref = crops.crop_images(bgs[cam][None], c.boxes[:1], 32)[0]
        box = c.boxes[0].astype(float)
        centres = box[0] + (np.arange(32) + 0.5) / 32 * (box[2] - box[0])  # square box: same offsets in y
        margin = frames_mod.shrink_factor(box, 32) + 1  # the pre-shrink blurs the frame's edge over this many px
        inx = (centres >= margin) & (centres <= 999 - margin)
        iny = (box[1] - box[0] + centres >= margin) & (box[1] - box[0] + centres <= 999 - margin)
        diff = np.abs(ref.astype(int) - c.backgrounds[0].astype(int))[np.ix_(iny, inx)]
        assert diff.size and diff.max() <= 2
        np.testing.assert_array_equal(crop_frame(bgs[cam], c.boxes[0], 32), c.backgrounds[0])
    assert checked >= 10


def test_missing_frame_folder_is_an_error_except_for_the_damaged_video(tmp_path):
    rng = np.random.default_rng(10)
    root, frames = tmp_path / "h36m", tmp_path / "frames"
    w = world_poses(rng, 3)
    write_h36m_take(root, "S11", "Directions", w, published_extrinsics("S11"), d2=False)
    for cam in CAM_IDS[1:]:
        res = h36m_cameras.intrinsics(cam)
        write_frames(
            frames / "S11" / f"Directions.{cam}",
            np.zeros((3, res.height, res.width, 3), np.uint8),
            pattern="{:06d}.jpg",
        )
    (job,) = h36m_cdf.scan(root, frames_root=frames, crop_size=8)
    assert any("no frames for camera 54138969" in n for n in job.notes)
    s = job.load()
    assert s.cameras["54138969"].images is None and s.cameras["55011271"].images.shape == (3, 8, 8, 3)
    import shutil

    shutil.rmtree(frames / "S11" / "Directions.55011271")
    with pytest.raises(FormatError, match="no frame folder for S11 'Directions' camera 55011271"):
        h36m_cdf.scan(root, frames_root=frames)


def test_spellings_may_differ_between_folders(tmp_path):
    rng = np.random.default_rng(11)
    root, frames = tmp_path / "h36m", tmp_path / "frames"
    w = world_poses(rng, 3)
    write_h36m_take(root, "S1", "WalkingDog", w, published_extrinsics("S1"))
    feats = root / "S1" / "MyPoseFeatures"
    for p in sorted((feats / "D3_Positions_mono").glob("*.cdf")):  # the per-camera files spell it "WalkDog"
        p.rename(p.with_name(p.name.replace("WalkingDog", "WalkDog")))
    for cam in CAM_IDS:
        res = h36m_cameras.intrinsics(cam)
        write_frames(
            frames / "S1" / f"WalkDog.{cam}", np.zeros((3, res.height, res.width, 3), np.uint8), pattern="{:06d}.jpg"
        )
    (job,) = h36m_cdf.scan(root, frames_root=frames, crop_size=4)
    assert (job.sequence, job.load().cameras["54138969"].images.shape) == ("WalkDog", (3, 4, 4, 3))
