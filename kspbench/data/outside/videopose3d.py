"""VideoPose3D-style predictions: an npz holding a pickled dict ``{subject: {action: [array per camera]}}``.

Layout read (the shape of VideoPose3D's ``positions_3d`` and of ``kspbench data export videopose3d``):

    key (default ``positions_3d``): a pickled dict subject -> action -> list of one (N, 17, 3) float array per
        camera, camera frame, Human3.6M-17 order (``--joint-order 3dhp`` for MPI-INF-3DHP's test order), metres or
        millimetres (detected from bone lengths, or ``--units``, checked); frame i of an array is frame i of the
        sequence. A camera without predictions may be an empty (0, 17, 3) array; rows that are NaN (frames without
        a prediction, as ``kspbench data export`` writes them) are left out and counted.
    key ``metadata`` (optional): a dict; its ``camera_order`` is used when ``--cameras`` is not given.

The camera of each array is explicit: ``--cameras`` (a comma-separated list, one id per array), else the file's
``metadata.camera_order``, else Human3.6M's order ``54138969, 55011271, 58860488, 60457274``
(:data:`kspbench.data.formats.h36m_cameras.CAMERA_IDS`, the order of VideoPose3D's ``h36m_cameras_intrinsic_params``). A
list whose length differs from the camera order is refused. Actions become sequence names as in the store
(``TakingPhoto 1`` -> ``Photo 1``; :func:`kspbench.data.outside.sequence_name`).

The pickles are read by :func:`kspbench.data.formats.vp3d_npz.load_pickled_dict`: only dicts, lists, strings, numbers
and numpy arrays are built; a file whose pickles reference anything else is refused and nothing in it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats import FormatError, h36m_cameras
from kspbench.data.formats.vp3d_npz import load_pickled_dict
from kspbench.data.outside import VP3D_KEY
from kspbench.data.outside.common import Imported, OutsideError, assemble, sequence_name


def camera_order(cameras: list[str] | None, metadata: Any) -> tuple[list[str], str]:
    """The camera id of each array in a list, and where the order came from (for the summary line)."""
    if cameras:
        return list(cameras), "--cameras"
    if isinstance(metadata, dict) and isinstance(metadata.get("camera_order"), (list, tuple)):
        return [str(c) for c in metadata["camera_order"]], "the file's metadata.camera_order"
    return list(h36m_cameras.CAMERA_IDS), "Human3.6M's order (default)"


def read_videopose3d(
    path: str | os.PathLike,
    *,
    key: str = VP3D_KEY,
    cameras: list[str] | None = None,
    units: str = "auto",
    joint_order: str = "h36m",
) -> Imported:
    """Read a VideoPose3D-style predictions npz (module docstring).

    Raises:
        OutsideError: unreadable or crafted file, a missing key, a list whose length differs from the camera
            order, an array that is not (N, 17, 3) numbers, units that contradict ``units``.
    """
    path = Path(path)
    try:
        data, others = load_pickled_dict(path, key)
    except FormatError as err:
        raise OutsideError(str(err)) from None
    order, source = camera_order(cameras, others.get("metadata"))
    parts: dict[str, list] = {"poses": [], "subject": [], "sequence": [], "camera": [], "frame": []}
    dropped = 0
    for subject in sorted(data, key=str):
        actions = data[subject]
        if not isinstance(actions, dict):
            raise OutsideError(f"{path}: {key}[{subject!r}] must be a dict action -> list of per-camera arrays")
        for action in sorted(actions, key=str):
            where = f"{path} [{subject}/{action}]"
            arrays = actions[action]
            if isinstance(arrays, np.ndarray) and arrays.dtype != object:
                arrays = [arrays]  # one camera: a bare array is its own list
            if not isinstance(arrays, (list, tuple, np.ndarray)) or len(arrays) != len(order):
                got = len(arrays) if isinstance(arrays, (list, tuple, np.ndarray)) else type(arrays).__name__
                raise OutsideError(
                    f"{where}: {got} per-camera arrays but the camera order ({source}) has "
                    f"{len(order)}: {', '.join(order)}; pass --cameras with one id per array"
                )
            for cam, arr in zip(order, arrays):
                arr = np.asarray(arr)
                if arr.size == 0:
                    continue
                if arr.dtype.kind not in "fiu" or arr.ndim != 3 or arr.shape[1:] != (skeleton.NUM_JOINTS, 3):
                    raise OutsideError(
                        f"{where} camera {cam}: expected an (N, 17, 3) array of numbers, got {arr.dtype} {arr.shape}"
                    )
                keep = np.isfinite(arr).all(axis=(1, 2))
                dropped += int((~keep).sum())
                if not keep.any():
                    continue
                parts["poses"].append(arr[keep].astype(np.float64))
                parts["subject"].append(str(subject))
                parts["sequence"].append(sequence_name(str(action)))
                parts["camera"].append(cam)
                parts["frame"].append(np.flatnonzero(keep))
    preds, found = assemble(
        parts["poses"],
        parts["subject"],
        parts["sequence"],
        parts["camera"],
        parts["frame"],
        units=units,
        joint_order=joint_order,
        where=str(path),
    )
    notes = [f"cameras in the order of {source}: {', '.join(order)}"]
    if dropped:
        notes.append(
            f"{dropped} frame(s) held NaN (no prediction) and were left out; `kspbench eval` counts them as missing"
        )
    return Imported(preds, found, notes)
