"""check.py and `kspbench check --golden-only`: the golden gate, and the smoke gate's record/compare on a fake workdir.

The smoke pipeline itself (run_smoke: dvc repro with the smoke profiles) is slow; CI runs it through `kspbench check`.
Here record(), smoke_findings() and loss_trends() read a workdir built by hand: results written by `kspbench eval`
and log.csv files with known losses.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from factories import EVAL, REPO, make_sequence
from kspbench.cli import main
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.data.store import PoseStore, StoreWriter
from kspbench.tools.check import (
    FLOOR,
    CheckError,
    floor_baselines,
    floor_findings,
    golden_findings,
    loss_trends,
    record,
    smoke_findings,
    spread_bound,
)

GOLDEN = REPO / "baselines" / "golden"
CAMS = ("54138969", "60457274")


# --- (a) golden ---------------------------------------------------------------------------------------------------


def test_committed_golden_results_reproduce_exactly():
    findings = golden_findings(GOLDEN)
    assert len(findings) == 4 == len(list((GOLDEN / "results").glob("*.json")))
    for f in findings:
        assert f.check == "golden" and f.ok, f
        assert f.delta is not None and f.delta <= 1e-9 and f.tolerance == 1e-9
    assert sorted(f.what.split(" ")[0] for f in findings) == [
        "nn2d.3dhp",
        "nn2d.3dhp-pa",
        "nn2d.h36m-p1",
        "nn2d.h36m-p2",
    ]


@pytest.fixture()
def golden_copy(tmp_path):
    base = tmp_path / "baselines"
    shutil.copytree(GOLDEN, base / "golden")
    return base


def _edit(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=2))


def test_a_changed_golden_metric_fails_its_finding(golden_copy):
    target = golden_copy / "golden" / "results" / "nn2d.h36m-p2.json"
    old = json.loads(target.read_text())["metrics"]["n_mpjpe_mm"]
    _edit(target, lambda d: d["metrics"].__setitem__("n_mpjpe_mm", old + 0.01))
    findings = {f.what.split(" ")[0]: f for f in golden_findings(golden_copy / "golden")}
    bad = findings.pop("nn2d.h36m-p2")
    assert not bad.ok and bad.delta == pytest.approx(0.01, abs=1e-9)
    assert bad.expected == f"{old + 0.01:.6g}" and bad.got == f"{old:.6g}"
    assert all(f.ok for f in findings.values()) and len(findings) == 3


def test_a_tiny_change_beyond_1e9_still_fails(golden_copy):
    target = golden_copy / "golden" / "results" / "nn2d.3dhp.json"
    _edit(target, lambda d: d["ci95"]["auc"].__setitem__(0, d["ci95"]["auc"][0] + 1e-7))
    bad = [f for f in golden_findings(golden_copy / "golden") if not f.ok]
    assert len(bad) == 1 and bad[0].what.startswith("nn2d.3dhp ") and 1e-9 < bad[0].delta < 1e-6


def test_golden_structure_and_protocol_version_changes_fail(golden_copy):
    res = golden_copy / "golden" / "results"
    _edit(res / "nn2d.h36m-p1.json", lambda d: d["protocol"].__setitem__("version", 99))
    _edit(res / "nn2d.h36m-p2.json", lambda d: d["per_group"]["action"].popitem())
    by = {f.what.split(" ")[0]: f for f in golden_findings(golden_copy / "golden")}
    assert not by["nn2d.h36m-p1"].ok and by["nn2d.h36m-p1"].expected == "protocol v99"
    assert not by["nn2d.h36m-p2"].ok and by["nn2d.h36m-p2"].expected == "same keys"
    assert by["nn2d.3dhp"].ok and by["nn2d.3dhp-pa"].ok


def test_golden_without_store_or_results_cannot_run(golden_copy, tmp_path):
    (golden_copy / "golden" / "world-tiny.h5").unlink()
    with pytest.raises(CheckError, match="no golden store"):
        golden_findings(golden_copy / "golden")
    empty = tmp_path / "empty"
    (empty / "results").mkdir(parents=True)
    with pytest.raises(CheckError):
        golden_findings(empty)


def test_cli_golden_only_passes_on_the_checkout(capsys):
    assert main(["check", "--golden-only", "--repo", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert "golden: 4/4 ok" in out and "FAIL" not in out and "nothing moved" in out


def test_cli_golden_only_fails_on_a_tampered_copy(golden_copy, capsys):
    target = golden_copy / "golden" / "results" / "nn2d.h36m-p2.json"
    _edit(target, lambda d: d["metrics"].__setitem__("p_mpjpe_mm", d["metrics"]["p_mpjpe_mm"] + 0.5))
    assert main(["check", "--golden-only", "--repo", str(REPO), "--baselines", str(golden_copy)]) == 1
    out = capsys.readouterr().out
    fail_rows = [ln for ln in out.splitlines() if ln.startswith("|") and "FAIL" in ln]
    assert len(fail_rows) == 1 and "nn2d.h36m-p2" in fail_rows[0]
    assert [c.strip() for c in fail_rows[0].strip("|").split("|")][4] == "0.5"  # the delta column
    assert "golden: 3/4 ok" in out


def test_cli_cannot_run_without_golden(tmp_path, capsys):
    assert main(["check", "--golden-only", "--repo", str(REPO), "--baselines", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no golden store" in err


# --- (b, c) record / smoke_findings / loss_trends on a fake smoke workdir ------------------------------------------


def _truth(store_path) -> Predictions:
    rows = {k: [] for k in ("poses_3d", "subject", "sequence", "camera", "frame")}
    with PoseStore(store_path) as store:
        for info in store.sequences(role="h36m-test"):
            for cam in info.cameras:
                rows["poses_3d"].append(
                    store.read(info.subject, info.sequence, "camera_3d", camera=cam).astype(np.float64)
                )
                for k, v in (("subject", info.subject), ("sequence", info.sequence), ("camera", cam)):
                    rows[k].append(np.full(info.n_frames, v))
                rows["frame"].append(np.arange(info.n_frames))
    return Predictions(**{k: np.concatenate(v) for k, v in rows.items()})


def _eval(
    work: Path,
    store: Path,
    row: str,
    attrs: dict,
    noise: float,
    noise_seed: int,
    sub: str | None,
    constant: bool = False,
) -> Path:
    """Truth + noise (``constant``: the first true pose for every frame) scored under h36m-p2 into ``work``."""
    p = _truth(store)
    p.poses_3d = p.poses_3d + np.random.default_rng(noise_seed).normal(scale=noise, size=p.poses_3d.shape)
    if constant:
        p.poses_3d = np.broadcast_to(_truth(store).poses_3d[:1], p.poses_3d.shape).copy()
    p.attrs = attrs
    pred = work / "predictions" / row / (sub or "") / "h36m-test.h5"
    pred.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(pred, p)
    out = work / "results" / row / "h36m" / (sub or "") / "h36m-p2.json"
    assert (
        main([*EVAL, "--protocol", "h36m-p2", "--predictions", str(pred), "--store", str(store), "--out", str(out)])
        == 0
    )
    return out


def _log(path: Path, losses: dict[str, list[float]]) -> None:
    """log.csv of a run: the losses interleaved step by step, as the trainer writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(len(v) for v in losses.values())
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "stage", "loss", "value"])
        step = 1
        for i in range(n):
            for name, values in losses.items():
                if i < len(values):
                    w.writerow([step, "base", name, values[i]])
                    step += 1


FALLING = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # first quarter 7.5, last quarter 1.5
RISING = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]
FLAT = [2.0] * 8


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    work = tmp_path_factory.mktemp("smoke")
    store = work / "data" / "world.h5"
    store.parent.mkdir()
    rng = np.random.default_rng(0)
    with StoreWriter(store, dataset="kspbench-synthetic-world", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=40, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 1", n=30, cameras=CAMS))
    files = {
        k: _eval(work, store, "unsup", {"card": "unsup", "seed": k, "profile": "smoke"}, noise, 10 + k, f"s{k}")
        for k, noise in enumerate((10.0, 14.0, 19.0))
    }
    files["mean"] = _eval(work, store, "mean", {"baseline": "mean"}, 50.0, 20, None)
    runs = work / "runs"
    _log(runs / "unsup" / "s0" / "log.csv", {"prior": FALLING, "paired": FALLING, "unpaired": FLAT})
    _log(runs / "unsup" / "s1" / "log.csv", {"prior": [v * 2 for v in FALLING], "paired": FALLING, "unpaired": FALLING})
    _log(runs / "unsup" / "s2" / "log.csv", {"prior": FALLING[:4], "paired": RISING, "unpaired": FALLING})
    _log(runs / "weakly" / "s0" / "log.csv", {"sup2d": FALLING, "prior": RISING})
    return {"work": work, "files": files}


def _copy_work(smoke, tmp_path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(smoke["work"] / "results", work / "results")
    shutil.copytree(smoke["work"] / "runs", work / "runs")
    return work


def test_loss_trends_first_and_last_quarter(smoke):
    t = loss_trends(smoke["work"] / "runs")
    assert t[("unsup", 0, "prior")] == (7.5, 1.5)
    assert t[("unsup", 1, "prior")] == (15.0, 3.0)
    assert t[("unsup", 2, "prior")] == (8.0, 5.0)  # 4 steps: quarter = 1 step
    assert t[("unsup", 0, "unpaired")] == (2.0, 2.0)
    a, b = t[("unsup", 2, "paired")]
    assert a == pytest.approx(1.05) and b == pytest.approx(1.65)
    assert set(t) == {
        (c, s, term)
        for c, s, term in [("unsup", s, term) for s in (0, 1, 2) for term in ("prior", "paired", "unpaired")]
        + [("weakly", 0, "sup2d"), ("weakly", 0, "prior")]
    }


def test_record_values_tolerances_and_falling_losses(smoke):
    rec = record(smoke["work"], 3)
    assert rec["seeds"] == 3 and "value = seed 0" in rec["about"]
    assert set(rec["metrics"]) == {"unsup", "mean"} and set(rec["metrics"]["unsup"]) == {"h36m-p2"}
    per_seed = [json.loads(smoke["files"][k].read_text())["metrics"] for k in (0, 1, 2)]
    n_tol_from_sd = 0
    for m, b in rec["metrics"]["unsup"]["h36m-p2"].items():
        vals = [p[m] for p in per_seed]
        mean = sum(vals) / 3
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / 2)
        assert b["value"] == vals[0] and b["seeds"] == 3
        assert b["seed_sd"] == pytest.approx(sd, rel=1e-9)
        assert b["tolerance"] == pytest.approx(max(3 * sd, FLOOR), rel=1e-9)
        n_tol_from_sd += 3 * sd > FLOOR
    # Seeds with 10, 14 and 19 mm noise: the three errors spread above the floor; the spread ratio (near 1) not.
    assert (
        n_tol_from_sd == 3
        and FLOOR == 0.05
        and rec["metrics"]["unsup"]["h36m-p2"]["spread_ratio"]["tolerance"] == FLOOR
    )
    mean = json.loads(smoke["files"]["mean"].read_text())["metrics"]
    for m, b in rec["metrics"]["mean"]["h36m-p2"].items():
        assert b == {"value": mean[m], "seed_sd": 0.0, "seeds": 1, "tolerance": FLOOR}
    # Listed as falling: only losses that fall in every seed ("paired" rises in seed 2, "unpaired" is flat in s0).
    assert rec["falling_losses"] == {"unsup": ["prior"], "weakly": ["sup2d"]}
    # Floors: a bound per trained card (not per baseline); no const result in this workdir, so no card listed.
    spreads = [p["spread_ratio"] for p in per_seed]
    assert rec["spread_bounds"] == {"unsup": {"h36m-p2": pytest.approx(0.5 * min(spreads), rel=1e-12)}}
    assert rec["beats_const"] == [] and "spread_bounds" in rec["about"]
    json.dumps(rec)  # what --record writes


def test_smoke_findings_all_ok_against_own_record(smoke):
    findings = smoke_findings(smoke["work"], record(smoke["work"], 3))
    metric = [f for f in findings if f.check == "metric"]
    loss = [f for f in findings if f.check == "loss"]
    collapse = [f for f in findings if f.check == "collapse"]
    assert len(metric) == 8 and len(loss) == 2 and len(collapse) == 1  # 4 metrics (spread_ratio too) x 2 rows
    assert all(f.ok for f in findings) and all(f.delta == 0.0 for f in metric)


def test_smoke_findings_flag_a_moved_metric(smoke):
    base = record(smoke["work"], 3)
    ms = base["metrics"]["unsup"]["h36m-p2"]
    tol = ms["p_mpjpe_mm"]["tolerance"]
    ms["p_mpjpe_mm"]["value"] += 1.5 * tol  # beyond the tolerance
    ms["mpjpe_mm"]["value"] -= 0.5 * ms["mpjpe_mm"]["tolerance"]  # within it
    base["metrics"]["mean"]["h36m-p2"]["n_mpjpe_mm"]["value"] += 0.06  # beyond the 0.05 floor
    base["metrics"]["gone"] = {"h36m-p2": {"mpjpe_mm": {"value": 1.0, "tolerance": 1.0}}}
    by = {f.what: f for f in smoke_findings(smoke["work"], base)}
    moved = by["unsup h36m-p2 p_mpjpe_mm"]
    assert not moved.ok and moved.delta == pytest.approx(-1.5 * tol) and moved.tolerance == tol
    assert by["unsup h36m-p2 mpjpe_mm"].ok
    assert not by["mean h36m-p2 n_mpjpe_mm"].ok and by["mean h36m-p2 n_mpjpe_mm"].tolerance == FLOOR
    assert not by["gone h36m-p2 mpjpe_mm"].ok and by["gone h36m-p2 mpjpe_mm"].got == "missing"
    assert sorted(w for w, f in by.items() if not f.ok) == [
        "gone h36m-p2 mpjpe_mm",
        "mean h36m-p2 n_mpjpe_mm",
        "unsup h36m-p2 p_mpjpe_mm",
    ]


def test_smoke_findings_flag_a_loss_that_stopped_falling(smoke, tmp_path):
    base = record(smoke["work"], 3)
    work = _copy_work(smoke, tmp_path)
    _log(work / "runs" / "unsup" / "s0" / "log.csv", {"prior": RISING, "paired": FALLING, "unpaired": FLAT})
    shutil.rmtree(work / "runs" / "weakly")
    by = {f.what: f for f in smoke_findings(work, base) if f.check == "loss"}
    assert set(by) == {"unsup prior", "weakly sup2d"}
    assert not by["unsup prior"].ok and by["unsup prior"].delta == pytest.approx(1.65 - 1.05)
    assert not by["weakly sup2d"].ok and by["weakly sup2d"].got == "missing"
    # Only seed 0 is checked: a rising seed-1 log does not matter once seed 0 falls again.
    _log(work / "runs" / "unsup" / "s0" / "log.csv", {"prior": FALLING})
    _log(work / "runs" / "unsup" / "s1" / "log.csv", {"prior": RISING})
    assert {f.what: f.ok for f in smoke_findings(work, base) if f.check == "loss"}["unsup prior"]


def test_smoke_findings_refuse_an_edited_result(smoke, tmp_path):
    from kspbench.evaluation.results import ResultError

    work = _copy_work(smoke, tmp_path)
    _edit(
        work / "results" / "unsup" / "h36m" / "s0" / "h36m-p2.json",
        lambda d: d["metrics"].__setitem__("mpjpe_mm", d["metrics"]["mpjpe_mm"] + 0.001),
    )
    with pytest.raises(ResultError, match="edited"):
        smoke_findings(work, record(smoke["work"], 3))


# --- (d) floors: collapse onto one pose, falling behind const ------------------------------------------------------


def test_spread_bound_rule():
    assert spread_bound([0.9, 0.8, 1.0]) == pytest.approx(0.4)  # half the lowest seed
    assert spread_bound([0.08, 0.5]) == 0.05  # never below 0.05 ...
    assert spread_bound([0.03, 0.5]) == 0.03  # ... nor above the lowest recorded value


def _values(spreads: dict, errors: dict) -> dict:
    """(row, protocol, metric, seed) -> value from row -> {seed: spread} and row -> {seed: h36m-p2 P-MPJPE}."""
    out = {}
    for row, by_seed in spreads.items():
        for seed, v in by_seed.items():
            out[(row, "h36m-p2", "spread_ratio", seed)] = v
    for row, by_seed in errors.items():
        for seed, v in by_seed.items():
            out[(row, "h36m-p2", "p_mpjpe_mm", seed)] = v
    return out


def test_floor_baselines_and_findings_flag_a_constant_predictor():
    kinds = {"unsup": "model", "weakly": "model", "slow": "model", "const": "baseline", "nn2d": "baseline"}
    recorded = _values(
        {
            "unsup": {0: 0.9, 1: 0.8, 2: 0.85},
            "weakly": {0: 0.7, 1: 0.75, 2: 0.72},
            "slow": {0: 0.5, 1: 0.6, 2: 0.55},
            "const": {None: 0.0},
            "nn2d": {None: 1.0},
        },
        {
            "unsup": {0: 80.0, 1: 85.0, 2: 90.0},
            "weakly": {0: 70.0, 1: 72.0, 2: 71.0},
            "slow": {0: 99.0, 1: 120.0, 2: 98.0},
            "const": {None: 105.0},
            "nn2d": {None: 50.0},
        },
    )
    bounds, beats = floor_baselines(recorded, kinds)
    assert bounds == {
        "unsup": {"h36m-p2": pytest.approx(0.4)},
        "weakly": {"h36m-p2": pytest.approx(0.35)},
        "slow": {"h36m-p2": pytest.approx(0.25)},
    }  # baselines get no bound
    assert beats == ["unsup", "weakly"]  # slow lost to const in seed 1
    baseline = {"spread_bounds": bounds, "beats_const": beats}
    assert all(f.ok for f in floor_findings(recorded, baseline))
    # unsup now predicts one pose for every input: spread ratio 0 and an error no better than const's.
    now = _values(
        {"unsup": {0: 0.0}, "weakly": {0: 0.7}, "slow": {0: 0.5}, "const": {None: 0.0}},
        {"unsup": {0: 105.0}, "weakly": {0: 71.0}, "slow": {0: 99.0}, "const": {None: 105.0}},
    )
    by = {(f.check, f.what.split(" ")[0]): f for f in floor_findings(now, baseline)}
    assert sorted(k for k, f in by.items() if not f.ok) == [("collapse", "unsup"), ("floor", "unsup")]
    assert by[("collapse", "unsup")].delta == pytest.approx(-0.4) and by[("collapse", "unsup")].got == "0.000"
    assert by[("floor", "unsup")].what == "unsup h36m-p2 p_mpjpe_mm < const" and by[("floor", "unsup")].delta == 0
    # A card or the const row missing from the smoke run fails; a smoke.json recorded before (d) has no findings.
    gone = {k: v for k, v in now.items() if k[0] not in ("weakly", "const")}
    assert {(f.check, f.what.split(" ")[0]): f.got for f in floor_findings(gone, baseline) if not f.ok} == {
        ("collapse", "unsup"): "0.000",
        ("collapse", "weakly"): "missing",
        ("floor", "unsup"): "const missing",
        ("floor", "weakly"): "weakly missing",
    }
    assert floor_findings(now, {"metrics": {}, "falling_losses": {}}) == []
    assert floor_baselines({k: v for k, v in recorded.items() if k[0] != "const"}, kinds)[1] == []


def test_smoke_check_flags_a_card_that_collapsed_onto_one_pose(smoke, tmp_path):
    """End to end through `kspbench eval` results: const recorded beside unsup; then unsup predicts const's pose."""
    store = smoke["work"] / "data" / "world.h5"
    work = _copy_work(smoke, tmp_path)
    _eval(work, store, "const", {"baseline": "const"}, 0.0, 0, None, constant=True)
    base = record(work, 3)
    assert base["beats_const"] == ["unsup"] and set(base["spread_bounds"]) == {"unsup"}
    assert all(f.ok for f in smoke_findings(work, base))
    shutil.rmtree(work / "results" / "unsup" / "h36m" / "s0")
    _eval(work, store, "unsup", {"card": "unsup", "seed": 0, "profile": "smoke"}, 0.0, 0, "s0", constant=True)
    failed = {f.check: f for f in smoke_findings(work, base) if not f.ok and f.check in ("collapse", "floor")}
    assert set(failed) == {"collapse", "floor"}
    assert failed["collapse"].what == "unsup h36m-p2 spread_ratio" and float(failed["collapse"].got) < 1e-6
    assert failed["floor"].delta == pytest.approx(0.0, abs=1e-9)  # the same pose as const: not better


def test_cli_summary_counts_collapse_and_floor(smoke, tmp_path, capsys, monkeypatch):
    from kspbench.tools import check as C

    base = record(smoke["work"], 3)
    base["spread_bounds"]["unsup"]["h36m-p2"] = 5.0  # an impossible bound: the check must fail on it
    (tmp_path / "baselines").mkdir()
    shutil.copytree(GOLDEN, tmp_path / "baselines" / "golden")
    (tmp_path / "baselines" / "smoke.json").write_text(json.dumps(base))
    monkeypatch.setattr(
        C, "run_smoke", lambda repo, work, seeds=1: shutil.copytree(smoke["work"], work, dirs_exist_ok=True)
    )
    assert (
        main(
            ["check", "--repo", str(REPO), "--baselines", str(tmp_path / "baselines"), "--workdir", str(tmp_path / "w")]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "collapse: 0/1 ok" in out and "golden: 4/4 ok" in out
    assert any("FAIL" in ln and "unsup h36m-p2 spread_ratio" in ln for ln in out.splitlines())


def test_smoke_pipeline_pins_the_cpu_kernels_to_avx2_on_x86_and_a_users_setting_wins(tmp_path, monkeypatch):
    import platform
    import subprocess

    import kspbench.tools.check as C

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert C.smoke_isa_env() == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert C.smoke_isa_env() == {}
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    seen = []

    def fake_run(cmd, cwd=None, env=None, **kw):
        seen.append(env)
        return subprocess.CompletedProcess(cmd, 0, stdout="")

    monkeypatch.setattr(C.subprocess, "run", fake_run)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    C.run_smoke(REPO, tmp_path / "work", log=lambda _m: None)
    repro = seen[-1]  # git init, then dvc repro
    assert repro["ATEN_CPU_CAPABILITY"] == "avx2" and repro["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"


def test_a_rounding_sized_difference_is_not_shown_as_moved():
    from kspbench.cli.check import _moved
    from kspbench.tools.check import Finding

    assert not _moved(Finding("golden", "nn2d", "84.7851", "84.7851", True, 1.421e-14, 1e-9))  # AVX-512 vs AVX2
    assert _moved(Finding("golden", "nn2d", "84.7851", "84.7852", True, 1e-10, 1e-9))
    assert _moved(Finding("metric", "unsup", "0.5", "0.6", True, 0.1, 0.2))
    assert not _moved(Finding("collapse", "unsup", "0.5", "0.6", True, 0.1, None))  # a margin, not a movement
    assert not _moved(Finding("metric", "mean", "0.000", "0.000", True, None, 0.05))
