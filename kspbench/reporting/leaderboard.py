"""Leaderboards and paired comparisons of result files, with a paired block bootstrap on per-frame values.

Two rows scored under the same protocol, on the same dataset, on the same frames, can be compared frame by frame:
their difference is far less noisy than either interval suggests, because most of the test-sampling variation
(hard sequences, hard frames) is shared. :func:`paired_bootstrap` resamples the SAME temporal blocks for both rows
(the blocks ``kspbench eval`` used for its intervals: fixed chunks of ``ci_method.block_frames`` frames per
sequence/camera track, stratified by the protocol's groups when its overall number is a mean of group means), and
reports the difference of the protocol's overall statistic (b minus a), its 95 % percentile interval and a
two-sided bootstrap p-value. Rows whose frame sets differ are refused, never silently intersected.

The library never prints; ``kspbench leaderboard`` and ``kspbench compare`` (kspbench/cli/leaderboard.py) render.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kspbench.errors import KspbenchError
from kspbench.evaluation.evaluate import SPREAD_METRIC
from kspbench.evaluation.results import (
    Result,
    RowStats,
    by_row,
    collapsed,
    out_of_domain,
    partial_note,
    per_frame,
    protocol_mismatch,
    row_stats,
)

__all__ = [
    "LeaderboardError",
    "Pairing",
    "paired_frames",
    "paired_bootstrap",
    "leaderboard",
    "metric_units",
    "KEY_FIELDS",
]

KEY_FIELDS = ("subject", "sequence", "camera", "frame")
# (va, vb, strata, blocks): metric -> (N,) per-frame values of a and of b (b reordered onto a's frames);
# (N,) stratum label per frame or None (pooled protocols); (N,) int block id per frame, 0..n_blocks-1.
Pairing = tuple[dict[str, np.ndarray], dict[str, np.ndarray], "np.ndarray | None", np.ndarray]


class LeaderboardError(KspbenchError):
    """Two results cannot be paired (or a leaderboard cannot be built); the message names the file(s).

    ``reason`` is a few words for a table cell ("frame sets differ"); ``str(err)`` is the full one-line message.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def metric_units(result: Result, metric: str) -> str:
    """'%' for pck/auc (the JSON reports percent), 'mm' for errors."""
    return "%" if _scale(result, metric) == 100.0 else "mm"


def _scale(result: Result, metric: str) -> float:
    # Per-frame files hold pck/auc as fractions 0..1; the result JSON (and every table) reports percent.
    return 100.0 if result.data["protocol"]["metrics"][metric]["statistic"] in ("pck", "auc") else 1.0


def _codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of two string arrays over their joint vocabulary: ((Na,), (Nb,), vocabulary size)."""
    uniq, inv = np.unique(np.concatenate([a.astype(str), b.astype(str)]), return_inverse=True)
    return inv[: a.size].astype(np.int64), inv[a.size :].astype(np.int64), max(uniq.size, 1)


def _frame_keys(fa: dict[str, np.ndarray], fb: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One int64 per frame encoding (subject, sequence, camera, frame), comparable across a and b.

    Returns (key_a (Na,), key_b (Nb,), track_a (Na,)): track_a codes a's (subject, sequence, camera).
    Integer codes instead of joined strings: sorting and intersecting ~10^6 frames stays well under a second.
    """
    ka, kb = np.zeros(fa["frame"].size, np.int64), np.zeros(fb["frame"].size, np.int64)
    for name in KEY_FIELDS[:3]:
        ca, cb, n = _codes(fa[name], fb[name])
        ka, kb = ka * n + ca, kb * n + cb
    track_a = ka.copy()
    span = int(max(fa["frame"].max(initial=0), fb["frame"].max(initial=0))) + 1
    ka = ka * span + fa["frame"].astype(np.int64)
    kb = kb * span + fb["frame"].astype(np.int64)
    return ka, kb, track_a


def _blocks(track: np.ndarray, frame: np.ndarray, block_frames: int) -> np.ndarray:
    """(N,) block id per frame: fixed chunks of ``block_frames`` consecutive scored frames of one track.

    Rebuilt exactly as evaluate.py cut them (k-th scored frame of a track -> chunk k // block_frames), numbered in
    order of first appearance in the per-frame file, which is evaluate.py's numbering: resampling with the
    result's seed therefore reproduces the result's own ci95.
    """
    order = np.lexsort((frame, track))
    t_sorted = track[order]
    starts = np.r_[True, t_sorted[1:] != t_sorted[:-1]]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(track.size), 0))
    rank = np.empty(track.size, np.int64)
    rank[order] = np.arange(track.size) - start_pos  # position of each frame inside its track
    chunk = track * (rank.max(initial=0) // block_frames + 1) + rank // block_frames
    _, first, inv = np.unique(chunk, return_index=True, return_inverse=True)
    renumber = np.empty(first.size, np.int64)
    renumber[np.argsort(first, kind="stable")] = np.arange(first.size)
    return renumber[inv.reshape(-1)]


def _check_comparable(a: Result, b: Result) -> None:
    where = f"cannot pair {a.path} with {b.path}"
    pa, pb = a.data["protocol"], b.data["protocol"]
    if (pa["name"], pa["version"]) != (pb["name"], pb["version"]):
        raise LeaderboardError(
            f"{where}: different protocols ({pa['name']} v{pa['version']} vs {pb['name']} "
            f"v{pb['version']}); pairing needs the same protocol",
            "different protocol",
        )
    if a.protocol != b.protocol:
        raise LeaderboardError(
            f"{where}: different protocols ({a.protocol} vs {b.protocol}); pairing needs the same protocol",
            "different protocol",
        )
    if pa.get("sha256") != pb.get("sha256"):
        raise LeaderboardError(protocol_mismatch(a, b), "protocol definition differs")
    if (
        pa["aggregation"] != pb["aggregation"]
        or a.data["ci_method"]["block_frames"] != b.data["ci_method"]["block_frames"]
    ):
        raise LeaderboardError(
            f"{where}: protocol {pa['name']} v{pa['version']} was defined differently when "
            "they were scored (aggregation or bootstrap blocks differ); re-run `kspbench eval`",
            "protocol definition differs",
        )
    da, db = a.data["dataset"], b.data["dataset"]
    if da["sha256"] != db["sha256"]:
        raise LeaderboardError(
            f"{where}: different datasets ({da['name']} sha256 {da['sha256'][:12]} vs "
            f"{db['name']} sha256 {db['sha256'][:12]}); pairing needs the same store",
            "different dataset",
        )


def _pair_loaded(a: Result, b: Result, fa: dict[str, np.ndarray], fb: dict[str, np.ndarray]) -> Pairing:
    _check_comparable(a, b)
    ka, kb, track_a = _frame_keys(fa, fb)
    shared = int(np.intersect1d(ka, kb).size)  # intersect1d de-duplicates: duplicates show up as a shortfall
    if not (ka.size == kb.size == shared):
        ov_a, ov_b = a.data["protocol"].get("overrides") or {}, b.data["protocol"].get("overrides") or {}
        hint = f" (overrides {ov_a} vs {ov_b})" if ov_a != ov_b else ""
        raise LeaderboardError(
            f"cannot pair {a.path} ({ka.size} frames) with {b.path} ({kb.size} frames): "
            f"{shared} frames shared{hint}; pairing needs identical frame sets (same protocol, "
            "split and overrides)",
            "frame sets differ",
        )
    # b's row for each of a's frames: both sorted by key, then matched position by position.
    order_a, order_b = np.argsort(ka, kind="stable"), np.argsort(kb, kind="stable")
    b_for_a = np.empty(ka.size, np.int64)
    b_for_a[order_a] = order_b
    metrics = list(a.data["protocol"]["metrics"])
    va = {m: np.asarray(fa[f"metric:{m}"], np.float64) for m in metrics}
    vb = {m: np.asarray(fb[f"metric:{m}"], np.float64)[b_for_a] for m in metrics}
    agg = a.data["protocol"]["aggregation"]
    strata = np.asarray(fa[f"label:{agg['by']}"]).astype(str) if agg["overall"] == "mean_of_groups" else None
    blocks = _blocks(track_a, np.asarray(fa["frame"], np.int64), int(a.data["ci_method"]["block_frames"]))
    return va, vb, strata, blocks


def paired_frames(a: Result, b: Result) -> Pairing:
    """Align the per-frame files of ``a`` and ``b`` on (subject, sequence, camera, frame).

    Returns ``(va, vb, strata, blocks)``: metric -> (N,) per-frame values of a (in a's file order) and of b
    (reordered onto a's frames), in per-frame units (mm; fraction 0..1 for pck/auc); (N,) stratum labels (the
    protocol's ``aggregation.by`` label) when its overall is ``mean_of_groups``, else None; (N,) int block ids.

    Raises:
        LeaderboardError: different protocols (name or version), datasets (sha256) or frame sets; the message
            names both files.
    """
    _check_comparable(a, b)  # before reading two per-frame files
    return _pair_loaded(a, b, per_frame(a), per_frame(b))


def _resampled_stats(
    values: dict[str, np.ndarray], blocks: np.ndarray, strata: np.ndarray | None, resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """Overall statistic of each value array under ``resamples`` block resamples: name -> (resamples,).

    The draws are evaluate._bootstrap's (same rng, same order of strata, same block numbering), and every array
    in ``values`` sees the same draws: that is what makes the bootstrap paired.
    """
    rng = np.random.default_rng(seed)
    n_blocks = int(blocks.max()) + 1
    counts = np.bincount(blocks, minlength=n_blocks).astype(float)
    sums = {k: np.bincount(blocks, weights=v, minlength=n_blocks) for k, v in values.items()}
    block_stratum = np.zeros(n_blocks, np.int64)
    if strata is not None:
        _, inv = np.unique(strata, return_inverse=True)
        block_stratum[blocks] = inv.reshape(-1)  # a block lies inside one track, so inside one stratum
    draws = []
    for g in range(int(block_stratum.max()) + 1):
        members = np.flatnonzero(block_stratum == g)
        draws.append(members[rng.integers(0, members.size, size=(resamples, members.size))])  # (R, m_g)
    out = {}
    for k in values:
        group_means = np.stack([sums[k][d].sum(axis=1) / counts[d].sum(axis=1) for d in draws], axis=1)  # (R, G)
        out[k] = group_means.mean(axis=1)  # pooled: one stratum, so this is the pooled mean
    return out


def _overall(values: np.ndarray, strata: np.ndarray | None) -> float:
    """The protocol's overall statistic of (N,) per-frame values: pooled mean, or mean of per-group means."""
    if strata is None:
        return float(values.mean())
    _, inv = np.unique(strata, return_inverse=True)
    inv = inv.reshape(-1)
    return float((np.bincount(inv, weights=values) / np.bincount(inv)).mean())


def _percentile_interval(x: np.ndarray) -> list[float]:
    return [float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))]


def paired_bootstrap(
    a: Result,
    b: Result,
    metric: str,
    resamples: int | None = None,
    seed: int | None = None,
    *,
    pairing: Pairing | None = None,
) -> dict[str, Any]:
    """Paired block bootstrap of ``metric``'s overall statistic, b minus a, in the result JSON's units.

    Returns a dict: ``difference`` (b - a, exactly the difference of the two results' overall metrics),
    ``ci95`` [lo, hi] (95 % percentile interval of the resampled differences), ``p_value`` (two-sided: twice the
    share of resampled differences on the other side of zero from the observed one, ties at zero included,
    capped at 1; 1 when the observed difference is 0; 0 means below 1/resamples), ``a_value``/``b_value`` and
    ``a_ci95``/``b_ci95`` (each row's own interval under the same draws: with the default resamples and seed these
    reproduce the results' ci95), ``units``, ``higher_is_better``, ``resamples``, ``seed``, ``block_frames``,
    ``strata`` (the stratifying breakdown or None), ``n_frames``, ``n_blocks``, and both files.

    ``resamples``/``seed`` default to a's ``ci_method``; ``pairing`` reuses a :func:`paired_frames` result.

    Raises:
        LeaderboardError: see :func:`paired_frames`; a metric the protocol does not define.
    """
    metrics = a.data["protocol"]["metrics"]
    if metric not in metrics:
        raise LeaderboardError(
            f"{a.path}: protocol {a.protocol} has no metric {metric!r} (it has {', '.join(metrics)})", "unknown metric"
        )
    va, vb, strata, blocks = pairing if pairing is not None else paired_frames(a, b)
    ci = a.data["ci_method"]
    resamples = int(ci["resamples"] if resamples is None else resamples)
    seed = int(ci["seed"] if seed is None else seed)
    scale = _scale(a, metric)
    x, y = va[metric], vb[metric]
    a_value, b_value = scale * _overall(x, strata), scale * _overall(y, strata)
    stats = _resampled_stats({"a": x, "b": y}, blocks, strata, resamples, seed)
    diffs = scale * (stats["b"] - stats["a"])  # (R,)
    observed = b_value - a_value
    if observed > 0:
        p = 2.0 * float(np.mean(diffs <= 0))
    elif observed < 0:
        p = 2.0 * float(np.mean(diffs >= 0))
    else:
        p = 1.0
    agg = a.data["protocol"]["aggregation"]
    return {
        "metric": metric,
        "units": metric_units(a, metric),
        "higher_is_better": a.higher_is_better(metric),
        "a": str(a.path),
        "b": str(b.path),
        "a_value": a_value,
        "b_value": b_value,
        "difference": observed,
        "ci95": _percentile_interval(diffs),
        "p_value": min(1.0, p),
        "a_ci95": _percentile_interval(scale * stats["a"]),
        "b_ci95": _percentile_interval(scale * stats["b"]),
        "resamples": resamples,
        "seed": seed,
        "block_frames": int(ci["block_frames"]),
        "strata": agg["by"] if strata is not None else None,
        "n_frames": int(x.size),
        "n_blocks": int(blocks.max()) + 1,
    }


def _seed_interval(values: tuple[float, ...]) -> list[float]:
    """Student-t 95 % interval of the mean over training seeds (n >= 2)."""
    from scipy import stats

    arr = np.asarray(values, float)
    half = float(stats.t.ppf(0.975, arr.size - 1)) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return [float(arr.mean()) - half, float(arr.mean()) + half]


def _row_interval(st: RowStats) -> list[float] | None:
    """A row's 95 % interval: the t interval over seeds for several seeds, else the result's own block-bootstrap
    interval (``st``: a :func:`row_stats` summary)."""
    if len(st.values) > 1:
        return _seed_interval(st.values)
    return list(st.ci95) if st.ci95 else None


def leaderboard(results: list[Result], protocol: str, metric: str | None = None) -> list[dict[str, Any]]:
    """One entry per row of ``protocol``, best first, each paired against the best row.

    Several seeds of a row (grouped with :func:`by_row`): the score is their mean, ``sd`` their sample sd and
    ``ci95`` a Student-t interval over seeds (training-seed variation); one seed: the result's own ci95
    (test-sampling). The paired test compares each row's lowest-seed result with the best row's lowest-seed result
    (``paired_on`` names the files). A row that cannot be paired with the best keeps its place, with
    ``paired: None`` and ``pairing_error`` saying why.

    Entry keys: rank, row, label, kind, protocol, dataset, dataset_sha256, metric, units, higher_is_better,
    n_seeds, seeds, values, score, sd, ci95, ci95_kind, paths, paired_on, paired (paired_bootstrap dict, b = this
    row, a = the best row; None for the best row), pairing_error (None unless refused), spread_ratio (mean over
    seeds; None for results without one), collapsed (:func:`kspbench.evaluation.results.collapsed`: a non-baseline row
    whose predictions barely vary with the input; it keeps its rank, and the renderers mark it), partial
    (:func:`kspbench.evaluation.results.partial_note`: "partial: no subject S11", or None for a row covering its
    protocol), out_of_domain (:func:`kspbench.evaluation.results.out_of_domain`: a row adapted on 3DHP scored on
    Human3.6M; it keeps its rank, and the renderers mark it) and model (the model block; empty for cards and
    baselines).

    Raises:
        LeaderboardError: no result of ``protocol``; a metric the protocol does not define.
        ResultError: from :func:`by_row` (two results for one seed, a row mixing datasets).
    """
    mine = [r for r in results if r.protocol == protocol]
    if not mine:
        raise LeaderboardError(
            f"no result of protocol {protocol} (results of: "
            f"{', '.join(sorted({r.protocol for r in results})) or 'none'})",
            "no results",
        )
    metric = metric or mine[0].primary
    for r in mine:
        if metric not in r.data["protocol"]["metrics"]:
            raise LeaderboardError(
                f"{r.path}: protocol {protocol} has no metric {metric!r} (it has "
                f"{', '.join(r.data['protocol']['metrics'])})",
                "unknown metric",
            )
    higher = mine[0].higher_is_better(metric)
    entries = []
    for (row, _), rs in by_row(mine).items():
        st = row_stats(rs, metric)
        if st is None:  # unreachable after the check above; kept so a missing metric never ranks silently
            raise LeaderboardError(f"{rs[0].path}: no metric {metric!r}", "unknown metric")
        multi = len(rs) > 1
        spread = row_stats(rs, SPREAD_METRIC)
        entries.append(
            {
                "row": row,
                "label": rs[0].label,
                "kind": rs[0].kind,
                "protocol": protocol,
                "protocol_version": rs[0].data["protocol"]["version"],
                "dataset": rs[0].dataset,
                "dataset_sha256": rs[0].data["dataset"]["sha256"],
                "metric": metric,
                "units": metric_units(rs[0], metric),
                "higher_is_better": higher,
                "n_seeds": len(rs),
                "seeds": [r.seed for r in rs],
                "values": list(st.values),
                "score": st.mean,
                "sd": st.sd,
                "ci95": _row_interval(st),
                "ci95_kind": "t interval over training seeds" if multi else "block bootstrap (test sampling)",
                "paths": [str(r.path) for r in rs],
                "_pair": rs[0],
                "spread_ratio": None if spread is None else spread.mean,
                "collapsed": collapsed(rs),
                "partial": partial_note(rs),
                "out_of_domain": out_of_domain(rs),
                "model": rs[0].model,
            }
        )
    # Best first; ties keep a stable, readable order (by label).
    entries.sort(key=lambda e: ((-e["score"] if higher else e["score"]), e["label"]))
    best = entries[0]["_pair"]
    frames_cache: dict[str, dict[str, np.ndarray]] = {}  # the best row's per-frame file is read once, not N times

    def frames(r: Result) -> dict[str, np.ndarray]:
        if str(r.path) not in frames_cache:
            frames_cache[str(r.path)] = per_frame(r)
        return frames_cache[str(r.path)]

    for rank, e in enumerate(entries, 1):
        r = e.pop("_pair")
        e["rank"] = rank
        # Seeds are not paired with seeds: each row's lowest seed stands for it in the test (said in the entry).
        e["paired_on"] = {"best": str(best.path), "row": str(r.path), "rule": "lowest seed of each row"}
        e["paired"], e["pairing_error"], e["pairing_reason"] = None, None, None
        if rank == 1:
            continue
        try:
            _check_comparable(best, r)
            e["paired"] = paired_bootstrap(best, r, metric, pairing=_pair_loaded(best, r, frames(best), frames(r)))
        except LeaderboardError as err:
            e["pairing_error"] = str(err)
            e["pairing_reason"] = err.reason
    return entries


def breakdown(results: list[Result], protocol: str, metric: str, by: str) -> dict[str, dict[str, float]]:
    """row -> group -> ``metric`` in that group, mean over the row's seeds, for the rows of ``protocol``.

    ``by`` is one of the protocol's breakdowns (``action``, ``activity``, ...: the result's ``per_group``) or
    ``joint`` (the result's ``per_joint``: the metric on each joint alone). A row whose results lack the numbers
    (results written before per-joint numbers) maps to {}; a group missing from one seed is left out, not guessed.
    """
    out: dict[str, dict[str, float]] = {}
    for (row, _protocol), rs in by_row(r for r in results if r.protocol == protocol).items():
        if by == "joint":
            tables = [r.data.get("per_joint", {}).get(metric) for r in rs]
            if any(t is None for t in tables):
                out[row] = {}
                continue
            names = [n for n in tables[0] if all(n in t for t in tables)]
            out[row] = {n: float(np.mean([t[n] for t in tables])) for n in names}
            continue
        groups = [set(r.data["per_group"].get(by, {})) for r in rs]
        out[row] = {
            g: st.mean for g in sorted(set.intersection(*groups)) if (st := row_stats(rs, metric, (by, g))) is not None
        }
    return out


def extra_metrics(results: list[Result], protocol: str) -> dict[str, dict[str, dict[str, Any]]]:
    """row -> metric -> {score, sd, ci95} for every metric of ``protocol`` (mean over seeds; ci95 of a one-seed
    row is its block-bootstrap interval, of a several-seed row the t interval over seeds)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (row, _), rs in by_row(r for r in results if r.protocol == protocol).items():
        out[row] = {}
        for m in rs[0].data["protocol"]["metrics"]:
            st = row_stats(rs, m)
            if st is None:
                continue
            out[row][m] = {"score": st.mean, "sd": st.sd, "ci95": _row_interval(st)}
    return out
