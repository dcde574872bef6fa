"""`kspbench world ...`: profiles, bad input (exit 2, one line, no store), and the commands end to end."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
import yaml
from PIL import Image

from kspbench.cli import main
from kspbench.data.store import partial_path
from kspbench.errors import ConfigError
from kspbench.world import build
from kspbench.world.preview import contact_sheet
from kspbench.world.profiles import PROFILES_FILE, available_profiles, load_profile


def test_builtin_profiles_load_and_are_frozen():
    assert {"tiny", "smoke", "cpu", "paper"} <= set(available_profiles())
    sizes = {name: load_profile(name).crop_size for name in ("tiny", "smoke", "cpu", "paper")}
    assert sizes["cpu"] == 64 and sizes["paper"] == 224
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_profile("cpu").crop_size = 1


def _bad(capsys, tmp_path, *args) -> str:
    out = tmp_path / "w.h5"
    assert main(["world", "build", "--quiet", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("kspbench: error:")
    assert not out.exists() and not partial_path(out).exists()
    return err


def test_bad_profiles_exit_2_without_a_store(capsys, tmp_path):
    assert "unknown profile" in _bad(capsys, tmp_path, "--profile", "huge")
    assert "crop_size" in _bad(capsys, tmp_path, "--profile", "tiny", "--crop-size", "5000")
    raw = yaml.safe_load(PROFILES_FILE.read_text())["tiny"]
    for change in (
        {"crop_size": 0},
        {"frame_scale": {"h36m": 0.001, "mpi3dhp": 0.1, "dunp": 0.1}},
        {"fps": -1},
        {"h36m": {**raw["h36m"], "seconds": 0}},
    ):
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({**raw, **change}))
        _bad(capsys, tmp_path, "--profile", str(path))
    with pytest.raises(ConfigError, match="absent.yaml: no such profile file"):
        load_profile(str(tmp_path / "absent.yaml"))


def test_bad_motion_files_exit_2_without_a_store(capsys, tmp_path):
    unreadable = tmp_path / "m.npz"
    unreadable.write_bytes(b"\x00garbage")
    assert "not a readable" in _bad(capsys, tmp_path, "--profile", "tiny", "--motion", str(unreadable))
    shaped = tmp_path / "s.npz"
    np.savez(shaped, positions=np.zeros((5, 17, 2)))
    assert "(N, 17, 3)" in _bad(capsys, tmp_path, "--profile", "tiny", "--motion", str(shaped))
    assert "m.npz" in _bad(capsys, tmp_path, "--profile", "tiny", "--reference-motion", str(unreadable))


def test_out_must_be_an_h5_file(capsys, tmp_path):
    assert main(["world", "build", "--quiet", "--profile", "tiny", "--out", str(tmp_path)]) == 2
    assert main(["world", "build", "--quiet", "--profile", "tiny", "--out", str(tmp_path / "w.txt")]) == 2
    assert main(["world", "describe", "--store", str(tmp_path / "none.h5")]) == 2


def test_a_failing_build_leaves_no_store(tmp_path, tiny_profile, monkeypatch):
    calls = {"n": 0}
    real = build.render_sequence

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("boom")
        return real(*a, **k)

    monkeypatch.setattr(build, "render_sequence", flaky)
    out = tmp_path / "w.h5"
    with pytest.raises(RuntimeError):
        build.build_world(out, tiny_profile, 0, datasheet=False)
    assert not out.exists() and not partial_path(out).exists()


def test_commands_end_to_end(capsys, tmp_path, tiny_store):
    store, _ = tiny_store
    assert main(["world", "describe", "--store", str(store)]) == 0
    assert "# Datasheet" in capsys.readouterr().out
    png = tmp_path / "sheet.png"
    assert main(["world", "preview", "--store", str(store), "--out", str(png), "--per-role", "4"]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    assert w > 100 and h > 100
    with Image.open(png) as img:  # the file holds exactly the sheet's pixels, 8-bit RGB
        assert img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), contact_sheet(store, per_role=4)[0])
    assert "full frames" in capsys.readouterr().out
    for kind in ("mean", "const", "nn2d"):
        out = tmp_path / f"{kind}.h5"
        assert main(["world", "baseline", "--store", str(store), "--kind", kind, "--out", str(out)]) == 0
        assert (
            main(
                [
                    "eval",
                    "--allow-partial",
                    "--protocol",
                    "h36m-p2",
                    "--predictions",
                    str(out),
                    "--store",
                    str(store),
                    "--out",
                    str(tmp_path / f"{kind}.json"),
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "world",
                "baseline",
                "--store",
                str(store),
                "--kind",
                "mean",
                "--role",
                "nope",
                "--out",
                str(tmp_path / "x.h5"),
            ]
        )
        == 2
    )


def test_build_with_a_motion_file_retargets_onto_the_people(tmp_path, capsys):
    from kspbench.core import skeleton
    from kspbench.data.store import PoseStore, validate
    from kspbench.world import motion, people

    rng = np.random.default_rng(0)
    src = people.sample_person(rng, "src")
    clips = [
        motion.pose_body(src, motion.action_motion(src, fam, rng, 30, 30.0)).joints
        for fam in ("Walking", "Greeting", "Sitting", "Photo")
    ]
    track = tmp_path / "track.npz"
    np.savez(track, positions=np.concatenate(clips), clip_id=np.repeat(np.arange(4), 30), fps=30.0)
    out = tmp_path / "m.h5"
    assert (
        main(
            [
                "world",
                "build",
                "--quiet",
                "--no-datasheet",
                "--profile",
                "tiny",
                "--motion",
                str(track),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert validate(out) == []
    plans = build.plan_world(load_profile("tiny"), 0, motion.load_motion_file(str(track)))
    s1 = next(p.person for p in plans if p.subject == "S1")
    with PoseStore(out) as s:
        assert "retargeted from track.npz" in s.attrs["source"]
        w = s.read("S1", "Walking 1", "world_3d").astype(np.float64)
    lengths = np.linalg.norm(w[:, 1:] - w[:, list(skeleton.PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(motion.person_bone_lengths(s1)[1:], lengths.shape), rtol=1e-4)


def test_baseline_for_several_roles_equals_one_call_per_role(capsys, tmp_path, tiny_store):
    from kspbench.data.predictions import read_predictions

    store, _ = tiny_store
    roles = ["h36m-test", "3dhp-test"]
    for kind in ("const", "nn2d"):
        folder = tmp_path / kind
        args = ["world", "baseline", "--store", str(store), "--kind", kind]
        assert main([*args, "--role", ",".join(roles), "--out", str(folder)]) == 0
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{r}.h5" for r in roles)
        for role in roles:
            alone = tmp_path / f"{kind}-{role}.h5"
            assert main([*args, "--role", role, "--out", str(alone)]) == 0
            got, want = read_predictions(folder / f"{role}.h5"), read_predictions(alone)
            assert got.attrs["role"] == role
            np.testing.assert_array_equal(got.poses_3d, want.poses_3d)
            np.testing.assert_array_equal(got.frame, want.frame)
    capsys.readouterr()
    bad = ["world", "baseline", "--store", str(store), "--kind", "mean", "--role", ",".join(roles)]
    assert main([*bad, "--out", str(tmp_path / "one.h5")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "with several roles --out is a folder" in err
    assert not (tmp_path / "one.h5").exists()
