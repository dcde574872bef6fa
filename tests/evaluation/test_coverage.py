"""Honest coverage and named rows: a result missing part of its protocol is refused or labelled partial; outside
models are rows named by their model block; `eval` scores several protocols of one file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from factories import full_h36m_test_store, truth_predictions
from kspbench.cli import main
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.evaluation.protocol import load_protocol
from kspbench.evaluation.results import ResultError, by_row, discover, load_result

KEYS = ("poses_3d", "subject", "sequence", "camera", "frame")


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("kspbench: error:"), err
    for n in needles:
        assert n in err, err


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coverage")
    return {"tmp": tmp, "store": full_h36m_test_store(tmp / "h36m.h5")}


def _preds(full, path, *, noise=10.0, seed=1, keep=None, model=None, attrs=None):
    p = truth_predictions(full["store"], attrs=attrs)
    p.poses_3d = p.poses_3d + np.random.default_rng(seed).normal(scale=noise, size=p.poses_3d.shape)
    if keep is not None:
        sel = keep(p)
        p = Predictions(**{k: getattr(p, k)[sel] for k in KEYS}, attrs=p.attrs)
    p.model = model
    write_predictions(path, p)
    return path


def _eval(full, pred, out, *extra):
    return main(
        [
            "eval",
            "--protocol",
            "h36m-p2",
            "--predictions",
            str(pred),
            "--store",
            str(full["store"]),
            "--out",
            str(out),
            *extra,
        ]
    )


# --- refusal and labels ---------------------------------------------------------------------------------------------


def test_missing_subject_camera_and_action_are_refused_then_labelled(full, tmp_path, capsys):
    keep = lambda p: (p.subject == "S9") & (p.camera != "60457274") & (p.sequence != "Eating 1")  # noqa: E731
    pred = _preds(full, tmp_path / "half.npz", keep=keep, model={"name": "half"})
    out = tmp_path / "r.json"
    # Frames are missing too: --allow-missing alone scores the rest, but the protocol is still not covered.
    assert _eval(full, pred, out, "--allow-missing") == 2
    _one_line(
        capsys, "h36m-p2 is not covered", "no subject S11", "no camera 60457274", "no action Eating", "--allow-partial"
    )
    assert not out.exists()
    assert _eval(full, pred, out, "--allow-missing", "--allow-partial") == 0
    assert "partial: no subject S11; no camera 60457274; no action Eating" in capsys.readouterr().out
    r = load_result(out)
    assert r.missing == {"subjects": ["S11"], "cameras": ["60457274"], "actions": ["Eating"]}
    assert repr(r).startswith("Result('half', h36m-p2 v2, p_mpjpe_mm=") and ", partial, " in repr(r)
    assert main(["compare", str(out), str(out)]) == 0
    assert "A: half (partial: no subject S11; no camera 60457274; no action Eating)" in capsys.readouterr().out
    for argv in (["table", "--results", str(tmp_path)], ["leaderboard", "--results", str(tmp_path)]):
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert "half (partial: no subject S11; no camera 60457274; no action Eating)" in text
        assert "misses subjects, cameras or actions its protocol names" in text


def test_narrowing_overrides_are_labelled_partial_not_refused(full, tmp_path, capsys):
    pred = _preds(full, tmp_path / "all.npz", model={"name": "spin-style"})
    out = tmp_path / "r.json"
    assert _eval(full, pred, out, "--cameras", "60457274", "--stride", "2") == 0
    data = json.loads(out.read_text())
    assert data["protocol"]["overrides"] == {"cameras": ["60457274"], "frame_stride": 2}
    assert data["coverage"]["missing"]["cameras"] == ["54138969", "55011271", "58860488"]
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert "spin-style (partial: no cameras 54138969, 55011271, 58860488)" in capsys.readouterr().out


def test_one_frame_in_k_gets_a_stride_hint(full, tmp_path, capsys):
    pred = _preds(full, tmp_path / "sparse.npz", keep=lambda p: p.frame % 2 == 0, model={"name": "sparse"})
    assert _eval(full, pred, tmp_path / "r.json") == 2
    _one_line(capsys, "one frame in 2 only", "--stride 2")
    assert _eval(full, pred, tmp_path / "r.json", "--stride", "2") == 0


# --- rows named by the model block ----------------------------------------------------------------------------------


def test_two_outside_models_are_two_rows_named_by_their_blocks(full, tmp_path, capsys):
    results = tmp_path / "results"
    for k, name in enumerate(("Model A", "Model B")):
        pred = _preds(
            full,
            tmp_path / f"{k}.npz",
            noise=10.0 + 5 * k,
            seed=k,
            model={"name": name, "supervision": "Full-3D", "trainset": "H36M"},
        )
        # The same result file name in two folders: the rows are the models, never the file.
        assert _eval(full, pred, results / f"m{k}" / "h36m-p2.json") == 0
    found = discover(results)
    assert sorted(r.row for r in found) == ["Model A", "Model B"] and {r.kind for r in found} == {"external"}
    assert len(by_row(found)) == 2
    capsys.readouterr()
    assert main(["table", "--results", str(results)]) == 0
    table2 = capsys.readouterr().out.split("## Table 3")[0]
    assert "| Model A " in table2 and "| Model B " in table2 and "h36m-p2 " not in table2
    row_a = next(line for line in table2.splitlines() if line.startswith("| Model A "))
    assert "| Full-3D " in row_a
    assert main(["leaderboard", "--results", str(results), "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)["leaderboards"][0]["rows"]
    assert [e["row"] for e in board] == ["Model A", "Model B"]
    assert board[0]["model"]["trainset"] == "H36M" and board[1]["partial"] is None


def test_eval_name_overrides_and_a_card_name_cannot_be_borrowed(full, tmp_path, capsys):
    results = tmp_path / "results"
    pred = _preds(full, tmp_path / "p.npz", model={"name": "from file", "citation": "X et al., 2024"})
    assert _eval(full, pred, results / "ext.json", "--name", "unsup") == 0
    data = json.loads((results / "ext.json").read_text())
    assert data["model"] == {"name": "unsup", "citation": "X et al., 2024"}
    card = _preds(full, tmp_path / "card.npz", attrs={"card": "unsup", "seed": 0})
    assert _eval(full, card, results / "card.json") == 0
    with pytest.raises(ResultError, match="different kinds"):
        by_row(discover(results))
    assert main(["table", "--results", str(results)]) == 2
    _one_line(capsys, "give the outside model another --name")


def test_unnamed_outside_predictions_need_a_name_to_be_written(full, tmp_path, capsys):
    pred = _preds(full, tmp_path / "anon.npz")
    assert _eval(full, pred, tmp_path / "r.json") == 2
    _one_line(capsys, "carry no model name", "--name")
    assert not (tmp_path / "r.json").exists()
    assert main(["eval", "--protocol", "h36m-p2", "--predictions", str(pred), "--store", str(full["store"])]) == 0


def test_several_protocols_of_one_complete_file_go_into_a_folder(full, tmp_path, capsys):
    pred = _preds(full, tmp_path / "p.npz", model={"name": "both"})
    out = tmp_path / "results" / "both"
    assert (
        main(
            [
                "eval",
                "--protocol",
                "h36m-p1,h36m-p2",
                "--predictions",
                str(pred),
                "--store",
                str(full["store"]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "partial" not in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.json")) == ["h36m-p1.json", "h36m-p2.json"]
    p1, p2 = load_result(out / "h36m-p1.json"), load_result(out / "h36m-p2.json")
    assert (p1.row, p2.row, p1.protocol, p2.protocol) == ("both", "both", "h36m-p1", "h36m-p2")
    assert (
        main(
            [
                "eval",
                "--protocol",
                "h36m-p1,h36m-p2",
                "--predictions",
                str(pred),
                "--store",
                str(full["store"]),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 2
    )
    _one_line(capsys, "with several protocols --out is a folder")
    assert p1.metrics["mpjpe_mm"] == pytest.approx(p2.metrics["mpjpe_mm"])
    cov = p2.data["coverage"]
    assert cov["partial"] is False and cov["missing"] == {"subjects": [], "cameras": [], "actions": []}
    assert cov["required"]["actions"] == list(load_protocol("h36m-p2").actions)
    assert len(cov["required"]["actions"]) == 15
    assert not p1.missing and not p2.missing
