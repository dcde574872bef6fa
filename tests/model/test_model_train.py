"""Training runs: determinism, bit-identical resume (also after kill -9), checkpoints, predict, cards, the CLI."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from assertions import assert_close
from kspbench.cli import main
from kspbench.data.predictions import read_predictions
from kspbench.data.store import PoseStore, StoreWriter
from kspbench.errors import ConfigError
from kspbench.infra.provenance import file_sha256
from kspbench.model.cards import card_names, load_card
from kspbench.model.profiles import load_profile
from kspbench.model.train import CHECKPOINT_NAME, LOG_COLUMNS, TrainingError, load_checkpoint, train
from model_fixtures import make_clip

REPO = Path(__file__).resolve().parents[2]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kspbench: error: ")
    for needle in needles:
        assert needle in err, err


def _assert_same_run(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(a / CHECKPOINT_NAME), load_checkpoint(b / CHECKPOINT_NAME)
    assert ca["step"] == cb["step"] == ca["total_steps"]
    for k, v in ca["model"].items():
        assert torch.equal(v, cb["model"][k]), k
    for name, opt in ca["optimisers"].items():
        for pid, state in opt["state"].items():
            for key, v in state.items():
                assert torch.equal(v, cb["optimisers"][name]["state"][pid][key]), (name, pid, key)
    assert ca["rng"] == cb["rng"]
    assert (a / "log.csv").read_bytes() == (b / "log.csv").read_bytes()
    assert file_sha256(a / CHECKPOINT_NAME) == file_sha256(b / CHECKPOINT_NAME)


def test_same_card_and_seed_give_bit_identical_runs_and_resume_is_bitwise(store, tmp_path):
    train("unsup", store, tmp_path / "a", profile="tiny", progress=False)
    train("unsup", store, tmp_path / "b", profile="tiny", progress=False)
    _assert_same_run(tmp_path / "a", tmp_path / "b")
    # A crash after step 7 (the last checkpoint is at step 4 in the tiny profile), then --resume.
    train("unsup", store, tmp_path / "c", profile="tiny", progress=False, stop_after=7)
    assert load_checkpoint(tmp_path / "c" / CHECKPOINT_NAME)["step"] == 4
    with (tmp_path / "c" / "log.csv").open("a") as f:
        f.write("8,base,prior,0.1")  # a row torn by the crash
    with pytest.raises(TrainingError, match="--resume"):
        train("unsup", store, tmp_path / "c", profile="tiny", progress=False)
    train("unsup", store, tmp_path / "c", profile="tiny", progress=False, resume=True)
    _assert_same_run(tmp_path / "a", tmp_path / "c")
    log = (tmp_path / "a" / "log.csv").read_text().splitlines()
    assert log[0].split(",") == list(LOG_COLUMNS)
    assert [int(r.split(",")[0]) for r in log[1:]] == list(range(1, 19))
    # A different seed gives a different run.
    card = dataclasses.replace(load_card("unsup"), seed=1)
    train(card, store, tmp_path / "d", profile="tiny", progress=False)
    assert file_sha256(tmp_path / "a" / CHECKPOINT_NAME) != file_sha256(tmp_path / "d" / CHECKPOINT_NAME)


@pytest.mark.slow
def test_kill_9_then_resume_ends_at_the_uninterrupted_parameters(store, tmp_path):
    prof = load_profile("tiny").to_dict()
    prof.pop("name")
    prof.update(steps_scale=0.006, checkpoint_every=5)  # 108 steps; ~2 s
    prof_path = tmp_path / "slowtiny.yaml"
    prof_path.write_text(yaml.safe_dump(prof))
    args = ["train", "--card", "dp-only", "--store", str(store), "--profile", str(prof_path), "--quiet"]
    out_killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kspbench.cli", *args, "--out", str(out_killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = out_killed / CHECKPOINT_NAME
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and load_checkpoint(ckpt)["step"] >= 10:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this fixture)")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step = load_checkpoint(ckpt)["step"]
    assert 0 < step < load_checkpoint(ckpt)["total_steps"]
    assert main([*args, "--out", str(out_killed), "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    _assert_same_run(tmp_path / "straight", out_killed)


def test_init_from_and_predict_write_a_valid_predictions_file(store, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "--card",
                "unsup",
                "--store",
                str(store),
                "--out",
                str(runs / "unsup"),
                "--profile",
                "tiny",
                "--quiet",
            ]
        )
        == 0
    )
    # weakly starts from runs/unsup (found beside its own run folder).
    assert (
        main(
            [
                "train",
                "--card",
                "models/weakly.yaml",
                "--store",
                str(store),
                "--out",
                str(runs / "weakly"),
                "--profile",
                "tiny",
                "--quiet",
            ]
        )
        == 0
    )
    ck = load_checkpoint(runs / "weakly" / CHECKPOINT_NAME)
    assert ck["init"]["init_from"] == "unsup"
    assert ck["init"]["checkpoint_sha256"] == file_sha256(runs / "unsup" / CHECKPOINT_NAME)
    out = tmp_path / "preds.h5"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(runs / "weakly" / CHECKPOINT_NAME),
                "--store",
                str(store),
                "--role",
                "h36m-test",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    preds = read_predictions(out)
    with PoseStore(store) as s:
        expected = sum(i.n_frames * len(i.cameras) for i in s.sequences(role="h36m-test"))
    assert len(preds) == expected  # every image, the invalid frame included
    assert preds.attrs["card"] == "weakly" and preds.attrs["seed"] == 0
    assert preds.attrs["checkpoint_sha256"] == file_sha256(runs / "weakly" / CHECKPOINT_NAME)
    assert preds.attrs["trunk_mm"] == pytest.approx(490.56)
    assert_close(preds.poses_3d[:, 0], 0.0)
    trunk = np.linalg.norm(preds.poses_3d[:, 8] - preds.poses_3d[:, 0], axis=-1)
    assert_close(trunk, 490.56, rtol=1e-4)
    capsys.readouterr()
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
                "--subjects",
                "S9",
                "--cameras",
                "c0,c1",
            ]
        )
        == 0
    )


def test_seeds_layout_from_train_to_predict_to_eval(store, tmp_path, capsys):
    """The pipeline's layout: runs/<card>/s<seed>, predictions/<card>/s<seed>/<role>.h5, results/<card>/../s<seed>."""
    runs, preds, results = tmp_path / "runs", tmp_path / "predictions", tmp_path / "results"
    common = ["--store", str(store), "--profile", "tiny", "--seeds", "2", "--quiet"]
    assert main(["train", "--card", "unsup", "--out", str(runs / "unsup"), *common]) == 0
    assert main(["train", "--card", "weakly", "--out", str(runs / "weakly"), *common]) == 0
    for seed in (0, 1):
        ck = load_checkpoint(runs / "weakly" / f"s{seed}" / CHECKPOINT_NAME)
        assert ck["seed"] == seed
        # Seed k of a finetuned card starts from seed k of its init_from card.
        assert ck["init"]["checkpoint_sha256"] == file_sha256(runs / "unsup" / f"s{seed}" / CHECKPOINT_NAME)
    a = load_checkpoint(runs / "unsup" / "s0" / CHECKPOINT_NAME)["model"]
    b = load_checkpoint(runs / "unsup" / "s1" / CHECKPOINT_NAME)["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a)  # two seeds, two different models
    assert (
        main(
            [
                "predict",
                "--run",
                str(runs / "weakly"),
                "--store",
                str(store),
                "--role",
                "h36m-test,3dhp-test",
                "--out",
                str(preds / "weakly"),
            ]
        )
        == 0
    )
    assert sorted(p.relative_to(preds).as_posix() for p in preds.rglob("*.h5")) == [
        "weakly/s0/3dhp-test.h5",
        "weakly/s0/h36m-test.h5",
        "weakly/s1/3dhp-test.h5",
        "weakly/s1/h36m-test.h5",
    ]
    assert read_predictions(preds / "weakly" / "s1" / "h36m-test.h5").attrs["seed"] == 1
    assert (
        main(
            [
                "eval",
                "--allow-partial",
                "--protocol",
                "h36m-p1,h36m-p2",
                "--predictions",
                str(preds / "weakly"),
                "--role",
                "h36m-test",
                "--store",
                str(store),
                "--out",
                str(results / "weakly" / "h36m"),
                "--cameras",
                "c0,c1",
            ]
        )
        == 0
    )
    got = sorted(p.relative_to(results).as_posix() for p in results.rglob("*.json"))
    assert got == [
        "weakly/h36m/s0/h36m-p1.json",
        "weakly/h36m/s0/h36m-p2.json",
        "weakly/h36m/s1/h36m-p1.json",
        "weakly/h36m/s1/h36m-p2.json",
    ]
    capsys.readouterr()
    # A folder needs --role; --role needs a folder; --seeds with --seed is refused.
    assert (
        main(
            [
                "eval",
                "--allow-partial",
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(preds / "weakly"),
                "--store",
                str(store),
                "--out",
                str(results / "x"),
            ]
        )
        == 2
    )
    _one_line_error(capsys, "--role")
    assert (
        main(
            [
                "eval",
                "--allow-partial",
                "--protocol",
                "h36m-p1,h36m-p2",
                "--predictions",
                str(preds / "weakly" / "s0" / "h36m-test.h5"),
                "--role",
                "h36m-test",
                "--store",
                str(store),
            ]
        )
        == 2
    )
    _one_line_error(capsys, "predictions folder")
    assert main(["train", "--card", "unsup", "--seed", "3", "--out", str(runs / "y"), *common]) == 2
    _one_line_error(capsys, "--seeds")
    assert main(["predict", "--run", str(tmp_path / "nothing"), "--store", str(store), "--out", str(preds / "z")]) == 2
    _one_line_error(capsys, "no s<seed>/checkpoint.pt")


def test_cards_all_load_and_init_from_names_an_existing_card():
    names = card_names()
    assert set(names) >= {
        "unsup",
        "weakly",
        "semi",
        "unsup-3dhp",
        "weakly-3dhp",
        "semi-3dhp",
        "dp-only",
        "no-tfk",
        "no-tm",
        "full-3d",
    }
    for name in names:
        card = load_card(name)
        assert card.table_row and card.profile == "cpu"
        assert card.init_from is None or card.init_from in names
    # init_from chains end at a card trained from scratch.
    for name in names:
        seen, cur = set(), name
        while load_card(cur).init_from is not None:
            seen.add(cur)
            cur = load_card(cur).init_from
            assert cur not in seen
    assert load_card("no-tfk").model.ablation == "no-tfk" and not load_card("no-tm").data.unpaired


def test_card_with_unknown_key_is_refused_naming_it(tmp_path, capsys, store):
    raw = yaml.safe_load((REPO / "models" / "unsup.yaml").read_text())
    raw["losses"]["paired"]["lamda1"] = 2.0
    path = tmp_path / "unsup.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"losses\.paired: unknown key 'lamda1'"):
        load_card(path)
    assert main(["train", "--card", str(path), "--store", str(store), "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "losses.paired", "'lamda1'")
    raw = yaml.safe_load((REPO / "models" / "weakly.yaml").read_text())
    raw["init_from"] = "nonexistent"
    path = tmp_path / "weakly.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="init_from: no card 'nonexistent'"):
        load_card(path)


def test_cli_bad_inputs_exit_2_with_one_line(store, tmp_path, capsys):
    base = ["train", "--card", "unsup", "--out", str(tmp_path / "r")]
    assert main([*base, "--store", str(tmp_path / "missing.h5")]) == 2
    _one_line_error(capsys, "missing.h5", "no such store")
    assert main([*base, "--store", str(store), "--profile", "huge"]) == 2
    _one_line_error(capsys, "unknown model profile 'huge'")
    assert (
        main(["train", "--card", "weakly", "--store", str(store), "--out", str(tmp_path / "w"), "--profile", "tiny"])
        == 2
    )
    _one_line_error(capsys, "train unsup first")
    # --init-weights with a wrong-shaped state dict: refused, naming the parameter.
    from kspbench.model.resnet import ResNetTrunk

    weights = tmp_path / "resnet50.pth"
    torch.save(ResNetTrunk(64, (3, 4, 6), True).state_dict(), weights)
    assert main([*base, "--store", str(store), "--profile", "tiny", "--init-weights", str(weights), "--quiet"]) == 2
    _one_line_error(capsys, "'conv1.weight'", "(64, 3, 7, 7)")
    # A role whose sequences have no image.
    bare = tmp_path / "bare.h5"
    seq = make_clip(np.random.default_rng(0), subject="S9", sequence="Walking 1", role="h36m-test", n=4)
    for cam in seq.cameras.values():
        cam.images = cam.backgrounds = None
    with StoreWriter(bare, dataset="t", source="t") as w:
        w.add_sequence(seq)
    assert (
        main(
            [
                "train",
                "--card",
                "unsup",
                "--store",
                str(store),
                "--out",
                str(tmp_path / "ok"),
                "--profile",
                "tiny",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    ckpt = str(tmp_path / "ok" / CHECKPOINT_NAME)
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                ckpt,
                "--store",
                str(bare),
                "--role",
                "h36m-test",
                "--out",
                str(tmp_path / "p.h5"),
            ]
        )
        == 2
    )
    _one_line_error(capsys, "has images")
    assert (
        main(
            ["predict", "--checkpoint", ckpt, "--store", str(store), "--role", "nope", "--out", str(tmp_path / "p.h5")]
        )
        == 2
    )
    _one_line_error(capsys, "no sequence has role 'nope'")
    assert (
        main(
            [
                "train",
                "--card",
                "unsup",
                "--store",
                str(bare),
                "--out",
                str(tmp_path / "b"),
                "--profile",
                "tiny",
                "--quiet",
            ]
        )
        == 2
    )
    _one_line_error(capsys, "h36m-train")
    assert not (tmp_path / "p.h5").exists()


def test_cosine_decay_scales_every_optimiser_and_resumes_bitwise(store, tmp_path):
    from kspbench.model.steps import lr_factor

    assert lr_factor("constant", 5, 10) == 1.0
    assert_close(np.array([lr_factor("cosine", s, 10) for s in (0, 5, 10)]), np.array([1.0, 0.5, 0.0]), atol=1e-12)
    with pytest.raises(ValueError, match="decay"):
        lr_factor("linear", 0, 10)
    prof = load_profile("tiny").to_dict()
    prof.pop("name")
    prof["optimiser"]["decay"] = "cosine"
    path = tmp_path / "tiny-cosine.yaml"
    path.write_text(yaml.safe_dump(prof))
    train("unsup", store, tmp_path / "a", profile=str(path), progress=False)
    train("unsup", store, tmp_path / "c", profile=str(path), progress=False, stop_after=7)
    train("unsup", store, tmp_path / "c", profile=str(path), progress=False, resume=True)
    _assert_same_run(tmp_path / "a", tmp_path / "c")
    ckpt = load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME)
    total = ckpt["total_steps"]
    for opt in ckpt["optimisers"].values():
        for group in opt["param_groups"]:
            # The last step ran at step total - 1 of total.
            assert_close(group["lr"], group["initial_lr"] * lr_factor("cosine", total - 1, total), atol=1e-15)
    train("unsup", store, tmp_path / "const", profile="tiny", progress=False)
    assert file_sha256(tmp_path / "a" / CHECKPOINT_NAME) != file_sha256(tmp_path / "const" / CHECKPOINT_NAME)
    assert "initial_lr" not in str(load_checkpoint(tmp_path / "const" / CHECKPOINT_NAME)["optimisers"])


def test_init_from_accepts_a_checkpoint_from_before_a_profile_key_and_names_a_real_difference(store, tmp_path):
    runs = tmp_path / "runs"
    train("unsup", store, runs / "unsup", profile="tiny", progress=False)
    path = runs / "unsup" / CHECKPOINT_NAME
    ckpt = torch.load(path, weights_only=False)
    # A checkpoint written before decoder.map_skips existed (its legacy value is the current tiny value).
    del ckpt["profile"]["decoder"]["map_skips"]
    torch.save(ckpt, path)
    train("weakly", store, runs / "weakly", profile="tiny", progress=False, init_checkpoint=path)
    assert load_checkpoint(runs / "weakly" / CHECKPOINT_NAME)["init"]["init_from"] == "unsup"
    ckpt["profile"]["decoder"]["mask_prior"] = 1.5
    torch.save(ckpt, path)
    with pytest.raises(TrainingError, match=r"differs from this run's 'tiny' in decoder\.mask_prior"):
        train("semi", store, runs / "semi", profile="tiny", progress=False, init_checkpoint=path)


def test_resume_accepts_a_checkpoint_from_before_a_profile_key_and_names_a_real_difference(store, tmp_path):
    out = tmp_path / "run"
    train("dp-only", store, out, profile="tiny", progress=False, stop_after=7)
    path = out / CHECKPOINT_NAME
    ckpt = torch.load(path, weights_only=False)
    del ckpt["profile"]["optimiser"]["decay"]  # written before optimiser.decay existed
    torch.save(ckpt, path)
    train("dp-only", store, out, profile="tiny", progress=False, resume=True)
    assert load_checkpoint(path)["step"] == load_checkpoint(path)["total_steps"]
    ckpt = torch.load(path, weights_only=False)
    ckpt["step"] = 4
    ckpt["profile"]["decoder"]["mask_prior"] = 1.5
    torch.save(ckpt, path)
    with pytest.raises(TrainingError, match=r"differs from this run's 'tiny' in decoder\.mask_prior"):
        train("dp-only", store, out, profile="tiny", progress=False, resume=True)
