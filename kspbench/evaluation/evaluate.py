"""Evaluation: match a predictions file to a store's ground truth under a protocol, score, aggregate, bootstrap.

Data flow: ``PoseStore`` + ``Predictions`` + ``Protocol`` -> ``Evaluation`` (per-frame values and aggregates) ->
result JSON (+ per-frame ``.frames.npz``, + 3DHP CSV reports). The library never prints; the CLI renders.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kspbench.core import skeleton
from kspbench.data.predictions import Predictions, frame_stride
from kspbench.data.store import PoseStore, SequenceInfo
from kspbench.errors import KspbenchError
from kspbench.evaluation import metrics as M
from kspbench.evaluation.protocol import ACTIVITY_NAMES, Protocol
from kspbench.infra.provenance import file_sha256, provenance

RESULT_SCHEMA_VERSION = 1
# Key of the spread ratio (kspbench.evaluation.metrics.spread_ratio) in a result's ``metrics``: not a protocol metric
# (no per-frame values, no interval, no direction), recorded beside them for every protocol.
SPREAD_METRIC = "spread_ratio"
CI_LABEL = (
    "95% percentile interval of a seeded block bootstrap over fixed temporal chunks of the test frames: "
    "test-sampling uncertainty only (not training-seed variation)"
)


class EvaluationError(KspbenchError):
    """Predictions and ground truth cannot be matched; the message says what is wrong and how to fix it."""


@dataclass
class Evaluation:
    """Everything one evaluation produced, before it is written."""

    protocol: Protocol
    keys: dict[str, np.ndarray]  # subject, sequence, camera (str) and frame (int), (N,) each
    labels: dict[str, np.ndarray]  # breakdown labels per frame, e.g. action, activity
    per_frame: dict[str, np.ndarray]  # metric -> (N,) per-frame value (mm, or fraction for pck/auc)
    per_joint: dict[str, np.ndarray]  # alignment -> (N, J_scored) errors, mm
    metrics: dict[str, float]
    ci95: dict[str, list[float]]
    per_group: dict[str, dict[str, dict[str, float]]]
    coverage: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Compact, for notebooks: the protocol, the frames and the overall numbers (arrays stay out).
        p = self.protocol
        nums = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        part = f", partial: {describe_missing(self.coverage['missing'])}" if self.coverage.get("partial") else ""
        return f"Evaluation({p.name} v{p.version}, {len(next(iter(self.per_frame.values())))} frames, {nums}{part})"


@dataclass(frozen=True)
class Matched:
    """Predictions matched to the ground truth frame by frame: everything :func:`score` needs, nothing about how
    the frames were found."""

    pred: np.ndarray  # (N, 17, 3) mm, in the protocol's joint order
    gt: np.ndarray  # (N, 17, 3) mm, float64, same order
    keys: dict[str, np.ndarray]  # subject, sequence, camera (str) and frame (int), (N,) each
    labels: dict[str, np.ndarray]  # breakdown labels per frame, e.g. action, activity
    blocks: np.ndarray  # (N,) int bootstrap block per frame, 0..B-1 (fixed temporal chunks of each track)
    coverage: dict[str, Any]  # becomes Evaluation.coverage


@dataclass(frozen=True)
class _Track:
    """One (subject, sequence, camera) track the protocol selects: the frames it needs, and which are predicted."""

    info: SequenceInfo
    camera: str
    expected: int  # frames the protocol needs: valid ones on its frame stride
    frames: np.ndarray  # (n,) the needed frames the predictions have, increasing
    rows: np.ndarray  # (n,) their rows in the predictions

    @property
    def name(self) -> str:
        return f"{self.info.subject}/{self.info.sequence}/{self.camera}"

    @property
    def missing(self) -> int:
        return self.expected - self.frames.size


def _track_key(s: str, q: str, c: str) -> str:
    return f"{s}\x1f{q}\x1f{c}"


def _per_joint_errors(
    pred: np.ndarray, gt: np.ndarray, alignment: str, root: int, joints: tuple[int, ...]
) -> np.ndarray:
    """(N, J_scored) errors in mm after the protocol's alignment (both poses root-centred first)."""
    errors_after = M.aligned_errors(alignment)  # an unknown alignment is refused before any arithmetic
    pred = pred - pred[:, root : root + 1]
    gt = gt - gt[:, root : root + 1]
    sel = list(joints)
    return errors_after(pred[:, sel], gt[:, sel])


# statistic -> per-frame values from (N, J) joint errors; the keys are protocol.STATISTICS (a test checks it).
STATISTIC_FUNCTIONS = {
    "mean_error": lambda errors, spec: errors.mean(axis=1),
    "pck": lambda errors, spec: M.pck(errors, threshold_mm=spec.threshold_mm),
    "auc": lambda errors, spec: M.auc(errors, thresholds=np.asarray(spec.thresholds_mm)),
}


def _statistic(errors: np.ndarray, spec) -> np.ndarray:
    """Per-frame values of ``spec.statistic``; an unknown one raises instead of being scored as another."""
    if spec.statistic not in STATISTIC_FUNCTIONS:
        raise EvaluationError(f"unknown statistic {spec.statistic!r}; known: {', '.join(STATISTIC_FUNCTIONS)}")
    return STATISTIC_FUNCTIONS[spec.statistic](errors, spec)


def _scale(spec, value: float) -> float:
    # PCK and AUC are reported in percent, as the official 3DHP tool and the paper do.
    return 100.0 * value if spec.statistic in ("pck", "auc") else value


def _aggregate(values: np.ndarray, groups: np.ndarray | None) -> float:
    if groups is None:
        return float(values.mean())
    uniq, inv = np.unique(groups, return_inverse=True)
    return float((np.bincount(inv, weights=values) / np.bincount(inv)).mean())


def _bootstrap(
    values: dict[str, np.ndarray],
    block: np.ndarray,
    strata: np.ndarray | None,
    protocol: Protocol,
) -> dict[str, list[float]]:
    """Percentile intervals from resampling whole blocks (within strata when the protocol averages groups)."""
    rng = np.random.default_rng(protocol.bootstrap_seed)
    n_blocks = int(block.max()) + 1
    counts = np.bincount(block, minlength=n_blocks).astype(float)
    sums = {k: np.bincount(block, weights=v, minlength=n_blocks) for k, v in values.items()}
    if strata is None:
        block_stratum = np.zeros(n_blocks, int)
    else:
        _, inv = np.unique(strata, return_inverse=True)
        block_stratum = np.zeros(n_blocks, int)
        block_stratum[block] = inv  # a block lies inside one track, so inside one stratum
    draws = []
    for g in range(block_stratum.max() + 1):
        members = np.flatnonzero(block_stratum == g)
        draws.append(members[rng.integers(0, members.size, size=(protocol.resamples, members.size))])
    out = {}
    for k in values:
        group_means = np.stack([sums[k][d].sum(axis=1) / counts[d].sum(axis=1) for d in draws], axis=1)
        stat = group_means.mean(axis=1) if strata is not None else group_means[:, 0]
        out[k] = [float(np.percentile(stat, 2.5)), float(np.percentile(stat, 97.5))]
    return out


def evaluate(
    protocol: Protocol,
    store_path: str | os.PathLike | PoseStore,
    preds: Predictions,
    *,
    allow_missing: bool = False,
    allow_partial: bool = False,
) -> Evaluation:
    """Score ``preds`` against the store's ground truth under ``protocol``: :func:`score` of what ``_match`` finds.
    ``store_path`` may be an open :class:`PoseStore` (several protocols scored on one store then share its index).

    Coverage is honest: the subjects, cameras and actions the protocol names (:meth:`Protocol.required`, after
    overrides) must all be among the scored frames; ``coverage`` records what is required, what is missing and
    ``partial``.

    Raises:
        EvaluationError: predictions for frames the store does not have; frames the protocol needs that the
            predictions lack (unless ``allow_missing``; the message hints at ``--stride`` when the predictions hold
            every k-th frame); a subject, camera or action of the protocol absent from the scored frames, in the
            store or in the predictions (unless ``allow_partial``); a protocol split that selects nothing.
    """
    return score(
        _match(protocol, store_path, preds, allow_missing=allow_missing, allow_partial=allow_partial), protocol
    )


def _match(
    protocol: Protocol,
    store_path: str | os.PathLike | PoseStore,
    preds: Predictions,
    *,
    allow_missing: bool,
    allow_partial: bool,
) -> Matched:
    """The protocol's frames of the store paired with their predictions, refused as :func:`evaluate` says."""
    pred_tracks = _prediction_tracks(preds)
    given = store_path if isinstance(store_path, PoseStore) else None
    if given is not None:
        store_path = given.path
    with contextlib.nullcontext(given) if given is not None else PoseStore(store_path) as store:
        _refuse_foreign_predictions(store, store_path, preds, pred_tracks)
        tracks = _protocol_tracks(store, protocol, preds, pred_tracks)
        scored = [t for t in tracks if t.frames.size]
        columns = [_track_columns(store, t, preds, protocol) for t in scored]
    expected = sum(t.expected for t in tracks)
    used = sum(t.frames.size for t in scored)
    missing_by_track = {t.name: t.missing for t in tracks if t.missing}
    if expected == 0:
        raise EvaluationError(
            f"protocol {protocol.name} selects no frame of {store_path}: it needs role "
            f"{protocol.role!r}, subjects {list(protocol.subjects)}, cameras "
            f"{list(protocol.cameras)}; check --store or the overrides"
        )
    n_missing = expected - used
    if n_missing and not allow_missing:
        worst = sorted(missing_by_track.items(), key=lambda kv: -kv[1])[:3]
        raise EvaluationError(
            f"predictions miss {n_missing} of the {expected} frames the protocol needs, in "
            f"{len(missing_by_track)} sequence/camera track(s), e.g. "
            + ", ".join(f"{k} ({v})" for k, v in worst)
            + _stride_hint(preds, protocol)
            + "; predict them, or pass --allow-missing to score the rest (coverage is recorded)"
        )
    if used == 0:
        raise EvaluationError("no prediction matches a frame the protocol needs" + _stride_hint(preds, protocol))

    poses, keys, labels = (
        {k: np.concatenate([c[part][k] for c in columns]) for k in columns[0][part]}
        for part in ("poses", "keys", "labels")
    )
    required, missing = _required_and_missing(protocol, keys, labels, store_path, allow_partial)
    pred, gt = poses["pred"], poses["gt"]
    if protocol.joint_order == "3dhp":
        # The store and the predictions are in H36M order; 3DHP is scored in its own order.
        gt, pred = gt[:, skeleton.H36M_TO_MPI3DHP], pred[:, skeleton.H36M_TO_MPI3DHP]
    coverage = {
        "expected_frames": expected,
        "evaluated_frames": used,
        "fraction": used / expected,
        "missing_by_track": missing_by_track,
        "prediction_rows": len(preds),
        "rows_outside_protocol": len(preds) - used,
        "required": {k: list(v) for k, v in required.items()},
        "missing": missing,
        "partial": any(missing.values()),
    }
    return Matched(
        pred=pred,
        gt=gt,
        keys=keys,
        labels=labels,
        blocks=_blocks([t.frames.size for t in scored], protocol.block_frames),
        coverage=coverage,
    )


def _prediction_tracks(preds: Predictions) -> dict[str, np.ndarray]:
    """Track key -> the prediction rows of that track, ordered by frame."""
    order = np.lexsort((preds.frame, preds.camera, preds.sequence, preds.subject))
    tk = np.array(
        [_track_key(s, q, c) for s, q, c in zip(preds.subject[order], preds.sequence[order], preds.camera[order])]
    )
    starts = np.flatnonzero(np.r_[True, tk[1:] != tk[:-1]])
    return {tk[a]: order[a:b] for a, b in zip(starts, np.r_[starts[1:], len(tk)])}


def _refuse_foreign_predictions(
    store: PoseStore, store_path: str | os.PathLike, preds: Predictions, pred_tracks: dict[str, np.ndarray]
) -> None:
    """Predictions for tracks or frames the store does not have are an error: they point at the wrong store."""
    index = {_track_key(info.subject, info.sequence, cam): info for info in store.sequences() for cam in info.cameras}
    for key, rows in pred_tracks.items():
        info = index.get(key)
        s, q, c = key.split("\x1f")
        if info is None:
            raise EvaluationError(
                f"predictions for ({s}, {q}, camera {c}) but the store {store_path} has no "
                "such sequence/camera: check --store, or the names in the predictions"
            )
        beyond = preds.frame[rows] >= info.n_frames
        if beyond.any():
            raise EvaluationError(
                f"{int(beyond.sum())} prediction(s) for frames the store does not have: "
                f"({s}, {q}, camera {c}) has {info.n_frames} frames, predictions go up to "
                f"frame {int(preds.frame[rows].max())}"
            )


def _protocol_tracks(
    store: PoseStore, protocol: Protocol, preds: Predictions, pred_tracks: dict[str, np.ndarray]
) -> list[_Track]:
    """Every track of the protocol's split, in store order, with the frames it needs and those predicted."""
    excluded = set(protocol.exclude_sequences)
    tracks = []
    for info in store.sequences(role=protocol.role, subject=list(protocol.subjects)):
        if f"{info.subject}/{info.sequence}" in excluded:
            continue
        for cam in (c for c in protocol.cameras if c in info.cameras):
            valid = store.read(info.subject, info.sequence, "valid", camera=cam).astype(bool)
            need = np.flatnonzero(valid & (np.arange(info.n_frames) % protocol.frame_stride == 0))
            rows = pred_tracks.get(_track_key(info.subject, info.sequence, cam), np.zeros(0, int))
            have = preds.frame[rows]
            pos = np.searchsorted(have, need)
            found = (
                (pos < have.size) & (have[np.minimum(pos, max(have.size - 1, 0))] == need)
                if have.size
                else np.zeros(need.size, bool)
            )
            tracks.append(_Track(info, cam, need.size, need[found], rows[pos[found]]))
    return tracks


def _track_columns(
    store: PoseStore, track: _Track, preds: Predictions, protocol: Protocol
) -> dict[str, dict[str, np.ndarray]]:
    """One scored track's per-frame columns: ``poses`` (pred, gt), ``keys`` and breakdown ``labels``."""
    info, cam, frames = track.info, track.camera, track.frames

    def const(value: str) -> np.ndarray:
        return np.full(frames.size, value, dtype=object)

    gt = store.read(info.subject, info.sequence, protocol.ground_truth, camera=cam)[frames]
    labels = {"action": const(info.action), "sequence": const(info.sequence), "subject": const(info.subject)}
    if "activity" in protocol.breakdowns:
        act = store.read(info.subject, info.sequence, "extras/activity", camera=cam)[frames]
        labels["activity"] = np.array([ACTIVITY_NAMES.get(int(a), f"activity {int(a)}") for a in act], dtype=object)
    return {
        "poses": {"pred": preds.poses_3d[track.rows], "gt": np.asarray(gt, np.float64)},
        "keys": {
            "subject": const(info.subject),
            "sequence": const(info.sequence),
            "camera": const(cam),
            "frame": frames,
        },
        "labels": labels,
    }


def _blocks(track_sizes: list[int], block_frames: int) -> np.ndarray:
    """Bootstrap block per frame: fixed temporal chunks of ``block_frames`` frames of each track, numbered 0..B-1
    across the tracks in order."""
    parts, offset = [], 0
    for n in track_sizes:
        parts.append(offset + np.arange(n) // block_frames)
        offset = int(parts[-1].max()) + 1
    return np.concatenate(parts)


def _required_and_missing(
    protocol: Protocol,
    keys: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    store_path: str | os.PathLike,
    allow_partial: bool,
) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
    """What the protocol declares and what of it the scored frames lack; refused when the (overridden) split
    itself is not covered, unless ``allow_partial``."""
    present = {
        "subjects": set(keys["subject"].tolist()),
        "cameras": set(keys["camera"].tolist()),
        "actions": set(labels["action"].tolist()),
    }
    # Refused: what the (overridden) split asks for and the store or predictions lack. Labelled partial: anything
    # the protocol file declares that the result lacks, split overrides included (--cameras 60457274 is a variant).
    lacking = {k: [v for v in need if v not in present[k]] for k, need in protocol.required().items()}
    if any(lacking.values()) and not allow_partial:
        raise EvaluationError(
            f"{protocol.name} is not covered: the scored frames have {describe_missing(lacking)} "
            f"(store {store_path} and predictions together); score the whole split, or pass "
            "--allow-partial to keep it as a result labelled partial in every table"
        )
    required = protocol.required(declared=True)
    return required, {k: [v for v in need if v not in present[k]] for k, need in required.items()}


def describe_missing(missing: dict[str, list[str]]) -> str:
    """``{"subjects": ["S11"], "cameras": [], "actions": ["Eating"]}`` -> "no subject S11, no action Eating"."""
    parts = []
    for key, what in (("subjects", "subject"), ("cameras", "camera"), ("actions", "action")):
        names = missing.get(key) or []
        if names:
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            parts.append(f"no {what}{'s' if len(names) > 1 else ''} {shown}")
    return "; ".join(parts) or "everything"


def _stride_hint(preds: Predictions, protocol: Protocol) -> str:
    """A hint when the predictions hold every k-th frame (MMPose's fps10 files: k = 5) and the protocol wants more."""
    k = frame_stride(preds)
    if k > 1 and k != protocol.frame_stride and k % protocol.frame_stride == 0:
        return f" (the predictions hold one frame in {k} only: score them with --stride {k}, which the result records)"
    return ""


def score(matched: Matched, protocol: Protocol) -> Evaluation:
    """The protocol's numbers for matched poses: per-joint errors under each alignment, per-frame statistics, the
    overall numbers aggregated as the protocol says, bootstrap intervals, breakdowns and PCK curves.

    Args:
        matched: the poses in ``protocol.joint_order``, their keys, breakdown labels (the protocol's
            ``aggregation.by`` and ``breakdowns``), bootstrap blocks and coverage.
        protocol: the protocol scored.
    """
    pred, gt, labels = matched.pred, matched.gt, matched.labels
    per_joint = {
        a: _per_joint_errors(pred, gt, a, protocol.root_joint, protocol.joints)
        for a in sorted({m.alignment for m in protocol.metrics})
    }
    per_frame = {m.name: _statistic(per_joint[m.alignment], m) for m in protocol.metrics}
    group = labels[protocol.group_by] if protocol.overall == "mean_of_groups" else None
    overall = {m.name: _scale(m, _aggregate(per_frame[m.name], group)) for m in protocol.metrics}
    # Input dependence (kspbench.evaluation.metrics.spread_ratio) over the scored joints of every scored frame (at
    # most SPREAD_MAX_FRAMES, evenly spaced): one number per result, no per-frame value and no interval. Left out
    # where the truth itself has no spread (a single frame), since the ratio is then undefined.
    sel = list(protocol.joints)
    spread = M.spread_ratio(pred[:, sel], gt[:, sel])
    if np.isfinite(spread):
        overall[SPREAD_METRIC] = spread
    ci = _bootstrap(per_frame, matched.blocks, group, protocol)
    ci = {m.name: [_scale(m, v) for v in ci[m.name]] for m in protocol.metrics}
    return Evaluation(
        protocol=protocol,
        keys=matched.keys,
        labels=labels,
        per_frame=per_frame,
        per_joint=per_joint,
        metrics=overall,
        ci95=ci,
        per_group=_per_group(protocol, per_frame, labels),
        coverage=matched.coverage,
        extra={"curves": _curves(protocol, per_joint, group)},
    )


def _per_group(
    protocol: Protocol, per_frame: dict[str, np.ndarray], labels: dict[str, np.ndarray]
) -> dict[str, dict[str, dict[str, float]]]:
    """breakdown -> label -> every metric over that label's frames (pooled), and their count."""
    per_group: dict[str, dict[str, dict[str, float]]] = {}
    for b in protocol.breakdowns:
        per_group[b] = {}
        for g in sorted(set(labels[b])):
            sel = labels[b] == g
            per_group[b][str(g)] = {
                **{m.name: _scale(m, float(per_frame[m.name][sel].mean())) for m in protocol.metrics},
                "n_frames": int(sel.sum()),
            }
    return per_group


def _curves(
    protocol: Protocol, per_joint: dict[str, np.ndarray], group: np.ndarray | None
) -> dict[str, dict[str, Any]]:
    """PCK at every threshold of each AUC metric's grid (the AUC is their mean), aggregated like the overall
    metric; keyed ``pck_vs_threshold:<alignment>``."""
    curves = {}
    for m in protocol.metrics:
        if m.statistic == "auc":
            t = np.asarray(m.thresholds_mm, np.float64)
            hit = (per_joint[m.alignment][:, :, None] <= t).mean(axis=1)  # (N, T)
            curves[f"pck_vs_threshold:{m.alignment}"] = {
                "alignment": m.alignment,
                "thresholds_mm": t.tolist(),
                "pck": [100.0 * _aggregate(hit[:, i], group) for i in range(t.size)],
            }
    return curves


def result_dict(
    ev: Evaluation,
    *,
    store_path: str | os.PathLike,
    predictions_path: str | os.PathLike,
    predictions_attrs: dict[str, Any],
    duration_s: float,
    frames_file: str | None,
    model: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The result JSON (schema version 1); see README, 'Result files'. ``model`` (:mod:`kspbench.data.identity`) becomes
    the top-level key ``model``, which names the row; results without one are named by their card or baseline."""
    p = ev.protocol
    with PoseStore(store_path) as store:
        dataset_name = str(store.attrs.get("dataset"))
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "protocol": {
            "name": p.name,
            "version": p.version,
            "sha256": p.sha256,
            "title": p.title,
            "overrides": dict(p.overrides),
            "split": p.split_dict(),
            "ground_truth": p.ground_truth,
            "joint_order": p.joint_order,
            "joints": list(p.joints),
            "root_joint": p.root_joint,
            "aggregation": {"overall": p.overall, "by": p.group_by},
            "metrics": {
                m.name: {"alignment": m.alignment, "statistic": m.statistic, "higher_is_better": m.higher_is_better}
                for m in p.metrics
            },
            "primary": p.primary,
        },
        "dataset": {"name": dataset_name, "path": str(store_path), "sha256": file_sha256(store_path)},
        "predictions": {
            "path": str(predictions_path),
            "sha256": file_sha256(predictions_path),
            "model": predictions_attrs,
        },
        **({"model": dict(model)} if model else {}),
        "n_frames": int(ev.coverage["evaluated_frames"]),
        "coverage": ev.coverage,
        "metrics": ev.metrics,
        "ci95": ev.ci95,
        "ci_method": {
            "label": CI_LABEL,
            "block_frames": p.block_frames,
            "resamples": p.resamples,
            "seed": p.bootstrap_seed,
            "strata": p.group_by if p.overall == "mean_of_groups" else None,
        },
        "per_group": ev.per_group,
        "per_joint": per_joint_summary(ev),
        "curves": ev.extra.get("curves", {}),
        "per_frame_file": frames_file,
        "duration_s": round(duration_s, 3),
        **provenance(),
    }


def per_joint_summary(ev: Evaluation) -> dict[str, dict[str, float]]:
    """metric -> joint name -> the metric computed on that joint alone, aggregated like the overall number (so a
    protocol averaging action means averages the joint's action means). ``ev.per_joint[a]`` is (N, J_scored)."""
    from kspbench.core import skeleton

    p = ev.protocol
    names = skeleton.JOINT_NAMES if p.joint_order == "h36m" else skeleton.MPI3DHP_JOINT_NAMES
    group = ev.labels[p.group_by] if p.overall == "mean_of_groups" else None
    out: dict[str, dict[str, float]] = {}
    for m in p.metrics:
        errors = ev.per_joint[m.alignment]
        # One joint at a time through the metric's own statistic: (N, 1) -> (N,) per-frame values.
        out[m.name] = {
            names[j]: _scale(m, _aggregate(_statistic(errors[:, [k]], m), group)) for k, j in enumerate(p.joints)
        }
    return out


def integrity_digest(result: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of every key but ``integrity``: a result edited by hand no longer matches."""
    body = {k: v for k, v in result.items() if k != "integrity"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def frames_file_name(out: str | os.PathLike, sha256: str) -> str:
    """Name of a result's per-frame file: content-addressed, so a new result never overwrites the old pair's."""
    return f"{Path(out).stem}.frames-{sha256[:16]}.npz"


def write_per_frame(ev: Evaluation, path: str | os.PathLike) -> None:
    """Per-frame values keyed by (subject, sequence, camera, frame), so two results can be paired frame by frame."""
    from kspbench.infra.atomic import write_with

    write_with(path, _per_frame_writer(ev))


def _per_frame_writer(ev: Evaluation):
    return lambda f: np.savez_compressed(
        f,
        **{k: (v.astype(str) if v.dtype == object else v) for k, v in ev.keys.items()},
        **{f"metric:{k}": v for k, v in ev.per_frame.items()},
        **{f"label:{k}": v.astype(str) for k, v in ev.labels.items()},
    )


def result_outputs(out: str | os.PathLike, protocol: Protocol | None = None) -> list[Path]:
    """Every fixed file name ``kspbench eval --out`` may write (for the refusal of outputs that are inputs)."""
    out = Path(out)
    names = [out, out.with_name(out.stem + ".frames.npz")]
    if protocol is None or protocol.joint_groups:
        names += [out.with_name(out.stem + ".sequencewise.csv"), out.with_name(out.stem + ".activitywise.csv")]
    return names


def _named_frames(out: Path) -> str | None:
    """The per-frame file name the result now at ``out`` names, if it is a readable result naming a plain file."""
    try:
        name = json.loads(out.read_text()).get("per_frame_file")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name and Path(name).name == name and name not in (".", "..") else None


def write_result(
    ev: Evaluation,
    out: str | os.PathLike,
    *,
    store_path,
    predictions_path,
    predictions_attrs,
    started: float,
    model: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``out`` (JSON), its per-frame file and, for protocols with joint groups, the 3DHP CSVs.

    Crash-safe as a pair: the per-frame file is written first under a content-addressed name
    (``<stem>.frames-<sha256[:16]>.npz``), then the JSON that names it and records its sha256 replaces the old JSON
    in one rename, and only then is the per-frame file the old JSON named deleted. A crash at any moment leaves the
    old pair or the new pair. Writers of the same ``out`` take turns on ``<out>.lock`` for the writing (the scoring
    itself runs in parallel), so concurrent evaluations never delete each other's per-frame files.
    """
    from kspbench.infra.atomic import exclusive_lock, write_addressed, write_text

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = result_dict(
        ev,
        store_path=store_path,
        predictions_path=predictions_path,
        predictions_attrs=predictions_attrs,
        duration_s=time.time() - started,
        frames_file=None,
        model=model,
    )
    with exclusive_lock(out, wait=True):
        _remove_leftovers(out)
        # Content-addressed: never the name the current JSON uses, unless the bytes are identical.
        frames_path, digest = write_addressed(
            out.with_name(out.stem + ".frames.npz"), _per_frame_writer(ev), lambda sha: frames_file_name(out, sha)
        )
        result["per_frame_file"] = frames_path.name
        result["per_frame_sha256"] = digest
        if ev.protocol.joint_groups:
            reports = (out.with_name(out.stem + ".sequencewise.csv"), out.with_name(out.stem + ".activitywise.csv"))
            write_3dhp_reports(ev, *reports)
            # Derived tables under the official tool's names: each written atomically, their hashes recorded so
            # that a crash between them and the JSON is detectable.
            result["reports"] = {p.name: file_sha256(p) for p in reports}
        result["integrity"] = integrity_digest(result)
        old = _named_frames(out)
        write_text(out, json.dumps(result, indent=2, sort_keys=False, allow_nan=False) + "\n")
        if old is not None and old != frames_path.name:
            with contextlib.suppress(FileNotFoundError):
                out.with_name(old).unlink()
    return result


def _remove_leftovers(out: Path) -> None:
    """Temporary and per-frame files of earlier writers of ``out`` that died mid-write (called under its lock, when
    no other writer of ``out`` is active): anything not named by the JSON now at ``out``."""
    keep = _named_frames(out)
    stem, name = glob.escape(out.stem), glob.escape(out.name)
    patterns = [f"{stem}.frames-*.npz", f".{name}.*.tmp"]
    patterns += [f".{stem}.{suffix}.*.tmp" for suffix in ("frames.npz", "sequencewise.csv", "activitywise.csv")]
    for pattern in patterns:
        for p in out.parent.glob(pattern):
            if p.name != keep:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


# --- MPI-INF-3DHP reports in the layout of the official MATLAB tool ---------------------------------------------


def _group_table(
    errors: np.ndarray,
    groups: tuple[tuple[str, tuple[int, ...]], ...],
    joints: tuple[int, ...],
    thresholds: np.ndarray,
    pck_threshold: float,
) -> tuple[list[float], list[float]]:
    """PCK and AUC per joint group plus the joint-count-weighted 'Total' (mpii_compute_3d_pck.m)."""
    col = {j: k for k, j in enumerate(joints)}
    pcks, aucs, curves, weights = [], [], [], []
    for _, idx in groups:
        e = errors[:, [col[j] for j in idx]]
        curve = (e[..., None] < thresholds).mean(axis=(0, 1))
        pcks.append(100.0 * float((e < pck_threshold).mean()))
        aucs.append(100.0 * float(curve.mean()))
        curves.append(curve)
        weights.append(len(idx))
    w = np.array(weights, float)
    total_curve = (np.stack(curves) * w[:, None]).sum(axis=0) / w.sum()
    pcks.append(float(np.dot(pcks, w) / w.sum()))
    aucs.append(100.0 * float(total_curve.mean()))
    return pcks, aucs


def write_3dhp_reports(ev: Evaluation, sequencewise: str | os.PathLike, activitywise: str | os.PathLike) -> None:
    """Sequence-wise and activity-wise CSVs laid out like the official tool's tables (mpii_evaluate_errors.m):
    a per-joint MPJPE block with an 'Average' column, then a 'PCK' block and an 'AUC' block by joint group with
    a 'Total' column; activity-wise adds an 'All' row pooling every frame."""
    p = ev.protocol
    pck_spec = next((m for m in p.metrics if m.statistic == "pck"), None)
    auc_spec = next((m for m in p.metrics if m.statistic == "auc"), None)
    alignment = (pck_spec or p.metrics[0]).alignment
    errors = ev.per_joint[alignment]
    thresholds = np.asarray(auc_spec.thresholds_mm if auc_spec else np.arange(0, 151, 5.0))
    pck_thr = pck_spec.threshold_mm if pck_spec else 150.0
    names = [skeleton.MPI3DHP_JOINT_NAMES[j] if p.joint_order == "3dhp" else skeleton.JOINT_NAMES[j] for j in p.joints]
    group_names = [g for g, _ in p.joint_groups]

    def table(rows: list[tuple[str, np.ndarray]]) -> list[list[Any]]:
        out: list[list[Any]] = [[""] + names + ["Average"]]
        for label, sel in rows:
            per_joint = errors[sel].mean(axis=0)
            out.append([label] + [f"{v:.4f}" for v in per_joint] + [f"{per_joint.mean():.4f}"])
        stats = [
            (label, _group_table(errors[sel], p.joint_groups, p.joints, thresholds, pck_thr)) for label, sel in rows
        ]
        for block, k in (("PCK", 0), ("AUC", 1)):
            out.append([block] + group_names + ["Total"])
            out += [[label] + [f"{v:.4f}" for v in st[k]] for label, st in stats]
        return out

    seq_rows = []
    for s in sorted(set(ev.keys["sequence"]), key=_natural):
        m = re.fullmatch(r"TS(\d+)", str(s))
        seq_rows.append((f"TestSeq{m.group(1)}" if m else str(s), ev.keys["sequence"] == s))
    act_rows = []
    if "activity" in ev.labels:
        for _code, name in ACTIVITY_NAMES.items():
            sel = ev.labels["activity"] == name
            if sel.any():
                act_rows.append((name, sel))
    act_rows.append(("All", np.ones(len(errors), bool)))
    from kspbench.infra.atomic import write_text

    for path, rows in ((Path(sequencewise), seq_rows), (Path(activitywise), act_rows)):
        buf = io.StringIO(newline="")
        csv.writer(buf).writerows(table(rows))
        write_text(path, buf.getvalue())


def _natural(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]
