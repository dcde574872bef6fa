"""evaluate.py and `kspbench eval`: matching, aggregation, intervals, result files, and every bad input."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

import factories
from factories import EVAL, make_sequence
from kspbench.cli import main
from kspbench.core import skeleton
from kspbench.data.predictions import Predictions, read_predictions, write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.evaluate import STATISTIC_FUNCTIONS, EvaluationError, Matched, _match, evaluate, score
from kspbench.evaluation.metrics import UnknownAlignmentError
from kspbench.evaluation.protocol import STATISTICS, load_protocol

CAMS = ("54138969", "60457274")


@pytest.fixture()
def h36m_store(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "h36m.h5"
    with StoreWriter(path, dataset="unit-h36m", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=30, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Walking 2", n=10, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Eating 1", n=20, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S1", sequence="Eating 1", n=5, cameras=CAMS, role="h36m-train"))
        # VideoPose3D drops S11's un-numbered Directions take (damaged video); the H36M protocols exclude it too.
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Directions", n=8, cameras=CAMS))
    return path


def truth_predictions(store_path, role="h36m-test", key="camera_3d") -> Predictions:
    return factories.truth_predictions(store_path, role, key, attrs={"card": "oracle", "seed": 7})


def test_perfect_predictions_score_zero(h36m_store):
    ev = evaluate(load_protocol("h36m-p2"), h36m_store, truth_predictions(h36m_store), allow_partial=True)
    assert ev.coverage["evaluated_frames"] == (30 + 10 + 20) * 2
    for name in ("p_mpjpe_mm", "n_mpjpe_mm", "mpjpe_mm"):
        assert ev.metrics[name] == pytest.approx(0.0, abs=1e-3)  # float32 storage of the truth


def _constant(preds: Predictions) -> Predictions:
    """The first frame's pose predicted for every frame."""
    preds.poses_3d = np.broadcast_to(preds.poses_3d[:1], preds.poses_3d.shape).copy()
    return preds


@pytest.mark.parametrize("protocol", ["h36m-p1", "h36m-p2"])
def test_spread_ratio_is_recorded_for_h36m_protocols(h36m_store, protocol):
    p = load_protocol(protocol)
    truth = evaluate(p, h36m_store, truth_predictions(h36m_store), allow_partial=True)
    const = evaluate(p, h36m_store, _constant(truth_predictions(h36m_store)), allow_partial=True)
    assert truth.metrics["spread_ratio"] == pytest.approx(1.0, abs=1e-6)  # float32 storage of the truth
    assert const.metrics["spread_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert "spread_ratio" not in truth.ci95 and "spread_ratio" not in truth.per_frame


def test_spread_ratio_is_undefined_and_left_out_on_a_single_frame(h36m_store):
    ev = evaluate(
        load_protocol("h36m-p2").with_overrides(subjects=["S11"], cameras=["54138969"], frame_stride=10),
        h36m_store,
        truth_predictions(h36m_store),
        allow_missing=True,
        allow_partial=True,
    )
    assert ev.coverage["evaluated_frames"] == 1 and "spread_ratio" not in ev.metrics


def test_mean_over_actions_not_over_frames(h36m_store):
    preds = truth_predictions(h36m_store)
    # Walking frames off by 10 mm on every non-root joint, Eating frames by 40 mm: the root-aligned MPJPE per
    # action is 10*16/17 and 40*16/17; the protocol averages the two actions, not the 80 + 40 frames.
    shift = np.where(np.char.startswith(preds.sequence.astype(str), "Walking"), 10.0, 40.0)
    preds.poses_3d[:, 1:, 0] += shift[:, None]
    ev = evaluate(load_protocol("h36m-p1"), h36m_store, preds, allow_partial=True)
    assert ev.per_group["action"]["Walking"]["mpjpe_mm"] == pytest.approx(10 * 16 / 17, abs=1e-3)
    assert ev.per_group["action"]["Eating"]["mpjpe_mm"] == pytest.approx(40 * 16 / 17, abs=1e-3)
    assert ev.metrics["mpjpe_mm"] == pytest.approx(25 * 16 / 17, abs=1e-3)
    lo, hi = ev.ci95["mpjpe_mm"]
    assert lo - 1e-9 <= ev.metrics["mpjpe_mm"] <= hi + 1e-9  # constant errors per action: a point interval


def test_bootstrap_interval_is_seeded_and_covers_the_estimate(h36m_store):
    preds = truth_predictions(h36m_store)
    preds.poses_3d += np.random.default_rng(1).normal(scale=20.0, size=preds.poses_3d.shape)
    p = load_protocol("h36m-p2")
    a, b = evaluate(p, h36m_store, preds, allow_partial=True), evaluate(p, h36m_store, preds, allow_partial=True)
    assert a.ci95 == b.ci95
    for name, (lo, hi) in a.ci95.items():
        assert lo < a.metrics[name] < hi


def test_match_pairs_frames_and_numbers_blocks_per_track(h36m_store):
    p = load_protocol("h36m-p2")
    m = _match(p, h36m_store, truth_predictions(h36m_store), allow_missing=False, allow_partial=True)
    assert isinstance(m, Matched) and m.pred.shape == m.gt.shape == (120, 17, 3) and m.gt.dtype == np.float64
    # Tracks in store order (S11 before S9, then by sequence), cameras in the protocol's order; every track is
    # shorter than the protocol's 100-frame blocks, so each is one block, numbered across the tracks.
    tracks = [("S11", "Walking 2", 10), ("S9", "Eating 1", 20), ("S9", "Walking 1", 30)]
    expected_keys = [(s, q, c) for s, q, n in tracks for c in CAMS for _ in range(n)]
    assert list(zip(m.keys["subject"], m.keys["sequence"], m.keys["camera"])) == expected_keys
    assert m.keys["frame"].tolist() == [f for _, _, n in tracks for _ in CAMS for f in range(n)]
    assert m.blocks.tolist() == [b for b, n in enumerate([10, 10, 20, 20, 30, 30]) for _ in range(n)]
    assert list(m.labels) == ["action", "sequence", "subject"]
    assert m.labels["action"].tolist() == [q.split()[0] for _, q, _ in expected_keys]
    assert (m.coverage["expected_frames"], m.coverage["evaluated_frames"], m.coverage["missing_by_track"]) == (
        120,
        120,
        {},
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.pred = m.gt


def test_score_of_match_is_evaluate(h36m_store):
    p = load_protocol("h36m-p2")
    preds = truth_predictions(h36m_store)
    preds.poses_3d += np.random.default_rng(2).normal(scale=20.0, size=preds.poses_3d.shape)
    ev = evaluate(p, h36m_store, preds, allow_partial=True)
    again = score(_match(p, h36m_store, preds, allow_missing=False, allow_partial=True), p)
    assert again.metrics == ev.metrics and again.ci95 == ev.ci95 and again.per_group == ev.per_group
    assert all(again.per_frame[k].tobytes() == v.tobytes() for k, v in ev.per_frame.items())


def test_an_unknown_alignment_is_refused_not_scored_as_procrustes(h36m_store):
    p = load_protocol("h36m-p2")
    bad = dataclasses.replace(p, metrics=(dataclasses.replace(p.metrics[0], alignment="affine"),) + p.metrics[1:])
    m = _match(bad, h36m_store, truth_predictions(h36m_store), allow_missing=False, allow_partial=True)
    with pytest.raises(UnknownAlignmentError, match=r"^unknown alignment 'affine'; known: root, scale, procrustes$"):
        score(m, bad)


def test_an_unknown_statistic_is_refused_not_scored_as_auc(h36m_store):
    assert set(STATISTIC_FUNCTIONS) == set(STATISTICS)  # the scorer knows exactly what the protocol loader admits
    p = load_protocol("h36m-p2")
    bad = dataclasses.replace(p, metrics=(dataclasses.replace(p.metrics[0], statistic="median"),) + p.metrics[1:])
    m = _match(bad, h36m_store, truth_predictions(h36m_store), allow_missing=False, allow_partial=True)
    with pytest.raises(EvaluationError, match=r"^unknown statistic 'median'; known: mean_error, pck, auc$"):
        score(m, bad)


def test_excluded_sequence_is_not_scored(h36m_store):
    ev = evaluate(load_protocol("h36m-p2"), h36m_store, truth_predictions(h36m_store), allow_partial=True)
    assert "Directions" not in set(ev.keys["sequence"]) and ev.coverage["rows_outside_protocol"] == 16
    assert load_protocol("h36m-p2").split_dict()["exclude_sequences"] == ["S11/Directions"]


def test_overrides_select_frames(h36m_store):
    preds = truth_predictions(h36m_store)
    p = load_protocol("h36m-p2").with_overrides(cameras=["60457274"], frame_stride=5)
    ev = evaluate(p, h36m_store, preds, allow_partial=True)
    assert ev.coverage["evaluated_frames"] == 6 + 2 + 4
    assert set(ev.keys["camera"]) == {"60457274"} and (ev.keys["frame"] % 5 == 0).all()


def test_cli_writes_result_and_per_frame_file(h36m_store, tmp_path, capsys):
    preds = truth_predictions(h36m_store)
    preds.poses_3d[:, 1:] += 5.0
    pred_path = tmp_path / "preds.h5"
    write_predictions(pred_path, preds)
    out = tmp_path / "res" / "p2.json"
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(pred_path),
                "--store",
                str(h36m_store),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "p_mpjpe_mm" in printed and "action: Walking" in printed
    res = json.loads(out.read_text())
    assert res["schema_version"] == 1 and res["protocol"]["name"] == "h36m-p2" and res["protocol"]["version"] == 2
    assert res["dataset"]["name"] == "unit-h36m" and len(res["dataset"]["sha256"]) == 64
    assert res["predictions"]["model"] == {"card": "oracle", "seed": 7}
    assert res["n_frames"] == 120 and set(res["ci95"]) == {"p_mpjpe_mm", "n_mpjpe_mm", "mpjpe_mm"}
    # The spread ratio rides along in metrics (no interval); truth + a constant offset keeps the shapes' variation.
    assert set(res["metrics"]) == set(res["ci95"]) | {"spread_ratio"} and "spread ratio" in printed
    assert 0.9 < res["metrics"]["spread_ratio"] < 1.1
    assert res["metrics"]["mpjpe_mm"] == pytest.approx(np.sqrt(75) * 16 / 17, abs=1e-3)
    assert "commit" in res["kspbench"]["git"] and res["created"]
    # The per-frame file is content-addressed; the JSON names it and records its sha256.
    assert res["per_frame_file"] == f"p2.frames-{res['per_frame_sha256'][:16]}.npz"
    frames = np.load(out.with_name(res["per_frame_file"]))
    assert frames["frame"].shape == (120,) and frames["metric:p_mpjpe_mm"].shape == (120,)
    assert not list(out.parent.glob("*.partial*")) and not list(out.parent.glob(".*"))


def test_cli_overrides_recorded(h36m_store, tmp_path):
    pred_path = tmp_path / "preds.npz"
    write_predictions(pred_path, truth_predictions(h36m_store))
    out = tmp_path / "p2.json"
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(pred_path),
                "--store",
                str(h36m_store),
                "--out",
                str(out),
                "--cameras",
                "60457274",
                "--stride",
                "5",
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["protocol"]["overrides"] == {"cameras": ["60457274"], "frame_stride": 5}
    assert res["protocol"]["split"]["cameras"] == ["60457274"] and res["n_frames"] == 12


# --- bad input: exit 2, one line, nothing written ---------------------------------------------------------------


def _run_bad(args, tmp_path, capsys, expect):
    out = tmp_path / "out" / "r.json"
    code = main(args + ["--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and expect in err, err
    assert not out.exists() and not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _write_bad(tmp_path, preds, name="bad.npz"):
    path = tmp_path / name
    np.savez(path, **{k: getattr(preds, k) for k in ("poses_3d", "subject", "sequence", "camera", "frame")})
    return path


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (lambda p: setattr(p, "poses_3d", p.poses_3d[:, :16]), "has 16 joints, expected 17"),
        (
            lambda p: setattr(p, "poses_3d", np.concatenate([p.poses_3d, p.poses_3d[:, :1]], axis=1)),
            "has 18 joints, expected 17",
        ),
        (lambda p: p.poses_3d.__setitem__((3, 4, 1), np.nan), "NaN or inf in 1 of"),
        (lambda p: p.poses_3d.__setitem__((3, 4, 1), np.inf), "NaN or inf in 1 of"),
        (lambda p: setattr(p, "poses_3d", p.poses_3d / 1000.0), "looks like metres"),
        (lambda p: setattr(p, "frame", np.where(p.frame == 0, 1, p.frame)), "duplicate row(s)"),
        (lambda p: setattr(p, "frame", p.frame + 1), "frames the store does not have"),
        (lambda p: setattr(p, "subject", np.where(p.subject == "S9", "S99", p.subject)), "has no such sequence"),
    ],
)
def test_bad_predictions_exit_2(h36m_store, tmp_path, capsys, mutate, expect):
    preds = truth_predictions(h36m_store)
    mutate(preds)
    path = _write_bad(tmp_path, preds)
    _run_bad(
        [*EVAL, "--protocol", "h36m-p2", "--predictions", str(path), "--store", str(h36m_store)],
        tmp_path,
        capsys,
        expect,
    )


def test_missing_frames_exit_2_unless_allowed(h36m_store, tmp_path, capsys):
    preds = truth_predictions(h36m_store)
    keep = ~((preds.sequence == "Walking 2") & (preds.frame >= 4))
    preds = Predictions(**{k: getattr(preds, k)[keep] for k in ("poses_3d", "subject", "sequence", "camera", "frame")})
    path = _write_bad(tmp_path, preds)
    args = [*EVAL, "--protocol", "h36m-p2", "--predictions", str(path), "--store", str(h36m_store)]
    _run_bad(args, tmp_path, capsys, "miss 12 of the 120 frames")
    out = tmp_path / "ok.json"
    assert main(args + ["--allow-missing", "--out", str(out), "--name", "gappy"]) == 0
    cov = json.loads(out.read_text())["coverage"]
    assert cov["evaluated_frames"] == 108 and cov["missing_by_track"] == {
        "S11/Walking 2/54138969": 6,
        "S11/Walking 2/60457274": 6,
    }


def test_unknown_protocol_and_unreadable_files(h36m_store, tmp_path, capsys):
    good = tmp_path / "good.npz"
    write_predictions(good, truth_predictions(h36m_store))
    _run_bad(
        [*EVAL, "--protocol", "h36m-p9", "--predictions", str(good), "--store", str(h36m_store)],
        tmp_path,
        capsys,
        "unknown protocol 'h36m-p9'; use one of 3dhp",
    )
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    _run_bad(
        [*EVAL, "--protocol", "h36m-p2", "--predictions", str(truncated), "--store", str(h36m_store)],
        tmp_path,
        capsys,
        "not a readable HDF5 file",
    )
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])
    _run_bad(
        [*EVAL, "--protocol", "h36m-p2", "--predictions", str(cut), "--store", str(h36m_store)],
        tmp_path,
        capsys,
        "not a readable .npz file",
    )
    _run_bad(
        [*EVAL, "--protocol", "h36m-p2", "--predictions", str(good), "--store", str(tmp_path / "x.h5")],
        tmp_path,
        capsys,
        "no such store",
    )
    _run_bad(
        [*EVAL, "--protocol", "h36m-p2", "--predictions", str(tmp_path / "none.h5"), "--store", str(h36m_store)],
        tmp_path,
        capsys,
        "no such predictions file",
    )
    np.savez(tmp_path / "nokey.npz", poses_3d=np.zeros((3, 17, 3)))
    _run_bad(
        [*EVAL, "--protocol", "h36m-p2", "--predictions", str(tmp_path / "nokey.npz"), "--store", str(h36m_store)],
        tmp_path,
        capsys,
        "missing key(s) subject, sequence, camera, frame",
    )


# --- MPI-INF-3DHP -----------------------------------------------------------------------------------------------


@pytest.fixture()
def mpi_store(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "3dhp.h5"
    with StoreWriter(path, dataset="unit-3dhp", source="tests") as w:
        for k, n in ((1, 20), (2, 12)):
            seq = make_sequence(rng, subject=f"TS{k}", sequence=f"TS{k}", role="3dhp-test", n=n, cameras=("0",))
            cam = seq.cameras["0"]
            cam.valid[::4] = False  # invalid frames are never scored
            cam.extras = {"univ_annot3": cam.camera_3d * 0.9, "activity": (np.arange(n) // 5) % 7 + 1}
            w.add_sequence(seq)
    return path


def test_3dhp_scores_univ_annot3_valid_frames_in_3dhp_order(mpi_store, tmp_path):
    preds = truth_predictions(mpi_store, role="3dhp-test", key="extras/univ_annot3")
    # Errors of 102 mm on the right wrist (off the 5 mm grid, so float rounding cannot flip a threshold) and 200 mm
    # on the left ankle: PCK@150 counts 16 of 17 joints.
    preds.poses_3d[:, skeleton.JOINT_NAMES.index("RWrist"), 2] += 102.0
    preds.poses_3d[:, skeleton.JOINT_NAMES.index("LAnkle"), 2] += 200.0
    ev = evaluate(load_protocol("3dhp"), mpi_store, preds, allow_partial=True)
    assert ev.coverage["evaluated_frames"] == 15 + 9
    assert ev.metrics["pck150"] == pytest.approx(100 * 16 / 17)
    # AUC grid 0..150: the wrist is under 10 of 31 thresholds (105..150), the ankle under none, and the 15 exact
    # joints under 30 (error 0 is not < 0).
    assert ev.metrics["auc"] == pytest.approx(100 * (15 * 30 + 10) / (17 * 31))
    assert ev.metrics["mpjpe_mm"] == pytest.approx(302 / 17, abs=1e-3)
    ev14 = evaluate(load_protocol("3dhp-14"), mpi_store, preds, allow_partial=True)
    assert ev14.metrics["pck150"] == pytest.approx(100 * 13 / 14)
    assert set(ev.per_group["sequence"]) == {"TS1", "TS2"}
    assert "Standing/Walking" in ev.per_group["activity"]


@pytest.mark.parametrize("protocol", ["3dhp", "3dhp-pa", "3dhp-14"])
def test_spread_ratio_is_recorded_for_3dhp_protocols(mpi_store, protocol):
    p = load_protocol(protocol)
    truth = truth_predictions(mpi_store, role="3dhp-test", key="extras/univ_annot3")
    assert evaluate(p, mpi_store, truth, allow_partial=True).metrics["spread_ratio"] == pytest.approx(1.0, abs=1e-6)
    const = _constant(truth_predictions(mpi_store, role="3dhp-test", key="extras/univ_annot3"))
    assert evaluate(p, mpi_store, const, allow_partial=True).metrics["spread_ratio"] == pytest.approx(0.0, abs=1e-9)


def test_3dhp_joint_order_and_csv_reports(mpi_store, tmp_path):
    preds = truth_predictions(mpi_store, role="3dhp-test", key="extras/univ_annot3")
    preds.poses_3d[:, skeleton.JOINT_NAMES.index("HeadTop"), 0] += 160.0
    path = tmp_path / "p3dhp.npz"
    reordered = Predictions(
        poses_3d=preds.poses_3d[:, list(skeleton.H36M_TO_MPI3DHP)],
        subject=preds.subject,
        sequence=preds.sequence,
        camera=preds.camera,
        frame=preds.frame,
    )
    write_predictions(path, reordered)
    np.testing.assert_allclose(read_predictions(path, joint_order="3dhp").poses_3d, preds.poses_3d)
    out = tmp_path / "r3dhp.json"
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "3dhp",
                "--predictions",
                str(path),
                "--joint-order",
                "3dhp",
                "--store",
                str(mpi_store),
                "--out",
                str(out),
                "--name",
                "reordered",
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["metrics"]["pck150"] == pytest.approx(100 * 16 / 17)
    rows = list(csv.reader(open(out.with_name("r3dhp.sequencewise.csv"))))
    assert rows[0][1] == "head_top" and rows[0][-1] == "Average" and rows[1][0] == "TestSeq1"
    assert float(rows[1][1]) == pytest.approx(160.0, abs=1e-3)  # head_top column
    pck_header = rows.index(next(r for r in rows if r and r[0] == "PCK"))
    assert rows[pck_header][1:] == ["Head", "Neck", "Shou", "Elbow", "Wrist", "spine", "Hip", "Knee", "Ankle", "Total"]
    assert float(rows[pck_header + 1][1]) == pytest.approx(50.0)  # Head group = head_top + head: one of two fails
    assert float(rows[pck_header + 1][-1]) == pytest.approx(100 * 16 / 17)
    act = list(csv.reader(open(out.with_name("r3dhp.activitywise.csv"))))
    assert any(r and r[0] == "All" for r in act)


def test_split_that_selects_nothing(h36m_store):
    with pytest.raises(EvaluationError, match="selects no frame"):
        evaluate(load_protocol("3dhp"), h36m_store, truth_predictions(h36m_store), allow_partial=True)


# --- one call for several test roles (the pipeline's eval stage) ------------------------------------------------------


@pytest.fixture()
def two_role_store(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "both.h5"
    with StoreWriter(path, dataset="unit-both", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=12, cameras=CAMS))
        seq = make_sequence(rng, subject="TS1", sequence="TS1", role="3dhp-test", n=10, cameras=("0",))
        seq.cameras["0"].extras = {"univ_annot3": seq.cameras["0"].camera_3d * 0.9, "activity": np.ones(10, int)}
        w.add_sequence(seq)
    return path


def _noisy_folder(store, folder):
    """A predictions folder as `kspbench predict --run` writes it: s0/<role>.h5 for both test roles."""
    rng = np.random.default_rng(1)
    for role, key in (("h36m-test", "camera_3d"), ("3dhp-test", "extras/univ_annot3")):
        preds = truth_predictions(store, role=role, key=key)
        preds = dataclasses.replace(preds, poses_3d=preds.poses_3d + rng.normal(0, 30, preds.poses_3d.shape))
        write_predictions(folder / "s0" / f"{role}.h5", preds)


def _metrics(path):
    return json.loads(path.read_text())["metrics"]


def test_several_roles_score_each_protocol_on_its_own_role_as_separate_calls_do(two_role_store, tmp_path):
    preds = tmp_path / "preds"
    _noisy_folder(two_role_store, preds)
    common = [*EVAL, "--predictions", str(preds), "--store", str(two_role_store)]
    both = tmp_path / "both"
    args = ["--protocol", "h36m-p2,3dhp", "--role", "h36m-test,3dhp-test", "--out", str(both)]
    assert main([*common, *args]) == 0
    got = sorted(p.relative_to(both).as_posix() for p in both.rglob("*.json"))
    assert got == ["3dhp-test/s0/3dhp.json", "h36m-test/s0/h36m-p2.json"]
    for role, protocol in (("h36m-test", "h36m-p2"), ("3dhp-test", "3dhp")):
        alone = tmp_path / "alone" / role
        assert main([*common, "--protocol", protocol, "--role", role, "--out", str(alone)]) == 0
        assert _metrics(both / role / "s0" / f"{protocol}.json") == _metrics(alone / "s0" / f"{protocol}.json")


@pytest.mark.parametrize(
    "protocol, roles, expect",
    [
        ("h36m-p2,3dhp", "h36m-test,h36m-val", "scores role '3dhp-test', which --role h36m-test,h36m-val does not"),
        ("h36m-p2", "h36m-test,3dhp-test", "--role 3dhp-test: no protocol of --protocol h36m-p2 scores it"),
        ("h36m-p2,nope", "h36m-test,3dhp-test", "nope"),
    ],
)
def test_several_roles_refuse_a_protocol_or_role_left_unpaired(
    two_role_store, tmp_path, capsys, protocol, roles, expect
):
    preds = tmp_path / "preds"
    _noisy_folder(two_role_store, preds)
    out = tmp_path / "out"
    args = ["--predictions", str(preds), "--store", str(two_role_store), "--out", str(out)]
    assert main([*EVAL, *args, "--protocol", protocol, "--role", roles]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expect in err, err
    assert not out.exists()
