"""The predictions interchange format: what a model hands to the protocols, validated on read.

A predictions file is ``.h5`` or ``.npz`` with N rows:

    poses_3d  (N, 17, 3) float   millimetres, camera coordinates, Human3.6M-17 joint order (``--joint-order 3dhp``
                                  accepts MPI-INF-3DHP's 17-joint test order and reorders it)
    subject   (N,) str           e.g. "S9", "TS3"
    sequence  (N,) str           e.g. "Directions 1", "TS3"
    camera    (N,) str           camera id as in the store, e.g. "54138969"
    frame     (N,) int           0-based frame index within the sequence

Optional model description (copied into every result): HDF5 root attributes, or in an ``.npz`` a key ``attrs``
holding a JSON object, e.g. ``{"card": "unsup", "seed": 0, "checkpoint_sha256": "..."}``. The attribute ``model``
(a JSON string) is the model block (:mod:`kspbench.data.identity`: name, supervision, trainset, citation, url) that
names the row in tables and leaderboards; in memory it is ``Predictions.model``.

Every check raises ``PredictionsError`` with one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kspbench.core import skeleton
from kspbench.data.identity import ModelError, decode_model
from kspbench.errors import KspbenchError

KEYS = ("poses_3d", "subject", "sequence", "camera", "frame")
JOINT_ORDERS = ("h36m", "3dhp")
# A human bone is 100-500 mm long; a median below this means the file is in metres.
_METRES_MEDIAN_BONE = 10.0
# No camera-frame coordinate of a person is 100 m away: anything beyond is wrong units or garbage.
_MAX_ABS_MM = 1e5


class PredictionsError(KspbenchError):
    """A predictions file is malformed; the message says what and how to fix it."""


@dataclass
class Predictions:
    """Rows of 3D pose predictions keyed by (subject, sequence, camera, frame)."""

    poses_3d: np.ndarray
    subject: np.ndarray
    sequence: np.ndarray
    camera: np.ndarray
    frame: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    model: dict[str, str] | None = None

    def __len__(self) -> int:
        return int(self.poses_3d.shape[0])

    def __repr__(self) -> str:
        # Compact: a notebook prints this; the arrays would be thousands of lines.
        def few(values: np.ndarray) -> str:
            u = sorted(set(np.asarray(values).astype(str).tolist()))
            return ",".join(u[:4]) + (f",... ({len(u)})" if len(u) > 4 else "")

        who = f", model={self.model['name']!r}" if self.model else ""
        tracks = len(set(zip(self.subject.tolist(), self.sequence.tolist())))
        return (
            f"Predictions(n={len(self)}, subjects={few(self.subject)}, sequences={tracks}, "
            f"cameras={few(self.camera)}{who})"
        )


def _as_str_array(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in ("S", "O"):
        arr = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel()]).reshape(arr.shape)
    return arr.astype(str)


def _load_raw(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        try:
            with h5py.File(path, "r") as h5:
                arrays = {k: h5[k][()] for k in h5.keys() if isinstance(h5[k], h5py.Dataset)}
                attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in h5.attrs.items()}
        except OSError:
            raise PredictionsError(f"{path}: not a readable HDF5 file (truncated or corrupt); re-export it") from None
        return arrays, _safe_attrs(path, attrs)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except ValueError as err:
            if "allow_pickle" in str(err):  # a pickled dict, as VideoPose3D writes its predictions
                raise PredictionsError(
                    f"{path}: holds pickled objects, not the predictions format (a VideoPose3D "
                    "dict subject -> action -> [array per camera]?): convert it with `kspbench "
                    "import-predictions videopose3d` (it reads pickles safely)"
                ) from None
            raise PredictionsError(f"{path}: not a readable .npz file (ValueError); re-export it") from None
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise PredictionsError(
                f"{path}: not a readable .npz file ({type(err).__name__}); re-export it "
                "(object arrays are refused: save strings as str arrays)"
            ) from None
        attrs: dict[str, Any] = {}
        if "attrs" in arrays:
            raw = arrays.pop("attrs")
            try:
                attrs = json.loads(str(raw)) if raw.shape == () and raw.dtype.kind in "US" else None
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                attrs = None
            if not isinstance(attrs, dict):
                raise PredictionsError(f"{path}: key 'attrs' must hold a JSON object (a 0-d string array)")
        return arrays, _safe_attrs(path, attrs)
    raise PredictionsError(
        f"{path}: unknown predictions format {suffix!r}; use .h5 or .npz (MMPose results or a CSV: "
        "convert them with `kspbench import-predictions mmpose|csv`)"
    )


def _safe_attrs(path: Path, attrs: dict[str, Any]) -> dict[str, Any]:
    """Model attributes restricted to what a result JSON can hold exactly: strings, finite numbers, booleans, null.

    They are copied into every result; anything else (non-UTF-8 bytes, complex numbers, arrays, nested objects,
    NaN) would crash a later reader or make the JSON invalid for strict parsers, so it is refused here, by name.
    """
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise PredictionsError(
                    f"{path}: attribute {key!r} holds bytes that are not UTF-8 text; store "
                    "model attributes as strings or numbers"
                ) from None
        if isinstance(value, float) and not np.isfinite(value):
            raise PredictionsError(
                f"{path}: attribute {key!r} is {value}; attributes must be finite numbers, "
                "strings or booleans (JSON has no NaN/inf)"
            )
        if value is not None and not isinstance(value, (str, bool, int, float)):
            raise PredictionsError(
                f"{path}: attribute {key!r} is a {type(value).__name__}; attributes must be "
                "strings, finite numbers, booleans or null (encode structures as a JSON string)"
            )
        out[str(key)] = value
    return out


def read_predictions(path: str | os.PathLike, *, joint_order: str = "h36m") -> Predictions:
    """Read and validate a predictions file.

    Args:
        path: ``.h5`` or ``.npz`` file in the interchange format (module docstring).
        joint_order: ``"h36m"`` (default) or ``"3dhp"`` for files in MPI-INF-3DHP's test order.

    Returns:
        Predictions in the Human3.6M-17 order, poses as float64 mm.

    Raises:
        PredictionsError: missing file or key, wrong shape or joint count, NaN/inf, metres instead of millimetres,
            duplicate rows.
    """
    path = Path(path)
    if joint_order not in JOINT_ORDERS:
        raise PredictionsError(f"unknown joint order {joint_order!r}; use one of {', '.join(JOINT_ORDERS)}")
    if not path.is_file():
        raise PredictionsError(f"{path}: no such predictions file")
    arrays, attrs = _load_raw(path)
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise PredictionsError(
            f"{path}: missing key(s) {', '.join(missing)}; a predictions file needs "
            f"{', '.join(KEYS)} (see README, 'Predictions format')"
        )
    model = None
    if "model" in attrs:
        try:
            model = decode_model(attrs.pop("model"), str(path))
        except ModelError as err:
            raise PredictionsError(str(err)) from None
    return validate_predictions(arrays, attrs, model=model, joint_order=joint_order, where=str(path))


def validate_predictions(
    arrays: dict[str, Any] | Predictions,
    attrs: dict[str, Any] | None = None,
    *,
    model: dict[str, str] | None = None,
    joint_order: str = "h36m",
    where: str = "predictions",
) -> Predictions:
    """The checks of :func:`read_predictions` on arrays in memory (a dict of the five keys, or a Predictions).

    Returns:
        Predictions in the Human3.6M-17 order, poses as float64 mm (a new object; the input is not changed).

    Raises:
        PredictionsError: wrong shape or joint count, NaN/inf, metres instead of millimetres, duplicate rows.
    """
    if isinstance(arrays, Predictions):
        attrs = dict(arrays.attrs) if attrs is None else attrs
        model = arrays.model if model is None else model
        arrays = {k: getattr(arrays, k) for k in KEYS}
    if joint_order not in JOINT_ORDERS:
        raise PredictionsError(f"unknown joint order {joint_order!r}; use one of {', '.join(JOINT_ORDERS)}")
    path = where
    poses = np.asarray(arrays["poses_3d"])
    if poses.ndim != 3 or poses.shape[2] != 3:
        raise PredictionsError(f"{path}: poses_3d must have shape (N, 17, 3), got {poses.shape}")
    if poses.shape[1] != skeleton.NUM_JOINTS:
        raise PredictionsError(
            f"{path}: poses_3d has {poses.shape[1]} joints, expected 17 "
            f"(shape (N, 17, 3), got {poses.shape}); export all 17 joints in the "
            f"{'Human3.6M' if joint_order == 'h36m' else 'MPI-INF-3DHP test'} order"
        )
    if poses.dtype.kind not in "fiu":
        raise PredictionsError(f"{path}: poses_3d must be numeric, got dtype {poses.dtype}")
    n = poses.shape[0]
    if n == 0:
        raise PredictionsError(f"{path}: the file holds no prediction")
    for key in KEYS[1:]:
        if np.asarray(arrays[key]).shape != (n,):
            raise PredictionsError(
                f"{path}: {key} must have shape ({n},) like poses_3d, got {np.asarray(arrays[key]).shape}"
            )
    poses = poses.astype(np.float64)
    if joint_order == "3dhp":
        poses = poses[:, skeleton.MPI3DHP_TO_H36M]  # before the checks: bone lengths need the H36M order
    check_pose_values(poses, path)
    frame = np.asarray(arrays["frame"])
    if frame.dtype.kind not in "iu" or (frame < 0).any():
        raise PredictionsError(f"{path}: frame must hold non-negative integers (0-based), got dtype {frame.dtype}")
    preds = Predictions(
        poses_3d=poses,
        subject=_as_str_array(arrays["subject"]),
        sequence=_as_str_array(arrays["sequence"]),
        camera=_as_str_array(arrays["camera"]),
        frame=frame.astype(np.int64),
        attrs=dict(attrs or {}),
        model=model,
    )
    dup = _duplicate_rows(preds)
    if dup:
        raise PredictionsError(
            f"{path}: {dup[0]} duplicate row(s), e.g. {dup[1]}; give each (subject, sequence, camera, frame) once"
        )
    return preds


def check_pose_values(poses: np.ndarray, where: str) -> None:
    """Refuse (N, 17, 3) poses that are not finite millimetres: NaN/inf, 1e5 mm or more, or metres (bones < 10).

    Raises:
        PredictionsError: naming ``where``, the first bad row and the fix.
    """
    path, n = where, poses.shape[0]
    bad = ~np.isfinite(poses).all(axis=(1, 2))
    if bad.any():
        raise PredictionsError(
            f"{path}: poses_3d has NaN or inf in {int(bad.sum())} of {n} rows "
            f"(first at row {int(np.flatnonzero(bad)[0])}); predict every joint"
        )
    big = np.abs(poses).max(axis=(1, 2)) >= _MAX_ABS_MM
    if big.any():
        raise PredictionsError(
            f"{path}: poses_3d has coordinates of {np.abs(poses).max():.3g} mm or more in "
            f"{int(big.sum())} of {n} rows (first at row {int(np.flatnonzero(big)[0])}); a "
            f"person is never {_MAX_ABS_MM:.0e} mm from the camera: check the units (millimetres "
            "expected) and the export"
        )
    bones = np.linalg.norm(poses[:, 1:] - poses[:, list(skeleton.PARENTS[1:])], axis=-1)
    if np.median(bones) < _METRES_MEDIAN_BONE:
        raise PredictionsError(
            f"{path}: median bone length is {np.median(bones):.3g}, which looks like metres; "
            "kspbench expects millimetres: multiply poses_3d by 1000"
        )


def frame_stride(preds: Predictions) -> int:
    """The largest k with every predicted frame a multiple of k: 5 for MMPose's fps10 files (0 for frame 0 only)."""
    return int(np.gcd.reduce(preds.frame)) if len(preds) else 0


def row_keys(subject: np.ndarray, sequence: np.ndarray, camera: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(N,) structured keys for matching rows across files: one record per (subject, sequence, camera, frame)."""
    keys = np.empty(
        len(frame), dtype=[("subject", object), ("sequence", object), ("camera", object), ("frame", np.int64)]
    )
    keys["subject"], keys["sequence"], keys["camera"], keys["frame"] = subject, sequence, camera, frame
    return keys


def _duplicate_rows(preds: Predictions) -> tuple[int, str] | None:
    order = np.lexsort((preds.frame, preds.camera, preds.sequence, preds.subject))
    s, q, c, f = (a[order] for a in (preds.subject, preds.sequence, preds.camera, preds.frame))
    same = (s[1:] == s[:-1]) & (q[1:] == q[:-1]) & (c[1:] == c[:-1]) & (f[1:] == f[:-1])
    if not same.any():
        return None
    i = int(np.flatnonzero(same)[0])
    return int(same.sum()), f"({s[i]}, {q[i]}, {c[i]}, frame {f[i]})"


def write_predictions(path: str | os.PathLike, preds: Predictions) -> None:
    """Write predictions atomically (a unique temporary file, then rename); format from the suffix (.h5 or .npz).

    Attributes that are structures (dicts, lists) are written as JSON strings, in both formats.
    """
    from kspbench.infra.atomic import temporary_path

    path = Path(path)
    attrs = {k: json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for k, v in preds.attrs.items()}
    if preds.model:
        attrs["model"] = json.dumps(preds.model)
    with temporary_path(path) as tmp:
        if path.suffix.lower() == ".npz":
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(
                    f,
                    poses_3d=preds.poses_3d,
                    subject=preds.subject.astype(str),
                    sequence=preds.sequence.astype(str),
                    camera=preds.camera.astype(str),
                    frame=preds.frame,
                    attrs=np.array(json.dumps(attrs)),
                )
        else:
            with h5py.File(tmp, "w") as h5:
                h5["poses_3d"] = np.asarray(preds.poses_3d, np.float32)
                for key in ("subject", "sequence", "camera"):
                    h5.create_dataset(
                        key, data=getattr(preds, key).astype(str).astype(object), dtype=h5py.string_dtype()
                    )
                h5["frame"] = preds.frame.astype(np.int64)
                for k, v in attrs.items():
                    h5.attrs[k] = "" if v is None else v
