"""MMPose's preprocessed Human3.6M and MPI-INF-3DHP files (annotation npz + cameras pickle) -> store sequences.

Formats (open-mmlab/mmpose ``tools/dataset_converters/preprocess_h36m.py``, ``preprocess_mpi_inf_3dhp.py`` and the
``Body3DH36MDataset`` / ``Body3DMpiInf3dhpDataset`` classes that read them):

* Annotation npz (plain ``np.savez``, no pickles): one row per (frame, camera), rows of a video consecutive and in
  frame order. ``imgname`` (M,) str, ``center`` (M, 2) px and ``scale`` (M,) (box side / 200, the box 1.2 x the 2D
  joints' extent), ``part`` (M, 17, 3) px + visibility, ``S`` (M, 17, 4) **metres, camera frame** + visibility.
* Human3.6M: ``annotation_body3d/fps50/h36m_{train,test}.npz`` (every frame) or ``fps10/`` (every 5th frame: the
  script's ``--sample-rate 5``, video frames 0, 5, 10, ...); train S1, S5-S8, test S9, S11; joints in the
  Human3.6M-17 order; ``part`` from ``D2_Positions``, ``S`` from ``D3_Positions_mono``; ``_ALL`` takes skipped. Image
  names ``S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000001.jpg``: subject, the release's file stem with spaces as
  underscores, camera id, video frame number from 1 (frame index + 1), relative to the ``images`` folder.
  ``annotation_body3d/cameras.pkl``: a pickled dict ``(subject, camera id) -> {R (3, 3), T (3, 1) m, f (2, 1),
  c (2, 1) px, k (3, 1), p (2, 1), w, h, name, id}`` built from the release's ``metadata.xml``, where ``R`` and ``T``
  map camera to world (MMPose ``SimpleCamera``: ``X_world = R X_cam + T``; ``T`` is the camera centre) and ``p``
  lists the tangential coefficients in the reverse of kspbench's ``(p1, p2)`` order.
* MPI-INF-3DHP: ``annotations/mpi_inf_3dhp_train.npz`` (every frame of cameras 0, 1, 2, 4-8, cut to the video lengths)
  and ``mpi_inf_3dhp_test_valid.npz`` (only the valid test frames; ``..._test_all.npz`` keeps them all and has no
  validity flags); joints in the 3DHP 17-joint test order (the training 28 joints through ``joints_17``). Image names
  ``S1_Seq1_Cam0_000001.jpg`` and ``TS1_000001.jpg`` (frame index + 1) in one flat ``images`` folder.
  ``cameras_train.pkl``: ``"S1_Seq1_Cam0" -> {R, T (3, 1) m, f, c, w, h, name}`` with ``R``, ``T`` the
  ``camera.calibration`` extrinsic as written, i.e. world -> camera; ``cameras_test.pkl``: ``"TS1" -> {f, c, w, h,
  name}``, intrinsics that MMPose fitted to annot2/annot3 (no extrinsics: the camera frame is the only frame).

Stored: ``camera_3d = S x 1000`` (mm), ``pose_2d = part[..., :2]``, the file's camera (store convention
``X_cam = R X_world + t``, mm), ``world_3d`` from the first camera, ``extras/frame`` the video frame index of each
row. The pickles are read with the restricted unpickler of :mod:`kspbench.data.formats.safe_pickle`. Checks on load:
``S`` projected with the file's camera must reproduce ``part`` (``camera_check.require``), and for Human3.6M each camera
of the file is compared with the published calibration (:func:`h36m_cameras.differences`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats import (
    FormatError,
    SequenceJob,
    camera_check,
    camera_to_world,
    check_units,
    h36m_cameras,
    mpi3dhp_mat,
)
from kspbench.data.formats import frames as frames_mod
from kspbench.data.formats.h36m_cdf import FPS as H36M_FPS
from kspbench.data.formats.h36m_cdf import canonical_name, role_of
from kspbench.data.formats.safe_pickle import load_pickle_file
from kspbench.data.store import CameraData, Intrinsics, SequenceData

# MMPose's box: side = scale x 200 px around center.
SCALE_PX = 200.0
# Human3.6M videos of one camera are 1000x1000 in some subjects' takes and 1000x1002 in others (MMPose's own sample
# frame of S7 camera 55011271 is 1000x1002; its cameras file says 1000x1000): extracted frames may be this many rows
# taller than the cameras file's ``h``.
HEIGHT_SLACK_PX = 2
_FPS_FOLDER = re.compile(r"fps(\d+)$")
_H36M_NAME = re.compile(r"(?P<subject>S\d+)_(?P<stem>[A-Za-z]+(?:_\d+)?)\.(?P<camera>\d+)_(?P<frame>\d+)\.\w+")
_3DHP_TRAIN_NAME = re.compile(r"(?P<subject>S\d+)_(?P<seq>Seq\d+)_Cam(?P<camera>\d+)_(?P<frame>\d+)\.\w+")
_3DHP_TEST_NAME = re.compile(r"(?P<subject>TS\d+)_(?P<frame>\d+)\.\w+")


@dataclass(frozen=True)
class Row:
    """What an image name says: where the row goes in the store and which camera entry of the pickle it uses."""

    subject: str
    sequence: str
    action: str
    camera: str
    frame: int  # video frame index, from 0
    camera_key: object  # key into the cameras pickle


def split_h36m_name(imgname: str) -> tuple[str, str, str, int] | None:
    """``S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000001.jpg`` -> ("S9", "Walking_1", "54138969", 1): subject,
    the release's file stem (spaces as underscores), camera id and the frame number as written (from 1); None for a
    name not in MMPose's Human3.6M layout. Only the file name counts (``/`` or ``\\`` folders before it)."""
    m = _H36M_NAME.fullmatch(re.split(r"[\\/]", imgname)[-1])
    return None if m is None else (m["subject"], m["stem"], m["camera"], int(m["frame"]))


def parse_h36m_name(imgname: str) -> Row:
    """``S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000001.jpg`` -> S9 / ``Walking 1`` / 54138969 / frame 0."""
    parts = split_h36m_name(imgname)
    if parts is None:
        raise FormatError(f"image name {imgname!r} is not MMPose's '<S>_<Action>[_<take>].<camera>_<frame>.jpg'")
    subject, stem, camera, number = parts
    action, sequence = canonical_name(stem.replace("_", " "), imgname)
    return Row(
        subject=subject, sequence=sequence, action=action, camera=camera, frame=number - 1, camera_key=(subject, camera)
    )


def parse_3dhp_name(imgname: str) -> Row:
    """``S1_Seq1_Cam0_000001.jpg`` -> S1 / Seq1 / camera 0; ``TS1_000001.jpg`` -> TS1 / TS1 / camera 0."""
    name = os.path.basename(imgname)
    m = _3DHP_TRAIN_NAME.fullmatch(name)
    if m is not None:
        return Row(
            subject=m["subject"],
            sequence=m["seq"],
            action=m["seq"],
            camera=str(int(m["camera"])),
            frame=int(m["frame"]) - 1,
            camera_key=f"{m['subject']}_{m['seq']}_Cam{int(m['camera'])}",
        )
    m = _3DHP_TEST_NAME.fullmatch(name)
    if m is None:
        raise FormatError(
            f"image name {imgname!r} is not MMPose's 'S<k>_Seq<j>_Cam<c>_<frame>.jpg' or 'TS<k>_<frame>.jpg'"
        )
    return Row(
        subject=m["subject"],
        sequence=m["subject"],
        action=m["subject"],
        camera="0",
        frame=int(m["frame"]) - 1,
        camera_key=m["subject"],
    )


# --- files ----------------------------------------------------------------------------------------------------------


class Annotations:
    """One annotation npz, opened without pickles; arrays are read on first use (fps50 files are large)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")
        self._arrays: dict[str, np.ndarray] = {}
        self.imgname = self._array("imgname")
        if self.imgname.ndim != 1 or self.imgname.dtype.kind not in "US":
            raise FormatError(
                f"{self.path}: 'imgname' must be a 1-D array of strings, got {self.imgname.dtype} {self.imgname.shape}"
            )
        self.imgname = self.imgname.astype(str)

    def _array(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            try:
                with np.load(self.path, allow_pickle=False) as npz:
                    if key not in npz.files:
                        raise FormatError(
                            f"{self.path}: no key {key!r} (keys: {', '.join(npz.files) or 'none'}); "
                            "not an MMPose annotation file"
                        )
                    self._arrays[key] = npz[key]
            except FormatError:
                raise
            except ValueError as err:
                if "allow_pickle" in str(err):
                    raise FormatError(
                        f"{self.path}: {key!r} holds pickled objects; MMPose annotation files never "
                        "do (refusing to unpickle)"
                    ) from None
                raise FormatError(f"{self.path}: not a readable .npz file: truncated or corrupt ({err})") from None
            except Exception as err:  # zipfile.BadZipFile, EOFError, zlib.error, OSError ...
                raise FormatError(
                    f"{self.path}: not a readable .npz file: truncated or corrupt ({type(err).__name__})"
                ) from None
        return self._arrays[key]

    def joints(self, key: str, dim: int, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), 17, dim)`` float64 of ``part`` (dim 2) or ``S`` (dim 3) at ``rows``, visibility dropped."""
        arr = self._array(key)
        m = len(self.imgname)
        if (
            arr.ndim != 3
            or arr.shape[0] != m
            or arr.shape[1] != skeleton.NUM_JOINTS
            or arr.shape[2] not in (dim, dim + 1)
        ):
            raise FormatError(
                f"{self.path}: {key!r} has shape {arr.shape}, expected ({m}, 17, {dim} or {dim + 1}) "
                "(one row per image name)"
            )
        return arr[rows, :, :dim].astype(np.float64)

    def boxes(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), 4)`` float32 ``[x0, y0, x1, y1]``: squares of side ``scale x 200`` around ``center``."""
        center, scale = self._array("center"), self._array("scale")
        m = len(self.imgname)
        if center.shape != (m, 2) or scale.reshape(-1).shape != (m,):
            raise FormatError(f"{self.path}: 'center' {center.shape} / 'scale' {scale.shape} must be ({m}, 2) / ({m},)")
        half = scale.reshape(-1, 1)[rows].astype(np.float64) * SCALE_PX / 2
        return np.concatenate([center[rows] - half, center[rows] + half], axis=1).astype(np.float32)

    def videos(self, parse: Callable[[str], Row]) -> tuple[list[Row], np.ndarray, np.ndarray]:
        """Split the rows by video: ``(one Row per video, (M,) video index, (M,) frame index)``.

        A name is ``<video>_<frame number>.<ext>``; only one name per video goes through ``parse`` (fps50 files
        have millions of rows).
        """
        video, _, tail = np.char.rpartition(self.imgname, "_").T
        number = np.char.partition(tail, ".")[:, 0]
        digits = np.char.isdigit(number)
        if not digits.all():
            i = int(np.flatnonzero(~digits)[0])
            raise FormatError(
                f"{self.path}: row {i}: image name {self.imgname[i]!r} does not end in '_<frame number>.<ext>'"
            )
        names, first, inverse = np.unique(video, return_index=True, return_inverse=True)
        rows = []
        for _name, i in zip(names.tolist(), first.tolist()):
            try:
                rows.append(parse(str(self.imgname[i])))
            except FormatError as err:
                raise FormatError(f"{self.path}: row {i}: {err}") from None
        return rows, inverse.reshape(-1), number.astype(np.int64) - 1


def read_cameras(paths: list[str | os.PathLike]) -> dict:
    """The merged dicts of MMPose cameras pickles, read with the restricted unpickler."""
    cams: dict = {}
    for path in paths:
        obj = load_pickle_file(path, "an MMPose cameras file")
        if not isinstance(obj, dict) or not all(isinstance(v, dict) for v in obj.values()):
            raise FormatError(f"{path}: an MMPose cameras file is a dict of per-camera dicts, got {type(obj).__name__}")
        cams.update(obj)
    return cams


def _vector(entry: dict, key: str, size: int, where: str, default: float | None = None) -> np.ndarray:
    if key not in entry:
        if default is not None:
            return np.full(size, default)
        raise FormatError(f"{where}: no {key!r} (keys: {', '.join(map(str, entry))})")
    arr = np.asarray(entry[key], np.float64).reshape(-1)
    if arr.size != size or not np.isfinite(arr).all():
        raise FormatError(f"{where}: {key!r} must hold {size} finite numbers, got {np.asarray(entry[key]).shape}")
    return arr


def camera_of(entry: dict, where: str, extrinsics: str | None) -> tuple[Intrinsics, np.ndarray, np.ndarray]:
    """One pickle entry -> ``(intrinsics, R, t mm)`` in the store convention ``X_cam = R X_world + t``.

    Args:
        extrinsics: ``"camera_to_world"`` (Human3.6M: ``X_world = R X_cam + T``), ``"world_to_camera"`` (3DHP
            training: ``X_cam = R X_world + T``) or None (3DHP test: identity, 0).
    """
    try:
        width, height = int(entry["w"]), int(entry["h"])
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"{where}: 'w' and 'h' must be the image size in pixels") from None
    # ``p`` keeps metadata.xml's order, which is (p2, p1) of the Human3.6M model as kspbench (and VideoPose3D) write
    # it; MMPose's SimpleCamera reverses it too (``p[::-1]``). On MMPose's own real sample frames the reversed order
    # reproduces D2_Positions exactly, the stored order misses by up to 0.24 px.
    intr = Intrinsics(
        focal=_vector(entry, "f", 2, where),
        center=_vector(entry, "c", 2, where),
        width=width,
        height=height,
        radial=_vector(entry, "k", 3, where, 0.0),
        tangential=_vector(entry, "p", 2, where, 0.0)[::-1].copy(),
    )
    if extrinsics is None:
        return intr, np.eye(3), np.zeros(3)
    rot = _vector(entry, "R", 9, where).reshape(3, 3)
    u, _, vt = np.linalg.svd(rot)
    if np.abs(rot - u @ vt).max() > 1e-4 or np.linalg.det(u @ vt) < 0:
        raise FormatError(f"{where}: 'R' is not a rotation matrix")
    rot = u @ vt  # snapped: a pickle of float32 numbers is orthonormal to ~1e-7 only
    t_mm = _vector(entry, "T", 3, where) * 1000.0
    if extrinsics == "camera_to_world":
        return intr, rot.T, -rot.T @ t_mm
    return intr, rot, t_mm


def _frame_size(first_frame: Path, intr: Intrinsics, where: str, checks: list[str]) -> Intrinsics:
    """``intr`` with the image size of the extracted frames, which may exceed the file's ``h`` by
    :data:`HEIGHT_SLACK_PX` rows (then a check line says so); any other size is refused."""
    width, height = frames_mod.image_size(first_frame)
    if (width, height) == (intr.width, intr.height):
        return intr
    if width != intr.width or not 0 < height - intr.height <= HEIGHT_SLACK_PX:
        raise FormatError(
            f"{first_frame}: frame is {width}x{height} px but the cameras file says {intr.width}x"
            f"{intr.height}; extract frames at the video's native resolution"
        )
    checks.append(
        f"{where}: frames are {width}x{height} px, the cameras file says {intr.width}x{intr.height} "
        "(accepted: extra rows at the bottom leave pixel coordinates unchanged)"
    )
    return replace(intr, height=height)


# --- scan -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flavour:
    """What differs between MMPose's Human3.6M and 3DHP files."""

    dataset: str
    parse: Callable[[str], Row]
    to_h36m: tuple[int, ...] | None  # joint reorder into Human3.6M-17 (None: already)
    extrinsics: Callable[[Row], str | None]
    role: Callable[[Row], str]
    base_fps: Callable[[Row], float]  # fps of the video the rows were sampled from
    compare_published: bool  # compare with h36m_cameras


H36M = Flavour(
    dataset="h36m",
    parse=parse_h36m_name,
    to_h36m=None,
    extrinsics=lambda r: "camera_to_world",
    role=lambda r: role_of(r.subject),
    base_fps=lambda r: H36M_FPS,
    compare_published=True,
)


def _3dhp_fps(row: Row) -> float:
    if row.subject.startswith("TS"):
        return mpi3dhp_mat.TEST_FPS.get(row.subject, 25.0)
    return 50.0 if (int(row.subject[1:]), int(row.sequence[3:])) in mpi3dhp_mat.TRAIN_FPS_50 else 25.0


MPI3DHP = Flavour(
    dataset="mpi-inf-3dhp",
    parse=parse_3dhp_name,
    to_h36m=tuple(skeleton.MPI3DHP_TO_H36M),
    extrinsics=lambda r: None if r.subject.startswith("TS") else "world_to_camera",
    role=lambda r: mpi3dhp_mat.TEST_ROLE if r.subject.startswith("TS") else mpi3dhp_mat.TRAIN_ROLE,
    base_fps=_3dhp_fps,
    compare_published=False,
)


def _folder_fps(path: Path) -> int | None:
    """``.../fps10/h36m_train.npz`` -> 10 (MMPose names the folder after the sampled frame rate)."""
    m = _FPS_FOLDER.fullmatch(path.parent.name)
    return int(m.group(1)) if m else None


def _step(frames: np.ndarray, where: str) -> int:
    """The sampling step of one video's rows (1 at fps50, 5 at fps10; 0 for a single row).

    Rows may skip frames by multiples of the step (the 3DHP test file keeps only the valid frames), but must be in
    increasing frame order.
    """
    if len(frames) < 2:
        return 0
    diffs = np.diff(frames)
    if (diffs <= 0).any():
        raise FormatError(
            f"{where}: rows are not in increasing frame order; the rows of one video must be "
            "consecutive, as MMPose writes them"
        )
    return int(np.gcd.reduce(diffs))


def scan(
    npz_paths: list[str | os.PathLike],
    camera_paths: list[str | os.PathLike],
    flavour: Flavour,
    *,
    subjects: list[str] | None = None,
    images: str | os.PathLike | None = None,
    crop_size: int = 64,
    workers: int | None = None,
) -> list[SequenceJob]:
    """One job per (subject, sequence) found in the image names of ``npz_paths``.

    Args:
        camera_paths: MMPose cameras pickles (every camera the rows use must be in one of them).
        subjects: only these subjects.
        images: MMPose's ``images`` folder: crops (``crop_size``) cut with the file's boxes (``center``, ``scale``).
    """
    cameras = read_cameras(camera_paths)
    jobs: list[SequenceJob] = []
    seen: dict[tuple[str, str], Path] = {}
    for npz_path in map(Path, npz_paths):
        ann = Annotations(npz_path)
        videos, video_of, frame_of = ann.videos(flavour.parse)
        order = np.argsort(video_of, kind="stable")  # rows of each video, in file order
        bounds = np.searchsorted(video_of[order], np.arange(len(videos) + 1))
        groups: dict[tuple[str, str], dict[str, Row]] = {}
        row_sets: dict[tuple[str, str, str], np.ndarray] = {}
        for v, row in enumerate(videos):
            if subjects and row.subject not in subjects:
                continue
            cams = groups.setdefault((row.subject, row.sequence), {})
            if row.camera in cams:
                raise FormatError(
                    f"{npz_path}: {row.subject}/{row.sequence} camera {row.camera} appears under two "
                    "image-name spellings"
                )
            cams[row.camera] = row
            row_sets[(row.subject, row.sequence, row.camera)] = order[bounds[v] : bounds[v + 1]]
        for key in groups:
            if key in seen:
                raise FormatError(f"{npz_path}: {key[0]}/{key[1]} is also in {seen[key]}; give each file once")
            seen[key] = npz_path
        missing = sorted(
            {str(r.camera_key) for cams in groups.values() for r in cams.values() if r.camera_key not in cameras}
        )
        if missing:
            raise FormatError(f"{npz_path}: no camera {', '.join(missing[:4])} in {', '.join(map(str, camera_paths))}")
        for (subject, sequence), cams in sorted(groups.items()):
            videos_here = {c: cams[c] for c in sorted(cams, key=lambda c: (len(c), c))}
            rows_here = {c: row_sets[(subject, sequence, c)] for c in videos_here}
            counts = {c: len(r) for c, r in rows_here.items()}
            notes = (
                [
                    f"{subject}/{sequence}: cameras have {', '.join(f'{c} {k}' for c, k in counts.items())} rows; "
                    f"truncated to {min(counts.values())}"
                ]
                if len(set(counts.values())) > 1
                else []
            )
            checks: list[str] = []
            jobs.append(
                SequenceJob(
                    subject=subject,
                    sequence=sequence,
                    label=f"{subject}/{sequence}",
                    notes=notes,
                    checks=checks,
                    load=lambda ann=ann, v=videos_here, r=rows_here, f=frame_of, checks=checks: _load(
                        ann, v, r, f, cameras, flavour, images, crop_size, workers, checks
                    ),
                )
            )
    if not jobs:
        raise FormatError(
            f"{', '.join(map(str, npz_paths))}: no rows" + (f" of subject(s) {', '.join(subjects)}" if subjects else "")
        )
    if flavour.compare_published:
        compare_with_published(jobs, cameras)
    return jobs


def compare_with_published(jobs: list[SequenceJob], cameras: dict) -> None:
    """One check line per subject of ``jobs`` (on its first job): a Human3.6M cameras file's entries (MMPose
    ``cameras.pkl`` layout, :func:`read_cameras`) against kspbench's published calibration."""
    first_job: dict[str, SequenceJob] = {}
    for job in jobs:
        first_job.setdefault(job.subject, job)
    for subject, job in first_job.items():
        if not h36m_cameras.has_extrinsics(subject):
            job.checks.append(f"{subject}: no published calibration to compare the cameras file with")
            continue
        worst: dict[str, float] = {}
        for cam in h36m_cameras.CAMERA_IDS:
            if (subject, cam) not in cameras:
                continue
            intr, rot, trans = camera_of(cameras[(subject, cam)], f"cameras file [{subject}, {cam}]", "camera_to_world")
            for k, v in h36m_cameras.differences(subject, cam, intr, rot, trans).items():
                worst[k] = max(worst.get(k, 0.0), v)
        if worst:
            job.checks.append(
                f"{subject}: cameras file vs kspbench's published calibration: "
                + h36m_cameras.describe_differences(worst)
            )


def _load(
    ann: Annotations,
    videos: dict[str, Row],
    rows: dict[str, np.ndarray],
    frame_of: np.ndarray,
    cameras: dict,
    flavour: Flavour,
    images: str | os.PathLike | None,
    crop_size: int,
    workers: int | None,
    checks: list[str],
) -> SequenceData:
    """One sequence: ``videos`` (camera -> parsed name) with their ``rows`` (camera -> row indices in file order)."""
    first = next(iter(videos.values()))
    where = f"{ann.path} [{first.subject}/{first.sequence}]"
    frames = {c: frame_of[idx] for c, idx in rows.items()}
    steps = {_step(f, f"{where} camera {c}") for c, f in frames.items()} - {0}
    if len(steps) > 1:
        raise FormatError(f"{where}: cameras are sampled with different frame steps {sorted(steps)}")
    folder_fps = _folder_fps(ann.path)
    if steps:
        step = steps.pop()
        fps = flavour.base_fps(first) / step
        if folder_fps is not None and abs(folder_fps - fps) > 1e-6:
            raise FormatError(
                f"{where}: rows are every {step}th frame of a {flavour.base_fps(first):g} fps video "
                f"({fps:g} fps) but the file is in folder fps{folder_fps}"
            )
    else:  # one row per camera: only the folder name tells the rate
        fps = float(folder_fps) if folder_fps else flavour.base_fps(first)
    n = min(len(f) for f in frames.values())
    if any(not np.array_equal(f[:n], frames[next(iter(frames))][:n]) for f in frames.values()):
        raise FormatError(f"{where}: the cameras' rows are not the same video frames")
    order = list(flavour.to_h36m) if flavour.to_h36m is not None else list(range(skeleton.NUM_JOINTS))
    out: dict[str, CameraData] = {}
    world = None
    fits = {}
    for cam, idx in rows.items():
        idx = idx[:n]
        cam3d_m = ann.joints("S", 3, idx)[:, order]
        check_units(cam3d_m, "m", where)
        cam3d, pose2d = cam3d_m * 1000.0, ann.joints("part", 2, idx)[:, order]
        key = videos[cam].camera_key
        intr, rot, trans = camera_of(cameras[key], f"cameras file [{key}]", flavour.extrinsics(first))
        fits[cam] = camera_check.reprojection(cam3d, pose2d, intr)
        camera_check.require(fits[cam], where, f"camera {key} of the cameras file")
        if world is None and flavour.extrinsics(first) is not None:
            world = camera_to_world(cam3d, rot, trans)
        data = CameraData(
            camera_id=cam,
            camera_3d=cam3d,
            pose_2d=pose2d,
            intrinsics=intr,
            rotation=rot,
            translation=trans,
            valid=np.ones(n, bool),
            extras={"frame": frames[cam][:n].astype(np.int32)},
            attrs={"intrinsics_source": "MMPose cameras file", **fits[cam].attrs()},
        )
        if images is not None:
            paths = [Path(images) / ann.imgname[i] for i in idx]
            absent = [p for p in paths if not p.is_file()]
            if absent:
                raise FormatError(
                    f"{absent[0]}: no such image ({len(absent)} of {len(paths)} images of {where} camera {cam} missing)"
                )
            data.intrinsics = _frame_size(paths[0], intr, f"{where} camera {cam}", checks)
            data.boxes = ann.boxes(idx)
            data.images, data.backgrounds = frames_mod.cut_crops(
                paths,
                data.boxes,
                crop_size,
                expected_wh=(data.intrinsics.width, data.intrinsics.height),
                workers=workers,
            )
        out[cam] = data
    worst = max(fits, key=lambda c: fits[c].worst_px)
    checks.append(
        f"{first.subject}/{first.sequence}: S projected with the cameras file reproduces part: worst "
        f"{fits[worst].worst_px:.3g} px (camera {worst}), mean "
        f"{np.mean([f.mean_px for f in fits.values()]):.3g} px over {len(fits)} camera(s), {n} frames"
    )
    return SequenceData(
        subject=first.subject,
        sequence=first.sequence,
        action=first.action,
        role=flavour.role(first),
        fps=fps,
        cameras=out,
        world_3d=world,
    )
