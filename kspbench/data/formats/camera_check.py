"""Does a camera explain the annotations? Pinhole fits from 2D/3D joint pairs and reprojection checks.

A dataset's 2D joints (px) should be its camera-frame 3D joints seen through its camera. Two uses:

* :func:`fit_pinhole` estimates ``fx, fy, cx, cy`` (no distortion, no skew) where a release gives no principal
  point (the MPI-INF-3DHP test sequences): with ``x = X/Z``, ``y = Y/Z`` the model ``u = fx x + cx``,
  ``v = fy y + cy`` is linear in the unknowns, so two ordinary least-squares problems minimise the pixel residual
  directly. (MMPose's ``preprocess_mpi_inf_3dhp.py`` solves ``u Z = fx X + cx Z`` instead, which weights each joint by
  its depth; the minimisers agree when the annotations are consistent.)
* :func:`reprojection` measures how far the projection of the 3D joints with a camera (the Human3.6M model of
  :func:`kspbench.data.formats.project`, distortion included) lands from the 2D joints; :func:`require` refuses a camera
  whose mean error exceeds :data:`MAX_MEAN_PX` or whose worst joint exceeds :data:`MAX_WORST_PX`.

The limits are far above rounding (the published data reproject to well under 1 px) and far below what a wrong
camera, unit, joint order or frame alignment produces (tens to hundreds of pixels).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from kspbench.data.formats import FormatError, project
from kspbench.data.store import Intrinsics

# Refuse a camera whose mean reprojection error over the checked joints is above this many pixels...
MAX_MEAN_PX = 2.0
# ... or whose single worst joint is above this many (one grossly wrong frame or joint).
MAX_WORST_PX = 20.0


@dataclass(frozen=True)
class Reprojection:
    """Distances between projected 3D joints and 2D joints over the checked frames and joints (pixels)."""

    mean_px: float
    worst_px: float
    joints: int

    def attrs(self) -> dict[str, float | int]:
        """Camera-group attributes of the store (``reprojection_mean_px``, ``reprojection_worst_px``, ...)."""
        return {
            "reprojection_mean_px": self.mean_px,
            "reprojection_worst_px": self.worst_px,
            "reprojection_joints": self.joints,
        }

    def text(self) -> str:
        return f"mean {self.mean_px:.3g} px, worst {self.worst_px:.3g} px over {self.joints} joints"


def _finite_pairs(cam3d: np.ndarray, pose2d: np.ndarray, frames: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(M, 3)`` and ``(M, 2)`` joint pairs of the selected frames, both finite and in front of the camera."""
    cam3d = np.asarray(cam3d, np.float64)
    pose2d = np.asarray(pose2d, np.float64)
    if frames is not None:
        cam3d, pose2d = cam3d[np.asarray(frames, bool)], pose2d[np.asarray(frames, bool)]
    cam3d, pose2d = cam3d.reshape(-1, 3), pose2d.reshape(-1, 2)
    ok = np.isfinite(cam3d).all(1) & np.isfinite(pose2d).all(1) & (cam3d[:, 2] > 0)
    return cam3d[ok], pose2d[ok]


def fit_pinhole(
    cam3d: np.ndarray, pose2d: np.ndarray, frames: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``(focal (2,), center (2,))`` in pixels of a distortion-free pinhole camera.

    Args:
        cam3d: ``(N, J, 3)`` camera-frame joints (any length unit: only ``X/Z`` and ``Y/Z`` enter).
        pose2d: ``(N, J, 2)`` pixels.
        frames: ``(N,)`` bool, the frames to fit on (default all); non-finite joints and joints behind the camera
            are left out.

    Raises:
        FormatError: fewer than 3 usable joints, or joints that do not determine the camera (all on one ray).
    """
    xyz, uv = _finite_pairs(cam3d, pose2d, frames)
    if len(xyz) < 3:
        raise FormatError(f"only {len(xyz)} usable joint(s): too few to fit a camera")
    xy = xyz[:, :2] / xyz[:, 2:]
    focal, center = np.empty(2), np.empty(2)
    for axis in range(2):
        design = np.stack([xy[:, axis], np.ones(len(xy))], axis=1)
        (f, c), _, rank, _ = np.linalg.lstsq(design, uv[:, axis], rcond=None)
        if rank < 2:
            raise FormatError("the joints do not determine a camera (no spread in the image)")
        focal[axis], center[axis] = f, c
    return focal, center


def reprojection(
    cam3d: np.ndarray, pose2d: np.ndarray, intrinsics: Intrinsics, frames: np.ndarray | None = None
) -> Reprojection:
    """Pixel distances between ``project(cam3d)`` and ``pose2d`` (``(N, J, 3)``, ``(N, J, 2)``) on ``frames``."""
    xyz, uv = _finite_pairs(cam3d, pose2d, frames)
    if not len(xyz):
        return Reprojection(mean_px=float("nan"), worst_px=float("nan"), joints=0)
    err = np.linalg.norm(project(xyz, intrinsics) - uv, axis=1)
    return Reprojection(mean_px=float(err.mean()), worst_px=float(err.max()), joints=int(len(err)))


def require(check: Reprojection, where: str | os.PathLike, camera: str) -> None:
    """Raise unless ``check`` is within :data:`MAX_MEAN_PX` and :data:`MAX_WORST_PX` (one line naming ``where``)."""
    if check.joints == 0:
        raise FormatError(f"{where}: {camera}: no finite joint in front of the camera to check it with")
    if not (check.mean_px <= MAX_MEAN_PX and check.worst_px <= MAX_WORST_PX):
        raise FormatError(
            f"{where}: {camera} does not reproduce the 2D annotations ({check.text()}; limits "
            f"{MAX_MEAN_PX:g} px mean, {MAX_WORST_PX:g} px worst): wrong camera, units, joint order "
            "or frames"
        )
