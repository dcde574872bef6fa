"""VideoPose3D npz: data_3d_h36m.npz (+ data_2d_h36m_gt.npz) -> store, and predictions -> VideoPose3D-style npz."""

from __future__ import annotations

import numpy as np
import pytest

from formats_fixtures import (
    CAM_IDS,
    published_extrinsics,
    run_cli,
    to32,
    vp3d_project_px,
    vp3d_world_to_camera,
    world_poses,
)
from kspbench.data.formats import FormatError, project, vp3d_npz
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.data.store import PoseStore


def _write_vp3d(tmp_path, *, n2d_extra=0, metadata=None, scale=1.0):
    rng = np.random.default_rng(0)
    world = {
        ("S1", "Directions 1"): world_poses(rng, 5),
        ("S1", "Photo"): world_poses(rng, 4),
        ("S11", "Walking 2"): world_poses(rng, 6),
    }
    pos3d, pos2d = {}, {}
    for (s, a), w in world.items():
        pos3d.setdefault(s, {})[a] = (to32(w) / 1000 * scale).astype(np.float32)  # metres, 32 joints
        lists = []
        for cam in CAM_IDS:
            p2 = vp3d_project_px(vp3d_world_to_camera(w / 1000, *_m(published_extrinsics(s)[cam])), cam)
            lists.append(np.concatenate([p2, np.repeat(p2[-1:], n2d_extra, 0)]).astype(np.float32))
        pos2d.setdefault(s, {})[a] = lists
    p3, p2 = tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(p3, positions_3d=pos3d)
    np.savez_compressed(
        p2,
        positions_2d=pos2d,
        metadata=metadata or {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]},
    )
    return p3, p2, world


def _m(ext):
    q, c = ext
    return q, np.asarray(c) / 1000  # VideoPose3D divides the translation by 1000 (metres)


def test_import_with_2d_file(tmp_path):
    p3, p2, world = _write_vp3d(tmp_path, n2d_extra=2)
    jobs = vp3d_npz.scan(p3, p2)
    assert sorted((j.subject, j.sequence) for j in jobs) == [
        ("S1", "Directions 1"),
        ("S1", "Photo"),
        ("S11", "Walking 2"),
    ]
    assert all(any("truncated to" in n for n in j.notes) for j in jobs)
    seqs = {(j.subject, j.sequence): j.load() for j in jobs}
    s = seqs[("S11", "Walking 2")]
    assert (s.role, s.fps, s.action, s.n_frames) == ("h36m-test", 50.0, "Walking", 6)
    np.testing.assert_allclose(s.world_3d, world[("S11", "Walking 2")], atol=1e-3)  # float32 metres -> mm
    for cam, c in s.cameras.items():
        want = vp3d_world_to_camera(world[("S11", "Walking 2")], *published_extrinsics("S11")[cam])
        np.testing.assert_allclose(c.camera_3d, want, atol=1e-2)
        assert np.abs(project(c.camera_3d, c.intrinsics) - c.pose_2d).max() < 0.5
    assert seqs[("S1", "Photo")].role == "h36m-train"


def test_import_without_2d_file_projects(tmp_path):
    p3, _, world = _write_vp3d(tmp_path)
    (job,) = [j for j in vp3d_npz.scan(p3, subjects=["S1"]) if j.sequence == "Photo"]
    s = job.load()
    for cam, c in s.cameras.items():
        np.testing.assert_allclose(c.pose_2d, vp3d_project_px(c.camera_3d, cam), atol=1e-6)


def test_millimetres_in_the_npz_are_refused(tmp_path):
    p3, _, _ = _write_vp3d(tmp_path, scale=1000.0)
    job = vp3d_npz.scan(p3)[0]
    with pytest.raises(FormatError, match="looks like millimetres; this file must hold metres"):
        job.load()


def test_coco_layout_2d_is_refused(tmp_path):
    p3, p2, _ = _write_vp3d(tmp_path, metadata={"layout_name": "coco", "num_joints": 17})
    with pytest.raises(FormatError, match="'coco' layout"):
        vp3d_npz.scan(p3, p2)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"not a zip", "not a readable .npz file"),
        (None, "no key 'positions_3d'"),
    ],
)
def test_bad_npz(tmp_path, content, match):
    path = tmp_path / "x.npz"
    if content is None:
        np.savez(path, other=np.ones(3))
    else:
        path.write_bytes(content)
    with pytest.raises(FormatError, match=match):
        vp3d_npz.scan(path)


def test_truncated_npz(tmp_path):
    p3, _, _ = _write_vp3d(tmp_path)
    data = p3.read_bytes()
    p3.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="not a readable .npz file"):
        vp3d_npz.scan(p3)


def test_wrong_array_shape(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, positions_3d={"S9": {"Walking 1": np.ones((5, 31, 3))}})
    (job,) = vp3d_npz.scan(path)
    with pytest.raises(FormatError, match=r"expected \(N, 32, 3\) world positions in metres"):
        job.load()


def test_unknown_action_key(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, positions_3d={"S9": {"Juggling 1": np.ones((5, 32, 3))}})
    with pytest.raises(FormatError, match="unknown action"):
        vp3d_npz.scan(path)


# --- export --------------------------------------------------------------------------------------------------------


def _predictions(rng):
    rows = []
    for cam in ("58860488", "54138969"):
        for f in (0, 1, 3):
            rows.append(("S9", "Walking 1", cam, f))
    rows.append(("S11", "Eating", "60457274", 0))
    poses = world_poses(rng, len(rows))
    return Predictions(
        poses_3d=poses,
        subject=np.array([r[0] for r in rows]),
        sequence=np.array([r[1] for r in rows]),
        camera=np.array([r[2] for r in rows]),
        frame=np.array([r[3] for r in rows]),
        attrs={"card": "unit"},
    )


def test_export_structure_units_and_nan_for_missing(tmp_path):
    preds = _predictions(np.random.default_rng(1))
    out = tmp_path / "vp3d.npz"
    meta = vp3d_npz.export_predictions(preds, out)
    with np.load(out, allow_pickle=True) as npz:
        pos = npz["positions_3d"].item()
        meta2 = npz["metadata"].item()
    assert meta2["camera_order"] == list(CAM_IDS) == meta["camera_order"]
    lists = pos["S9"]["Walking 1"]
    assert [a.shape for a in lists] == [(4, 17, 3), (0, 17, 3), (4, 17, 3), (0, 17, 3)]
    np.testing.assert_allclose(lists[0][3], preds.poses_3d[5] / 1000, rtol=1e-6)  # 54138969 frame 3, metres
    assert np.isnan(lists[2][2]).all() and not np.isnan(lists[2][1]).any()
    assert [a.shape[0] for a in pos["S11"]["Eating"]] == [0, 0, 0, 1]
    assert meta2["missing_frames_nan"] == 2 and meta2["source_attrs"] == {"card": "unit"}


def test_export_failing_mid_write_keeps_the_old_file_and_leaves_nothing_beside(tmp_path, monkeypatch):
    out = tmp_path / "vp3d.npz"
    out.write_bytes(b"old")

    def half_then_fail(f, **arrays):
        f.write(b"PK half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        vp3d_npz.export_predictions(_predictions(np.random.default_rng(3)), out)
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["vp3d.npz"]


def test_export_cli_and_bad_predictions(tmp_path, capsys):
    preds = _predictions(np.random.default_rng(2))
    src = tmp_path / "preds.h5"
    write_predictions(src, preds)
    out = tmp_path / "vp3d.npz"
    assert run_cli(["data", "export", "videopose3d", "--predictions", str(src), "--out", str(out)]) == 0
    assert "7 predictions" in capsys.readouterr().out and out.exists()
    assert (
        run_cli(
            [
                "data",
                "export",
                "videopose3d",
                "--predictions",
                str(tmp_path / "none.h5"),
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no such predictions file" in err
    assert not (tmp_path / "x.npz").exists()


def test_import_cli_videopose3d(tmp_path, capsys):
    p3, p2, _ = _write_vp3d(tmp_path)
    out = tmp_path / "h36m.h5"
    assert (
        run_cli(["data", "import", "videopose3d", "--npz", str(p3), "--npz-2d", str(p2), "--out", str(out), "--quiet"])
        == 0
    )
    with PoseStore(out) as store:
        assert store.roles() == {"h36m-train": 2, "h36m-test": 1}
        assert store.attrs["dataset"] == "h36m"


class _Payload:
    """Pickles to ``os.system(<touch marker>)``: what a crafted npz would run under np.load(allow_pickle=True)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("where", ["unused", "positions_3d", "metadata"])
def test_crafted_npz_runs_nothing_and_exits_2(tmp_path, capsys, where):
    import io
    import pickle
    import zipfile

    p3, p2, _ = _write_vp3d(tmp_path)
    marker = tmp_path / "PWNED"
    # An .npy member whose object pickle calls os.system: header of a 0-d object array, then the pickle.
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    buf.write(pickle.dumps(_Payload(marker), protocol=3))
    target = p2 if where == "metadata" else p3
    name = {"unused": "evil", "positions_3d": "positions_3d", "metadata": "metadata"}[where]
    members = {}
    with zipfile.ZipFile(target) as zf:
        members = {m: zf.read(m) for m in zf.namelist() if m != f"{name}.npy"}
    members[f"{name}.npy"] = buf.getvalue()
    with zipfile.ZipFile(target, "w") as zf:
        for m, data in members.items():
            zf.writestr(m, data)
    before = target.read_bytes()
    out = tmp_path / "h36m.h5"
    assert (
        run_cli(["data", "import", "videopose3d", "--npz", str(p3), "--npz-2d", str(p2), "--out", str(out), "--quiet"])
        == 2
    )
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "refusing to load" in err and "posix.system" in err, err
    assert not marker.exists() and not out.exists() and target.read_bytes() == before
    with pytest.raises(FormatError, match="nothing in it was run"):
        vp3d_npz.load_pickled_dict(target, "positions_3d" if where != "metadata" else "positions_2d")
    assert not marker.exists()


def test_import_refuses_out_equal_to_the_npz(tmp_path, capsys):
    p3, _, _ = _write_vp3d(tmp_path)
    before = p3.read_bytes()
    assert run_cli(["data", "import", "videopose3d", "--npz", str(p3), "--out", str(p3), "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "is the input" in err and p3.read_bytes() == before
