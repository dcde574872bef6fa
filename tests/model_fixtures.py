"""A tiny, seeded pose store with crops and backgrounds for the model tests (no dependency on the world builder).

People are stick figures (one colour per limb, the left side darker) over a smooth full-frame background; crops are
cut with :func:`kspbench.core.crops.box_from_joints`, so labels, boxes and images agree exactly as in a real store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kspbench.core import skeleton
from kspbench.core.crops import box_from_joints, to_normalised
from kspbench.data.store import CameraData, Intrinsics, SequenceData, StoreWriter

FRAME_W = FRAME_H = 1000
FOCAL = np.array([1145.0, 1145.0])
CENTER = np.array([500.0, 500.0])
LIMB_COLOURS = np.array(
    [
        [0.9, 0.2, 0.2],
        [0.2, 0.9, 0.2],
        [0.2, 0.2, 0.9],
        [0.9, 0.9, 0.2],
        [0.9, 0.2, 0.9],
        [0.2, 0.9, 0.9],
        [0.6, 0.6, 0.6],
        [0.9, 0.6, 0.3],
        [0.3, 0.6, 0.9],
        [0.6, 0.3, 0.9],
        [0.3, 0.9, 0.6],
        [0.9, 0.3, 0.6],
        [0.6, 0.9, 0.3],
        [0.5, 0.5, 0.9],
        [0.9, 0.5, 0.5],
        [0.5, 0.9, 0.5],
    ]
)


def standing_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) mm, world z up: a rest pose with random limb swings, random heading, pelvis at 900 mm."""
    dirs = {
        2: (0, 0, -1),
        3: (0, 0, -1),
        5: (0, 0, -1),
        6: (0, 0, -1),
        7: (0, 0, 1),
        8: (0, 0, 1),
        9: (0, 0, 1),
        10: (0, 0, 1),
        11: (0, 1, 0),
        12: (0, 0.3, -1),
        13: (0, 0.3, -1),
        14: (0, -1, 0),
        15: (0, -0.3, -1),
        16: (0, -0.3, -1),
    }
    lengths = np.array(skeleton.BONE_LENGTHS_MM)
    out = np.zeros((n, skeleton.NUM_JOINTS, 3))
    for i in range(n):
        p = np.zeros((skeleton.NUM_JOINTS, 3))
        p[1], p[4] = (0, -lengths[1], 0), (0, lengths[4], 0)
        for j in range(1, skeleton.NUM_JOINTS):
            if j in (1, 4):
                continue
            d = np.array(dirs[j], float) + rng.normal(scale=0.35, size=3)
            d /= np.linalg.norm(d)
            p[j] = p[skeleton.PARENTS[j]] + lengths[j] * d
        yaw = rng.uniform(-np.pi, np.pi)
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        out[i] = p @ rot.T + np.array([rng.normal(scale=200), rng.normal(scale=200), 900.0])
    return out


def camera(k: int) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera rotation and translation of a camera looking at (0, 0, 900) from 4.5 m, azimuth 90 k deg."""
    az = np.pi / 2 * k + 0.3
    eye = np.array([4500 * np.cos(az), 4500 * np.sin(az), 1500.0])
    fwd = np.array([0, 0, 900.0]) - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])
    return rot, -rot @ eye


def _background(size: int, boxes: np.ndarray, phase: np.ndarray) -> np.ndarray:
    cells = (np.arange(size) + 0.5) / size
    x = boxes[:, 0:1] + cells * (boxes[:, 2:3] - boxes[:, 0:1])
    y = boxes[:, 1:2] + cells * (boxes[:, 3:4] - boxes[:, 1:2])
    img = np.empty((len(boxes), size, size, 3))
    for ch in range(3):
        img[..., ch] = 0.5 + 0.35 * np.sin(x[:, None, :] / (80 + 30 * ch) + phase[ch]) * np.cos(
            y[:, :, None] / (110 - 20 * ch) + phase[ch + 3]
        )
    return img


def draw_people(p2d_crop: np.ndarray, background: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """Stick figures (limb width 0.12 in [-1, 1] units) over ``background`` (N, S, S, 3) in [0, 1]."""
    n, size = background.shape[:2]
    grid = (2 * np.arange(size) + 1) / size - 1
    u = np.stack(np.meshgrid(grid, grid, indexing="xy"), axis=-1)  # (S, S, 2): x, y
    img = background.copy()
    for b, (pa, ch) in enumerate(skeleton.BONES):
        a, c = p2d_crop[:, pa], p2d_crop[:, ch]
        d = c - a
        along = np.einsum("hwd,nd->nhw", u, d) - np.einsum("nd,nd->n", d, a)[:, None, None]
        t = np.clip(along / np.maximum((d**2).sum(-1), 1e-9)[:, None, None], 0.0, 1.0)
        closest = a[:, None, None] + t[..., None] * d[:, None, None]
        dist = np.linalg.norm(u[None] - closest, axis=-1)
        colour = LIMB_COLOURS[b] * tint * (0.6 if ch in skeleton.LEFT_JOINTS else 1.0)
        img = np.where((dist < 0.06)[..., None], colour, img)
    return img


def make_clip(
    rng: np.random.Generator,
    *,
    subject: str,
    sequence: str,
    role: str,
    n: int,
    cameras: int = 2,
    size: int = 32,
    backgrounds: bool = True,
    fps: float = 5.0,
    independent: bool = False,
    invalid: tuple[int, ...] = (),
) -> SequenceData:
    """One sequence: ``n`` frames of a smooth motion (or ``independent`` poses), ``cameras`` static cameras."""
    if independent:
        world = standing_poses(rng, n)
    else:
        key = standing_poses(rng, 2)
        w = np.linspace(0, 1, n)[:, None, None]
        world = (1 - w) * key[0] + w * key[1]
    tint = rng.uniform(0.5, 1.0, 3)
    phase = rng.uniform(0, 2 * np.pi, 6)
    cams = {}
    for k in range(cameras):
        rot, t = camera(k)
        cam3d = world @ rot.T + t
        p2d = cam3d[..., :2] / cam3d[..., 2:] * FOCAL + CENTER
        boxes = box_from_joints(p2d)
        valid = np.ones(n, bool)
        for i in invalid:
            valid[i] = False
        bg = _background(size, boxes, phase)
        imgs = draw_people(to_normalised(p2d, boxes), bg, tint)
        to8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)  # noqa: E731
        cams[f"c{k}"] = CameraData(
            camera_id=f"c{k}",
            camera_3d=cam3d,
            pose_2d=p2d,
            intrinsics=Intrinsics(focal=FOCAL, center=CENTER, width=FRAME_W, height=FRAME_H),
            rotation=rot,
            translation=t,
            valid=valid,
            boxes=boxes,
            images=to8(imgs),
            backgrounds=to8(bg) if backgrounds else None,
        )
    return SequenceData(
        subject=subject,
        sequence=sequence,
        action=sequence.split(" ")[0],
        role=role,
        fps=fps,
        cameras=cams,
        world_3d=world,
    )


def build_store(path: Path, *, seed: int = 0, size: int = 32, frames: int = 10) -> Path:
    """Every role the cards use, a few frames each."""
    rng = np.random.default_rng(seed)
    with StoreWriter(path, dataset="model-test", source="tests/model_fixtures.py") as w:
        for subject in ("S1", "S5"):
            w.add_sequence(
                make_clip(rng, subject=subject, sequence="Walking 1", role="h36m-train", n=frames, size=size)
            )
        w.add_sequence(make_clip(rng, subject="S2", sequence="Walking 1", role="h36m-val", n=frames, size=size))
        w.add_sequence(
            make_clip(rng, subject="S9", sequence="Walking 1", role="h36m-test", n=frames, size=size, invalid=(3,))
        )
        for i in range(2):
            w.add_sequence(
                make_clip(
                    rng,
                    subject=f"U{i}",
                    sequence="clip",
                    role="dunp",
                    n=frames,
                    cameras=1,
                    size=size,
                    backgrounds=False,
                )
            )
        w.add_sequence(
            make_clip(rng, subject="P", sequence="prior", role="prior", n=20, cameras=1, size=size, independent=True)
        )
        w.add_sequence(make_clip(rng, subject="H1", sequence="Seq1", role="3dhp-train", n=frames, size=size))
        w.add_sequence(make_clip(rng, subject="TS1", sequence="TS1", role="3dhp-test", n=frames, cameras=1, size=size))
    return path
