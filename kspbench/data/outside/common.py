"""Shared by the outside readers: units, joint order, sequence names, assembling tracks, the frame stride."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats import UNIT_NAMES, FormatError, detect_units
from kspbench.data.formats.h36m_cdf import canonical_name
from kspbench.data.outside import UNITS
from kspbench.data.predictions import Predictions, frame_stride
from kspbench.errors import KspbenchError

__all__ = ["OutsideError", "Imported", "to_millimetres", "sequence_name", "reorder", "assemble", "stride_hint"]


class OutsideError(KspbenchError):
    """An outside predictions file cannot be converted; the message names the file and the fix."""


@dataclass
class Imported:
    """What a reader made of a file: the predictions and one-line notes for the user (dropped rows, units)."""

    predictions: Predictions
    units: str  # the units found in the file: "m" or "mm"
    notes: list[str] = field(default_factory=list)


def to_millimetres(poses: np.ndarray, units: str, where: str) -> tuple[np.ndarray, str]:
    """(N, 17, 3) poses in the file's units -> millimetres, and the units they were in.

    ``units="auto"`` judges by the median bone length (:func:`kspbench.data.formats.detect_units`); a given unit is
    checked the same way, so that a wrong ``--units`` is refused rather than scaled by 1000.

    Raises:
        OutsideError: an unknown unit, or a given unit the bone lengths contradict.
    """
    if units not in UNITS:
        raise OutsideError(f"--units must be one of {', '.join(UNITS)}, got {units!r}")
    looks, med = detect_units(poses)
    if looks is None:
        raise OutsideError(f"{where}: no pose with finite, distinct joints: cannot tell the units")
    if units != "auto" and units != looks:
        raise OutsideError(
            f"{where}: --units {units} but the median bone length is {med:.4g}, which is "
            f"{UNIT_NAMES[looks]}; drop --units (detected) or fix the export"
        )
    return (poses * 1000.0 if looks == "m" else poses), looks


def sequence_name(action: str) -> str:
    """An action key as the store names the sequence: ``Directions_1`` -> ``Directions 1``, ``TakingPhoto 1`` ->
    ``Photo 1``, ``WalkingDog`` -> ``WalkDog``; a name that is not a Human3.6M action (``TS1``) is kept as given."""
    try:
        return canonical_name(action.strip().replace("_", " "))[1]
    except FormatError:
        return action


def reorder(poses: np.ndarray, joint_order: str) -> np.ndarray:
    """(N, 17, 3) poses in ``joint_order`` ("h36m" or "3dhp", MPI-INF-3DHP's test order) -> Human3.6M-17 order."""
    if joint_order == "h36m":
        return poses
    if joint_order == "3dhp":
        return poses[:, skeleton.MPI3DHP_TO_H36M]
    raise OutsideError(f"--joint-order must be h36m or 3dhp, got {joint_order!r}")


def assemble(
    poses: list[np.ndarray],
    subject: list[str],
    sequence: list[str],
    camera: list[str],
    frame: list[np.ndarray],
    *,
    units: str,
    joint_order: str,
    where: str,
) -> tuple[Predictions, str]:
    """Per-track parts -> one :class:`Predictions` (mm, H36M order, model block unset) and the units found.

    Args:
        poses: one (n_i, 17, 3) array per track; ``frame``: one (n_i,) int array per track (0-based);
        subject, sequence, camera: one name per track.
    """
    if not poses or sum(p.shape[0] for p in poses) == 0:
        raise OutsideError(f"{where}: no prediction in the file")
    counts = [p.shape[0] for p in poses]
    allp = reorder(np.concatenate(poses).astype(np.float64), joint_order)
    allp, found = to_millimetres(allp, units, where)
    preds = Predictions(
        poses_3d=allp,
        subject=np.repeat(np.array(subject, dtype=str), counts),
        sequence=np.repeat(np.array(sequence, dtype=str), counts),
        camera=np.repeat(np.array(camera, dtype=str), counts),
        frame=np.concatenate(frame).astype(np.int64),
    )
    return preds, found


def stride_hint(preds: Predictions) -> str | None:
    """ "every 5th frame: score with `kspbench eval --stride 5`" when the frames are every k-th (MMPose's fps10)."""
    k = frame_stride(preds)
    if k > 1:
        return (
            f"the predictions hold one frame in {k} only (0, {k}, {2 * k}, ...): score them with "
            f"`kspbench eval --stride {k}` (the protocols want every frame; the override is recorded)"
        )
    return None
