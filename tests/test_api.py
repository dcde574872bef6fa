"""kspbench.evaluate_file / evaluate_arrays: the notebook entry points, validated as `kspbench eval` is."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kspbench
from factories import make_sequence, random_world_poses, truth_predictions
from kspbench.data.identity import ModelError
from kspbench.data.predictions import PredictionsError, write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.evaluate import EvaluationError, evaluate
from kspbench.evaluation.protocol import load_protocol

CAMS = ("54138969", "60457274")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "h36m.h5"
    rng = np.random.default_rng(0)
    with StoreWriter(path, dataset="unit-h36m", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=30, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 1", n=20, cameras=CAMS))
    return path


def _noisy(store, scale=1.0):
    p = truth_predictions(store)
    p.poses_3d = (p.poses_3d + np.random.default_rng(3).normal(scale=12.0, size=p.poses_3d.shape)) * scale
    return p


def test_evaluate_file_matches_the_engine_and_refuses_partial_by_default(store, tmp_path):
    preds = _noisy(store)
    path = tmp_path / "p.npz"
    write_predictions(path, preds)
    with pytest.raises(EvaluationError, match="not covered.*--allow-partial"):
        kspbench.evaluate_file(path, store, protocol="h36m-p2")
    ev = kspbench.evaluate_file(path, store, protocol="h36m-p2", allow_partial=True)
    ref = evaluate(load_protocol("h36m-p2"), store, preds, allow_partial=True)
    assert ev.metrics == pytest.approx(ref.metrics) and ev.coverage["partial"]
    # The same numbers from a Predictions object in memory.
    assert kspbench.evaluate_file(preds, store, allow_partial=True).metrics == pytest.approx(ref.metrics)


def test_metres_in_memory_are_refused_with_the_fix(store):
    with pytest.raises(PredictionsError, match="looks like metres.*multiply poses_3d by 1000"):
        kspbench.evaluate_file(_noisy(store, scale=0.001), store, allow_partial=True)
    gt = random_world_poses(np.random.default_rng(0), 10)
    with pytest.raises(PredictionsError, match="pred: median bone length .* metres"):
        kspbench.evaluate_arrays(gt / 1000, gt, protocol="3dhp")


def test_evaluate_file_out_writes_a_named_result(store, tmp_path):
    path = tmp_path / "p.npz"
    write_predictions(path, _noisy(store))
    with pytest.raises(ModelError, match="no model name"):
        kspbench.evaluate_file(path, store, allow_partial=True, out=tmp_path / "r.json")
    kspbench.evaluate_file(
        path, store, allow_partial=True, out=tmp_path / "r.json", name="Notebook model", meta="supervision=Full-3D"
    )
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["model"] == {"name": "Notebook model", "supervision": "Full-3D"} and data["coverage"]["partial"]


def test_evaluate_arrays_agrees_with_the_store_path(store):
    preds = _noisy(store)
    gt = truth_predictions(store).poses_3d
    actions = np.where(preds.sequence == "Walking 1", "Walking", "Eating")
    with pytest.raises(EvaluationError, match="averages over actions: pass actions="):
        kspbench.evaluate_arrays(preds.poses_3d, gt, protocol="h36m-p2")
    with pytest.raises(EvaluationError, match="not covered.*allow_partial=True"):
        kspbench.evaluate_arrays(preds.poses_3d, gt, protocol="h36m-p2", actions=actions)
    ev = kspbench.evaluate_arrays(preds.poses_3d, gt, protocol="h36m-p2", actions=actions, allow_partial=True)
    ref = evaluate(load_protocol("h36m-p2"), store, preds, allow_partial=True)
    for metric in ("p_mpjpe_mm", "n_mpjpe_mm", "mpjpe_mm", "spread_ratio"):
        assert ev.metrics[metric] == pytest.approx(ref.metrics[metric], rel=1e-12)
    assert ev.per_group["action"]["Walking"]["p_mpjpe_mm"] == pytest.approx(
        ref.per_group["action"]["Walking"]["p_mpjpe_mm"]
    )
    assert ev.coverage["missing"]["actions"] and len(ev.coverage["missing"]["actions"]) == 13
    # Blocks never straddle two actions: every stratum is resampled, and the interval brackets the estimate.
    lo, hi = ev.ci95["p_mpjpe_mm"]
    assert np.isfinite([lo, hi]).all() and lo <= ev.metrics["p_mpjpe_mm"] <= hi


def test_evaluate_arrays_3dhp_reads_either_joint_order(store):
    rng = np.random.default_rng(1)
    gt = random_world_poses(rng, 40)
    pred = gt + rng.normal(scale=30.0, size=gt.shape)
    a = kspbench.evaluate_arrays(pred, gt, protocol="3dhp")
    from kspbench.core import skeleton

    order = list(skeleton.H36M_TO_MPI3DHP)
    b = kspbench.evaluate_arrays(pred[:, order], gt[:, order], protocol="3dhp", joint_order="3dhp")
    assert a.metrics == pytest.approx(b.metrics) and 0 < a.metrics["pck150"] <= 100
    with pytest.raises(PredictionsError, match="same number"):
        kspbench.evaluate_arrays(pred[:5], gt, protocol="3dhp")


def test_reprs_are_one_short_line(store):
    ev = kspbench.evaluate_file(_noisy(store), store, allow_partial=True)
    text = repr(ev)
    assert "\n" not in text and len(text) < 300 and text.startswith("Evaluation(h36m-p2 v2, 100 frames, p_mpjpe_mm=")
    assert "partial: no cameras 55011271, 58860488" in text
    p = truth_predictions(store)
    p.model = {"name": "M"}
    assert repr(p) == "Predictions(n=100, subjects=S11,S9, sequences=2, cameras=54138969,60457274, model='M')"
