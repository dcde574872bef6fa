"""`kspbench import-predictions {videopose3d,mmpose,csv}`: outside predictions -> the interchange format."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from formats_fixtures import run_cli, world_poses
from kspbench.core import skeleton
from kspbench.data.formats import detect_units, h36m_cameras, mmpose_npz
from kspbench.data.outside.common import OutsideError, sequence_name, to_millimetres
from kspbench.data.outside.csv_poses import WIDE_COLUMNS, read_csv
from kspbench.data.outside.mmpose import parse_image_name, read_mmpose
from kspbench.data.outside.videopose3d import read_videopose3d
from kspbench.data.predictions import PredictionsError, read_predictions

CAMS = h36m_cameras.CAMERA_IDS


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("kspbench: error:"), err
    for n in needles:
        assert n in err, err
    return err


def _save_vp3d(path, positions, **extra):
    np.savez(path, positions_3d=np.array(positions, dtype=object), **extra)
    return path


@pytest.fixture
def vp3d(tmp_path):
    """{subject: {action: [4 arrays]}} in metres: S9 'Directions 1' (5 frames), S11 'TakingPhoto' (3 frames)."""
    rng = np.random.default_rng(0)
    mm = {
        ("S9", "Directions 1"): [world_poses(rng, 5) for _ in CAMS],
        ("S11", "TakingPhoto"): [world_poses(rng, 3) for _ in CAMS],
    }
    positions: dict = {}
    for (s, a), arrays in mm.items():
        positions.setdefault(s, {})[a] = [(x / 1000).astype(np.float32) for x in arrays]
    return {"path": _save_vp3d(tmp_path / "vp3d.npz", positions), "mm": mm, "positions": positions}


# --- names ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, name",
    [
        ("Directions_1", "Directions 1"),
        ("TakingPhoto 1", "Photo 1"),
        ("WalkingDog", "WalkDog"),
        ("Photo", "Photo"),
        ("TS3", "TS3"),
    ],
)
def test_sequence_names_follow_the_store(raw, name):
    assert sequence_name(raw) == name


def test_mmpose_image_names_are_parsed_one_based():
    assert parse_image_name("images/S9/S9_TakingPhoto_1.54138969/S9_TakingPhoto_1.54138969_000006.jpg", "x") == (
        "S9",
        "Photo 1",
        "54138969",
        5,
    )
    assert parse_image_name("S11_Directions.60457274_000001.jpg", "x") == ("S11", "Directions", "60457274", 0)
    with pytest.raises(OutsideError, match="numbers frames from 1"):
        parse_image_name("S9_Walking_1.54138969_000000.jpg", "x")
    with pytest.raises(OutsideError, match="not MMPose's Human3.6M layout"):
        parse_image_name("S9-Walking-1.jpg", "x")


def test_image_names_read_as_the_mmpose_importer_reads_them():
    # One grammar for MMPose's Human3.6M image names: the outside reader and the annotation-npz importer agree.
    for name in ("S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000001.jpg", "S11_WalkingDog_2.60457274_000011.jpg"):
        row = mmpose_npz.parse_h36m_name(name)
        assert parse_image_name(name, "x") == (row.subject, row.sequence, row.camera, row.frame)


@pytest.mark.parametrize("scale, units", [(1.0, "mm"), (1e-3, "m")])
def test_units_are_detected_from_bone_lengths(scale, units):
    poses = world_poses(np.random.default_rng(0), 4) * scale
    assert detect_units(poses)[0] == units
    np.testing.assert_allclose(to_millimetres(poses, "auto", "x")[0], poses / scale)
    assert detect_units(np.full((2, 17, 3), np.nan)) == (None, pytest.approx(np.nan, nan_ok=True))


# --- VideoPose3D ----------------------------------------------------------------------------------------------------


def test_videopose3d_metres_become_millimetres_in_camera_order(vp3d):
    got = read_videopose3d(vp3d["path"])
    p = got.predictions
    assert got.units == "m" and len(p) == 4 * (5 + 3)
    for (s, a), arrays in vp3d["mm"].items():
        for cam, want in zip(CAMS, arrays):
            sel = (p.subject == s) & (p.sequence == sequence_name(a)) & (p.camera == cam)
            assert p.frame[sel].tolist() == list(range(len(want)))
            np.testing.assert_allclose(p.poses_3d[sel], want, atol=0.01)  # float32 metres -> mm
    assert set(p.sequence) == {"Directions 1", "Photo"}


def test_videopose3d_camera_order_is_explicit(vp3d, tmp_path):
    reverse = list(reversed(CAMS))
    p = read_videopose3d(vp3d["path"], cameras=reverse).predictions
    first = (p.subject == "S9") & (p.camera == reverse[0])
    np.testing.assert_allclose(p.poses_3d[first], vp3d["mm"][("S9", "Directions 1")][0], atol=0.01)
    with pytest.raises(OutsideError, match="4 per-camera arrays but the camera order .* has 2"):
        read_videopose3d(vp3d["path"], cameras=["54138969", "55011271"])
    # The order a kspbench export records is used when --cameras is not given.
    meta = np.array({"camera_order": reverse}, dtype=object)
    with_meta = _save_vp3d(tmp_path / "meta.npz", vp3d["positions"], metadata=meta)
    got = read_videopose3d(with_meta)
    np.testing.assert_allclose(
        got.predictions.poses_3d[(got.predictions.subject == "S9") & (got.predictions.camera == reverse[0])],
        vp3d["mm"][("S9", "Directions 1")][0],
        atol=0.01,
    )
    assert any("metadata.camera_order" in n for n in got.notes)


def test_videopose3d_units_given_are_checked(vp3d):
    assert read_videopose3d(vp3d["path"], units="m").units == "m"
    with pytest.raises(OutsideError, match="--units mm but the median bone length .* metres"):
        read_videopose3d(vp3d["path"], units="mm")


def test_videopose3d_nan_frames_and_empty_cameras_are_left_out(vp3d, tmp_path):
    positions = vp3d["positions"]
    positions["S9"]["Directions 1"][1] = positions["S9"]["Directions 1"][1].copy()
    positions["S9"]["Directions 1"][1][2] = np.nan
    positions["S11"]["TakingPhoto"][3] = np.zeros((0, 17, 3), np.float32)
    got = read_videopose3d(_save_vp3d(tmp_path / "gaps.npz", positions))
    p = got.predictions
    assert len(p) == 4 * 5 - 1 + 3 * 3
    assert p.frame[(p.subject == "S9") & (p.camera == CAMS[1])].tolist() == [0, 1, 3, 4]
    assert not ((p.subject == "S11") & (p.camera == CAMS[3])).any()
    assert any("1 frame(s) held NaN" in n for n in got.notes)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch '{self.marker}'",)


def test_videopose3d_crafted_pickle_runs_nothing(vp3d, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    buf.write(pickle.dumps(_Payload(marker), protocol=3))
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("positions_3d.npy", buf.getvalue())
    assert (
        run_cli(["import-predictions", "videopose3d", str(evil), "--name", "x", "--out", str(tmp_path / "p.npz")]) == 2
    )
    _one_line(capsys, "refusing to load", "nothing in it was run")
    assert not marker.exists() and not (tmp_path / "p.npz").exists()


# --- MMPose ---------------------------------------------------------------------------------------------------------


def _mmpose_records(rng, sample_rate=5, n_frames=16, key="image_name", extra_dims=False):
    """Per-image records of two takes and two cameras, every ``sample_rate``-th frame, keypoints in metres."""
    records, truth = [], {}
    for subject, take in (("S9", "TakingPhoto_1"), ("S11", "Directions")):
        for cam in CAMS[:2]:
            frames = list(range(0, n_frames, sample_rate))
            poses = world_poses(rng, len(frames))
            truth[(subject, sequence_name(take.replace("_", " ")), cam)] = (frames, poses)
            for f, pose in zip(frames, poses):
                kp = np.concatenate([pose / 1000, np.ones((17, 1))], axis=1) if extra_dims else pose / 1000
                name = f"{subject}/{subject}_{take}.{cam}/{subject}_{take}.{cam}_{f + 1:06d}.jpg"
                records.append({key: name, "keypoints_3d": (kp[None] if extra_dims else kp).tolist()})
    return records, truth


@pytest.mark.parametrize("key, extra_dims", [("image_name", False), ("img_path", True)])
def test_mmpose_results_become_interchange_rows(tmp_path, key, extra_dims):
    records, truth = _mmpose_records(np.random.default_rng(1), key=key, extra_dims=extra_dims)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    got = read_mmpose(path)
    p = got.predictions
    assert got.units == "m" and len(p) == len(records)
    for (s, q, c), (frames, poses) in truth.items():
        sel = (p.subject == s) & (p.sequence == q) & (p.camera == c)
        assert p.frame[sel].tolist() == frames  # 1-based names -> 0-based frames
        np.testing.assert_allclose(p.poses_3d[sel], poses, atol=1e-9)
    assert any("--stride 5" in n for n in got.notes)  # every 5th frame, as MMPose's fps10 files


def test_mmpose_target_ids_need_the_annotation_file(tmp_path):
    records, _ = _mmpose_records(np.random.default_rng(2), sample_rate=1, n_frames=3)
    names = [r["image_name"] for r in records]
    ann = tmp_path / "h36m_test.npz"
    np.savez(ann, imgname=np.array(names), S=np.zeros((len(names), 17, 4)))
    # As MMPose 0.x's result_keypoints.json: target_id, and keypoints (here as json_tricks writes numpy arrays).
    by_id = [
        {"target_id": i, "keypoints": {"__ndarray__": r["keypoints_3d"], "dtype": "float32", "shape": [17, 3]}}
        for i, r in enumerate(records)
    ][::-1]
    path = tmp_path / "result_keypoints.json"
    path.write_text(json.dumps(by_id))
    with pytest.raises(OutsideError, match="--annotations"):
        read_mmpose(path)
    p = read_mmpose(path, annotations=ann).predictions
    assert len(p) == len(records) and sorted(set(p.frame.tolist())) == [0, 1, 2]
    assert not any("--stride" in n for n in read_mmpose(path, annotations=ann).notes)


def test_mmpose_cli_prints_the_stride_hint_and_refuses_bad_records(tmp_path, capsys):
    records, _ = _mmpose_records(np.random.default_rng(3))
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    out = tmp_path / "mm.npz"
    assert (
        run_cli(["import-predictions", "mmpose", str(path), "--name", "SimpleBaseline (MMPose)", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "kspbench eval --stride 5" in printed and "units m (converted to mm)" in printed
    assert read_predictions(out).model == {"name": "SimpleBaseline (MMPose)"}
    records[3]["keypoints_3d"] = records[3]["keypoints_3d"][:16]
    path.write_text(json.dumps(records))
    assert run_cli(["import-predictions", "mmpose", str(path), "--name", "x", "--out", str(tmp_path / "y.npz")]) == 2
    _one_line(capsys, "[record 3]", "(17, 3) or (17, 4)")


# --- CSV ------------------------------------------------------------------------------------------------------------


def _csv_frames(rng):
    """Two tracks in millimetres: (subject, sequence, camera, frame, (17, 3) pose) per frame."""
    rows = []
    for s, q, c, n in (("S9", "Walking 1", "54138969", 3), ("S11", "TakingPhoto_1", "60457274", 2)):
        rows += [(s, q, c, f, pose) for f, pose in enumerate(world_poses(rng, n))]
    return rows


def _write_wide(path, rows, base=0):
    lines = [",".join(WIDE_COLUMNS)]
    lines += [",".join([s, q, c, str(f + base)] + [f"{v:.6f}" for v in pose.ravel()]) for s, q, c, f, pose in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_long(path, rows, base=0, names=False):
    lines = ["subject,sequence,camera,frame,joint,x,y,z"]
    for s, q, c, f, pose in rows:
        for j in reversed(range(17)):  # any order of joints
            joint = skeleton.JOINT_NAMES[j] if names else str(j)
            lines.append(",".join([s, q, c, str(f + base), joint] + [f"{v:.6f}" for v in pose[j]]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("layout", ["wide", "long", "long-names"])
def test_csv_layouts_round_trip(tmp_path, layout):
    rows = _csv_frames(np.random.default_rng(4))
    if layout == "wide":
        path = _write_wide(tmp_path / "p.csv", rows, base=1)
    else:
        path = _write_long(tmp_path / "p.csv", rows, base=1, names=layout == "long-names")
    got = read_csv(path, frame_base=1)
    p = got.predictions
    assert got.units == "mm" and len(p) == len(rows)
    for s, q, c, f, pose in rows:
        i = np.flatnonzero((p.subject == s) & (p.sequence == sequence_name(q)) & (p.camera == c) & (p.frame == f))
        assert i.size == 1
        np.testing.assert_allclose(p.poses_3d[i[0]], pose, atol=1e-6)


def test_csv_refusals(tmp_path):
    rows = _csv_frames(np.random.default_rng(5))
    long = _write_long(tmp_path / "long.csv", rows)
    text = long.read_text().splitlines()
    (tmp_path / "short.csv").write_text("\n".join(text[:-1]) + "\n")  # the last frame lacks a joint
    with pytest.raises(OutsideError, match="17 joints exactly once"):
        read_csv(tmp_path / "short.csv")
    (tmp_path / "head.csv").write_text("subject,sequence,cam,frame,joint,x,y,z\n" + "\n".join(text[1:]))
    with pytest.raises(OutsideError, match="is not the wide or long layout"):
        read_csv(tmp_path / "head.csv")
    with pytest.raises(OutsideError, match="integers from 1"):
        read_csv(long, frame_base=1)  # frame 0 in a 1-based file


# --- the command ----------------------------------------------------------------------------------------------------


def test_cli_writes_a_model_block_with_commas_in_the_citation(vp3d, tmp_path, capsys):
    out = tmp_path / "mine.h5"
    assert (
        run_cli(
            [
                "import-predictions",
                "videopose3d",
                str(vp3d["path"]),
                "--name",
                "VideoPose3D",
                "--meta",
                "supervision=Full-3D,trainset=H36M,citation=Pavllo et al., CVPR 2019,url=https://example.org/vp3d",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert f"wrote {out}: 32 predictions of 'VideoPose3D'" in capsys.readouterr().out
    p = read_predictions(out)
    assert p.model == {
        "name": "VideoPose3D",
        "supervision": "Full-3D",
        "trainset": "H36M",
        "citation": "Pavllo et al., CVPR 2019",
        "url": "https://example.org/vp3d",
    }
    assert p.attrs == {"imported_from": "videopose3d", "imported_units": "m"}


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["--meta", "venue=CVPR"], "unknown key 'venue'"),
        (["--meta", "supervision"], "is not key=value"),
        (["--units", "mm"], "--units mm but"),
    ],
)
def test_cli_refusals_are_one_line(vp3d, tmp_path, capsys, argv_tail, needle):
    out = tmp_path / "p.npz"
    assert (
        run_cli(["import-predictions", "videopose3d", str(vp3d["path"]), "--name", "x", "--out", str(out), *argv_tail])
        == 2
    )
    _one_line(capsys, needle)
    assert not out.exists()


def test_cli_never_writes_over_its_input(vp3d, capsys):
    before = vp3d["path"].read_bytes()
    assert (
        run_cli(["import-predictions", "videopose3d", str(vp3d["path"]), "--name", "x", "--out", str(vp3d["path"])])
        == 2
    )
    _one_line(capsys, "would destroy the input")
    assert vp3d["path"].read_bytes() == before


def test_reading_an_unconverted_file_points_at_the_importer(vp3d, tmp_path):
    """What `kspbench eval --predictions` says about a VideoPose3D dict or MMPose results given as they are."""
    (tmp_path / "results.json").write_text("[]")
    with pytest.raises(PredictionsError, match="holds pickled objects.*import-predictions videopose3d"):
        read_predictions(vp3d["path"])
    with pytest.raises(PredictionsError, match=r"import-predictions mmpose\|csv"):
        read_predictions(tmp_path / "results.json")


def test_videopose3d_3dhp_dict_with_one_camera_and_the_3dhp_joint_order(tmp_path):
    rng = np.random.default_rng(6)
    h36m = {ts: world_poses(rng, 4) for ts in ("TS1", "TS5")}
    order = list(skeleton.H36M_TO_MPI3DHP)
    positions = {ts: {ts: [pose[:, order] / 1000]} for ts, pose in h36m.items()}  # 3DHP test order, metres
    path = _save_vp3d(tmp_path / "3dhp.npz", positions)
    with pytest.raises(OutsideError, match="1 per-camera arrays .* pass --cameras"):
        read_videopose3d(path)
    p = read_videopose3d(path, cameras=["0"], joint_order="3dhp").predictions
    assert set(p.camera) == {"0"} and set(zip(p.subject, p.sequence)) == {("TS1", "TS1"), ("TS5", "TS5")}
    np.testing.assert_allclose(p.poses_3d[p.subject == "TS5"], h36m["TS5"], atol=1e-9)
