"""leaderboard.py and `kspbench leaderboard` / `kspbench compare`: paired bootstrap, ranking, refusals."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest

from factories import EVAL, truth_predictions
from kspbench import cli as kcli
from kspbench.cli import main as run_cli
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.evaluation.results import discover, load_result, per_frame
from kspbench.reporting.leaderboard import (
    LeaderboardError,
    _blocks,
    _pair_loaded,
    leaderboard,
    paired_bootstrap,
    paired_frames,
)
from leaderboard_fixtures import h36m_store, scored_result


def _truth(store_path, role="h36m-test", key="camera_3d") -> Predictions:
    return truth_predictions(store_path, role, key)


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lb")
    store = h36m_store(tmp / "h36m.h5")
    files = {
        "good": scored_result(tmp, store, "h36m-p2", "good", "good", 0, 10.0, 1),
        "good_s1": scored_result(tmp, store, "h36m-p2", "good_s1", "good", 1, 10.0, 2),
        "twin": scored_result(tmp, store, "h36m-p2", "twin", "twin", 0, 10.0, 1),  # same poses as good seed 0
        "worse": scored_result(tmp, store, "h36m-p2", "worse", "worse", 0, 25.0, 3),
        "strided": scored_result(tmp, store, "h36m-p2", "strided", "strided", 0, 15.0, 4, extra=("--stride", "2")),
        "good_p1": scored_result(tmp, store, "h36m-p1", "good_p1", "good", 0, 10.0, 1),
    }
    return {"tmp": tmp, "store": store, "dir": tmp / "results", **files}


# --- paired bootstrap -------------------------------------------------------------------------------------------


def test_difference_is_the_difference_of_overall_metrics_and_rows_reproduce_their_ci(h36m):
    a, b = load_result(h36m["good"]), load_result(h36m["worse"])
    pairing = paired_frames(a, b)
    for m in a.data["protocol"]["metrics"]:  # the protocol's metrics (spread_ratio has no per-frame values)
        t = paired_bootstrap(a, b, m, pairing=pairing)
        assert abs(t["difference"] - (b.metrics[m] - a.metrics[m])) < 1e-9
        # Same blocks, strata and draws as `kspbench eval`: each row's resampled interval is its own ci95.
        np.testing.assert_allclose(t["a_ci95"], a.ci95[m], rtol=0, atol=1e-9)
        np.testing.assert_allclose(t["b_ci95"], b.ci95[m], rtol=0, atol=1e-9)
        assert t["strata"] == "action" and t["n_frames"] == 1440 and t["n_blocks"] == 18


def test_identical_predictions_give_zero_difference_and_p_one(h36m):
    t = paired_bootstrap(load_result(h36m["good"]), load_result(h36m["twin"]), "p_mpjpe_mm")
    assert t["difference"] == 0.0 and t["ci95"] == [0.0, 0.0] and t["p_value"] == 1.0


def test_clearly_worse_row_is_significant_both_ways(h36m):
    a, b = load_result(h36m["good"]), load_result(h36m["worse"])
    t = paired_bootstrap(a, b, "p_mpjpe_mm")
    assert t["difference"] > 5 and t["ci95"][0] > 0 and t["p_value"] < 0.05
    back = paired_bootstrap(b, a, "p_mpjpe_mm")
    assert back["difference"] == pytest.approx(-t["difference"]) and back["p_value"] < 0.05
    # Two rows with the same noise level (different draws): no evidence of a difference.
    same = paired_bootstrap(a, load_result(h36m["good_s1"]), "p_mpjpe_mm")
    assert same["p_value"] > 0.05 and same["ci95"][0] < 0 < same["ci95"][1]
    assert paired_bootstrap(a, b, "p_mpjpe_mm", resamples=200, seed=3)["resamples"] == 200


def test_pairing_aligns_frames_by_key_not_by_position(h36m):
    a, b = load_result(h36m["good"]), load_result(h36m["worse"])
    fa, fb = per_frame(a), per_frame(b)
    perm = np.random.default_rng(0).permutation(fb["frame"].size)
    va, vb, strata, blocks = _pair_loaded(a, b, fa, {k: v[perm] for k, v in fb.items()})
    np.testing.assert_array_equal(vb["mpjpe_mm"], fb["metric:mpjpe_mm"])
    assert strata is not None and set(strata) == {"Walking", "Eating"} and blocks.max() + 1 == 18


def test_blocks_are_chunks_of_each_track_numbered_in_file_order():
    # Track 5 comes first in the file, and its frame 3 comes last: blocks follow the file, chunks follow frames.
    track, frame = np.array([5, 5, 5, 2, 2, 5]), np.array([0, 1, 2, 0, 1, 3])
    np.testing.assert_array_equal(_blocks(track, frame, 2), [0, 0, 1, 2, 2, 1])
    np.testing.assert_array_equal(_blocks(track, frame, 100), [0, 0, 0, 1, 1, 0])


def test_different_frame_sets_protocols_or_datasets_are_refused(h36m, tmp_path):
    good = load_result(h36m["good"])
    with pytest.raises(LeaderboardError, match=r"\(1440 frames\).*\(720 frames\): 720 frames shared") as err:
        paired_frames(good, load_result(h36m["strided"]))
    assert str(h36m["good"]) in str(err.value) and str(h36m["strided"]) in str(err.value)
    with pytest.raises(LeaderboardError, match="different protocols"):
        paired_frames(good, load_result(h36m["good_p1"]))
    other = h36m_store(tmp_path / "other.h5", seed=9)
    res = scored_result(tmp_path, other, "h36m-p2", "other", "other", 0, 10.0, 1)
    with pytest.raises(LeaderboardError, match="different datasets"):
        paired_frames(good, load_result(res))
    # A leaderboard of rows from two stores lists both, says so loudly, and pairs neither across stores.
    shutil.copy(h36m["good"], tmp_path / "results")
    shutil.copy(h36m["good"].with_name(json.loads(h36m["good"].read_text())["per_frame_file"]), tmp_path / "results")
    assert run_cli(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "lb.md")]) == 0
    text = (tmp_path / "lb.md").read_text()
    assert "2 DIFFERENT DATASETS" in text and "not paired: different dataset" in text


# --- leaderboard ------------------------------------------------------------------------------------------------


def test_leaderboard_ranks_groups_seeds_and_shows_refusals(h36m):
    entries = leaderboard(discover(h36m["dir"]), "h36m-p2")
    by = {e["row"]: e for e in entries}
    assert set(by) == {"good", "twin", "worse", "strided"}
    scores = [e["score"] for e in entries]
    assert scores == sorted(scores) and [e["rank"] for e in entries] == [1, 2, 3, 4]  # errors: lowest first
    assert entries[0]["row"] in ("good", "twin") and entries[0]["paired"] is None
    g = by["good"]
    assert g["n_seeds"] == 2 and g["seeds"] == [0, 1] and g["sd"] > 0
    assert g["score"] == pytest.approx(np.mean(g["values"])) and g["ci95"][0] < g["score"] < g["ci95"][1]
    assert g["paired_on"]["row"] == str(h36m["good"]) and by["twin"]["n_seeds"] == 1
    assert by["twin"]["ci95"] == load_result(h36m["twin"]).ci95["p_mpjpe_mm"]
    w = by["worse"]
    assert w["paired"]["difference"] > 0 and w["paired"]["p_value"] < 0.05 and w["pairing_error"] is None
    s = by["strided"]
    assert s["paired"] is None and "identical frame sets" in s["pairing_error"] and s["rank"] < 5
    assert leaderboard(discover(h36m["dir"]), "h36m-p2", "mpjpe_mm")[0]["metric"] == "mpjpe_mm"
    with pytest.raises(LeaderboardError, match="no metric 'pck150'"):
        leaderboard(discover(h36m["dir"]), "h36m-p2", "pck150")


def test_ranking_respects_higher_is_better_for_pck(mpi):
    results = discover(mpi["dir"])
    pck = leaderboard(results, "3dhp")  # primary: pck150, higher is better
    assert pck[0]["metric"] == "pck150" and pck[0]["higher_is_better"]
    assert [e["row"] for e in pck] == ["sharp", "blurry"] and pck[0]["score"] > pck[1]["score"]
    t = pck[1]["paired"]
    sharp, blurry = load_result(mpi["sharp"]), load_result(mpi["blurry"])
    # Percent, like the JSON: the per-frame file holds fractions.
    assert t["units"] == "%" and abs(t["difference"] - (blurry.metrics["pck150"] - sharp.metrics["pck150"])) < 1e-9
    assert t["difference"] < -5 and t["p_value"] < 0.05 and t["strata"] is None
    np.testing.assert_allclose(t["a_ci95"], sharp.ci95["pck150"], atol=1e-9)
    err = leaderboard(results, "3dhp", "mpjpe_mm")
    assert [e["row"] for e in err] == ["sharp", "blurry"] and err[0]["score"] < err[1]["score"]


def test_cli_leaderboard_formats(h36m, tmp_path, capsys):
    out = tmp_path / "lb.json"
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--format", "json", "--out", str(out)]) == 0
    boards = {b["protocol"]: b for b in json.loads(out.read_text())["leaderboards"]}
    assert set(boards) == {"h36m-p1", "h36m-p2"}
    assert {r["row"] for r in boards["h36m-p2"]["rows"]} == {"good", "twin", "worse", "strided"}
    assert [r["row"] for r in boards["h36m-p1"]["rows"]] == ["good"] and not list(tmp_path.glob("*.partial"))
    capsys.readouterr()
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--protocol", "h36m-p2"]) == 0
    md = capsys.readouterr().out
    assert "| rank" in md and "h36m-p1" not in md and "± " in md and "not paired: frame sets differ" in md
    assert "paired block bootstrap on per-frame errors" in md and "1000 resamples" in md
    assert "dataset: unit-h36m" in md and "WARNING" not in md
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--format", "csv", "--metric", "mpjpe_mm"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5 and {r["metric"] for r in rows} == {"mpjpe_mm"}
    assert next(r for r in rows if r["row"] == "strided")["pairing_error"]
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--metric", "p_mpjpe_mm"]) == 0
    md = capsys.readouterr().out
    assert "h36m-p2" in md and "h36m-p1" not in md  # h36m-p1 has no p_mpjpe_mm: skipped, not an error


def _constant_row(tmp, store, name, attrs):
    """The first true pose predicted for every frame, as a predictions file with ``attrs``, scored under h36m-p2."""
    p = _truth(store)
    p.poses_3d = np.broadcast_to(p.poses_3d[:1], p.poses_3d.shape).copy()
    p.attrs = attrs
    pred = tmp / "preds" / f"{name}.npz"
    pred.parent.mkdir(exist_ok=True)
    write_predictions(pred, p)
    out = tmp / "results" / f"{name}.json"
    assert (
        kcli.main(
            [*EVAL, "--protocol", "h36m-p2", "--predictions", str(pred), "--store", str(store), "--out", str(out)]
        )
        == 0
    )
    return out


def test_collapsed_rows_are_marked_but_keep_their_rank(h36m, tmp_path, capsys):
    from kspbench.evaluation.results import COLLAPSE_NOTE, COLLAPSE_SPREAD_RATIO

    shutil.copytree(h36m["dir"], tmp_path / "results")
    _constant_row(tmp_path, h36m["store"], "flat", {"card": "flat", "seed": 0})
    _constant_row(tmp_path, h36m["store"], "const", {"baseline": "const"})
    entries = {e["row"]: e for e in leaderboard(discover(tmp_path / "results"), "h36m-p2")}
    assert entries["flat"]["collapsed"] and entries["flat"]["spread_ratio"] == pytest.approx(0.0, abs=1e-9)
    # A baseline is constant by design: its spread is shown, it is not marked.
    assert not entries["const"]["collapsed"] and entries["const"]["label"].startswith("constant pose")
    good = entries["good"]
    assert not good["collapsed"] and good["spread_ratio"] > COLLAPSE_SPREAD_RATIO
    assert good["spread_ratio"] == pytest.approx(
        np.mean([load_result(h36m[k]).metrics["spread_ratio"] for k in ("good", "good_s1")])
    )
    assert run_cli(["leaderboard", "--results", str(tmp_path / "results"), "--protocol", "h36m-p2"]) == 0
    md = capsys.readouterr().out
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert "spread ratio" in lines[0]
    assert sum("(collapsed)" in ln for ln in lines) == 1 and "flat (collapsed)" in md
    assert COLLAPSE_NOTE in md and "< 0.3" in COLLAPSE_NOTE
    assert (
        run_cli(["leaderboard", "--results", str(tmp_path / "results"), "--protocol", "h36m-p2", "--format", "csv"])
        == 0
    )
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["flat"]["collapsed"] == "True" and rows["good"]["collapsed"] == "False"
    assert float(rows["flat"]["spread_ratio"]) < 1e-9
    # Without a collapsed row there is no note.
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--protocol", "h36m-p2"]) == 0
    assert COLLAPSE_NOTE not in capsys.readouterr().out


def test_a_3dhp_adapted_row_is_marked_out_of_domain_on_human36m_only(h36m, mpi, tmp_path, capsys):
    from kspbench.evaluation.results import OUT_OF_DOMAIN_LABEL, OUT_OF_DOMAIN_NOTE

    shutil.copytree(h36m["dir"], tmp_path / "results")
    scored_result(tmp_path, h36m["store"], "h36m-p2", "adapted", "unsup-3dhp", 0, 12.0, 7)
    entries = {e["row"]: e for e in leaderboard(discover(tmp_path / "results"), "h36m-p2")}
    assert entries["unsup-3dhp"]["out_of_domain"] and not entries["good"]["out_of_domain"]
    # On 3DHP's own test set the same kind of row is in its domain.
    m = tmp_path / "m"
    shutil.copytree(mpi["dir"], m / "results")
    kw = dict(role="3dhp-test", key="extras/univ_annot3")
    scored_result(m, mpi["dir"].parent / "3dhp.h5", "3dhp", "a3", "unsup-3dhp", 0, 30.0, 8, **kw)
    assert not any(e["out_of_domain"] for e in leaderboard(discover(m / "results"), "3dhp"))
    assert run_cli(["leaderboard", "--results", str(tmp_path / "results"), "--protocol", "h36m-p2"]) == 0
    md = capsys.readouterr().out
    assert sum(OUT_OF_DOMAIN_LABEL in ln for ln in md.splitlines() if ln.startswith("|")) == 1
    assert f"unsup-3dhp ({OUT_OF_DOMAIN_LABEL})" in md and OUT_OF_DOMAIN_NOTE in md
    argv = ["leaderboard", "--results", str(tmp_path / "results"), "--protocol", "h36m-p2", "--format"]
    assert run_cli([*argv, "csv"]) == 0
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["unsup-3dhp"]["out_of_domain"] == "True" and rows["good"]["out_of_domain"] == "False"
    assert run_cli([*argv, "html"]) == 0
    assert capsys.readouterr().out.count(">out of domain</span>") == 1
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--protocol", "h36m-p2"]) == 0
    assert OUT_OF_DOMAIN_NOTE not in capsys.readouterr().out


def test_cli_compare(h36m, capsys):
    assert run_cli(["compare", str(h36m["good"]), str(h36m["worse"])]) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in ("p_mpjpe_mm", "n_mpjpe_mm", "mpjpe_mm")) and "1440 paired frames" in out
    assert "B - A" in out and "stratified by action" in out
    assert run_cli(["compare", str(h36m["good"]), str(h36m["worse"]), "--metric", "mpjpe_mm"]) == 0
    assert "p_mpjpe_mm" not in capsys.readouterr().out


@pytest.mark.parametrize("other, expect", [("strided", "identical frame sets"), ("good_p1", "different protocols")])
def test_cli_compare_refuses_unpairable(h36m, capsys, other, expect):
    assert run_cli(["compare", str(h36m["good"]), str(h36m[other])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expect in err
    assert str(h36m["good"]) in err and str(h36m[other]) in err


def test_edited_result_makes_leaderboard_exit_2(h36m, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(h36m["dir"], folder)
    edited = folder / "worse.json"
    data = json.loads(edited.read_text())
    data["metrics"]["p_mpjpe_mm"] -= 5.0
    edited.write_text(json.dumps(data, indent=2))
    assert run_cli(["leaderboard", "--results", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(edited) in err and "edited" in err
    assert run_cli(["compare", str(folder / "good.json"), str(edited)]) == 2
    assert run_cli(["leaderboard", "--results", str(tmp_path / "none")]) == 2
    assert run_cli(["leaderboard", "--results", str(h36m["dir"]), "--protocol", "3dhp"]) == 2
    assert "found: h36m-p1, h36m-p2" in capsys.readouterr().err
