"""MMPose's preprocessed files: h36m_*.npz + cameras.pkl, mpi_inf_3dhp_*.npz + cameras_*.pkl (formats.mmpose_npz)."""

from __future__ import annotations

import io
import json
import os
import pickle
import re

import numpy as np
import pytest

from formats_fixtures import (
    CAM_IDS,
    gradient_background,
    h36m_camera_matrix,
    paint_people,
    run_cli,
    world_poses,
    write_frames,
    write_mmpose_3dhp,
    write_mmpose_h36m,
    write_mmpose_h36m_cameras,
)
from kspbench.data.formats import FormatError, camera_check, h36m_cameras, mmpose_npz
from kspbench.data.formats.safe_pickle import UnsafePickle, load_pickle_file, safe_load
from kspbench.data.store import PoseStore, validate


def _takes(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        ("S1", "Directions 1"): world_poses(rng, n),
        ("S9", "TakingPhoto"): world_poses(rng, n),
        ("S9", "WalkingDog 1"): world_poses(rng, n),
    }


def _h36m_files(tmp_path, *, sample_rate=1, n=6, perturb=None, folder=None):
    ann = tmp_path / "processed" / "annotation_body3d"
    truth = write_mmpose_h36m(
        ann / (folder or f"fps{50 // sample_rate}") / "h36m_train.npz", _takes(n), sample_rate=sample_rate
    )
    cams = write_mmpose_h36m_cameras(ann / "cameras.pkl", perturb=perturb)
    return ann / (folder or f"fps{50 // sample_rate}") / "h36m_train.npz", cams, truth


def _import(args, out):
    return run_cli(["data", "import", *args, "--out", str(out), "--quiet"])


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kspbench: error: "), err
    for needle in needles:
        assert needle in err, err


def _worst_px(printed):
    return [float(x) for x in re.findall(r"reproduces part: worst ([\d.e+-]+) px", printed)]


def test_h36m_import_values_names_and_checks(tmp_path, capsys):
    npz, cams, truth = _h36m_files(tmp_path)
    out = tmp_path / "h36m.h5"
    assert _import(["mmpose-h36m", "--npz", str(npz), "--cameras", str(cams)], out) == 0
    printed = capsys.readouterr().out
    worst = _worst_px(printed)
    assert len(worst) == 3 and max(worst) <= 0.5  # target: S reprojects onto part to 0.5 px
    assert "S1: cameras file vs kspbench's published calibration" in printed
    assert printed.count("equal within 1e-3 px / 1e-3 mm") == 2  # S1 and S9
    assert validate(out) == []
    with PoseStore(out) as store:
        assert [(i.subject, i.sequence, i.role, i.fps) for i in store.sequences()] == [
            ("S1", "Directions 1", "h36m-train", 50.0),
            ("S9", "Photo", "h36m-test", 50.0),
            ("S9", "WalkDog 1", "h36m-test", 50.0),
        ]
        s = store.load_sequence("S9", "Photo")
        assert list(s.cameras) == list(CAM_IDS)
        for cam, c in s.cameras.items():
            frames, cam3d, p2 = truth[("S9", "TakingPhoto", cam)]
            np.testing.assert_allclose(c.camera_3d, cam3d, atol=1e-3)  # metres -> mm (float32 store)
            np.testing.assert_allclose(c.pose_2d, p2, atol=1e-3)
            rot, trans = h36m_cameras.extrinsics("S9", cam)
            np.testing.assert_allclose(c.rotation, rot, atol=1e-7)
            np.testing.assert_allclose(c.translation, trans, atol=1e-3)
            np.testing.assert_array_equal(c.extras["frame"], frames)
            assert c.attrs["reprojection_worst_px"] <= 0.5 and c.attrs["intrinsics_source"] == "MMPose cameras file"
        np.testing.assert_allclose(s.world_3d, _takes()[("S9", "TakingPhoto")], atol=1e-2)
        source = json.loads(store.attrs["source"])
        assert len(source["checks"]) == 5 and source["options"] == {"images": False, "crop_size": None}


def test_h36m_camera_file_round_trips(tmp_path):
    npz, cams, _ = _h36m_files(tmp_path)
    jobs = mmpose_npz.scan([npz], [cams], mmpose_npz.H36M, subjects=["S1"])
    s = jobs[0].load()
    entries = load_pickle_file(cams, "an MMPose cameras file")
    for cam, c in s.cameras.items():
        e = entries[("S1", cam)]
        # The stored world -> camera pair, turned back into MMPose's camera -> world R and centre T (metres).
        np.testing.assert_allclose(c.rotation.T, e["R"], atol=1e-7)  # snapped: the quaternions are float32
        np.testing.assert_allclose(-c.rotation.T @ c.translation / 1000, e["T"].ravel(), atol=1e-12)
        np.testing.assert_allclose(np.r_[c.intrinsics.focal, c.intrinsics.center], np.r_[e["f"], e["c"]].ravel())
        # MMPose's p is metadata.xml's (p2, p1): read reversed, it is the published (p1, p2).
        np.testing.assert_array_equal(c.intrinsics.tangential, e["p"].ravel()[::-1])
        np.testing.assert_array_equal(c.intrinsics.tangential, h36m_cameras.INTRINSICS[cam]["tangential"])
        diff = h36m_cameras.differences("S1", cam, c.intrinsics, c.rotation, c.translation)
        assert diff["focal_px"] <= 1e-3 and diff["center_px"] <= 1e-3 and diff["centre_mm"] <= 1e-3
        assert diff["rotation_urad"] <= 0.2 and diff["distortion"] <= 1e-6
    # The fixture's rotation is built with qrot, independently of h36m_cameras.quaternion_to_matrix.
    q = h36m_cameras.EXTRINSICS_VP3D["S1"][0][0]
    np.testing.assert_allclose(h36m_camera_matrix(q), h36m_cameras.quaternion_to_matrix(np.array(q)), atol=1e-12)


def test_h36m_camera_file_that_disagrees_is_reported(tmp_path, capsys):
    npz, cams, _ = _h36m_files(tmp_path, perturb={"f": 0.5, "T": 0.002})
    assert _import(["mmpose-h36m", "--npz", str(npz), "--cameras", str(cams)], tmp_path / "o.h5") == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("check: S1: cameras file"))
    assert "focal 0.5 px" in line and "camera centre 2 mm" in line
    assert "DIFFERENT (focal, camera centre above the tolerance" in line


def test_h36m_fps10_sampling(tmp_path):
    npz, cams, truth = _h36m_files(tmp_path, sample_rate=5, n=23)
    (job,) = [j for j in mmpose_npz.scan([npz], [cams], mmpose_npz.H36M) if j.sequence == "Directions 1"]
    s = job.load()
    assert s.fps == 10.0 and s.n_frames == 5
    np.testing.assert_array_equal(s.cameras["55011271"].extras["frame"], [0, 5, 10, 15, 20])
    npz50, _, _ = _h36m_files(tmp_path / "b", sample_rate=5, n=23, folder="fps50")
    job = mmpose_npz.scan([npz50], [cams], mmpose_npz.H36M)[0]
    with pytest.raises(
        FormatError,
        match=r"every 5th frame of a 50 fps video \(10 fps\) but the file is in folder "
        r"fps50",
    ):
        job.load()


def test_h36m_wrong_camera_is_refused(tmp_path, capsys):
    npz, cams, _ = _h36m_files(tmp_path, perturb={"c": 30.0})
    out = tmp_path / "o.h5"
    assert _import(["mmpose-h36m", "--npz", str(npz), "--cameras", str(cams)], out) == 2
    _one_line_error(
        capsys,
        "h36m_train.npz [S1/Directions 1]",
        "of the cameras file does not reproduce the 2D annotations",
        "px worst",
    )
    assert not out.exists()


def test_crafted_camera_pickle_runs_nothing(tmp_path, capsys):
    npz, _, _ = _h36m_files(tmp_path)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "cameras.pkl"
    bad.write_bytes(pickle.dumps({("S1", "54138969"): Evil()}))
    assert _import(["mmpose-h36m", "--npz", str(npz), "--cameras", str(bad)], tmp_path / "o.h5") == 2
    _one_line_error(capsys, "refusing to load", "system", "nothing in it was run")
    assert not marker.exists()


def test_safe_pickle_reads_numpy_at_every_protocol():
    for protocol in (2, 4, 5):
        data = {("S1", "54138969"): {"f": np.arange(2.0).reshape(2, 1), "w": 1000, "name": "camera1"}}
        got = safe_load(io.BytesIO(pickle.dumps(data, protocol=protocol)))
        np.testing.assert_array_equal(got[("S1", "54138969")]["f"], data[("S1", "54138969")]["f"])
    with pytest.raises(UnsafePickle, match="builtins.eval"):
        safe_load(io.BytesIO(pickle.dumps(eval)))


@pytest.mark.parametrize(
    "damage,match",
    [
        ("imgname", r"row 0: image name 'IMG_0001.jpg' is not MMPose's"),
        ("S", r"'S' has shape \(18, 17, 4\), expected \(36, 17, 3 or 4\)"),
        ("millimetres", "looks like millimetres; this file must hold metres"),
        ("order", "rows are not in increasing frame order"),
        ("pickled", "holds pickled objects"),
    ],
)
def test_bad_annotation_files(tmp_path, damage, match):
    npz, cams, _ = _h36m_files(tmp_path, n=3)
    with np.load(npz) as f:
        arrays = dict(f)
    if damage == "imgname":
        arrays["imgname"] = np.array(["IMG_0001.jpg"] + arrays["imgname"].tolist()[1:])
    elif damage == "S":
        arrays["S"] = arrays["S"][:18]
    elif damage == "millimetres":
        arrays["S"] = arrays["S"] * 1000
    elif damage == "order":
        arrays["imgname"] = arrays["imgname"][[1, 0, *range(2, len(arrays["imgname"]))]]
    else:
        arrays["S"] = np.array([None] * len(arrays["imgname"]), dtype=object)
    np.savez(npz, **arrays)
    with pytest.raises(FormatError, match=match):
        for job in mmpose_npz.scan([npz], [cams], mmpose_npz.H36M):
            job.load()


def test_h36m_images_give_crops_from_the_files_boxes(tmp_path):
    ann = tmp_path / "processed" / "annotation_body3d"
    truth = write_mmpose_h36m(
        ann / "fps50" / "h36m_test.npz",
        {("S11", "Eating 2"): world_poses(np.random.default_rng(3), 3)},
        cameras=("58860488",),
    )
    cams = write_mmpose_h36m_cameras(ann / "cameras.pkl", subjects=("S11",))
    _, _, p2 = truth[("S11", "Eating 2", "58860488")]
    images = tmp_path / "processed" / "images"
    write_frames(
        images / "S11" / "S11_Eating_2.58860488",
        paint_people(gradient_background(1000, 1000), p2),
        pattern="S11_Eating_2.58860488_{:06d}.jpg",
    )
    (job,) = mmpose_npz.scan([ann / "fps50" / "h36m_test.npz"], [cams], mmpose_npz.H36M, images=images, crop_size=16)
    c = job.load().cameras["58860488"]
    assert c.images.shape == (3, 16, 16, 3) and c.backgrounds.shape == (3, 16, 16, 3)
    side = 1.2 * (p2.max(1) - p2.min(1)).max(1)
    np.testing.assert_allclose(c.boxes[:, 2] - c.boxes[:, 0], side, rtol=1e-5)  # MMPose's box, not kspbench's
    assert (c.images[:, 8, 8, 0] > 180).all()
    # Frames 2 rows taller than the cameras file says (as some real Human3.6M videos are): accepted, with a check.
    folder = images / "S11" / "S11_Eating_2.58860488"
    write_frames(folder, paint_people(gradient_background(1000, 1002), p2), pattern="S11_Eating_2.58860488_{:06d}.jpg")
    (job,) = mmpose_npz.scan([ann / "fps50" / "h36m_test.npz"], [cams], mmpose_npz.H36M, images=images, crop_size=16)
    assert job.load().cameras["58860488"].intrinsics.height == 1002
    assert any("frames are 1000x1002 px, the cameras file says 1000x1000" in line for line in job.checks)
    write_frames(folder, paint_people(gradient_background(1001, 1000), p2), pattern="S11_Eating_2.58860488_{:06d}.jpg")
    with pytest.raises(FormatError, match="frame is 1001x1000 px but the cameras file says 1000x1000"):
        job.load()
    (folder / "S11_Eating_2.58860488_000002.jpg").unlink()
    with pytest.raises(FormatError, match=r"S11_Eating_2.58860488_000002.jpg: no such image \(1 of 3"):
        job.load()


def test_3dhp_train_and_test_round_trip_against_the_raw_importer(tmp_path, capsys):
    truth = write_mmpose_3dhp(tmp_path, np.random.default_rng(4))
    ann = tmp_path / "annotations"
    out = tmp_path / "mm.h5"
    assert (
        _import(
            [
                "mmpose-3dhp",
                "--npz",
                str(ann / "mpi_inf_3dhp_train.npz"),
                "--npz",
                str(ann / "mpi_inf_3dhp_test_valid.npz"),
                "--cameras",
                str(ann / "cameras_train.pkl"),
                "--cameras",
                str(ann / "cameras_test.pkl"),
            ],
            out,
        )
        == 0
    )
    assert max(_worst_px(capsys.readouterr().out)) <= 0.5
    raw = tmp_path / "raw.h5"
    assert _import(["3dhp", "--root", str(tmp_path / "raw")], raw) == 0
    with PoseStore(out) as store, PoseStore(raw) as ref:
        assert store.roles() == {"3dhp-train": 1, "3dhp-test": 1}
        s = store.load_sequence("S1", "Seq2")
        assert s.fps == 50.0 and list(s.cameras) == ["0", "4"]
        np.testing.assert_allclose(s.world_3d, truth["world"], atol=1e-2)
        for cam, c in s.cameras.items():
            np.testing.assert_allclose(c.rotation, truth[int(cam)]["R"], atol=1e-9)
            np.testing.assert_allclose(c.translation, truth[int(cam)]["t"], atol=1e-6)
            np.testing.assert_allclose(c.camera_3d, truth[int(cam)]["cam3d"], atol=1e-2)
            np.testing.assert_allclose(c.pose_2d, truth[int(cam)]["p2"], atol=1e-3)
        t, r = store.load_sequence("TS1", "TS1").cameras["0"], ref.load_sequence("TS1", "TS1").cameras["0"]
        keep = truth["test"]["keep"]
        np.testing.assert_array_equal(t.extras["frame"], keep)
        np.testing.assert_allclose(t.camera_3d, r.camera_3d[keep], atol=1e-3)
        np.testing.assert_allclose(t.pose_2d, r.pose_2d[keep], atol=1e-3)
        # MMPose's fitted camera (the fixture's truth, +7/+19 px off centre) = kspbench's own fit of the raw file.
        np.testing.assert_allclose(t.intrinsics.center, [1031.0, 1043.0])
        np.testing.assert_allclose(r.intrinsics.center, t.intrinsics.center, atol=1e-6)
        np.testing.assert_allclose(r.intrinsics.focal, t.intrinsics.focal, atol=1e-6)


def test_help_states_the_limits_and_layouts(capsys):
    for command, needle in (
        ("mmpose-h36m", "S9_Walking_1.54138969_000001.jpg"),
        ("mmpose-3dhp", "S1_Seq1_Cam0_000001.jpg, TS1_000001.jpg"),
    ):
        with pytest.raises(SystemExit) as exc:
            run_cli(["data", "import", command, "--help"])
        assert exc.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert needle in text
        assert f"refused above {camera_check.MAX_MEAN_PX:g} px mean or {camera_check.MAX_WORST_PX:g} px worst" in text


def test_cameras_with_more_rows_are_cut_with_a_note(tmp_path):
    npz, cams, _ = _h36m_files(tmp_path, n=5)
    with np.load(npz) as f:
        arrays = dict(f)
    last = [i for i, name in enumerate(arrays["imgname"].tolist()) if name.startswith("S1/") and ".60457274_" in name][
        -1
    ]
    np.savez(npz, **{k: np.delete(v, last, axis=0) for k, v in arrays.items()})
    (job,) = mmpose_npz.scan([npz], [cams], mmpose_npz.H36M, subjects=["S1"])
    assert job.notes == [
        "S1/Directions 1: cameras have 54138969 5, 55011271 5, 58860488 5, 60457274 4 rows; truncated to 4"
    ]
    s = job.load()
    assert s.n_frames == 4 and all(c.camera_3d.shape[0] == 4 for c in s.cameras.values())


# One entry of a real MMPose cameras.pkl (open-mmlab/mmpose tests/data/h36m/cameras.pkl, written by
# preprocess_h36m.py from the release's metadata.xml): S9, camera 55011271. Numbers only; kspbench's table comes from
# VideoPose3D, so agreement checks both the table and the reading of MMPose's conventions (R camera -> world, T the
# centre in metres, p reversed).
REAL_S9_55011271 = {
    "R": [
        [0.9315720471487059, 0.06810069482701912, -0.35712157080642226],
        [0.36348288012373176, -0.19426747906725159, 0.911120377575769],
        [-0.007329176497134756, -0.9785818524481906, -0.20572758986325015],
    ],
    "T": [[1.9909596621548], [-5.12381055155997], [1.56880481574437]],
    "c": [[508.848621645943], [508.064917088557]],
    "f": [[1149.67569986785], [1147.59161666764]],
    "k": [[-0.194213629607385], [0.240408539138292], [0.00681997559022603]],
    "p": [[-0.0027408943961907], [-0.001619026613787]],
    "w": 1000,
    "h": 1000,
    "name": "camera2",
    "id": "55011271",
}


def test_a_real_mmpose_camera_entry_equals_the_published_calibration(tmp_path):
    path = tmp_path / "cameras.pkl"
    path.write_bytes(
        pickle.dumps(
            {("S9", "55011271"): {k: (np.array(v) if isinstance(v, list) else v) for k, v in REAL_S9_55011271.items()}}
        )
    )
    entry = mmpose_npz.read_cameras([path])[("S9", "55011271")]
    intr, rot, trans = mmpose_npz.camera_of(entry, "S9 55011271", "camera_to_world")
    diff = h36m_cameras.differences("S9", "55011271", intr, rot, trans)
    tolerance = h36m_cameras.AGREEMENT_TOLERANCE
    assert all(diff[k] <= tolerance[k] for k in diff), diff
    assert diff["focal_px"] < 1e-4 and diff["centre_mm"] < 1e-3
    # Read without reversing p, the tangential coefficients would be the published ones swapped.
    published = h36m_cameras.intrinsics("55011271")
    np.testing.assert_allclose(np.ravel(REAL_S9_55011271["p"]), published.tangential[::-1], atol=1e-9)
