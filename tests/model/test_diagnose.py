"""``kspbench diagnose``: tuples, true masks, PCI of a pose-ignoring and of an oracle decoder, the report, the CLI."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
import yaml

from kspbench.cli import main
from kspbench.data.store import PoseStore
from kspbench.model import data as D
from kspbench.model import diagnose as DG
from kspbench.model.predict import load_model
from kspbench.model.profiles import load_profile
from kspbench.model.train import train
from model_fixtures import build_store

N = 48  # tuples per test measurement: enough for the bootstrap, fast on one thread


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A store with clean backgrounds (the fixture draws people over the stored background), a copy marked as a
    temporal median, and the unsup card trained for a few steps on the tiny profile."""
    root = tmp_path_factory.mktemp("diagnose")
    clean = build_store(root / "clean.h5")
    with h5py.File(clean, "r+") as f:
        f.attrs[DG.BACKGROUND_ATTR] = "clean"
    median = root / "median.h5"
    shutil.copy(clean, median)
    with h5py.File(median, "r+") as f:
        f.attrs[DG.BACKGROUND_ATTR] = "median:9"
    prof = load_profile("tiny").to_dict()
    prof.pop("name")
    prof.update(steps_scale=1e-6, min_stage_steps=2, val_every=0)  # 2 steps per stage: the numbers are not the point
    prof_path = root / "fast.yaml"
    prof_path.write_text(yaml.safe_dump(prof))
    train("unsup", clean, root / "run", profile=str(prof_path), progress=False)
    return {"root": root, "clean": clean, "median": median, "ckpt": root / "run" / "checkpoint.pt"}


def _frames(bench) -> D.Frames:
    frames, _ = DG.load_role(bench["clean"], "h36m-val", 32)
    return frames


def _numbers(report: dict) -> dict:
    """Everything but what differs between two runs by design (creation time)."""
    return {k: v for k, v in report.items() if k != "provenance"}


def test_tuples_are_seeded_same_clip_far_apart_and_distinct(bench):
    frames = _frames(bench)
    t = DG.draw_tuples(frames, 200, seed=3)
    assert len(t) == 200
    for a, b in ((t.source, t.target), (t.other, t.target)):
        assert (frames.clip[a] == frames.clip[b]).all()
        assert (np.abs(frames.time[a] - frames.time[b]) >= DG.MIN_GAP_SECONDS - 1e-9).all()
    assert (t.source != t.other).all()
    assert frames.usable[np.concatenate([t.source, t.target, t.other])].all()
    again = DG.draw_tuples(frames, 200, seed=3)
    assert all((getattr(t, k) == getattr(again, k)).all() for k in ("source", "target", "other"))
    assert not (DG.draw_tuples(frames, 200, seed=4).target == t.target).all()
    # 20 frames, 16 of which have two far partners (fps 5, 10 frames per clip): targets without replacement first.
    assert np.unique(DG.draw_tuples(frames, 10, seed=0).target).size == 10
    # Every eligible target is drawn, and only those (a brute-force count of far partners in the same clip).
    u = np.flatnonzero(frames.usable)
    far = (frames.clip[u, None] == frames.clip[None, u]) & (
        np.abs(frames.time[u, None] - frames.time[None, u]) >= DG.MIN_GAP_SECONDS - 1e-9
    )
    many = DG.draw_tuples(frames, 3000, seed=0)
    assert set(many.target.tolist()) == set(u[far.sum(axis=1) >= 2].tolist())
    assert {(int(a), int(b)) for a, b in zip(many.target, many.source)} == {
        (int(u[i]), int(u[j])) for i, j in zip(*np.nonzero(far)) if far[i].sum() >= 2
    }
    with pytest.raises(DG.DiagnoseError, match="two others of its clip"):
        DG.draw_tuples(frames, 4, seed=0, min_gap=5.0)


def test_true_mask_is_the_thresholded_rgb_sum_of_the_difference_with_the_clean_background():
    bg = torch.full((1, 3, 2, 2), 100, dtype=torch.uint8)
    img = bg.clone()
    img[0, :, 0, 0] = torch.tensor([104, 104, 104])  # sum 12: not above the threshold
    img[0, :, 0, 1] = torch.tensor([104, 104, 105])  # sum 13
    img[0, 0, 1, 1] = 87  # one channel, 13 grey levels down
    assert DG.person_masks(img, bg)[0, 0].tolist() == [[False, True], [False, True]]


def test_a_decoder_that_ignores_the_pose_has_pci_zero(bench, monkeypatch):
    model, _ = load_model(bench["ckpt"])
    monkeypatch.setattr(model, "render", lambda p2d, scale, fa, background, depth=None: {"image": background.clone()})
    report, _ = DG.diagnose(bench["ckpt"], bench["clean"], n_tuples=N, threads=1, model=model)
    for mode in ("teacher_forced", "ep"):
        m = report["modes"][mode]
        assert abs(m["pci"]) < 1e-6 and all(abs(v) < 1e-6 for v in m["pci_ci95"]), m
        assert m["e_b"] == pytest.approx(report["copy_background_l1"], abs=1e-12)  # Î = Bt: "copy the background"
        assert m["e_b"] > 0.01 and m["mask_iou"] is None
    assert report["has_decoder_mask"] is False


def _oracle(frames: D.Frames):
    """A decoder that paints the true person of the frame whose TRUE 2D pose it is given, over the background (and
    the empty image, the background, for any other pose); its mask is that frame's true mask."""
    poses = torch.from_numpy(frames.p2d)
    images = D.to_float(frames.images)
    masks = DG.person_masks(frames.images, frames.backgrounds)

    def render(p2d, scale, fa, background, depth=None):
        dist = (p2d[:, None] - poses[None]).abs().flatten(2).amax(dim=2)  # (B, N)
        best, j = dist.min(dim=1)
        hit = (best < 1e-6)[:, None, None, None]
        mask = masks[j] & hit
        return {"image": torch.where(mask, images[j], background), "mask": mask.float(), "foreground": images[j]}

    return render


def test_an_oracle_decoder_drawing_the_true_pose_has_pci_near_one(bench, monkeypatch):
    model, _ = load_model(bench["ckpt"])
    monkeypatch.setattr(model, "render", _oracle(_frames(bench)))
    report, examples = DG.diagnose(bench["ckpt"], bench["clean"], n_tuples=N, threads=1, model=model, examples=3)
    tf, ep = report["modes"]["teacher_forced"], report["modes"]["ep"]
    assert tf["pci"] > 0.99 and tf["pci_ci95"][0] > 0.99, tf  # Î(B) = It exactly: e(B) = 0
    assert tf["e_b"] < 1e-9 < 0.01 < tf["e_b_prime"]
    assert tf["mask_iou"] == pytest.approx(1.0) and tf["mask_inside"] == pytest.approx(1.0)
    assert tf["mask_outside"] == pytest.approx(0.0)
    assert abs(ep["pci"]) < 1e-6  # EP's poses are not the true ones: the oracle draws nothing for them
    assert examples["tf_b"].shape == (3, 32, 32, 3) and examples["mask"].shape == (3, 32, 32)
    np.testing.assert_allclose(examples["tf_b"], examples["target"], atol=1e-6)


def test_report_on_the_real_decoder_has_every_figure(bench):
    report, _ = DG.diagnose(bench["ckpt"], bench["clean"], n_tuples=N, threads=1)
    assert report["kind"] == "kspbench-diagnose" and report["n_tuples"] == N and report["crop_px"] == 32
    assert report["checkpoint"]["card"] == "unsup" and len(report["checkpoint"]["sha256"]) == 64
    assert report["store"]["background_estimate"] == "clean" and report["role"] == "h36m-val"
    assert report["has_decoder_mask"] is True and report["warnings"] == []
    for m in report["modes"].values():
        assert set(m) == {
            "e_b",
            "e_b_prime",
            "pci",
            "pci_ci95",
            "e_b_stranger",
            "aci",
            "aci_ci95",
            "mask_iou",
            "mask_inside",
            "mask_outside",
            "ep_pck_decoded",
            "ep_error_px_decoded",
        }
        assert m["pci"] == pytest.approx(1 - m["e_b"] / m["e_b_prime"])
        assert m["pci_ci95"][0] <= m["pci"] <= m["pci_ci95"][1]
        assert 0 <= m["mask_iou"] <= 1 and 0 <= m["ep_pck_decoded"] <= 1 and m["ep_error_px_decoded"] > 0
    assert 0 <= report["ep_on_real"]["pck"] <= 1 and report["copy_background_l1"] > 0
    assert 0 < report["ep_on_real"]["pck_const_2d"] <= 1 and report["ep_on_real"]["error_px_const_2d"] > 0
    assert "kspbench" in report["provenance"]


def test_an_ep_that_predicts_the_constant_2d_pose_scores_the_constant_floor(bench, monkeypatch):
    frames = _frames(bench)
    const = torch.from_numpy(frames.p2d[frames.usable].astype(np.float64).mean(0))
    np.testing.assert_array_equal(DG.constant_2d(frames), const.numpy())  # the floor is the role's mean 2D
    model, _ = load_model(bench["ckpt"])
    real_pose = model.pose

    def constant_pose(images):
        out = real_pose(images)
        out["p2d"] = const.to(out["p2d"].dtype).expand_as(out["p2d"]).clone()
        return out

    monkeypatch.setattr(model, "pose", constant_pose)
    report, _ = DG.diagnose(bench["ckpt"], bench["clean"], n_tuples=N, threads=1, model=model)
    real = report["ep_on_real"]
    assert real["pck"] == pytest.approx(real["pck_const_2d"], abs=1e-6)
    assert real["error_px"] == pytest.approx(real["error_px_const_2d"], rel=1e-5)
    # The true 2D pose is not constant, so the floor is not perfect.
    assert real["error_px_const_2d"] > 0.5


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kspbench: error: ")
    for needle in needles:
        assert needle in err, err


def test_cli_writes_the_report_and_figure_deterministically(bench, capsys):
    outs = []
    for k in range(2):
        out, fig = bench["root"] / f"diag{k}.json", bench["root"] / f"diag{k}.png"
        assert (
            main(
                [
                    "diagnose",
                    "--checkpoint",
                    str(bench["ckpt"]),
                    "--store",
                    str(bench["clean"]),
                    "--tuples",
                    str(N),
                    "--seed",
                    "1",
                    "--threads",
                    "1",
                    "--out",
                    str(out),
                    "--figure",
                    str(fig),
                ]
            )
            == 0
        )
        stdout = capsys.readouterr().out
        assert "teacher-forced" in stdout and f"wrote {out}" in stdout and f"wrote {fig}" in stdout
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        outs.append(json.loads(out.read_text()))
    assert _numbers(outs[0]) == _numbers(outs[1])
    assert outs[0]["seed"] == 1 and outs[0]["n_tuples"] == N
    assert sorted(p.name for p in bench["root"].glob("diag*")) == ["diag0.json", "diag0.png", "diag1.json", "diag1.png"]


def test_cli_refuses_backgrounds_that_are_not_clean_unless_allowed(bench, capsys, tmp_path):
    out = tmp_path / "d.json"
    args = [
        "diagnose",
        "--checkpoint",
        str(bench["ckpt"]),
        "--store",
        str(bench["median"]),
        "--tuples",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    _one_line_error(capsys, "not clean", "median:9", "rebuild the world")
    assert not out.exists()
    assert main(args + ["--allow-median-background"]) == 0
    assert "warning: the store's backgrounds are not clean" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["store"]["background_estimate"] == "median:9" and len(report["warnings"]) == 1


def test_cli_bad_inputs_exit_2_with_one_line(bench, capsys, tmp_path):
    base = ["diagnose", "--checkpoint", str(bench["ckpt"]), "--store", str(bench["clean"]), "--threads", "1"]
    assert main(base + ["--tuples", "0"]) == 2
    _one_line_error(capsys, "--tuples")
    assert main(base + ["--role", "nope"]) == 2
    _one_line_error(capsys, "no sequence has role nope")
    assert main(base + ["--role", "dunp"]) == 2
    _one_line_error(capsys, "no background estimate")
    assert main(["diagnose", "--checkpoint", str(tmp_path / "none.pt"), "--store", str(bench["clean"])]) == 2
    _one_line_error(capsys, "no such checkpoint")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["diagnose", "--checkpoint", str(bad), "--store", str(bench["clean"])]) == 2
    _one_line_error(capsys, "not a readable checkpoint")


def test_fig3_title_line_gives_pci_on_clean_stores_and_a_note_otherwise(bench):
    from kspbench.reporting import figures as F

    model, _ = load_model(bench["ckpt"])
    line = F.swap_pci_text(model, bench["ckpt"], bench["clean"], "h36m-test", n=16)
    assert line.startswith("PCI on 16 tuples of h36m-test: EP ") and "teacher-forced" in line
    note = F.swap_pci_text(model, bench["ckpt"], bench["median"], "h36m-test", n=16)
    assert note == "PCI not computed: the store's backgrounds are not clean (background_estimate median:9)"
    with PoseStore(bench["clean"]) as s:
        assert DG.background_estimate(s.attrs) == "clean"


def test_strangers_are_another_subject_seen_by_the_same_camera_and_none_with_one_subject(bench):
    frames, _ = DG.load_role(bench["clean"], "h36m-train", 32)
    assert np.unique(frames.subject[frames.usable]).size == 2
    t = DG.draw_tuples(frames, 100, seed=1)
    assert t.stranger is not None and t.stranger.shape == t.target.shape
    assert (frames.subject[t.stranger] != frames.subject[t.target]).all()
    assert (frames.camera[t.stranger] == frames.camera[t.target]).all()
    assert frames.usable[t.stranger].all()
    assert (DG.draw_tuples(frames, 100, seed=1).stranger == t.stranger).all()
    assert (t.take(slice(3, 7)).stranger == t.stranger[3:7]).all()
    assert DG.draw_tuples(_frames(bench), 10, seed=0).stranger is None  # h36m-val: one subject


def test_a_decoder_that_ignores_the_appearance_code_has_aci_zero_and_one_subject_gives_none(bench, monkeypatch, capsys):
    model, _ = load_model(bench["ckpt"])
    render = model.render
    report, _ = DG.diagnose(bench["ckpt"], bench["clean"], role="h36m-train", n_tuples=N, threads=1, model=model)
    for m in report["modes"].values():
        assert m["aci"] == pytest.approx(1 - m["e_b"] / m["e_b_stranger"])
        assert m["aci_ci95"][0] <= m["aci"] <= m["aci_ci95"][1]
        assert m["e_b_stranger"] != m["e_b"]  # the tiny decoder does read fa
    monkeypatch.setattr(
        model, "render", lambda p2d, scale, fa, bg, depth=None: render(p2d, scale, torch.zeros_like(fa), bg, depth)
    )
    blind, _ = DG.diagnose(bench["ckpt"], bench["clean"], role="h36m-train", n_tuples=N, threads=1, model=model)
    for m in blind["modes"].values():
        assert abs(m["aci"]) < 1e-12 and all(abs(v) < 1e-12 for v in m["aci_ci95"]), m
        assert m["pci"] != 0.0  # it still draws the pose
    assert "ACI = 1 - e(B)/e_X(B)" in DG.aci_line(blind)
    val, _ = DG.diagnose(bench["ckpt"], bench["clean"], n_tuples=N, threads=1, model=model)
    assert all(m["aci"] is None and m["e_b_stranger"] is None for m in val["modes"].values())
    assert DG.aci_line(val).startswith("ACI: n/a (h36m-val has one subject")
