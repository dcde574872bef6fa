"""``kspbench data import``: end to end on official-format fixtures; bad input; skip, resume and --force."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from formats_fixtures import (
    published_extrinsics,
    run_cli,
    tiny_sequence,
    to32,
    world_poses,
    write_3dhp_test,
    write_3dhp_train,
    write_cdf,
    write_h36m_take,
)
from kspbench.data import importers
from kspbench.data.formats import SequenceJob
from kspbench.data.store import PoseStore, partial_path, validate


def _h36m(root, takes=(("S1", "Directions 1"), ("S9", "Walking 1"), ("S9", "WalkingDog")), n=5, seed=0):
    rng = np.random.default_rng(seed)
    for subj, stem in takes:
        write_h36m_take(root, subj, stem, world_poses(rng, n), published_extrinsics(subj))


def _import(args, out):
    return run_cli(["data", "import", *args, "--out", str(out), "--quiet"])


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kspbench: error: ")
    for needle in needles:
        assert needle in err, err
    return err


def test_h36m_end_to_end(tmp_path, capsys):
    root, out = tmp_path / "h36m", tmp_path / "h36m.h5"
    _h36m(root)
    assert _import(["h36m", "--root", str(root)], out) == 0
    assert "3 sequence(s) imported" in capsys.readouterr().out
    assert validate(out) == [] and not partial_path(out).exists()
    with PoseStore(out) as store:
        assert store.roles() == {"h36m-train": 1, "h36m-test": 2}
        assert [i.sequence for i in store.sequences(subject="S9")] == ["WalkDog", "Walking 1"]
        assert store.attrs["dataset"] == "h36m"
        source = json.loads(store.attrs["source"])
        assert source["options"] == {"frames": False, "crop_size": None, "box_margin": None, "drop_defective": False}
        assert any("VideoPose3D" in f for f in source["facts"])
        assert store.read("S9", "Walking 1", "camera_3d", camera="60457274").shape == (5, 17, 3)


def test_help_mentions_pickles_and_layouts(capsys):
    for argv, needle in (
        (["data", "import", "videopose3d", "--help"], "restricted unpickler"),
        (["data", "import", "h36m", "--help"], "FRAMES/S9/Walking 1.54138969/000001.jpg"),
        (["data", "export", "videopose3d", "--help"], "allow_pickle=True"),
    ):
        with pytest.raises(SystemExit) as exc:
            run_cli(argv)
        assert exc.value.code == 0
        assert needle in " ".join(capsys.readouterr().out.split())


def test_missing_root_and_subjects(tmp_path, capsys):
    out = tmp_path / "o.h5"
    assert _import(["h36m", "--root", str(tmp_path / "nope")], out) == 2
    _one_line_error(capsys, "nope: no such folder")
    (tmp_path / "empty").mkdir()
    assert _import(["h36m", "--root", str(tmp_path / "empty")], out) == 2
    _one_line_error(capsys, "no subject folders")
    _h36m(tmp_path / "h36m", takes=(("S1", "Posing 1"),))
    assert _import(["h36m", "--root", str(tmp_path / "h36m"), "--subjects", "S1,S9"], out) == 2
    _one_line_error(capsys, "subject folder(s) S9 not found")
    assert _import(["3dhp", "--root", str(tmp_path / "empty")], out) == 2
    _one_line_error(capsys, "no MPI-INF-3DHP data found")
    assert not out.exists()


def _cdf_path(root, subj="S9", stem="Walking 1", kind="D3_Positions", cam=None):
    name = f"{stem}.cdf" if cam is None else f"{stem}.{cam}.cdf"
    return root / subj / "MyPoseFeatures" / kind / name


@pytest.mark.parametrize(
    "breakage,needle",
    [
        ("truncate", "truncated or corrupt CDF file"),
        ("garbage", "not a readable CDF file"),
        ("shape", "variable 'Pose' has shape (1, 5, 90), expected (1, N, 96)"),
        ("metres", "looks like metres"),
    ],
)
def test_broken_cdf_files(tmp_path, capsys, breakage, needle):
    root, out = tmp_path / "h36m", tmp_path / "o.h5"
    _h36m(root, takes=(("S9", "Walking 1"),))
    path = _cdf_path(root, kind="D3_Positions_mono", cam="54138969")
    if breakage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.4)])  # cuts into the Pose records
    elif breakage == "garbage":
        path.write_bytes(b"\x00" * 64)
    elif breakage == "shape":
        write_cdf(path, np.ones((5, 30, 3)))
    else:
        write_cdf(path, to32(world_poses(np.random.default_rng(1), 5)) / 1000)
    assert _import(["h36m", "--root", str(root)], out) == 2
    _one_line_error(capsys, str(path), needle)
    assert not out.exists()


def test_unknown_action_file_name(tmp_path, capsys):
    root = tmp_path / "h36m"
    _h36m(root, takes=(("S9", "Walking 1"),))
    write_cdf(_cdf_path(root, stem="Juggling 1"), to32(world_poses(np.random.default_rng(2), 3)))
    assert _import(["h36m", "--root", str(root)], tmp_path / "o.h5") == 2
    _one_line_error(capsys, "Juggling 1.cdf: unknown action in file name 'Juggling 1'")


def test_broken_3dhp_files(tmp_path, capsys):
    out = tmp_path / "o.h5"
    write_3dhp_test(tmp_path, "TS3", np.random.default_rng(3))
    mat = tmp_path / "mpi_inf_3dhp_test_set" / "TS3" / "annot_data.mat"
    data = mat.read_bytes()
    mat.write_bytes(data[: len(data) // 2])
    assert _import(["3dhp", "--root", str(tmp_path)], out) == 2
    _one_line_error(capsys, "annot_data.mat", "truncated")
    mat.unlink()
    write_3dhp_train(tmp_path, 2, 2, np.random.default_rng(4), n=3)
    (tmp_path / "mpi_inf_3dhp_test_set" / "TS3").rmdir()
    annot = tmp_path / "S2" / "Seq2" / "annot.mat"
    annot.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    assert _import(["3dhp", "--root", str(tmp_path)], out) == 2
    _one_line_error(capsys, "annot.mat: not a readable MAT file")
    assert _import(["3dhp", "--root", str(tmp_path), "--cameras", "0,99"], out) == 2
    _one_line_error(capsys, "--cameras must be distinct integers 0..13")
    assert not out.exists()


def test_3dhp_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(5)
    write_3dhp_test(tmp_path, "TS1", rng)
    write_3dhp_train(tmp_path, 1, 1, rng, n=4)
    out = tmp_path / "3dhp.h5"
    assert _import(["3dhp", "--root", str(tmp_path), "--cameras", "0,4"], out) == 0
    printed = capsys.readouterr().out
    assert "check: TS1: intrinsics fitted to annot2/annot3" in printed
    assert "check: S1/Seq1: camera.calibration reprojects annot3 onto annot2" in printed
    assert validate(out) == []
    with PoseStore(out) as store:
        checks = json.loads(store.attrs["source"])["checks"]
        assert [c.split(":")[0] for c in checks] == ["TS1", "S1/Seq1"]
        assert store.load_sequence("TS1", "TS1").cameras["0"].attrs["reprojection_mean_px"] < 1e-6
        assert store.roles() == {"3dhp-test": 1, "3dhp-train": 1}
        assert store.sequences(role="3dhp-train")[0].cameras == ("0", "4")
        assert store.read("TS1", "TS1", "extras/univ_annot3", camera="0").shape == (6, 17, 3)
        assert not store.read("TS1", "TS1", "valid", camera="0")[1]
        assert not store.has("TS1", "TS1", "world_3d") and store.has("S1", "Seq1", "world_3d")
    assert run_cli(["data", "info", str(out)]) == 0  # the checks are part of the store's summary too
    info = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[1].strip() for ln in info if ln.startswith("check: ")] == ["TS1", "S1/Seq1"]


def test_failure_keeps_partial_then_resume_skips_completed(tmp_path, capsys):
    root, out = tmp_path / "h36m", tmp_path / "h36m.h5"
    _h36m(root, takes=(("S1", "Directions 1"), ("S9", "Walking 1")))
    bad = _cdf_path(root, kind="D2_Positions", cam="58860488")
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 5])  # cuts into the Pose records
    assert _import(["h36m", "--root", str(root)], out) == 2  # S1 written, S9 fails
    capsys.readouterr()
    assert not out.exists() and partial_path(out).exists()
    with h5py.File(partial_path(out), "r") as h5:
        assert list(h5["sequences"]) == ["S1"]
    bad.write_bytes(good)
    assert _import(["h36m", "--root", str(root)], out) == 0
    assert "1 sequence(s) imported, 1 already present" in capsys.readouterr().out
    assert out.exists() and not partial_path(out).exists() and validate(out) == []
    mtime = out.stat().st_mtime_ns
    assert _import(["h36m", "--root", str(root)], out) == 0
    assert "unchanged, all 2 sequence(s) already imported" in capsys.readouterr().out
    assert out.stat().st_mtime_ns == mtime
    # A new subject extends the store; the old sequences are kept, not re-read.
    _h36m(root, takes=(("S11", "Eating 1"),), seed=1)
    assert _import(["h36m", "--root", str(root)], out) == 0
    assert "1 sequence(s) imported, 2 already present" in capsys.readouterr().out
    with PoseStore(out) as store:
        assert [i.subject for i in store.sequences()] == ["S1", "S11", "S9"]
    # Other options are refused without --force; --force re-imports everything.
    assert _import(["h36m", "--root", str(root), "--drop-defective"], out) == 2
    _one_line_error(capsys, "written by another import", "--force")
    assert _import(["h36m", "--root", str(root), "--drop-defective", "--force"], out) == 0
    assert "3 sequence(s) imported, 0 already present" in capsys.readouterr().out


def test_interrupted_import_resumes(tmp_path):
    calls = []

    def job(name, fail=False):
        def load():
            calls.append(name)
            if fail:
                raise KeyboardInterrupt
            return tiny_sequence("S9", name)

        return SequenceJob(subject="S9", sequence=name, label=name, load=load, notes=[f"note {name}"])

    out = tmp_path / "s.h5"
    source = {"options": {"x": 1}, "inputs": ["a"]}
    with pytest.raises(KeyboardInterrupt):
        importers.run_import(out, [job("A"), job("B", fail=True)], dataset="t", source=source, progress=False)
    assert not out.exists() and partial_path(out).exists()
    rep = importers.run_import(out, [job("A"), job("B")], dataset="t", source=source, progress=False)
    assert rep.written == ["S9/B"] and rep.skipped == ["S9/A"] and calls == ["A", "B", "B"]
    with PoseStore(out) as store:
        src = json.loads(store.attrs["source"])
        assert src["notes"] == ["note A", "note B"] and src["inputs"] == ["a"]
    with pytest.raises(importers.ImportConflict, match="written by another import"):
        importers.run_import(out, [job("C")], dataset="t", source={"options": {"x": 2}}, progress=False)
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(importers.ImportConflict, match="not a readable pose store"):
        importers.run_import(tmp_path / "junk.h5", [job("C")], dataset="t", source=source, progress=False)


def test_3dhp_sequence_without_a_camera_is_refused(tmp_path, capsys):
    t = write_3dhp_test(tmp_path, "TS4", np.random.default_rng(9), n=8, invalid=())
    mat = tmp_path / "mpi_inf_3dhp_test_set" / "TS4" / "annot_data.mat"
    with h5py.File(mat, "r+") as h5:  # the 2D joints of another sequence: no camera maps annot3 onto them
        h5["annot2"][...] = t["annot2"][::-1, None]
    out = tmp_path / "3dhp.h5"
    assert _import(["3dhp", "--root", str(tmp_path)], out) == 2
    _one_line_error(capsys, str(mat), "the camera fitted to TS4 does not reproduce the 2D annotations", "px worst")
    assert not out.exists()


def test_h36m_and_vp3d_compare_a_cameras_file(tmp_path, capsys):
    from formats_fixtures import write_mmpose_h36m_cameras

    root = tmp_path / "h36m"
    _h36m(root, takes=(("S9", "Walking 1"),))
    good = write_mmpose_h36m_cameras(tmp_path / "good" / "cameras.pkl", subjects=("S9",))
    bad = write_mmpose_h36m_cameras(tmp_path / "bad" / "cameras.pkl", subjects=("S9",), perturb={"c": 0.01})
    assert _import(["h36m", "--root", str(root), "--compare-cameras", str(good)], tmp_path / "a.h5") == 0
    assert (
        "check: S9: cameras file vs kspbench's published calibration: largest differences: focal 0 px"
        in capsys.readouterr().out
    )
    assert _import(["h36m", "--root", str(root), "--compare-cameras", str(bad)], tmp_path / "b.h5") == 0
    lines = [ln[len("check: ") :] for ln in capsys.readouterr().out.splitlines() if ln.startswith("check: S9")]
    line = [ln for ln in lines if ln.startswith("S9: cameras file")][0]
    assert "principal point 0.01 px" in line and "DIFFERENT (principal point above" in line
    with PoseStore(tmp_path / "b.h5") as store:  # the comparison reports; the published cameras are still used
        np.testing.assert_allclose(
            store.intrinsics("S9", "Walking 1", "54138969").center, [512.54150390625, 515.4514770507812]
        )
        # Both checks are kept: the comparison and the D2_Positions reprojection of the take.
        assert sorted(json.loads(store.attrs["source"])["checks"]) == sorted(lines) and len(lines) == 2
