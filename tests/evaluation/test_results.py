"""results.py: result files read back through `kspbench eval` output, validation, row identity, seed grouping."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from factories import EVAL, make_sequence, truth_predictions
from kspbench.cli import main
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.results import ResultError, by_row, discover, load_result, per_frame, row_stats

CAMS = ("54138969", "60457274")


def _h36m_store(path, dataset="unit-h36m"):
    rng = np.random.default_rng(0)
    with StoreWriter(path, dataset=dataset, source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=60, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 1", n=40, cameras=CAMS))
    return path


def _truth(store_path, role="h36m-test", key="camera_3d") -> Predictions:
    return truth_predictions(store_path, role, key)


def _score(tmp, store, name, attrs, noise, noise_seed, out_dir="results", protocol="h36m-p2"):
    """Truth + Gaussian noise as predictions with ``attrs``, scored by the real `kspbench eval` CLI."""
    p = _truth(store)
    p.poses_3d = p.poses_3d + np.random.default_rng(noise_seed).normal(scale=noise, size=p.poses_3d.shape)
    p.attrs = dict(attrs)
    pred = tmp / "preds" / f"{name}.h5"
    pred.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(pred, p)
    out = tmp / out_dir / f"{name}.json"
    named = [] if {"card", "baseline"} & set(attrs) else ["--name", name]  # an outside model names itself
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                protocol,
                "--predictions",
                str(pred),
                "--store",
                str(store),
                "--out",
                str(out),
                *named,
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("results")
    store = _h36m_store(tmp / "h36m.h5")
    model = {"card": "unsup", "profile": "cpu"}
    files = {
        "s0": _score(tmp, store, "unsup_s0", {**model, "seed": 0}, 10.0, 1),
        "s1": _score(tmp, store, "unsup_s1", {**model, "seed": 1}, 14.0, 2),
        "s2": _score(tmp, store, "unsup_s2", {**model, "seed": 2}, 20.0, 3),
        "mean": _score(tmp, store, "mean", {"baseline": "mean"}, 30.0, 4),
        "ext": _score(tmp, store, "someone-else", {}, 25.0, 5),
        "p1": _score(tmp, store, "unsup_p1", {**model, "seed": 0}, 10.0, 1, protocol="h36m-p1"),
    }
    return {"tmp": tmp, "store": store, "dir": tmp / "results", **files}


def _copy_result(src, dst_dir):
    """A result JSON and its per-frame file, copied into ``dst_dir``; returns the copied JSON."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    frames = src.with_name(json.loads(src.read_text())["per_frame_file"])
    shutil.copy(src, dst_dir / src.name)
    shutil.copy(frames, dst_dir / frames.name)
    return dst_dir / src.name


# --- identity of a result ---------------------------------------------------------------------------------------


def test_model_result_identity(res):
    r = load_result(res["s1"])
    assert (r.row, r.kind, r.seed, r.protocol, r.dataset) == ("unsup", "model", 1, "h36m-p2", "unit-h36m")
    assert r.profile == "cpu" and r.label == "unsup" and r.primary == "p_mpjpe_mm"
    assert r.path == res["s1"] and not r.higher_is_better("p_mpjpe_mm")
    data = json.loads(res["s1"].read_text())
    assert r.metrics == data["metrics"] and r.ci95 == data["ci95"]
    assert set(r.metrics) == {"p_mpjpe_mm", "n_mpjpe_mm", "mpjpe_mm", "spread_ratio"}
    assert load_result(res["p1"]).protocol == "h36m-p1"


def test_baseline_and_external_identity(res):
    b = load_result(res["mean"])
    assert (b.row, b.kind, b.seed, b.protocol, b.dataset) == ("mean", "baseline", None, "h36m-p2", "unit-h36m")
    assert b.label == "mean pose (h36m-train)" and b.profile is None
    e = load_result(res["ext"])
    assert (e.row, e.kind, e.seed, e.protocol, e.dataset) == ("someone-else", "external", None, "h36m-p2", "unit-h36m")
    assert e.label == "someone-else" and e.model == {"name": "someone-else"} and b.model == {}


def test_per_frame_reads_the_frames_file(res):
    r = load_result(res["s0"])
    frames = per_frame(r)
    assert frames["metric:p_mpjpe_mm"].shape == (r.data["n_frames"],) == ((60 + 40) * 2,)
    assert set(frames["label:action"]) == {"Walking", "Eating"}


# --- refusals -----------------------------------------------------------------------------------------------------


def test_hand_edited_metric_is_refused_naming_the_file(res, tmp_path):
    f = _copy_result(res["s0"], tmp_path / "r")
    data = json.loads(f.read_text())
    data["metrics"]["p_mpjpe_mm"] += 0.001
    f.write_text(json.dumps(data, indent=2))
    json.loads(f.read_text())  # still valid JSON
    with pytest.raises(ResultError, match="edited") as err:
        load_result(f)
    assert str(f) in str(err.value)


def test_hand_edited_ci_or_model_is_refused(res, tmp_path):
    f = _copy_result(res["s0"], tmp_path / "r")
    data = json.loads(f.read_text())
    data["predictions"]["model"]["seed"] = 5  # relabelling a run is an edit too
    f.write_text(json.dumps(data, indent=2))
    with pytest.raises(ResultError, match="edited"):
        load_result(f)


def test_unchanged_copy_with_other_formatting_loads(res, tmp_path):
    # The digest is over the content, not the bytes: a re-indented but unchanged file is still valid.
    f = _copy_result(res["s0"], tmp_path / "r")
    f.write_text(json.dumps(json.loads(f.read_text()), indent=None))
    assert load_result(f).metrics == load_result(res["s0"]).metrics


def test_truncated_json_is_refused(res, tmp_path):
    f = _copy_result(res["s0"], tmp_path / "r")
    text = f.read_text()
    f.write_text(text[: len(text) // 2])
    with pytest.raises(ResultError, match="not a readable result JSON") as err:
        load_result(f)
    assert str(f) in str(err.value)


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (lambda d: d.pop("ci95"), "missing ci95"),
        (lambda d: d.__setitem__("schema_version", 99), "result schema 99"),
    ],
)
def test_incomplete_or_foreign_json_is_refused(res, tmp_path, mutate, expect):
    f = _copy_result(res["s0"], tmp_path / "r")
    data = json.loads(f.read_text())
    mutate(data)
    f.write_text(json.dumps(data))
    with pytest.raises(ResultError, match=expect) as err:
        load_result(f)
    assert str(f) in str(err.value)
    f.write_text("[1, 2]")
    with pytest.raises(ResultError, match="top level is not an object"):
        load_result(f)


def test_missing_per_frame_file_is_refused(res, tmp_path):
    f = _copy_result(res["s0"], tmp_path / "r")
    frames = f.with_name(json.loads(f.read_text())["per_frame_file"])
    frames.unlink()
    with pytest.raises(ResultError, match="missing") as err:
        load_result(f)
    assert str(f) in str(err.value) and str(frames) in str(err.value)
    assert load_result(f, check_frames=False).row == "unsup"


def test_modified_per_frame_file_is_refused(res, tmp_path):
    f = _copy_result(res["s0"], tmp_path / "r")
    frames = f.with_name(json.loads(f.read_text())["per_frame_file"])
    with np.load(frames) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["metric:p_mpjpe_mm"] = arrays["metric:p_mpjpe_mm"] * 0.5
    np.savez_compressed(frames, **arrays)
    with pytest.raises(ResultError, match="changed after it was written") as err:
        load_result(f)
    assert str(f) in str(err.value)


def test_discover_raises_on_one_bad_file_and_never_skips(res, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(res["dir"], folder)
    assert len(discover(folder)) == 6
    assert {r.row for r in discover(folder, "h36m-p2")} == {"unsup", "mean", "someone-else"}
    assert len(discover(folder, "h36m-p1")) == 1
    bad = folder / "nested" / "bad.json"
    bad.parent.mkdir()
    bad.write_text('{"schema_version": 1, "protocol": ')
    with pytest.raises(ResultError) as err:
        discover(folder)
    assert str(bad) in str(err.value)
    with pytest.raises(ResultError):  # filtering by protocol does not skip validation either
        discover(folder, "h36m-p1")
    with pytest.raises(ResultError, match="no such results folder"):
        discover(tmp_path / "nowhere")


# --- grouping and statistics ----------------------------------------------------------------------------------


def test_by_row_groups_seeds_sorted(res):
    groups = by_row(discover(res["dir"]))
    assert set(groups) == {("unsup", "h36m-p2"), ("unsup", "h36m-p1"), ("mean", "h36m-p2"), ("someone-else", "h36m-p2")}
    assert [r.seed for r in groups[("unsup", "h36m-p2")]] == [0, 1, 2]
    assert [r.seed for r in groups[("mean", "h36m-p2")]] == [None]
    # Order of the input does not matter.
    shuffled = by_row([load_result(res[k]) for k in ("s2", "s0", "s1")])
    assert [r.seed for r in shuffled[("unsup", "h36m-p2")]] == [0, 1, 2]


def test_by_row_refuses_two_results_for_one_seed(res, tmp_path):
    dup = _copy_result(res["s0"], tmp_path / "copy")
    with pytest.raises(ResultError, match="two results for seed") as err:
        by_row([load_result(res["s0"]), load_result(res["s1"]), load_result(dup)])
    assert str(dup) in str(err.value) and str(res["s0"]) in str(err.value)
    with pytest.raises(ResultError, match="two results"):
        by_row([load_result(res["mean"]), load_result(res["mean"])])
    # The same seed under two protocols is two rows, not a duplicate.
    assert len(by_row([load_result(res["s0"]), load_result(res["p1"])])) == 2


def test_by_row_refuses_mixed_datasets(res, tmp_path):
    other = _h36m_store(tmp_path / "other.h5", dataset="unit-h36m-other")
    f = _score(tmp_path, other, "unsup_s5", {"card": "unsup", "seed": 5, "profile": "cpu"}, 10.0, 1)
    with pytest.raises(ResultError, match="mixes datasets"):
        by_row([load_result(res["s0"]), load_result(f)])


def test_row_stats_one_seed_has_file_interval_and_no_sd(res):
    r = load_result(res["s0"])
    data = json.loads(res["s0"].read_text())
    for m in ("p_mpjpe_mm", "n_mpjpe_mm", "mpjpe_mm"):
        st = row_stats([r], m)
        assert st.mean == data["metrics"][m] and st.sd is None and st.values == (data["metrics"][m],)
        assert st.ci95 == tuple(data["ci95"][m]) and st.ci95[0] < st.mean < st.ci95[1]
    assert row_stats([r], "pck150") is None


def test_row_stats_three_seeds_mean_and_sample_sd(res):
    rs = [load_result(res[k]) for k in ("s0", "s1", "s2")]
    vals = [json.loads(res[k].read_text())["metrics"]["p_mpjpe_mm"] for k in ("s0", "s1", "s2")]
    assert len(set(vals)) == 3  # different noise: a real spread
    mean = sum(vals) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / 2)  # ddof = 1
    st = row_stats(rs, "p_mpjpe_mm")
    assert st.values == tuple(vals) and st.ci95 is None
    assert st.mean == pytest.approx(mean, rel=1e-12, abs=0)
    assert st.sd == pytest.approx(sd, rel=1e-12, abs=0)
    assert st.sd != pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in vals) / 3), rel=1e-6)  # not ddof=0


def test_row_stats_per_group(res):
    rs = [load_result(res[k]) for k in ("s0", "s1")]
    want = [json.loads(res[k].read_text())["per_group"]["action"]["Walking"]["p_mpjpe_mm"] for k in ("s0", "s1")]
    st = row_stats(rs, "p_mpjpe_mm", ("action", "Walking"))
    assert st.values == tuple(want) and st.mean == pytest.approx(sum(want) / 2, rel=1e-12)
    assert st.sd == pytest.approx(abs(want[0] - want[1]) / math.sqrt(2), rel=1e-12) and st.ci95 is None
    assert row_stats(rs[:1], "p_mpjpe_mm", ("action", "Walking")).ci95 is None  # no interval per group
    assert row_stats(rs, "p_mpjpe_mm", ("action", "Sitting")) is None


def test_card_without_seed_is_a_model_row_without_seed(tmp_path):
    # External predictions may name a card but no seed: a row, not a KeyError traceback in `kspbench table`.
    store = _h36m_store(tmp_path / "h36m.h5")
    r = load_result(_score(tmp_path, store, "theirs", {"card": "theirs"}, 10.0, 1))
    assert (r.row, r.kind, r.seed) == ("theirs", "model", None)
    assert [x.seed for x in by_row([r])[("theirs", "h36m-p2")]] == [None]
