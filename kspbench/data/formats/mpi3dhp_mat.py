"""MPI-INF-3DHP annotations (MAT files) -> store sequences, joints reordered to Human3.6M-17.

Test set (``ROOT/mpi_inf_3dhp_test_set/TS1..TS6/annot_data.mat``; also found as ``ROOT/test/TSk`` or ``ROOT/TSk``):
MATLAB v7.3 files, i.e. HDF5 (read with h5py, which shows MATLAB's dimensions reversed): ``annot2`` (N, 1, 17, 2)
px, ``annot3`` and ``univ_annot3`` (N, 1, 17, 3) mm camera frame, ``valid_frame`` (N, 1), ``activity_annotation``
(N, 1) with values 1..7, joints in the 3DHP 17-joint test order. Stored: ``camera_3d = annot3``, ``pose_2d = annot2``,
``valid = valid_frame``, extras ``univ_annot3`` (N, 17, 3, H36M order) and ``activity`` (N,); camera ``"0"``, no world
frame. Intrinsics: the release gives focal lengths (``mpii_perspective_correction_code.m``: TS1-4 ``2048/10 *
7.320339203`` px on 2048x2048 images, TS5-6 ``1920/10 * 8.770747185`` px on 1920x1080) but no principal point, and the
image centre is measurably wrong (about 20 px of reprojection error on the real sequences). So ``fx, fy, cx, cy`` are
fitted to ``annot2``/``annot3`` over the valid frames by linear least squares (``camera_check.fit_pinhole``, no
distortion), and a sequence whose fit reprojects worse than ``camera_check.MAX_MEAN_PX`` / ``MAX_WORST_PX`` is
refused. Rotation identity, translation 0 (the camera frame is the only frame). Optional images:
``TSk/imageSequence/img_000001.jpg, ...`` (1-based).

Training set (``ROOT/S1..S8/Seq1..2/annot.mat``, also under ``ROOT/train``): MATLAB v5 files (scipy.io.loadmat) whose
``annot2``, ``annot3``, ``univ_annot3`` are (14, 1) cells, one per camera, of (n, 56) / (n, 84) arrays (28 joints,
joint-major), ``cameras`` the camera index of each cell; ``camera.calibration`` (text) beside it gives each camera's
``size``, ``intrinsic`` (4x4 row-major K) and ``extrinsic`` (4x4 row-major world->camera [R|t], t in mm). Joints
28 -> 17 (``skeleton.MPI3DHP28_TO_17``) -> Human3.6M order. Frames are cut to the known video lengths; ``world_3d``
is the first selected camera's ``annot3`` moved to the world frame with its extrinsics. Each camera's given
calibration must reproject ``annot3`` onto ``annot2`` within the limits of ``camera_check``. Optional images:
``Sk/Seqj/imageFrames/video_<camera>/frame_000001.jpg, ...`` (``ffmpeg -i video_0.avi frame_%06d.jpg``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats import FormatError, SequenceJob, camera_check, camera_to_world, check_units
from kspbench.data.formats import frames as frames_mod
from kspbench.data.store import CameraData, Intrinsics, SequenceData

TEST_SEQUENCES = tuple(f"TS{k}" for k in range(1, 7))
TEST_RESOLUTION = {**{f"TS{k}": (2048, 2048) for k in range(1, 5)}, "TS5": (1920, 1080), "TS6": (1920, 1080)}
TEST_FOCAL = {
    **{f"TS{k}": 2048 / 10 * 7.320339203 for k in range(1, 5)},
    "TS5": 1920 / 10 * 8.770747185,
    "TS6": 1920 / 10 * 8.770747185,
}
# Not stated in the official test README; the studio sequences are taken as 25 fps, the outdoor ones as 50 fps.
TEST_FPS = {**{f"TS{k}": 25.0 for k in range(1, 5)}, "TS5": 50.0, "TS6": 50.0}
# Video lengths (MMPose tools/dataset_converters/preprocess_mpi_inf_3dhp.py ``train_frame_nums``) and frame rates
# (official util/mpii_get_sequence_info.m) of the training sequences.
TRAIN_FRAME_COUNTS: dict[tuple[int, int], int] = {
    (1, 1): 6416,
    (1, 2): 12430,
    (2, 1): 6502,
    (2, 2): 6081,
    (3, 1): 12488,
    (3, 2): 12283,
    (4, 1): 6171,
    (4, 2): 6675,
    (5, 1): 12820,
    (5, 2): 12312,
    (6, 1): 6188,
    (6, 2): 6145,
    (7, 1): 6239,
    (7, 2): 6320,
    (8, 1): 6468,
    (8, 2): 6054,
}
TRAIN_FPS_50 = {(1, 2), (3, 1), (3, 2), (5, 1), (5, 2)}
DEFAULT_TRAIN_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)
TEST_ROLE, TRAIN_ROLE = "3dhp-test", "3dhp-train"
# Index into the 28 training joints of each Human3.6M-17 joint.
TRAIN28_TO_H36M: tuple[int, ...] = tuple(skeleton.MPI3DHP28_TO_17[i] for i in skeleton.MPI3DHP_TO_H36M)
TEST17_TO_H36M: tuple[int, ...] = skeleton.MPI3DHP_TO_H36M


# --- test set -------------------------------------------------------------------------------------------------------


def _h5_array(h5, key: str, path: Path) -> np.ndarray:
    if key not in h5:
        raise FormatError(f"{path}: no variable {key!r} (variables: {', '.join(sorted(h5.keys()))})")
    try:
        return np.asarray(h5[key][()])
    except (OSError, KeyError, ValueError) as err:
        raise FormatError(f"{path}: {key!r} cannot be read: truncated or corrupt file ({err})") from None


def _joints(arr: np.ndarray, dim: int, key: str, path: Path) -> np.ndarray:
    """h5py's view of a MATLAB ``dim x 17 x 1 x N`` array, ``(N, 1, 17, dim)``, -> ``(N, 17, dim)``."""
    if arr.ndim == 4 and arr.shape[1:] == (1, 17, dim):
        return arr[:, 0].astype(np.float64)
    if arr.ndim == 3 and arr.shape[1:] == (17, dim):
        return arr.astype(np.float64)
    raise FormatError(
        f"{path}: {key!r} has shape {arr.shape} as read by h5py, expected (N, 1, 17, {dim}) (MATLAB {dim}x17x1xN)"
    )


def _per_frame(arr: np.ndarray, n: int, key: str, path: Path) -> np.ndarray:
    if arr.size != n or (arr.ndim == 2 and 1 not in arr.shape) or arr.ndim > 2:
        raise FormatError(f"{path}: {key!r} has shape {arr.shape}, expected {n} values ((N, 1) or (1, N))")
    return arr.reshape(n)


def read_test_annot(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``annot_data.mat``: 17-joint test order, ``(N, 17, 2|3)`` arrays, ``valid (N,) bool``, ``activity``."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise FormatError(
            f"{path}: not a readable MATLAB v7.3 (HDF5) file: truncated, corrupt, or saved in an older MAT format"
        ) from None
    with h5:
        annot2 = _joints(_h5_array(h5, "annot2", path), 2, "annot2", path)
        annot3 = _joints(_h5_array(h5, "annot3", path), 3, "annot3", path)
        univ = _joints(_h5_array(h5, "univ_annot3", path), 3, "univ_annot3", path)
        n = annot3.shape[0]
        if annot2.shape[0] != n or univ.shape[0] != n:
            raise FormatError(
                f"{path}: annot2, annot3 and univ_annot3 have {annot2.shape[0]}, {n} and "
                f"{univ.shape[0]} frames; they must agree"
            )
        valid = _per_frame(_h5_array(h5, "valid_frame", path), n, "valid_frame", path)
        activity = (
            _per_frame(_h5_array(h5, "activity_annotation", path), n, "activity_annotation", path)
            if "activity_annotation" in h5
            else np.zeros(n)
        )
    valid = np.nan_to_num(valid.astype(np.float64)) != 0
    return {
        "annot2": annot2,
        "annot3": annot3,
        "univ_annot3": univ,
        "valid": valid,
        "activity": np.nan_to_num(activity.astype(np.float64)).astype(np.int16),
    }


def fit_test_camera(
    ts: str, annot3: np.ndarray, annot2: np.ndarray, valid: np.ndarray, where: str | os.PathLike
) -> tuple[Intrinsics, camera_check.Reprojection]:
    """Intrinsics of test sequence ``ts`` fitted to its ``(N, 17, 3)`` mm / ``(N, 17, 2)`` px valid frames.

    Raises:
        FormatError: the joints do not determine a camera, or the fit reprojects above the ``camera_check`` limits.
    """
    w, h = TEST_RESOLUTION[ts]
    try:
        focal, center = camera_check.fit_pinhole(annot3, annot2, valid)
    except FormatError as err:
        raise FormatError(f"{where}: {err} (valid frames of {ts})") from None
    intr = Intrinsics(focal=focal, center=center, width=w, height=h)
    fit = camera_check.reprojection(annot3, annot2, intr, valid)
    camera_check.require(fit, where, f"the camera fitted to {ts}")
    return intr, fit


def describe_test_fit(ts: str, intr: Intrinsics, fit: camera_check.Reprojection) -> str:
    """One line for the import report: the fitted intrinsics against the official focal length and the centre."""
    (fx, fy), (cx, cy) = intr.focal, intr.center
    dx, dy = cx - intr.width / 2, cy - intr.height / 2
    return (
        f"{ts}: intrinsics fitted to annot2/annot3 (valid frames): fx {fx:.3f}, fy {fy:.3f}, cx {cx:.3f}, "
        f"cy {cy:.3f} px (principal point {dx:+.2f}, {dy:+.2f} px from the image centre; official focal "
        f"{TEST_FOCAL[ts]:.3f}); reprojection {fit.text()}"
    )


def load_test(
    folder: Path,
    *,
    images: bool,
    crop_size: int = 64,
    box_margin: float = frames_mod.BOX_MARGIN,
    workers: int | None = None,
    checks: list[str] | None = None,
) -> SequenceData:
    """One test sequence ``folder`` = ``.../TSk`` (all N annotated frames; ``valid`` from ``valid_frame``).

    The camera is fitted to the valid frames (:func:`fit_test_camera`); its line goes to ``checks``.
    """
    ts = folder.name
    path = folder / "annot_data.mat"
    a = read_test_annot(path)
    check_units(a["annot3"][a["valid"]], "mm", path)
    order = list(TEST17_TO_H36M)
    n = a["annot3"].shape[0]
    annot3, annot2 = a["annot3"][:, order], a["annot2"][:, order]
    intr, fit = fit_test_camera(ts, annot3, annot2, a["valid"], path)
    if checks is not None:
        checks.append(describe_test_fit(ts, intr, fit))
    cam = CameraData(
        camera_id="0",
        camera_3d=annot3,
        pose_2d=annot2,
        intrinsics=intr,
        rotation=np.eye(3),
        translation=np.zeros(3),
        valid=a["valid"],
        extras={"univ_annot3": a["univ_annot3"][:, order].astype(np.float32), "activity": a["activity"]},
        attrs={
            "intrinsics_source": "fitted to annot2/annot3 over the valid frames (linear least squares, no distortion)",
            **fit.attrs(),
        },
    )
    if images:
        paths = frames_mod.list_images(folder / "imageSequence", what=f"{ts} images")
        if len(paths) < n:
            raise FormatError(
                f"{folder / 'imageSequence'}: {len(paths)} images but annot_data.mat has {n} frames "
                "(incomplete extraction)"
            )
        cam.boxes = frames_mod.boxes_from_2d(cam.pose_2d, (intr.width, intr.height), margin=box_margin)
        cam.images, cam.backgrounds = frames_mod.cut_crops(
            paths[:n], cam.boxes, crop_size, expected_wh=(intr.width, intr.height), workers=workers
        )
    return SequenceData(subject=ts, sequence=ts, action=ts, role=TEST_ROLE, fps=TEST_FPS[ts], cameras={"0": cam})


# --- training set ---------------------------------------------------------------------------------------------------


@dataclass
class CalibCamera:
    """One camera of a ``camera.calibration`` file."""

    index: int
    size: tuple[int, int]
    intrinsic: np.ndarray  # (4, 4)
    extrinsic: np.ndarray  # (4, 4) world -> camera, translation mm

    def intrinsics(self) -> Intrinsics:
        k = self.intrinsic
        return Intrinsics(
            focal=np.array([k[0, 0], k[1, 1]]),
            center=np.array([k[0, 2], k[1, 2]]),
            width=self.size[0],
            height=self.size[1],
        )

    def rotation_translation(self) -> tuple[np.ndarray, np.ndarray]:
        """World -> camera ``(R, t mm)``; R is snapped to the nearest rotation (the file keeps ~7 digits)."""
        u, _, vt = np.linalg.svd(self.extrinsic[:3, :3])
        return u @ vt, self.extrinsic[:3, 3].copy()


_CALIB_KEYS = ("name", "sensor", "size", "animated", "intrinsic", "extrinsic", "radial")


def parse_calibration(path: str | os.PathLike) -> dict[int, CalibCamera]:
    """Parse a Skeletool ``camera.calibration`` file by keyword (any spacing, any key order inside a camera block;
    unknown keys are ignored).

    Raises:
        FormatError: missing header, a number that does not parse, or a camera lacking size/intrinsic/extrinsic.
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        raise FormatError(f"{path}: cannot read ({err})") from None
    body = [(i + 1, ln.split()) for i, ln in enumerate(lines) if ln.strip()]
    if not body or "skeletool camera calibration file" not in " ".join(body[0][1]).lower():
        raise FormatError(
            f"{path}: not a camera calibration file (first line should be 'Skeletool Camera Calibration File V1.0')"
        )
    raw: dict[int, dict[str, list[float]]] = {}
    current: dict[str, list[float]] | None = None
    for lineno, words in body[1:]:
        key, values = words[0].lower(), words[1:]
        if key not in _CALIB_KEYS:
            continue  # a key this reader does not use
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            got = " ".join(values)
            raise FormatError(f"{path}:{lineno}: {key!r} must be followed by numbers, got {got!r}") from None
        if key == "name":
            if len(numbers) != 1 or int(numbers[0]) in raw:
                raise FormatError(f"{path}:{lineno}: bad or repeated camera name {' '.join(values)!r}")
            current = raw[int(numbers[0])] = {}
        elif current is None:
            raise FormatError(f"{path}:{lineno}: {key!r} before the first 'name' line")
        else:
            current[key] = numbers
    cams = {}
    for idx, kv in raw.items():
        for key, count in (("size", 2), ("intrinsic", 16), ("extrinsic", 16)):
            if len(kv.get(key, [])) != count:
                raise FormatError(f"{path}: camera {idx}: {key!r} needs {count} numbers, got {len(kv.get(key, []))}")
        cams[idx] = CalibCamera(
            index=idx,
            size=(int(kv["size"][0]), int(kv["size"][1])),
            intrinsic=np.array(kv["intrinsic"]).reshape(4, 4),
            extrinsic=np.array(kv["extrinsic"]).reshape(4, 4),
        )
    if not cams:
        raise FormatError(f"{path}: no camera ('name' line) in the file")
    return cams


def read_train_annot(path: str | os.PathLike, cameras: tuple[int, ...]) -> dict[int, dict[str, np.ndarray]]:
    """Read ``annot.mat``: per camera ``annot2 (n, 28, 2)``, ``annot3`` and ``univ_annot3`` ``(n, 28, 3)``."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise FormatError(f"{path}: saved as MATLAB v7.3; the training annot.mat files are MATLAB v5") from None
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, MatReadError... on damaged files
        raise FormatError(f"{path}: not a readable MAT file: truncated or corrupt ({type(err).__name__})") from None
    for key in ("annot2", "annot3", "univ_annot3"):
        if key not in mat:
            raise FormatError(f"{path}: no variable {key!r}")
    index = list(range(mat["annot3"].size))
    if "cameras" in mat:
        index = [int(c) for c in np.asarray(mat["cameras"]).ravel()]
    out: dict[int, dict[str, np.ndarray]] = {}
    for cam in cameras:
        if cam not in index:
            raise FormatError(f"{path}: no camera {cam} (cells hold cameras {index})")
        got = {}
        for key, dim in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
            cells = np.asarray(mat[key]).ravel()
            if cells.dtype != object or cells.size != len(index):
                raise FormatError(
                    f"{path}: {key!r} must be a cell array with one cell per camera ({len(index)}), "
                    f"got {np.asarray(mat[key]).dtype} {np.asarray(mat[key]).shape}"
                )
            arr = np.asarray(cells[index.index(cam)], np.float64)
            if arr.ndim != 2 or arr.shape[1] != 28 * dim:
                raise FormatError(f"{path}: {key!r} camera {cam} has shape {arr.shape}, expected (n, {28 * dim})")
            got[key] = arr.reshape(arr.shape[0], 28, dim)
        if len({v.shape[0] for v in got.values()}) != 1:
            raise FormatError(f"{path}: camera {cam}: annot2, annot3, univ_annot3 disagree on the frame count")
        out[cam] = got
    return out


def _train_ids(folder: Path) -> tuple[int, int]:
    return int(folder.parent.name[1:]), int(folder.name[3:])


def load_train(
    folder: Path,
    n: int,
    cameras: tuple[int, ...],
    *,
    images: bool,
    crop_size: int = 64,
    box_margin: float = frames_mod.BOX_MARGIN,
    workers: int | None = None,
    warn: Callable[[str], None] | None = None,
    checks: list[str] | None = None,
) -> SequenceData:
    """One training sequence: ``n`` frames (``-1``: all annotated frames) of the selected cameras.

    Each camera's calibration must reproject its ``annot3`` onto its ``annot2`` (``camera_check.require``); the
    results go to ``checks`` as one line.
    """
    subj, seq = _train_ids(folder)
    calib = parse_calibration(folder / "camera.calibration")
    annot = read_train_annot(folder / "annot.mat", cameras)
    n_annot = min(v["annot3"].shape[0] for v in annot.values())
    if n < 0:
        n = n_annot
    elif n_annot < n:
        if warn is not None:
            warn(f"{folder / 'annot.mat'}: {n_annot} annotated frames, fewer than the {n} expected; truncated")
        n = n_annot
    order = list(TRAIN28_TO_H36M)
    cams: dict[str, CameraData] = {}
    world = None
    fits: dict[int, camera_check.Reprojection] = {}
    for cam in cameras:
        if cam not in calib:
            raise FormatError(f"{folder / 'camera.calibration'}: no camera {cam}")
        a = {k: v[:n, order] for k, v in annot[cam].items()}
        check_units(a["annot3"], "mm", folder / "annot.mat")
        intr = calib[cam].intrinsics()
        fits[cam] = camera_check.reprojection(a["annot3"], a["annot2"], intr)
        camera_check.require(fits[cam], folder / "camera.calibration", f"camera {cam}")
        rot, trans = calib[cam].rotation_translation()
        if world is None:
            world = camera_to_world(a["annot3"], rot, trans)
        data = CameraData(
            camera_id=str(cam),
            camera_3d=a["annot3"],
            pose_2d=a["annot2"],
            intrinsics=intr,
            rotation=rot,
            translation=trans,
            valid=np.ones(n, bool),
            extras={"univ_annot3": a["univ_annot3"].astype(np.float32)},
            attrs={"intrinsics_source": "camera.calibration", **fits[cam].attrs()},
        )
        if images:
            paths = frames_mod.list_images(folder / "imageFrames" / f"video_{cam}")[:n]
            data.boxes = frames_mod.boxes_from_2d(data.pose_2d, (intr.width, intr.height), margin=box_margin)
            data.images, data.backgrounds = frames_mod.cut_crops(
                paths, data.boxes, crop_size, expected_wh=(intr.width, intr.height), workers=workers
            )
        cams[str(cam)] = data
    if checks is not None:
        worst = max(fits, key=lambda c: fits[c].mean_px)
        checks.append(
            f"S{subj}/Seq{seq}: camera.calibration reprojects annot3 onto annot2 with mean "
            f"{np.mean([f.mean_px for f in fits.values()]):.3g} px over {len(fits)} cameras (worst camera "
            f"{worst}: {fits[worst].text()})"
        )
    return SequenceData(
        subject=f"S{subj}",
        sequence=f"Seq{seq}",
        action=f"Seq{seq}",
        role=TRAIN_ROLE,
        fps=50.0 if (subj, seq) in TRAIN_FPS_50 else 25.0,
        cameras=cams,
        world_3d=world,
    )


def _train_frame_count(folder: Path, cameras: tuple[int, ...], images: bool, notes: list[str]) -> int:
    """Frames to keep, from headers only: the known video length and (with images) the extracted frame counts.

    ``load_train`` further cuts to the annotation length if annot.mat is shorter (it normally is longer).
    """
    import scipy.io

    path = folder / "annot.mat"
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        names = {name for name, _, _ in scipy.io.whosmat(str(path))}
    except NotImplementedError:
        raise FormatError(f"{path}: saved as MATLAB v7.3; the training annot.mat files are MATLAB v5") from None
    except Exception as err:
        raise FormatError(f"{path}: not a readable MAT file: truncated or corrupt ({type(err).__name__})") from None
    for key in ("annot2", "annot3", "univ_annot3"):
        if key not in names:
            raise FormatError(f"{path}: no variable {key!r}")
    subj, seq = _train_ids(folder)
    counts: dict[str, int] = {}
    if (subj, seq) in TRAIN_FRAME_COUNTS:
        counts["video length"] = TRAIN_FRAME_COUNTS[(subj, seq)]
    if images:
        for cam in cameras:
            counts[f"frames video_{cam}"] = len(frames_mod.list_images(folder / "imageFrames" / f"video_{cam}"))
    if not counts:
        return -1  # unknown sequence and no images: keep the annotation length
    n = min(counts.values())
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        notes.append(f"S{subj}/Seq{seq}: frame counts differ ({detail}); truncated to {n}")
    return n


# --- discovery ------------------------------------------------------------------------------------------------------


def _test_dir(root: Path) -> Path | None:
    for cand in (
        root / "mpi_inf_3dhp_test_set" / "mpi_inf_3dhp_test_set",
        root / "mpi_inf_3dhp_test_set",
        root / "test",
        root,
    ):
        if any((cand / ts).is_dir() for ts in TEST_SEQUENCES):
            return cand
    return None


def _train_dir(root: Path) -> Path | None:
    for cand in (root / "train", root):
        if any((cand / f"S{k}" / "Seq1").is_dir() or (cand / f"S{k}" / "Seq2").is_dir() for k in range(1, 9)):
            return cand
    return None


def scan(
    root: str | os.PathLike,
    *,
    split: str = "all",
    cameras: tuple[int, ...] = DEFAULT_TRAIN_CAMERAS,
    images: bool = False,
    crop_size: int = 64,
    box_margin: float = frames_mod.BOX_MARGIN,
    workers: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[SequenceJob]:
    """One job per test sequence (TS1..TS6) and per training sequence (S1..S8 x Seq1..2) found under ``root``.

    Args:
        split: ``"test"``, ``"train"`` or ``"all"`` (whatever is present; at least one split must be).
        cameras: training cameras to import.
        images: cut crops and backgrounds from the image folders (module docstring).
    """
    root = Path(root)
    if not root.is_dir():
        raise FormatError(f"{root}: no such folder (expected the MPI-INF-3DHP root)")
    if split not in ("all", "test", "train"):
        raise ValueError(f"unknown split {split!r}")
    jobs: list[SequenceJob] = []
    test_dir = _test_dir(root) if split in ("all", "test") else None
    train_dir = _train_dir(root) if split in ("all", "train") else None
    if split == "test" and test_dir is None:
        raise FormatError(f"{root}: no test set found (expected {root}/mpi_inf_3dhp_test_set/TS1/annot_data.mat)")
    if split == "train" and train_dir is None:
        raise FormatError(f"{root}: no training set found (expected {root}/S1/Seq1/annot.mat)")
    if test_dir is None and train_dir is None:
        raise FormatError(
            f"{root}: no MPI-INF-3DHP data found (expected {root}/mpi_inf_3dhp_test_set/TS1/"
            f"annot_data.mat or {root}/S1/Seq1/annot.mat)"
        )
    if test_dir is not None:
        for ts in TEST_SEQUENCES:
            folder = test_dir / ts
            if not folder.is_dir():
                continue
            if not (folder / "annot_data.mat").is_file():
                raise FormatError(f"{folder}: no annot_data.mat")
            checks: list[str] = []
            jobs.append(
                SequenceJob(
                    subject=ts,
                    sequence=ts,
                    label=ts,
                    checks=checks,
                    load=lambda f=folder, c=checks: load_test(
                        f, images=images, crop_size=crop_size, box_margin=box_margin, workers=workers, checks=c
                    ),
                )
            )
    if train_dir is not None:
        for subj in range(1, 9):
            for seq in (1, 2):
                folder = train_dir / f"S{subj}" / f"Seq{seq}"
                if not folder.is_dir():
                    continue
                notes: list[str] = []
                calib_path = folder / "camera.calibration"
                missing = [c for c in cameras if c not in parse_calibration(calib_path)]
                if missing:
                    raise FormatError(f"{calib_path}: no camera {', '.join(map(str, missing))}")
                n = _train_frame_count(folder, cameras, images, notes)
                checks = []
                jobs.append(
                    SequenceJob(
                        subject=f"S{subj}",
                        sequence=f"Seq{seq}",
                        label=f"S{subj}/Seq{seq}",
                        notes=notes,
                        checks=checks,
                        load=lambda f=folder, n=n, c=checks: load_train(
                            f,
                            n,
                            cameras,
                            images=images,
                            crop_size=crop_size,
                            box_margin=box_margin,
                            workers=workers,
                            warn=warn,
                            checks=c,
                        ),
                    )
                )
    if not jobs:
        raise FormatError(f"{root}: no MPI-INF-3DHP sequence found")
    return jobs
