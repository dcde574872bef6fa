"""Cameras of the world: Human3.6M's four (published intrinsics and extrinsics), 3DHP-like studio and outdoor
cameras, hand-held moving cameras for the unpaired clips, and per-sample cameras for the prior role.

Conventions as the store's: ``X_cam = R X_world + t`` (mm), camera x right, y down, z forward; pinhole intrinsics in
pixels with pixel centres at integer coordinates. Rendered frames are ``native size x frame_scale``; the intrinsics
are scaled with them (``c' = (c + 0.5) s - 0.5``) and recorded as used. The world renders without lens distortion,
so the stored radial/tangential coefficients are zero (Human3.6M's real ones are not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kspbench.data.formats import h36m_cameras
from kspbench.world.render import View

MPI3DHP_STUDIO = {"focal": (1497.7, 1497.0), "center": (1024.7, 1051.5), "size": (2048, 2048)}
MPI3DHP_OUTDOOR = {"focal": (1683.5, 1683.0), "center": (939.9, 560.1), "size": (1920, 1080)}
DUNP_SIZE = (1280, 720)


@dataclass(frozen=True)
class Intr:
    focal: tuple
    center: tuple
    width: int
    height: int


def scaled(focal, center, size, scale: float) -> Intr:
    w, h = int(round(size[0] * scale)), int(round(size[1] * scale))
    c = (np.asarray(center, float) + 0.5) * scale - 0.5
    f = np.asarray(focal, float) * scale
    return Intr(focal=tuple(float(v) for v in f), center=tuple(float(v) for v in c), width=w, height=h)


def h36m_intrinsics(camera_id: str, scale: float) -> Intr:
    p = h36m_cameras.INTRINSICS[camera_id]
    return scaled(p["focal"], p["center"], p["res"], scale)


def h36m_extrinsics(subject: str, camera_id: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The subject's published calibration; subjects without one (e.g. S2) get S1's, re-calibrated with a small
    perturbation (a few cm, a fraction of a degree), as a new capture session would."""
    if h36m_cameras.has_extrinsics(subject):
        return h36m_cameras.extrinsics(subject, camera_id)
    rot, t = h36m_cameras.extrinsics("S1", camera_id)
    centre = -rot.T @ t + rng.normal(0, 30.0, 3)
    small = rotation_about(rng.normal(size=3), np.radians(rng.uniform(0.2, 0.6)))
    rot = small @ rot
    return rot, -rot @ centre


def rotation_about(axis, angle: float) -> np.ndarray:
    axis = np.asarray(axis, float)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def look_at(
    centre: np.ndarray, target: np.ndarray, roll_deg: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera rotation(s) and translation(s) of a camera at ``centre`` looking at ``target`` (z up world).

    Works on (3,) or (N, 3) inputs; ``roll_deg`` turns the image clockwise on screen.
    """
    centre = np.asarray(centre, float)
    target = np.asarray(target, float)
    fwd = target - centre
    fwd = fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(fwd, up)
    right = right / np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd], axis=-2)
    roll = np.radians(np.asarray(roll_deg, float))
    c, s = np.cos(roll), np.sin(roll)
    rz = np.zeros(np.shape(roll) + (3, 3))
    rz[..., 0, 0], rz[..., 0, 1], rz[..., 1, 0], rz[..., 1, 1], rz[..., 2, 2] = c, -s, s, c, 1.0
    rot = rz @ rot
    t = -np.einsum("...ij,...j->...i", rot, centre)
    return rot, t


def view(intr: Intr, rot: np.ndarray, t: np.ndarray) -> View:
    return View(
        focal=np.array(intr.focal),
        center=np.array(intr.center),
        rotation=np.asarray(rot, float),
        translation=np.asarray(t, float),
        width=intr.width,
        height=intr.height,
    )


def mpi3dhp_camera(
    rng: np.random.Generator,
    outdoor: bool,
    scale: float,
    azimuth: float | None = None,
    height_range=(600.0, 2700.0),
    distance_range=(3000.0, 4800.0),
) -> tuple[Intr, np.ndarray, np.ndarray]:
    """A 3DHP-like static camera: studio (2048 x 2048) or outdoor (1920 x 1080), at a wide range of heights."""
    spec = MPI3DHP_OUTDOOR if outdoor else MPI3DHP_STUDIO
    jitter = rng.normal(0, 10.0, 2)
    intr = scaled(np.asarray(spec["focal"]) + jitter, spec["center"], spec["size"], scale)
    az = rng.uniform(0, 2 * np.pi) if azimuth is None else azimuth
    dist = rng.uniform(*distance_range) * (1.3 if outdoor else 1.0)
    centre = np.array([dist * np.cos(az), dist * np.sin(az), rng.uniform(*height_range)])
    target = np.array([rng.normal(0, 150), rng.normal(0, 150), rng.uniform(800, 1100)])
    rot, t = look_at(centre, target, rng.normal(0, 1.5))
    return intr, rot, t


def handheld_track(rng: np.random.Generator, pelvis: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """A moving camera following a person: pan from a fixed spot, dolly alongside, or orbit; with hand shake.

    Args:
        pelvis: (N, 3) world pelvis positions of the person to follow.

    Returns:
        rotations (N, 3, 3), translations (N, 3), and a description.
    """
    n = pelvis.shape[0]
    t = np.arange(n) / fps
    mode = ("pan", "dolly", "orbit")[rng.integers(3)]
    alpha = 1.0 - np.exp(-1.0 / (fps * rng.uniform(0.3, 0.8)))  # the operator's lag
    target = np.empty_like(pelvis)
    target[0] = pelvis[0]
    for i in range(1, n):
        target[i] = target[i - 1] + alpha * (pelvis[i] - target[i - 1])
    target[:, 2] = rng.uniform(700, 1100) + 0.5 * (target[:, 2] - target[0, 2])
    dist = rng.uniform(3000, 6500)
    az0 = rng.uniform(0, 2 * np.pi)
    height = rng.uniform(900, 2200)
    if mode == "orbit":
        az = az0 + np.radians(rng.uniform(10, 35)) * rng.choice([-1, 1]) * t
    else:
        az = np.full(n, az0)
    offset = np.stack([dist * np.cos(az), dist * np.sin(az), np.full(n, height)], axis=1)
    if mode == "pan":
        centre = np.broadcast_to(np.r_[pelvis[0, :2], 0.0] + offset[0], (n, 3)).copy()
    else:
        centre = np.c_[target[:, :2], np.zeros(n)] + offset
    shake = np.stack([np.convolve(rng.normal(0, 1, n + 8), np.ones(5) / 5, "same")[4 : n + 4] for _ in range(3)], 1)
    centre = centre + 25.0 * shake
    aim = target + 60.0 * np.stack(
        [np.convolve(rng.normal(0, 1, n + 8), np.ones(5) / 5, "same")[4 : n + 4] for _ in range(3)], 1
    )
    roll = rng.normal(0, 2.0) + 0.8 * shake[:, 0]
    rot, tr = look_at(centre, aim, roll)
    return rot, tr, {"mode": mode, "distance_mm": float(dist), "height_mm": float(height)}


def dunp_intrinsics(rng: np.random.Generator, scale: float) -> Intr:
    w, h = DUNP_SIZE
    f = w * rng.uniform(0.8, 1.3)
    return scaled((f, f), ((w - 1) / 2, (h - 1) / 2), DUNP_SIZE, scale)
