"""VideoPose3D's preprocessed Human3.6M files (npz) -> store sequences, and predictions -> a VideoPose3D-style npz.

Read (facebookresearch/VideoPose3D ``data/prepare_data_h36m.py``, ``DATASETS.md``):
    ``data_3d_h36m.npz``: key ``positions_3d``, a *pickled* dict ``subject -> action -> (N, 32, 3)`` float32 world
    coordinates in **metres** (``Directions 1``, ``Photo``, ...; S11 ``Directions`` absent). ``np.load`` would
    need ``allow_pickle=True``, which runs any code stored in the file; kspbench reads the pickles with a restricted
    unpickler instead (numpy arrays, dicts, lists, strings and numbers only) and refuses anything else.
    ``data_2d_h36m_gt.npz`` (or a detections file in the Human3.6M-17 layout): key ``positions_2d``, a pickled dict
    ``subject -> action -> [4 x (N', 17, 2)]`` pixels, cameras in the order of ``h36m_cameras.CAMERA_IDS``; key
    ``metadata`` (``num_joints``, optionally ``layout_name``).
Stored: world ``(N, 17, 3)`` mm; per camera ``camera_3d = R world + t`` (published extrinsics), ``pose_2d`` from
the 2D file (cut to the 3D length where it is longer) or, without one, the projection with the full distortion model.

Written (:func:`export_predictions`): ``positions_3d``, a pickled dict ``subject -> sequence -> [one (N, 17, 3)
float32 array per camera]`` in metres, camera frame, Human3.6M-17 order; the list follows
``h36m_cameras.CAMERA_IDS`` when every camera is a Human3.6M camera (otherwise sorted ids); frame ``i`` of the
array is frame ``i`` of the sequence, frames without a prediction are NaN and a camera without any prediction is an
empty ``(0, 17, 3)`` array. Key ``metadata``: a dict with the camera order, the units and the frame counts.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats import FormatError, SequenceJob, check_units, h36m_cameras, project, world_to_camera
from kspbench.data.formats.h36m_cdf import FPS, canonical_name, role_of
from kspbench.data.formats.safe_pickle import UnsafePickle, safe_load
from kspbench.data.store import CameraData, SequenceData
from kspbench.infra.atomic import write_with


def _read_member(zf: zipfile.ZipFile, member: str) -> np.ndarray:
    """One ``.npy`` member of an npz; object arrays through the restricted unpickler, never ``allow_pickle=True``."""
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if not dtype.hasobject:
            count = int(np.prod(shape)) if shape else 1
            data = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype, count=count)
            return data.reshape(shape, order="F" if fortran else "C")
        obj = safe_load(f)
    return obj if isinstance(obj, np.ndarray) else np.asarray(obj, dtype=object)


def load_pickled_dict(path: str | os.PathLike, key: str) -> tuple[dict, dict[str, Any]]:
    """The pickled dict under ``key`` of a VideoPose3D npz, read safely; every failure is one :class:`FormatError`.

    Only ``key`` and ``metadata`` are used. Every object member (used or not) is read with a restricted unpickler
    that builds only dicts, lists, strings, numbers and numpy arrays: a file whose pickles reference anything else
    (a crafted file that would run code under ``np.load(..., allow_pickle=True)``) is refused, and nothing in it
    runs.

    Returns:
        (the dict under ``key``, ``{"metadata": value}`` when the file has that key).
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    # np.load would unpickle a bare pickle file too: accept only zip archives (npz), as VideoPose3D writes them.
    if not zipfile.is_zipfile(path):
        raise FormatError(f"{path}: not a readable .npz file (not a zip archive): truncated, corrupt or another format")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
            if key not in members:
                raise FormatError(f"{path}: no key {key!r} (keys: {', '.join(members) or 'none'})")
            wanted = {k: _read_member(zf, members[k]) for k in (key, "metadata") if k in members}
            for k, m in members.items():
                if k not in wanted and _is_object_member(zf, m):
                    _read_member(zf, m)  # unused, but a pickle that reaches for code means a crafted file
    except FormatError:
        raise
    except UnsafePickle as err:
        raise FormatError(
            f"{path}: refusing to load: a pickle in it references {err}, which a VideoPose3D file "
            "never does (a crafted file?); nothing in it was run"
        ) from None
    except Exception as err:  # a truncated or corrupt member can raise anything (EOFError, ValueError, zlib.error)
        raise FormatError(f"{path}: not a readable .npz file: truncated or corrupt ({type(err).__name__})") from None
    arr = wanted[key]
    if arr.dtype != object or arr.shape != () or not isinstance(arr.item(), dict):
        raise FormatError(
            f"{path}: {key!r} must be a pickled dict (subject -> action -> array), got {arr.dtype} {arr.shape}"
        )
    others = {k: (v.item() if v.dtype == object and v.shape == () else v) for k, v in wanted.items() if k != key}
    return arr.item(), others


def _is_object_member(zf: zipfile.ZipFile, member: str) -> bool:
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return header(f)[2].hasobject


def _positions_17(arr: Any, where: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu" or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[1] not in (32, 17):
        raise FormatError(f"{where}: expected (N, 32, 3) world positions in metres, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.float64)
    return arr[:, list(skeleton.H36M32_TO_17)] if arr.shape[1] == 32 else arr


def scan(
    npz_3d: str | os.PathLike,
    npz_2d: str | os.PathLike | None = None,
    *,
    subjects: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[SequenceJob]:
    """One job per (subject, action) of ``positions_3d``; ``npz_2d`` supplies ``pose_2d`` (else projection)."""
    npz_3d = Path(npz_3d)
    pos3d, _ = load_pickled_dict(npz_3d, "positions_3d")
    pos2d = None
    if npz_2d is not None:
        pos2d, others = load_pickled_dict(npz_2d, "positions_2d")
        meta = others.get("metadata") if isinstance(others.get("metadata"), dict) else {}
        layout = meta.get("layout_name", "h36m")
        if layout != "h36m" or int(meta.get("num_joints", 17)) != 17:
            raise FormatError(
                f"{npz_2d}: 2D keypoints are in the {layout!r} layout with {meta.get('num_joints')} "
                "joints; only the Human3.6M 17-joint layout can be stored"
            )
    if subjects:
        missing = [s for s in subjects if s not in pos3d]
        if missing:
            raise FormatError(
                f"{npz_3d}: subject(s) {', '.join(missing)} not in positions_3d (has {', '.join(map(str, pos3d))})"
            )
    jobs = []
    for subject in subjects or sorted(pos3d, key=lambda s: (len(str(s)), str(s))):
        actions = pos3d[subject]
        if not isinstance(actions, dict):
            raise FormatError(f"{npz_3d}: positions_3d[{subject!r}] must be a dict action -> array")
        if not h36m_cameras.has_extrinsics(str(subject)):
            raise FormatError(f"{npz_3d}: no published camera extrinsics for subject {subject!r}")
        for action in sorted(actions):
            where = f"{npz_3d} [{subject}/{action}]"
            act, name = canonical_name(str(action), where)
            notes: list[str] = []
            world_n = int(np.shape(actions[action])[0]) if np.ndim(actions[action]) == 3 else -1
            p2 = None
            if pos2d is not None:
                p2 = pos2d.get(subject, {}).get(action) if isinstance(pos2d.get(subject), dict) else None
                if p2 is None:
                    raise FormatError(f"{npz_2d}: no 2D poses for {subject}/{action} (positions_2d lacks it)")
                if not isinstance(p2, (list, tuple)) or len(p2) != len(h36m_cameras.CAMERA_IDS):
                    raise FormatError(f"{npz_2d} [{subject}/{action}]: expected a list of 4 per-camera arrays")
                lengths = [int(np.shape(a)[0]) for a in p2]
                if world_n >= 0 and any(n != world_n for n in lengths):
                    notes.append(
                        f"{subject}/{name}: frame counts differ (3D {world_n}, 2D {lengths}); "
                        f"truncated to {min([world_n, *lengths])}"
                    )
            jobs.append(
                SequenceJob(
                    subject=str(subject),
                    sequence=name,
                    label=f"{subject}/{name}",
                    notes=notes,
                    load=lambda s=str(subject), pos=actions[action], act=act, name=name, p2=p2: _load(
                        pos, p2, s, act, name, npz_3d, npz_2d
                    ),
                )
            )
    if not jobs:
        raise FormatError(f"{npz_3d}: positions_3d holds no sequence")
    return jobs


def _load(
    positions: Any,
    p2: list | None,
    subject: str,
    action: str,
    name: str,
    npz_3d: Path,
    npz_2d: str | os.PathLike | None,
) -> SequenceData:
    where = f"{npz_3d} [{subject}/{name}]"
    world_m = _positions_17(positions, where)
    check_units(world_m, "m", where)
    world = world_m * 1000.0
    n = world.shape[0]
    if p2 is not None:
        arrays = []
        for cam, a in zip(h36m_cameras.CAMERA_IDS, p2):
            a = np.asarray(a)
            if a.dtype.kind not in "fiu" or a.ndim != 3 or a.shape[1:] != (17, 2):
                raise FormatError(
                    f"{npz_2d} [{subject}/{name} camera {cam}]: expected (N, 17, 2) pixels, got {a.dtype} {a.shape}"
                )
            arrays.append(a.astype(np.float64))
        n = min([n, *(a.shape[0] for a in arrays)])
    cams = {}
    for k, cam in enumerate(h36m_cameras.CAMERA_IDS):
        intr = h36m_cameras.intrinsics(cam)
        rot, trans = h36m_cameras.extrinsics(subject, cam)
        cam3d = world_to_camera(world[:n], rot, trans)
        p2d = arrays[k][:n] if p2 is not None else project(cam3d, intr)
        cams[cam] = CameraData(
            camera_id=cam,
            camera_3d=cam3d,
            pose_2d=p2d,
            intrinsics=intr,
            rotation=rot,
            translation=trans,
            valid=np.ones(n, bool),
        )
    return SequenceData(
        subject=subject, sequence=name, action=action, role=role_of(subject), fps=FPS, cameras=cams, world_3d=world[:n]
    )


# --- export ---------------------------------------------------------------------------------------------------------


def predictions_to_vp3d(preds) -> tuple[dict, dict]:
    """``kspbench.data.predictions.Predictions`` -> ``(positions_3d, metadata)`` (module docstring)."""
    cams_all = sorted(set(preds.camera.tolist()))
    order = list(h36m_cameras.CAMERA_IDS) if set(cams_all) <= set(h36m_cameras.CAMERA_IDS) else cams_all
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    counts: dict[str, dict[str, list[int]]] = {}
    missing = 0
    subjects, sequences = preds.subject.astype(str), preds.sequence.astype(str)
    for subject, sequence in sorted(set(zip(subjects.tolist(), sequences.tolist()))):
        rows = (subjects == subject) & (sequences == sequence)
        lists = []
        for cam in order:
            sel = rows & (preds.camera == cam)
            if not sel.any():
                lists.append(np.zeros((0, skeleton.NUM_JOINTS, 3), np.float32))
                continue
            frames = preds.frame[sel]
            arr = np.full((int(frames.max()) + 1, skeleton.NUM_JOINTS, 3), np.nan, np.float32)
            arr[frames] = preds.poses_3d[sel] / 1000.0
            missing += arr.shape[0] - int(sel.sum())
            lists.append(arr)
        out.setdefault(subject, {})[sequence] = lists
        counts.setdefault(subject, {})[sequence] = [int(a.shape[0]) for a in lists]
    meta = {
        "camera_order": order,
        "units": "m",
        "frame": "camera",
        "joint_order": "h36m-17",
        "num_joints": skeleton.NUM_JOINTS,
        "frames_per_camera": counts,
        "missing_frames_nan": int(missing),
        "source_attrs": dict(preds.attrs),
    }
    return out, meta


def export_predictions(preds, out: str | os.PathLike) -> dict:
    """Write :func:`predictions_to_vp3d` to ``out`` atomically (temporary file, then rename); returns the metadata."""
    out = Path(out)
    positions, meta = predictions_to_vp3d(preds)
    write_with(
        out,
        lambda f: np.savez_compressed(
            f, positions_3d=np.array(positions, dtype=object), metadata=np.array(meta, dtype=object)
        ),
    )
    return meta
