"""Small, seeded records for tests and benchmarks (shared so both exercise the same data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kspbench.core import skeleton
from kspbench.data.store import CameraData, Intrinsics, SequenceData

# The checkout (tests/..) and the shared development material beside it (../shared; absent for a user).
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def random_rotation(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Uniform random proper rotation(s), (3, 3) or (n, 3, 3), via QR with sign fixing."""
    shape = (1 if n is None else n, 3, 3)
    q, r = np.linalg.qr(rng.normal(size=shape))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q[0] if n is None else q


def random_world_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) mm: a walk of the S1 skeleton with random bone directions, pelvis near (0, 0, 900)."""
    lengths = np.array(skeleton.BONE_LENGTHS_MM)
    dirs = rng.normal(size=(n, skeleton.NUM_JOINTS, 3))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    pose = np.zeros((n, skeleton.NUM_JOINTS, 3))
    pose[:, 0] = rng.normal(scale=300.0, size=(n, 3)) + np.array([0.0, 0.0, 900.0])
    for j in range(1, skeleton.NUM_JOINTS):  # parents precede children in the H36M order
        pose[:, j] = pose[:, skeleton.PARENTS[j]] + lengths[j] * dirs[:, j]
    return pose


def make_sequence(
    rng: np.random.Generator,
    *,
    subject: str = "S9",
    sequence: str = "Walking 1",
    role: str = "h36m-test",
    n: int = 12,
    cameras: tuple[str, ...] = ("54138969", "60457274"),
    images: tuple[int, int] | None = None,
) -> SequenceData:
    """A consistent sequence: camera 3D = R world + t, 2D = pinhole projection of camera 3D."""
    world = random_world_poses(rng, n)
    cams = {}
    for k, cam_id in enumerate(cameras):
        rot = random_rotation(rng)
        t = np.array([0.0, 0.0, 5000.0 + 100 * k]) - rot @ np.array([0.0, 0.0, 900.0])
        cam3d = world @ rot.T + t
        focal, center = np.array([1145.0, 1143.8]), np.array([512.5, 515.5])
        p2d = cam3d[..., :2] / cam3d[..., 2:] * focal + center
        lo, hi = p2d.min(axis=1), p2d.max(axis=1)
        cams[cam_id] = CameraData(
            camera_id=cam_id,
            camera_3d=cam3d,
            pose_2d=p2d,
            intrinsics=Intrinsics(focal=focal, center=center, width=1000, height=1002),
            rotation=rot,
            translation=t,
            valid=np.ones(n, bool),
            boxes=np.concatenate([lo, hi], axis=1),
            images=None if images is None else rng.integers(0, 256, size=(n, *images, 3), dtype=np.uint8),
            extras={"activity": np.arange(n) % 7 + 1},
        )
    return SequenceData(
        subject=subject,
        sequence=sequence,
        action=sequence.split(" ")[0],
        role=role,
        fps=50.0,
        cameras=cams,
        world_3d=world,
    )


def truth_predictions(store_path, role: str = "h36m-test", key: str = "camera_3d", attrs: dict | None = None):
    """Predictions equal to the store's ground truth ``key`` for every frame of every camera of ``role``."""
    from kspbench.data.predictions import Predictions
    from kspbench.data.store import PoseStore

    rows = {k: [] for k in ("poses_3d", "subject", "sequence", "camera", "frame")}
    with PoseStore(store_path) as store:
        for info in store.sequences(role=role):
            for cam in info.cameras:
                rows["poses_3d"].append(store.read(info.subject, info.sequence, key, camera=cam).astype(np.float64))
                for k, v in (("subject", info.subject), ("sequence", info.sequence), ("camera", cam)):
                    rows[k].append(np.full(info.n_frames, v))
                rows["frame"].append(np.arange(info.n_frames))
    return Predictions(**{k: np.concatenate(v) for k, v in rows.items()}, attrs=attrs or {})


# `kspbench eval` on the small stores the tests build: they hold a few subjects, cameras and actions of a protocol,
# so every such result is partial by design (what the protocol's coverage check refuses without --allow-partial).
EVAL = ("eval", "--allow-partial")


def full_h36m_test_store(path, *, n: int = 4, dataset: str = "unit-h36m", seed: int = 0):
    """A store covering h36m-p1/p2 entirely: S9 and S11, the 15 actions (take 1), the four cameras; ``n`` frames."""
    from kspbench.data.formats.h36m_cameras import CAMERA_IDS
    from kspbench.data.store import StoreWriter

    rng = np.random.default_rng(seed)
    with StoreWriter(path, dataset=dataset, source="tests") as w:
        for subject in ("S9", "S11"):
            for action in skeleton.H36M_ACTIONS:
                w.add_sequence(make_sequence(rng, subject=subject, sequence=f"{action} 1", n=n, cameras=CAMERA_IDS))
    return path


def config_error(load, path: Path, text: str, message: str) -> str:
    """Write ``text`` to ``path``, load it with ``load``: it must raise one ConfigError line matching ``message``."""
    import pytest

    from kspbench.errors import ConfigError

    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load(str(path))
    assert "\n" not in str(err.value)
    return str(err.value)
