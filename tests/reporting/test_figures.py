"""``kspbench figures``: every figure from a tiny trained card and its results, the DVC tables, skips and errors."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from factories import EVAL
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.data.store import PoseStore, StoreWriter
from kspbench.model.cards import load_card
from kspbench.model.predict import predict
from kspbench.model.profiles import load_profile
from kspbench.model.train import train
from kspbench.reporting import figures as F
from model_fixtures import make_clip

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS = (0, 1)
VAL_STEPS = 6  # the unsup card's three stages at min_stage_steps (2) each, validated every step (profile below)


def _build_store(path: Path) -> Path:
    """The roles the unsup card trains on, an h36m-test subject with two actions and a 3DHP test sequence."""
    rng = np.random.default_rng(0)
    with StoreWriter(path, dataset="kspbench-synthetic-test", source="tests/test_figures.py") as w:
        for subject in ("S1", "S5"):
            w.add_sequence(make_clip(rng, subject=subject, sequence="Walking 1", role="h36m-train", n=10))
        w.add_sequence(make_clip(rng, subject="S2", sequence="Walking 1", role="h36m-val", n=10))
        w.add_sequence(make_clip(rng, subject="S9", sequence="Walking 1", role="h36m-test", n=10, invalid=(3,)))
        w.add_sequence(make_clip(rng, subject="S9", sequence="Eating 1", role="h36m-test", n=10))
        for i in range(2):
            w.add_sequence(
                make_clip(rng, subject=f"U{i}", sequence="clip", role="dunp", n=10, cameras=1, backgrounds=False)
            )
        w.add_sequence(make_clip(rng, subject="P", sequence="prior", role="prior", n=20, cameras=1, independent=True))
        seq = make_clip(rng, subject="TS1", sequence="TS1", role="3dhp-test", n=10, cameras=1)
        cam = seq.cameras.pop("c0")
        cam.camera_id = "0"
        cam.extras = {"univ_annot3": cam.camera_3d.copy(), "activity": (np.arange(10) // 3) % 7 + 1}
        seq.cameras["0"] = cam
        w.add_sequence(seq)
    return path


def _noisy_truth(store: Path, role: str, out: Path, rng: np.random.Generator) -> Path:
    """Ground truth + 40 mm noise for every frame of a role, named as card "noisy" seed 0."""
    parts = {k: [] for k in ("poses_3d", "subject", "sequence", "camera", "frame")}
    with PoseStore(store) as s:
        for info in s.sequences(role=role):
            for cam in info.cameras:
                gt = s.read(info.subject, info.sequence, "camera_3d", camera=cam)
                parts["poses_3d"].append(gt - gt[:, :1] + rng.normal(scale=40.0, size=gt.shape))
                parts["subject"].append(np.full(len(gt), info.subject))
                parts["sequence"].append(np.full(len(gt), info.sequence))
                parts["camera"].append(np.full(len(gt), cam))
                parts["frame"].append(np.arange(len(gt)))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    write_predictions(out, Predictions(**cat, attrs={"card": "noisy", "seed": 0}))
    return out


@pytest.fixture()
def cli(monkeypatch):
    """kspbench.cli.main with the figures subcommand registered (whether or not cli/__init__ lists it yet)."""
    import kspbench.cli as C

    if "figures" not in C._SUBCOMMANDS:
        monkeypatch.setattr(C, "_SUBCOMMANDS", C._SUBCOMMANDS + ("figures",))
    return C.main


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A store, the unsup card trained for two seeds (tiny profile, validated every step), results of two rows
    (unsup: h36m-p2, 3dhp, 3dhp-pa per seed; noisy truth: the same protocols) and one make_all pass."""
    import torch

    from kspbench.cli import main

    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("figures")
    store = _build_store(root / "store.h5")
    prof = load_profile("tiny").to_dict()
    prof.pop("name")
    prof.update(val_every=1, val_frames=8, steps_scale=1e-6, min_stage_steps=2)  # 2 steps per stage, whatever
    # the card's or the tiny profile's step counts become
    prof_path = root / "tinyval.yaml"
    prof_path.write_text(yaml.safe_dump(prof))
    runs, preds, results = root / "runs", root / "predictions", root / "results"
    for seed in SEEDS:
        train(
            dataclasses.replace(load_card("unsup"), seed=seed),
            store,
            runs / "unsup" / f"s{seed}",
            profile=str(prof_path),
            progress=False,
        )
        for role in ("h36m-test", "3dhp-test"):
            predict(
                runs / "unsup" / f"s{seed}" / "checkpoint.pt", store, role, preds / "unsup" / f"s{seed}" / f"{role}.h5"
            )
    ev = ["--store", str(store)]
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(preds / "unsup"),
                "--role",
                "h36m-test",
                "--out",
                str(results / "unsup" / "h36m"),
                "--cameras",
                "c0,c1",
                *ev,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "3dhp,3dhp-pa",
                "--predictions",
                str(preds / "unsup"),
                "--role",
                "3dhp-test",
                "--out",
                str(results / "unsup" / "3dhp"),
                *ev,
            ]
        )
        == 0
    )
    rng = np.random.default_rng(1)
    noisy_h36m = _noisy_truth(store, "h36m-test", preds / "noisy-h36m.npz", rng)
    noisy_3dhp = _noisy_truth(store, "3dhp-test", preds / "noisy-3dhp.npz", rng)
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(noisy_h36m),
                "--cameras",
                "c0,c1",
                "--out",
                str(results / "noisy" / "h36m" / "h36m-p2.json"),
                *ev,
            ]
        )
        == 0
    )
    for protocol in ("3dhp", "3dhp-pa"):
        assert (
            main(
                [
                    *EVAL,
                    "--protocol",
                    protocol,
                    "--predictions",
                    str(noisy_3dhp),
                    "--out",
                    str(results / "noisy" / "3dhp" / f"{protocol}.json"),
                    *ev,
                ]
            )
            == 0
        )
    log: list[str] = []
    written = F.make_all(results, runs, store, root / "figures", root / "plots", log=log.append)
    torch.set_num_threads(old_threads)
    return {
        "root": root,
        "store": store,
        "runs": runs,
        "results": results,
        "written": written,
        "log": log,
        "figures": root / "figures",
        "plots": root / "plots",
    }


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _assert_png(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 8000, (path, len(data))
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.width >= 400 and img.height >= 300, (path, img.size)
        lo_hi = img.convert("RGB").getextrema()
        assert any(hi - lo > 100 for lo, hi in lo_hi), (path, lo_hi)  # not a blank canvas


def test_make_all_writes_every_figure_as_a_valid_png(bench):
    names = sorted(p.name for p in bench["written"] if p.suffix == ".png")
    assert names == sorted(F.FIGURES)
    for name in F.FIGURES:
        _assert_png(bench["figures"] / name)
        assert f"wrote {bench['figures'] / name}" in bench["log"]
    assert not any(line.startswith("skipped") for line in bench["log"]), bench["log"]
    # Only the figures and the tables: no temporary file is left behind.
    assert sorted(p.name for p in bench["figures"].iterdir()) == sorted(F.FIGURES)
    assert sorted(p.name for p in bench["plots"].iterdir()) == ["pck_3dhp-pa.csv", "pck_3dhp.csv", "val_curves.csv"]


def test_val_curves_csv_is_wide_a_column_per_card_with_the_seed_mean(bench):
    """DVC draws one line per column: step, then the card's validation P-MPJPE averaged over its seeds."""
    columns, rows = _read_csv(bench["plots"] / "val_curves.csv")
    assert columns == ["step", "unsup"]
    assert json.loads((bench["runs"] / "unsup" / "s0" / "run.json").read_text())["total_steps"] == VAL_STEPS
    assert [int(r["step"]) for r in rows] == list(range(1, VAL_STEPS + 1))
    per_seed = [
        [float(r["p_mpjpe_mm"]) for r in _read_csv(bench["runs"] / "unsup" / f"s{s}" / "val.csv")[1]] for s in SEEDS
    ]
    np.testing.assert_allclose([float(r["unsup"]) for r in rows], np.mean(per_seed, axis=0), rtol=0, atol=1e-12)


def test_pck_csv_per_protocol_has_a_column_per_row_with_the_seed_mean(bench):
    for protocol, alignment in (("3dhp", "root"), ("3dhp-pa", "procrustes")):
        columns, rows = _read_csv(bench["plots"] / f"pck_{protocol}.csv")
        assert columns[0] == "threshold_mm" and sorted(columns[1:]) == ["noisy", "unsup"]
        seeds = [
            json.loads((bench["results"] / "unsup" / "3dhp" / f"s{s}" / f"{protocol}.json").read_text()) for s in SEEDS
        ]
        curves = [d["curves"][f"pck_vs_threshold:{alignment}"] for d in seeds]
        assert [float(r["threshold_mm"]) for r in rows] == curves[0]["thresholds_mm"]  # 0:5:150, one line each
        np.testing.assert_allclose(
            [float(r["unsup"]) for r in rows], np.mean([c["pck"] for c in curves], axis=0), rtol=0, atol=1e-12
        )
    _, rows = _read_csv(bench["plots"] / "pck_3dhp.csv")
    noisy = [float(r["noisy"]) for r in rows]
    assert noisy[0] < 10.0 and noisy[-1] > 90.0 and noisy == sorted(noisy)  # only the root is exact at 0 mm


def test_cli_is_deterministic_and_says_what_it_wrote(bench, cli, capsys):
    out, plots = bench["root"] / "figures2", bench["root"] / "plots2"
    assert (
        cli(
            [
                "figures",
                "--results",
                str(bench["results"]),
                "--runs",
                str(bench["runs"]),
                "--store",
                str(bench["store"]),
                "--out",
                str(out),
                "--plots",
                str(plots),
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    for name in F.FIGURES:
        assert f"wrote {out / name}" in stdout
        _assert_png(out / name)
    for name in ("val_curves.csv", "pck_3dhp.csv", "pck_3dhp-pa.csv"):
        assert f"wrote {plots / name}" in stdout
        assert (plots / name).read_bytes() == (bench["plots"] / name).read_bytes(), name


def _one_line_error(capsys, *needles: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kspbench: error: "), err
    for needle in needles:
        assert needle in err, err


def test_missing_results_folder_exits_2_with_one_line(cli, capsys, tmp_path):
    assert (
        cli(
            [
                "figures",
                "--results",
                str(tmp_path / "nowhere"),
                "--runs",
                str(tmp_path),
                "--out",
                str(tmp_path / "f"),
                "--plots",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    _one_line_error(capsys, "nowhere", "no such results folder")
    assert not (tmp_path / "f").exists() and not (tmp_path / "p").exists()


def test_unreadable_checkpoint_exits_2_with_one_line(bench, cli, capsys, tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    assert (
        cli(
            [
                "figures",
                "--results",
                str(bench["results"]),
                "--runs",
                str(bench["runs"]),
                "--store",
                str(bench["store"]),
                "--out",
                str(tmp_path / "f"),
                "--plots",
                str(tmp_path / "p"),
                "--checkpoint",
                str(bad),
            ]
        )
        == 2
    )
    _one_line_error(capsys, str(bad), "checkpoint")


def test_absent_inputs_skip_their_figures_and_the_tables_are_header_only(cli, capsys, tmp_path):
    (tmp_path / "results").mkdir()
    out = tmp_path / "figures"
    out.mkdir()
    (out / "fig4_skeletons.png").write_bytes(PNG_MAGIC)  # stale, from an earlier run
    (out / "fig4_skeletons.pdf").write_bytes(b"%PDF-")  # stale copies of every format go
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "pck_curves.csv").write_text("row,protocol,threshold_mm,pck\n")  # the old long table
    assert (
        cli(
            [
                "figures",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                str(tmp_path / "runs"),
                "--store",
                str(tmp_path / "none.h5"),
                "--out",
                str(out),
                "--plots",
                str(tmp_path / "plots"),
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    for name in F.FIGURES:
        assert f"skipped {name}: " in stdout, stdout
    assert "removed its stale copy" in stdout
    assert list(out.iterdir()) == []
    assert (tmp_path / "plots" / "val_curves.csv").read_text() == "step\n"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["val_curves.csv"]  # no curve, no PCK table
    assert f"removed {tmp_path / 'plots' / 'pck_curves.csv'}" in stdout


def test_every_figure_in_png_pdf_and_svg(bench, cli, capsys):
    from xml.etree import ElementTree

    out = bench["root"] / "figures_all"
    assert (
        cli(
            [
                "figures",
                "--results",
                str(bench["results"]),
                "--runs",
                str(bench["runs"]),
                "--store",
                str(bench["store"]),
                "--out",
                str(out),
                "--plots",
                str(bench["root"] / "plots3"),
                "--format",
                "pdf, svg,png",
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    assert f"{len(F.FIGURES)} figure(s) in {out} (pdf, svg, png)" in stdout
    for name in F.FIGURES:
        stem = out / Path(name).stem
        _assert_png(stem.with_suffix(".png"))
        pdf = stem.with_suffix(".pdf").read_bytes()
        assert pdf[:5] == b"%PDF-" and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 2000, name
        root = ElementTree.parse(stem.with_suffix(".svg")).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg" and len(list(root.iter())) > 50, name
        for fmt in ("pdf", "svg", "png"):
            assert f"wrote {stem.with_suffix('.' + fmt)}" in stdout
    assert sorted(p.suffix for p in out.iterdir()) == sorted([".pdf", ".png", ".svg"] * len(F.FIGURES))


def test_vector_figures_are_reproducible_and_stale_copies_of_every_format_go(bench, tmp_path):
    from kspbench.evaluation.results import discover

    curves = F.pck_curve_data(discover(bench["results"]))
    a = F.plot_pck_curves(curves, tmp_path / "a" / "pck.svg", formats=("svg", "pdf"))
    b = F.plot_pck_curves(curves, tmp_path / "b" / "pck.svg", formats=("svg", "pdf"))
    assert a.suffix == ".svg" and a.read_bytes() == b.read_bytes()  # no date, fixed ids: same bytes
    assert a.with_suffix(".pdf").read_bytes() == b.with_suffix(".pdf").read_bytes()
    assert F.plot_pck_curves(curves, tmp_path / "c" / "pck.pdf").suffix == ".pdf"  # format from the suffix
    assert (tmp_path / "c" / "pck.pdf").read_bytes()[:5] == b"%PDF-" and not (tmp_path / "c" / "pck.png").exists()


def test_unknown_figure_format_exits_2_with_one_line(cli, capsys, tmp_path):
    (tmp_path / "results").mkdir()
    assert (
        cli(
            [
                "figures",
                "--results",
                str(tmp_path / "results"),
                "--out",
                str(tmp_path / "f"),
                "--plots",
                str(tmp_path / "p"),
                "--format",
                "png,jpg",
            ]
        )
        == 2
    )
    _one_line_error(capsys, "--format", "jpg", "png, pdf, svg")
    assert not (tmp_path / "f").exists()


def test_fixed_frames_swaps_and_aligned_skeletons(bench):
    from kspbench.model.predict import load_model

    ckpt_path = F.find_checkpoint(bench["runs"], "unsup")
    assert ckpt_path == bench["runs"] / "unsup" / "s0" / "checkpoint.pt"
    model, ckpt = load_model(ckpt_path)
    frames = F.select_frames(bench["store"], "h36m-test", 32, 6)
    again = F.select_frames(bench["store"], "h36m-test", 32, 6)
    assert frames.names == again.names and len(frames.names) == 6
    every = F.select_frames(bench["store"], "h36m-test", 32, 1000).names
    assert len(every) == 38 and not any(n.startswith("S9 Walking 1") and n.endswith("#3") for n in every)
    assert frames.names[0] == "S9 Eating 1 c0 #0" and frames.names[-1] == "S9 Walking 1 c1 #9"
    sw = F.swap_images(model, F.select_frames(bench["store"], "h36m-test", 32, 4))
    assert sw["grid"].shape == (4, 4, 32, 32, 3)
    assert sw["grid"].min() >= 0.0 and sw["grid"].max() <= 1.0
    for i in range(4):
        for j in range(4):
            assert sw["background"][i, j] not in (i, j)
    # Same pose and background, another appearance: another image.
    assert sw["background"][0, 2] == sw["background"][0, 3] == 1
    assert np.abs(sw["grid"][0, 2] - sw["grid"][0, 3]).max() > 1e-4
    # Teacher-forced from the true 2D pose: the same inputs but the pose, so another image, and the labels'.
    assert sw["grid_true"].shape == sw["grid"].shape
    assert np.abs(sw["grid_true"] - sw["grid"]).max() > 1e-4
    np.testing.assert_array_equal(sw["p2d_true"], F.select_frames(bench["store"], "h36m-test", 32, 4).p2d)
    # Fig. 3's frames: the most different true poses of evenly spaced candidates, from the labels alone.
    diverse = F.select_frames(bench["store"], "h36m-test", 32, 3, diverse_from=12)
    candidates = F.select_frames(bench["store"], "h36m-test", 32, 12)
    assert set(diverse.names) <= set(candidates.names) and len(set(diverse.names)) == 3
    picked = [candidates.names.index(n) for n in diverse.names]
    assert picked == F.diverse_poses(candidates.p3d, 3).tolist()
    assert diverse.names == F.select_frames(bench["store"], "h36m-test", 32, 3, diverse_from=12).names
    sk = F.skeleton_data(model, frames)
    err = np.linalg.norm(sk["aligned"] - sk["gt"], axis=-1).mean(axis=1)
    np.testing.assert_allclose(sk["p_mpjpe_mm"], err, rtol=1e-9)
    assert (sk["p_mpjpe_mm"] < np.linalg.norm(sk["pred"] - sk["gt"], axis=-1).mean(axis=1) + 1e-9).all()
    assert F.dataset_title(["kspbench-synthetic-world"]) == "kspbench-synthetic-world: not comparable with the paper"


def _rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def test_diverse_poses_takes_the_medoid_then_the_farthest_and_counts_views_of_a_pose_as_one():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(17, 3))
    other = rng.normal(size=(17, 3))
    near = base + 0.05 * rng.normal(size=(17, 3))
    # 0-2: one pose (1 and 2 rotated and scaled copies of 0, which protocol II's alignment cannot tell apart),
    # 3: near it, 4: another pose.
    poses = np.stack([base, 1.7 * base @ _rot_z(70).T, 0.6 * base @ _rot_z(-40).T, near, other])
    order = F.diverse_poses(poses, 5).tolist()
    assert sorted(order) == [0, 1, 2, 3, 4]  # each index once
    assert order[0] in (0, 1, 2)  # the medoid: the cluster of one pose
    assert order[1] == 4  # then the pose unlike the rest
    assert order[2] == 3  # then the near pose, before the copies of the one already taken
    assert F.diverse_poses(poses, 2).tolist() == order[:2]
    assert F.diverse_poses(poses, 0).size == 0 and F.diverse_poses(poses[:1], 3).tolist() == [0]
