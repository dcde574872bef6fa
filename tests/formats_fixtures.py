"""Writers of tiny datasets in the official on-disk formats, for the importer tests.

The geometry here is re-implemented independently of ``kspbench.data.formats`` (VideoPose3D's conventions: quaternion
``qrot``, normalised screen coordinates), so a test that imports these files checks the importers' conversions
rather than repeating them.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from kspbench.core import skeleton

# Published camera 54138969 and S1/S9 extrinsics (VideoPose3D common/h36m_dataset.py), the fixtures' ground truth.
CAMS = {
    "54138969": dict(
        center=[512.54150390625, 515.4514770507812],
        focal=[1145.0494384765625, 1143.7811279296875],
        radial=[-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043],
        tangential=[-0.0009756988729350269, -0.00142447161488235],
        res=(1000, 1002),
    ),
    "55011271": dict(
        center=[508.8486328125, 508.0649108886719],
        focal=[1149.6756591796875, 1147.5916748046875],
        radial=[-0.1942136287689209, 0.2404085397720337, 0.006819975562393665],
        tangential=[-0.0016190266469493508, -0.0027408944442868233],
        res=(1000, 1000),
    ),
    "58860488": dict(
        center=[519.8158569335938, 501.40264892578125],
        focal=[1149.1407470703125, 1148.7989501953125],
        radial=[-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427],
        tangential=[0.0014843869721516967, -0.0007599993259645998],
        res=(1000, 1000),
    ),
    "60457274": dict(
        center=[514.9682006835938, 501.88201904296875],
        focal=[1145.5113525390625, 1144.77392578125],
        radial=[-0.198384091258049, 0.21832367777824402, -0.008947807364165783],
        tangential=[-0.0005872055771760643, -0.0018133620033040643],
        res=(1000, 1002),
    ),
}
CAM_IDS = tuple(CAMS)
# Only cam0 of S1 and S9 (the values protocols-notes 1.4 quotes); other cameras come from the module under test.
S1_CAM0 = (
    [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088],
    [1841.1070556640625, 4955.28466796875, 1563.4454345703125],
)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """VideoPose3D's quaternion rotation, numpy: ``v + 2 (w (u x v) + u x (u x v))``."""
    q = np.broadcast_to(q, v.shape[:-1] + (4,))
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2 * (q[..., :1] * uv + np.cross(u, uv))


def vp3d_world_to_camera(x: np.ndarray, q, c) -> np.ndarray:
    """VideoPose3D ``world_to_camera``: ``qrot(q^-1, X - c)``."""
    q = np.asarray(q, np.float64)
    return qrot(np.r_[q[0], -q[1:]], np.asarray(x, np.float64) - np.asarray(c, np.float64))


def vp3d_project_px(cam: np.ndarray, cam_id: str) -> np.ndarray:
    """VideoPose3D ``project_to_2d`` in normalised screen coordinates, then ``image_coordinates`` -> pixels."""
    p = CAMS[cam_id]
    w, h = p["res"]
    f = np.array(p["focal"]) / w * 2
    c = np.array(p["center"]) / w * 2 - [1, h / w]
    k, t = np.array(p["radial"]), np.array(p["tangential"])
    xx = np.clip(cam[..., :2] / cam[..., 2:], -1, 1)
    r2 = np.sum(xx**2, axis=-1, keepdims=True)
    radial = 1 + np.sum(k * np.concatenate([r2, r2**2, r2**3], axis=-1), axis=-1, keepdims=True)
    tan = np.sum(t * xx, axis=-1, keepdims=True)
    uv = f * (xx * (radial + tan) + t * r2) + c
    return (uv + [1, h / w]) * w / 2


def standing_pose() -> np.ndarray:
    """(17, 3) mm, world frame with z up: a narrow standing person, pelvis at the origin."""
    up, down = np.array([0, 0, 1.0]), np.array([0, 0, -1.0])
    left, right = np.array([0, 1.0, 0]), np.array([0, -1.0, 0])
    dirs = {
        1: right,
        2: down,
        3: down,
        4: left,
        5: down,
        6: down,
        7: up,
        8: up,
        9: up,
        10: up,
        11: left,
        12: down,
        13: down,
        14: right,
        15: down,
        16: down,
    }
    pose = np.zeros((17, 3))
    for j in range(1, 17):
        pose[j] = pose[skeleton.PARENTS[j]] + skeleton.BONE_LENGTHS_MM[j] * dirs[j]
    return pose


def world_poses(rng: np.random.Generator, n: int, *, spread: float = 80.0, step: float = 0.0) -> np.ndarray:
    """(n, 17, 3) mm: the standing pose jittered, pelvis near (x_i, 0, 950); ``step`` moves it along x per frame."""
    base = standing_pose() + rng.normal(scale=spread / 4, size=(n, 17, 3))
    base[:, :, 2] += 950.0
    base[:, :, 0] += (np.arange(n) - (n - 1) / 2)[:, None] * step + rng.normal(scale=spread, size=(n, 1))
    return base


def to32(p17: np.ndarray) -> np.ndarray:
    """(n, 17, 3|2) -> (n, 32, d): the 17 joints at their H36M indices, the other 15 at their parent + 20 mm."""
    n, _, d = p17.shape
    out = np.zeros((n, 32, d))
    out[:, list(skeleton.H36M32_TO_17)] = p17
    placed = set(skeleton.H36M32_TO_17)
    for j in range(32):
        if j not in placed:
            out[:, j] = out[:, skeleton.H36M32_PARENTS[j]] + 20.0
    return out


def write_cdf(path: Path, arr: np.ndarray, dtype=np.float64) -> None:
    """A Human3.6M-style CDF: one variable ``Pose`` of shape (1, N, 32*d)."""
    from spacepy import pycdf

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    n = arr.shape[0]
    with pycdf.CDF(str(path), "") as cdf:
        cdf["Pose"] = np.asarray(arr, dtype).reshape(1, n, -1)


def write_h36m_take(
    root: Path,
    subject: str,
    stem: str,
    world17: np.ndarray,
    extrinsics: dict,
    *,
    mono: bool = True,
    d2: bool = True,
    n2d_extra: int = 0,
) -> None:
    """World / mono / 2D CDFs of one take, consistent through the published cameras (VideoPose3D formulas)."""
    feats = root / subject / "MyPoseFeatures"
    write_cdf(feats / "D3_Positions" / f"{stem}.cdf", to32(world17))
    for cam in CAM_IDS:
        q, c = extrinsics[cam]
        cam3d = vp3d_world_to_camera(world17, q, c)
        if mono:
            write_cdf(feats / "D3_Positions_mono" / f"{stem}.{cam}.cdf", to32(cam3d))
        if d2:
            p2 = vp3d_project_px(cam3d, cam)
            if n2d_extra:
                p2 = np.concatenate([p2, np.repeat(p2[-1:], n2d_extra, axis=0)])
            write_cdf(feats / "D2_Positions" / f"{stem}.{cam}.cdf", to32(p2), dtype=np.float32)


def published_extrinsics(subject: str) -> dict:
    """The module-under-test's table for all cameras (transcription checked separately against S1_CAM0)."""
    from kspbench.data.formats import h36m_cameras

    return {cam: h36m_cameras.EXTRINSICS_VP3D[subject][i] for i, cam in enumerate(h36m_cameras.CAMERA_IDS)}


# --- MPI-INF-3DHP --------------------------------------------------------------------------------------------------

MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."


def write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file: HDF5 with a 512-byte user block holding MATLAB's text header.

    ``arrays`` are given in h5py's (reversed) view, e.g. annot3 as (N, 1, 17, 3) for MATLAB's 3x17x1xN.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as h5:
        for key, arr in arrays.items():
            ds = h5.create_dataset(key, data=np.asarray(arr, np.float64))
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    header = MATLAB_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as f:
        f.write(header)


def write_3dhp_test(
    root: Path,
    ts: str,
    rng: np.random.Generator,
    n: int = 6,
    *,
    invalid: tuple[int, ...] = (1,),
    center_offset: tuple[float, float] = (0.0, 0.0),
    focal: tuple[float, float] | None = None,
    noise_px: float = 0.0,
    junk_invalid: bool = False,
) -> dict[str, np.ndarray]:
    """``mpi_inf_3dhp_test_set/<ts>/annot_data.mat`` with annot2 = projection of annot3.

    The camera: ``focal`` (default the official focal length of ``ts``), principal point at the image centre plus
    ``center_offset`` px, no distortion; ``noise_px`` adds Gaussian noise to annot2; ``junk_invalid`` fills the
    invalid frames' annot2 with numbers unrelated to annot3 (as a release may hold there).
    """
    from kspbench.data.formats.mpi3dhp_mat import TEST_FOCAL, TEST_RESOLUTION

    h36m = world_poses(rng, n)[:, :, [1, 2, 0]] * [1, -1, 1] + [0, 950, 4000]  # y down, in front of the camera
    h36m[:, :, 0] += rng.uniform(-900, 900, size=(n, 1))  # people across the image: the fit needs spread
    test_order = h36m[:, list(skeleton.H36M_TO_MPI3DHP)]
    w, h = TEST_RESOLUTION[ts]
    f = np.array(focal if focal is not None else (TEST_FOCAL[ts], TEST_FOCAL[ts]))
    c = np.array([w / 2, h / 2]) + center_offset
    annot2 = test_order[..., :2] / test_order[..., 2:] * f + c + rng.normal(scale=noise_px, size=(n, 17, 2))
    valid = np.ones(n)
    valid[list(invalid)] = 0
    if junk_invalid:
        annot2[valid == 0] = rng.uniform(0, 2000, size=annot2[valid == 0].shape)
    arrays = {
        "annot2": annot2[:, None],
        "annot3": test_order[:, None],
        "univ_annot3": test_order[:, None] * 0.95,
        "valid_frame": valid[:, None],
        "activity_annotation": (np.arange(n) % 7 + 1)[:, None],
    }
    write_mat73(root / "mpi_inf_3dhp_test_set" / ts / "annot_data.mat", arrays)
    return {"h36m": h36m, "annot2": annot2, "valid": valid, "focal": f, "center": c}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def write_calibration(path: Path, cams: dict[int, dict]) -> None:
    """Skeletool Camera Calibration File V1.0 with the writer's own spacing (name, then indented keys)."""
    lines = ["Skeletool Camera Calibration File V1.0"]
    for idx, c in cams.items():
        k = np.array([[c["f"], 0, c["c"][0], 0], [0, c["f"], c["c"][1], 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        e = np.eye(4)
        e[:3, :3], e[:3, 3] = c["R"], c["t"]
        lines += [
            f"name          {idx}",
            "  sensor      10 10",
            f"  size        {c['size'][0]} {c['size'][1]}",
            "  animated    0",
            "  intrinsic   " + " ".join(f"{v:.10g}" for v in k.ravel()),
            "  extrinsic   " + " ".join(f"{v:.10g}" for v in e.ravel()),
            "  radial      0",
        ]
    path.write_text("\n".join(lines) + "\n")


def circle_camera(angle: float) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera ``(R, t mm)`` of a camera on a circle of radius 4 m at height 1 m looking at (0, 0, 950)."""
    centre = np.array([4000 * np.cos(angle), 4000 * np.sin(angle), 1000.0])
    fwd = np.array([0, 0, 950.0]) - centre
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    rot = np.stack([right, np.cross(fwd, right), fwd])  # rows: the camera's axes (x right, y down, z forward)
    return rot, -rot @ centre


def write_3dhp_train(
    root: Path, subj: int, seq: int, rng: np.random.Generator, n: int = 6, size: tuple[int, int] = (160, 120)
) -> dict:
    """``S<subj>/Seq<seq>/annot.mat`` (14 cells) + ``camera.calibration``; 28-joint world poses, mm."""
    import scipy.io

    folder = root / f"S{subj}" / f"Seq{seq}"
    folder.mkdir(parents=True, exist_ok=True)
    w17 = world_poses(rng, n)
    world28 = np.zeros((n, 28, 3))
    idx28 = [skeleton.MPI3DHP28_TO_17[i] for i in skeleton.MPI3DHP_TO_H36M]  # H36M joint j sits at 28-index idx28[j]
    world28[:] = w17[:, :1] + rng.normal(scale=50, size=(n, 28, 3))
    world28[:, idx28] = w17
    cams = {}
    annot2 = np.empty((14, 1), dtype=object)
    annot3 = np.empty((14, 1), dtype=object)
    univ = np.empty((14, 1), dtype=object)
    for c in range(14):
        rot, t = circle_camera(2 * np.pi * c / 14)
        cams[c] = {"R": rot, "t": t, "f": 100.0, "c": (size[0] / 2 + 1.5, size[1] / 2 - 2.0), "size": size}
        cam3d = world28 @ rot.T + t
        p2 = cam3d[..., :2] / cam3d[..., 2:] * 100.0 + cams[c]["c"]
        annot3[c, 0] = cam3d.reshape(n, 84)
        annot2[c, 0] = p2.reshape(n, 56)
        univ[c, 0] = (cam3d * 0.9).reshape(n, 84)
    scipy.io.savemat(
        folder / "annot.mat",
        {
            "annot2": annot2,
            "annot3": annot3,
            "univ_annot3": univ,
            "cameras": np.arange(14)[None],
            "frames": np.arange(n)[:, None],
        },
    )
    write_calibration(folder / "camera.calibration", cams)
    return {"world17": w17, "cams": cams, "folder": folder}


# --- MMPose preprocessed files ------------------------------------------------------------------------------------


def _mmpose_rows(pose_2d: np.ndarray, cam3d_mm: np.ndarray) -> dict[str, np.ndarray]:
    """MMPose's per-row arrays: center, scale (1.2 x the joints' extent / 200), part (+ visibility 1), S (m, + 1)."""
    lo, hi = pose_2d.min(axis=1), pose_2d.max(axis=1)
    ones = np.ones(pose_2d.shape[:2] + (1,))
    return {
        "center": (lo + hi) / 2,
        "scale": 1.2 * (hi - lo).max(axis=1) / 200,
        "part": np.concatenate([pose_2d, ones], axis=-1),
        "S": np.concatenate([cam3d_mm / 1000, ones], axis=-1),
    }


def _save_mmpose(path: Path, names: list[str], rows: list[dict[str, np.ndarray]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, imgname=np.array(names), **{k: np.concatenate([r[k] for r in rows]) for k in rows[0]})
    return path


def h36m_camera_matrix(q) -> np.ndarray:
    """Camera-to-world rotation of a VideoPose3D quaternion, column by column with :func:`qrot`."""
    return np.stack([qrot(np.asarray(q, np.float64), e) for e in np.eye(3)], axis=1)


def write_mmpose_h36m_cameras(path: Path, subjects=("S1", "S9", "S11"), perturb: dict | None = None) -> Path:
    """``cameras.pkl`` as MMPose's ``preprocess_h36m.py`` pickles it: ``(subject, id) -> {R, T, c, f, k, p, w, h,
    name, id}``, R camera-to-world, T the camera centre in metres (3, 1), intrinsics as (n, 1) columns, ``p`` in
    metadata.xml's order (the reverse of VideoPose3D's ``tangential``).

    ``perturb`` adds ``{key: offset}`` to every entry (a camera file that disagrees with the published one).
    """
    import pickle

    cams = {}
    for subject in subjects:
        ext = published_extrinsics(subject)
        for i, cam in enumerate(CAM_IDS):
            q, centre = ext[cam]
            p = CAMS[cam]
            entry = {
                "R": h36m_camera_matrix(q),
                "T": np.array(centre, np.float64).reshape(3, 1) * 0.001,
                "c": np.array(p["center"]).reshape(2, 1),
                "f": np.array(p["focal"]).reshape(2, 1),
                "k": np.array(p["radial"]).reshape(3, 1),
                "p": np.array(p["tangential"][::-1]).reshape(2, 1),
                "w": p["res"][0],
                "h": p["res"][1],
                "name": f"camera{i + 1}",
                "id": cam,
            }
            for key, offset in (perturb or {}).items():
                entry[key] = entry[key] + offset
            cams[(subject, cam)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(cams, f)
    return path


def write_mmpose_h36m(
    path: Path, takes: dict[tuple[str, str], np.ndarray], sample_rate: int = 1, cameras: tuple[str, ...] = CAM_IDS
) -> dict:
    """An ``h36m_<split>.npz`` of MMPose: for each take ``(subject, release file stem)`` -> world poses (n, 17, 3) mm,
    every ``sample_rate``-th frame of each camera (rows ordered take, camera, frame, as the script writes them).

    Returns ``{(subject, stem, camera): (frame indices, camera-frame mm, 2D px)}``.
    """
    names, rows, truth = [], [], {}
    for (subject, stem), world in takes.items():
        ext = published_extrinsics(subject)
        for cam in cameras:
            cam3d = vp3d_world_to_camera(world, *ext[cam])
            p2 = vp3d_project_px(cam3d, cam)
            frames = np.arange(0, len(world), sample_rate)
            base = f"{subject}_{stem.replace(' ', '_')}.{cam}"
            names += [f"{subject}/{base}/{base}_{i + 1:06d}.jpg" for i in frames]
            rows.append(_mmpose_rows(p2[frames], cam3d[frames]))
            truth[(subject, stem, cam)] = (frames, cam3d[frames], p2[frames])
    _save_mmpose(path, names, rows)
    return truth


def write_mmpose_3dhp(
    folder: Path,
    rng: np.random.Generator,
    *,
    n: int = 6,
    size: tuple[int, int] = (2048, 2048),
    test_invalid: tuple[int, ...] = (2,),
) -> dict:
    """MMPose's ``mpi_inf_3dhp_train.npz`` (S1 Seq2, cameras 0 and 4) and ``mpi_inf_3dhp_test_valid.npz`` (TS1, valid
    frames only) with ``cameras_train.pkl`` / ``cameras_test.pkl``; joints in the 3DHP 17-joint test order, S metres.
    """
    import pickle

    names, rows, cams, truth = [], [], {}, {"world": world_poses(rng, n)}
    to_test = list(skeleton.H36M_TO_MPI3DHP)
    for cam in (0, 4):
        rot, t = circle_camera(0.4 * cam)
        f, c = np.array([1480.0 + cam, 1490.0]), np.array([1020.0 + cam, 1030.0])
        cam3d = truth["world"] @ rot.T + t
        p2 = cam3d[..., :2] / cam3d[..., 2:] * f + c
        names += [f"S1_Seq2_Cam{cam}_{i + 1:06d}.jpg" for i in range(n)]
        rows.append(_mmpose_rows(p2[:, to_test], cam3d[:, to_test]))
        cams[f"S1_Seq2_Cam{cam}"] = {
            "R": rot,
            "T": t.reshape(3, 1) * 0.001,
            "c": c.reshape(2, 1),
            "f": f.reshape(2, 1),
            "w": size[0],
            "h": size[1],
            "name": f"train_cam_{cam}",
        }
        truth[cam] = {"R": rot, "t": t, "cam3d": cam3d, "p2": p2}
    ann = folder / "annotations"
    _save_mmpose(ann / "mpi_inf_3dhp_train.npz", names, rows)
    with open(ann / "cameras_train.pkl", "wb") as fh:
        pickle.dump(cams, fh)
    test = write_3dhp_test(folder / "raw", "TS1", rng, n=n, invalid=test_invalid, center_offset=(7.0, 19.0))
    keep = np.flatnonzero(test["valid"])
    cam3d = test["h36m"][keep][:, to_test]
    _save_mmpose(
        ann / "mpi_inf_3dhp_test_valid.npz",
        [f"TS1_{i + 1:06d}.jpg" for i in keep],
        [_mmpose_rows(test["annot2"][keep], cam3d)],
    )
    with open(ann / "cameras_test.pkl", "wb") as fh:
        pickle.dump(
            {
                "TS1": {
                    "c": test["center"].reshape(2, 1),
                    "f": test["focal"].reshape(2, 1),
                    "w": 2048,
                    "h": 2048,
                    "name": "test_cam_1",
                }
            },
            fh,
        )
    truth["test"] = {**test, "keep": keep}
    return truth


# --- images --------------------------------------------------------------------------------------------------------


def write_frames(
    folder: Path, frames: np.ndarray, *, pattern: str = "{:06d}.png", start: int = 1, quality: int = 95
) -> list[Path]:
    """Write (N, H, W, 3) uint8 frames as numbered images (format from the suffix)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, fr in enumerate(frames):
        p = folder / pattern.format(i + start)
        kw = {"quality": quality} if p.suffix.lower() in (".jpg", ".jpeg") else {}
        Image.fromarray(fr).save(p, **kw)
        paths.append(p)
    return paths


def gradient_background(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 200, w)[None, :, None]
    y = np.linspace(0, 50, h)[:, None, None]
    return (
        np.broadcast_to(np.concatenate([x + 0 * y, 0 * x + y + 20, 0 * x + 0 * y + 60], axis=-1), (h, w, 3))
        .astype(np.uint8)
        .copy()
    )


def paint_people(bg: np.ndarray, pose_2d: np.ndarray) -> np.ndarray:
    """(N, H, W, 3): the background with a pure-red rectangle over each frame's joints (at least 120 px wide)."""
    out = np.repeat(bg[None], len(pose_2d), axis=0)
    h, w = bg.shape[:2]
    for i, p in enumerate(pose_2d):
        lo, hi = p.min(0), p.max(0)
        mid = (lo[0] + hi[0]) / 2
        lo[0], hi[0] = min(lo[0], mid - 60), max(hi[0], mid + 60)
        x0, y0 = np.clip(np.floor(lo).astype(int), 0, [w, h])
        x1, y1 = np.clip(np.ceil(hi).astype(int) + 1, 0, [w, h])
        out[i, y0:y1, x0:x1] = (255, 0, 0)
    return out


def tiny_sequence(subject: str, name: str, n: int = 3):
    """A minimal valid store record (one camera, identity extrinsics)."""
    from kspbench.data.store import CameraData, Intrinsics, SequenceData

    cam3d = world_poses(np.random.default_rng(0), n) + [0, 0, 4000]
    cam = CameraData(
        camera_id="0",
        camera_3d=cam3d,
        pose_2d=cam3d[..., :2] / cam3d[..., 2:] * 1000 + 500,
        intrinsics=Intrinsics(
            focal=np.array([1000.0, 1000.0]), center=np.array([500.0, 500.0]), width=1000, height=1000
        ),
        rotation=np.eye(3),
        translation=np.zeros(3),
    )
    return SequenceData(subject=subject, sequence=name, action=name, role="unit", fps=50.0, cameras={"0": cam})


# --- CLI -----------------------------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    """``kspbench`` main: what a user's ``kspbench data import|export ...`` runs."""
    from kspbench.cli import main

    return main(argv)
