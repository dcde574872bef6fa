"""The Python entry points for notebooks: :func:`evaluate_file` and :func:`evaluate_arrays`.

Both validate as ``kspbench eval`` does (shapes, NaN/inf, millimetres: metres are refused with the factor to apply;
coverage of the protocol's subjects, cameras and actions unless ``allow_partial``) and return an
:class:`kspbench.evaluation.evaluate.Evaluation`, whose ``repr`` is one line::

    >>> import kspbench
    >>> kspbench.evaluate_file("preds.npz", "h36m.h5", protocol="h36m-p2")
    Evaluation(h36m-p2 v2, 543344 frames, p_mpjpe_mm=41.2, n_mpjpe_mm=..., mpjpe_mm=..., spread_ratio=0.97)

Every error is a ``ValueError`` subclass with a one-line message (the CLI prints the same line and exits 2).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Sequence

import numpy as np

from kspbench.core import skeleton
from kspbench.data.identity import ModelError, model_block
from kspbench.data.predictions import (
    Predictions,
    PredictionsError,
    check_pose_values,
    read_predictions,
    validate_predictions,
)
from kspbench.evaluation.evaluate import (
    Evaluation,
    EvaluationError,
    Matched,
    describe_missing,
    evaluate,
    score,
    write_result,
)
from kspbench.evaluation.protocol import Protocol, load_protocol

__all__ = ["evaluate_file", "evaluate_arrays"]


def _protocol(protocol: str | Protocol) -> Protocol:
    return protocol if isinstance(protocol, Protocol) else load_protocol(protocol)


def evaluate_file(
    predictions: str | os.PathLike | Predictions,
    store: str | os.PathLike,
    protocol: str | Protocol = "h36m-p2",
    *,
    out: str | os.PathLike | None = None,
    name: str | None = None,
    meta: str | None = None,
    joint_order: str = "h36m",
    subjects: Sequence[str] | None = None,
    cameras: Sequence[str] | None = None,
    stride: int | None = None,
    allow_missing: bool = False,
    allow_partial: bool = False,
) -> Evaluation:
    """Score a predictions file (or a :class:`Predictions` in memory) against a store, as ``kspbench eval``.

    Args:
        predictions: a ``.h5``/``.npz`` file in the interchange format, or Predictions (millimetres; validated
            the same way, so metres or NaN are refused).
        store: the ground-truth pose store.
        protocol: a protocol name (``kspbench protocols``), a YAML path, or a loaded Protocol.
        out: also write the result JSON (+ per-frame file) there, atomically; then the predictions need a model
            name (their model block, a card or a baseline, or ``name``).
        name, meta: the model block (``meta`` as ``"supervision=...,trainset=..."``), as ``eval --name/--meta``.
        subjects, cameras, stride: split overrides (recorded; a narrowed split is labelled partial).
        allow_missing, allow_partial: as ``--allow-missing`` and ``--allow-partial``.

    Raises:
        PredictionsError, ConfigError, EvaluationError, ModelError, StoreError (all ValueError): one line each.
    """
    started = time.time()
    proto = _protocol(protocol).with_overrides(
        subjects=list(subjects or []), cameras=list(cameras or []), frame_stride=stride
    )
    if isinstance(predictions, Predictions):
        preds, path = validate_predictions(predictions, joint_order=joint_order), None
    else:
        preds, path = read_predictions(predictions, joint_order=joint_order), predictions
    model = model_block(preds.model, name=name, meta=meta, where=str(path or "predictions"))
    ev = evaluate(proto, store, preds, allow_missing=allow_missing, allow_partial=allow_partial)
    if out is not None:
        if path is None:
            raise PredictionsError(
                "out= needs predictions from a file (the result records its path and sha256): "
                "write them with kspbench.data.predictions.write_predictions first"
            )
        if model is None and not ({"card", "baseline"} & set(preds.attrs)):
            raise ModelError(f"{path}: the predictions carry no model name: pass name=..., which names the row")
        write_result(
            ev,
            out,
            store_path=store,
            predictions_path=path,
            predictions_attrs=preds.attrs,
            started=started,
            model=model,
        )
    return ev


def _blocks(n: int, groups: np.ndarray | None, block_frames: int) -> np.ndarray:
    """(N,) bootstrap block per frame: fixed chunks of ``block_frames`` within each run of one group label, so that
    no block straddles two strata (as evaluate() cuts chunks within one track)."""
    if groups is None:
        return np.arange(n) // block_frames
    change = np.r_[True, groups[1:] != groups[:-1]]
    run = np.cumsum(change) - 1
    pos = np.arange(n) - np.flatnonzero(change)[run]
    _, blocks = np.unique(run * (n // block_frames + 1) + pos // block_frames, return_inverse=True)
    return blocks.reshape(-1)


def evaluate_arrays(
    pred: Any,
    gt: Any,
    protocol: str | Protocol = "h36m-p2",
    *,
    actions: Any = None,
    joint_order: str = "h36m",
    allow_partial: bool = False,
) -> Evaluation:
    """Score matched poses in memory under a protocol's metrics, alignment and aggregation.

    Args:
        pred, gt: (N, 17, 3) millimetres, camera frame, in ``joint_order`` ("h36m", or "3dhp" for MPI-INF-3DHP's
            test order), frame i of ``pred`` matching frame i of ``gt``, frames in temporal order (the bootstrap
            interval cuts each run of consecutive frames with one action into the protocol's fixed blocks).
        actions: (N,) action label per frame. Required by protocols whose overall number is a mean over actions
            (h36m-p1, h36m-p2); checked against the actions the protocol declares (refused when some are absent,
            unless ``allow_partial``, then labelled partial).

    Raises:
        PredictionsError: shapes differ or are not (N, 17, 3), NaN/inf, metres (the message says: multiply by
            1000). EvaluationError: actions missing where the protocol needs them, or not covering it.
    """
    proto = _protocol(protocol)
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    for what, arr in (("pred", pred), ("gt", gt)):
        if arr.ndim != 3 or arr.shape[1:] != (skeleton.NUM_JOINTS, 3):
            raise PredictionsError(f"{what} must have shape (N, 17, 3), got {arr.shape}")
    if pred.shape != gt.shape or pred.shape[0] == 0:
        raise PredictionsError(
            f"pred and gt must hold the same number (> 0) of frames, got {pred.shape[0]} and {gt.shape[0]}"
        )
    if joint_order not in ("h36m", "3dhp"):
        raise PredictionsError(f"unknown joint order {joint_order!r}; use h36m or 3dhp")
    to_h36m = (lambda a: a[:, skeleton.MPI3DHP_TO_H36M]) if joint_order == "3dhp" else (lambda a: a)
    check_pose_values(to_h36m(pred), "pred")
    check_pose_values(to_h36m(gt), "gt")
    n = pred.shape[0]
    labels: dict[str, np.ndarray] = {}
    if actions is not None:
        labels["action"] = np.asarray(actions).astype(str).astype(object)
        if labels["action"].shape != (n,):
            raise EvaluationError(f"actions must have shape ({n},), got {labels['action'].shape}")
    if proto.overall == "mean_of_groups" and proto.group_by not in labels:
        raise EvaluationError(f"{proto.name} averages over {proto.group_by}s: pass {proto.group_by}s=(N,) labels")
    missing = {k: [] for k in ("subjects", "cameras")}
    if proto.actions and "action" in labels:
        present = set(labels["action"].tolist())
        missing["actions"] = [a for a in proto.actions if a not in present]
        if missing["actions"] and not allow_partial:
            raise EvaluationError(
                f"{proto.name} is not covered: the frames have {describe_missing(missing)}; pass "
                "allow_partial=True to score them as a partial result"
            )
    # Poses in the protocol's joint order, as evaluate() scores them.
    if proto.joint_order != joint_order:
        reorder = skeleton.H36M_TO_MPI3DHP if proto.joint_order == "3dhp" else skeleton.MPI3DHP_TO_H36M
        pred, gt = pred[:, reorder], gt[:, reorder]
    scorable = dataclasses.replace(proto, breakdowns=tuple(b for b in proto.breakdowns if b in labels))
    blocks = _blocks(n, labels.get(proto.group_by) if proto.overall == "mean_of_groups" else None, proto.block_frames)
    keys = {
        "subject": np.full(n, "arrays", dtype=object),
        "sequence": np.full(n, "arrays", dtype=object),
        "camera": np.full(n, "arrays", dtype=object),
        "frame": np.arange(n),
    }
    coverage = {
        "expected_frames": n,
        "evaluated_frames": n,
        "fraction": 1.0,
        "missing_by_track": {},
        "prediction_rows": n,
        "rows_outside_protocol": 0,
        "required": {"actions": list(proto.actions)},
        "missing": missing,
        "partial": any(missing.values()),
    }
    return score(Matched(pred=pred, gt=gt, keys=keys, labels=labels, blocks=blocks, coverage=coverage), scorable)
