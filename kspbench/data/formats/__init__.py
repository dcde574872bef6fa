"""Readers of the raw dataset files: Human3.6M CDF, MPI-INF-3DHP MAT, VideoPose3D npz, plain image folders.

Each reader turns raw files into :class:`kspbench.data.store.SequenceData` records (millimetres, pixels, Human3.6M-17
joint order); it never writes a store and has no command line (``kspbench.data.importers`` and
``kspbench.cli.data_import`` do that). Every problem with an input file raises :class:`FormatError` with one line naming
the file and the problem.

Shared here: the error type, the unit check, and the camera geometry of the store (``X_cam = R X_world + t``; the
Human3.6M projection with radial and tangential distortion).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kspbench.core import skeleton
from kspbench.data.store import Intrinsics, SequenceData
from kspbench.errors import KspbenchError

# A human bone is 100-500 mm long: a median bone below this many units means the numbers are metres.
METRES_MEDIAN_BONE = 10.0
UNIT_NAMES = {"m": "metres", "mm": "millimetres"}


class FormatError(KspbenchError):
    """A raw dataset file or folder is missing, corrupt or not in the documented layout (one line: file + problem)."""


@dataclass
class SequenceJob:
    """One sequence an importer can write: found by a cheap scan, read (``load``) only when it is written.

    Attributes:
        subject, sequence: where it goes in the store.
        label: short text for the progress bar.
        load: reads the raw files and returns the record; raises :class:`FormatError`.
        notes: what the scan found worth recording (truncations, known defects); copied into the store's ``source``.
        checks: results of the consistency checks (camera reprojection, agreement with the published cameras), one
            line each; ``load`` may append to this list (the importer collects it after loading) and the lines go
            into the store's ``source`` and the import report.
    """

    subject: str
    sequence: str
    label: str
    load: Callable[[], SequenceData]
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


def median_bone_length(pose: np.ndarray) -> float:
    """Median over frames and bones of the 16 bone lengths of ``(..., 17, 3)`` poses (NaN frames ignored)."""
    pose = np.asarray(pose, np.float64).reshape(-1, skeleton.NUM_JOINTS, 3)
    bones = np.linalg.norm(pose[:, 1:] - pose[:, list(skeleton.PARENTS[1:])], axis=-1)
    bones = bones[np.isfinite(bones)]
    return float(np.median(bones)) if bones.size else float("nan")


def detect_units(pose: np.ndarray) -> tuple[str | None, float]:
    """The unit ``(..., 17, 3)`` poses look like, "m" or "mm", and their median bone length: a median below
    :data:`METRES_MEDIAN_BONE` means metres, otherwise millimetres; None when no bone can be judged (no finite
    frame, or all joints on one point)."""
    med = median_bone_length(pose)
    if not np.isfinite(med) or med == 0.0:
        return None, med
    return ("m" if med < METRES_MEDIAN_BONE else "mm"), med


def check_units(pose: np.ndarray, expected: str, where: str | os.PathLike) -> None:
    """Raise unless ``(..., 17, 3)`` poses are in the ``expected`` unit ("mm" or "m"), judged by bone lengths
    (:func:`detect_units`)."""
    looks, med = detect_units(pose)
    if looks is None:
        return  # no usable frame: nothing to judge (all-NaN frames are caught by the store's NaN policy)
    if looks != expected:
        raise FormatError(
            f"{where}: median bone length is {med:.4g}, which looks like {UNIT_NAMES[looks]}; this "
            f"file must hold {UNIT_NAMES[expected]} (mixed units in one dataset are refused)"
        )


# --- camera geometry -----------------------------------------------------------------------------------------------


def world_to_camera(world: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """``(..., 3)`` world points -> camera frame: ``X_cam = R X_world + t`` (column vectors), same unit as ``t``."""
    return np.asarray(world, np.float64) @ np.asarray(rotation, np.float64).T + np.asarray(translation, np.float64)


def camera_to_world(cam: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`world_to_camera`: ``X_world = R^T (X_cam - t)``."""
    return (np.asarray(cam, np.float64) - np.asarray(translation, np.float64)) @ np.asarray(rotation, np.float64)


def project(cam: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Human3.6M camera model: ``(..., 3)`` camera-frame points -> ``(..., 2)`` pixels.

    With ``x = X/Z, y = Y/Z``, ``r2 = x^2 + y^2``: ``d = 1 + k1 r2 + k2 r2^2 + k3 r2^3 + p1 x + p2 y``,
    ``x' = x d + p1 r2``, ``y' = y d + p2 r2``, ``u = fx x' + cx``, ``v = fy y' + cy`` (the model of the Human3.6M
    release, re-implemented by VideoPose3D ``common/camera.py::project_to_2d``; VideoPose3D additionally clamps
    ``x, y`` to [-1, 1], which only matters for points more than 45 degrees off axis, outside every H36M image).
    """
    cam = np.asarray(cam, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = cam[..., :2] / cam[..., 2:3]
    k = np.asarray(intr.radial, np.float64)
    p = np.asarray(intr.tangential, np.float64)
    r2 = np.sum(xy**2, axis=-1, keepdims=True)
    radial = 1.0 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = np.sum(p * xy, axis=-1, keepdims=True)
    xy_d = xy * (radial + tan) + p * r2
    return xy_d * np.asarray(intr.focal, np.float64) + np.asarray(intr.center, np.float64)


def rigid_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares proper rotation and translation with ``dst ~= R src + t`` (Kabsch, no scale, no reflection).

    Args:
        src, dst: ``(M, 3)`` corresponding points (non-finite rows ignored).

    Returns:
        ``(R (3, 3), t (3,), rms residual)``.
    """
    src, dst = np.asarray(src, np.float64).reshape(-1, 3), np.asarray(dst, np.float64).reshape(-1, 3)
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    src, dst = src[ok], dst[ok]
    if src.shape[0] < 3:
        raise FormatError("too few finite points to fit a rigid transform")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    h = (src - mu_s).T @ (dst - mu_d)
    u, _, vt = np.linalg.svd(h)
    # Reflection fix: flip the last singular direction so that det(R) = +1.
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    t = mu_d - rot @ mu_s
    rms = float(np.sqrt(np.mean(np.sum((src @ rot.T + t - dst) ** 2, axis=1))))
    return rot, t, rms
