"""The common pose store: one versioned HDF5 layout that every dataset uses, real or synthetic.

Layout v1 (all lengths in millimetres, 2D in pixels, joints in the Human3.6M-17 order of ``kspbench.core.skeleton``)::

    /                                   attrs: format="kspbench-pose-store", layout_version=1, dataset, source,
                                               joint_names (17 str), kspbench_version
    /sequences/<subject>/<sequence>/    attrs: subject, sequence, action, role, fps, n_frames, complete
        world_3d        (N, 17, 3) float32   optional: world-frame joints (absent where a dataset has no world frame)
        cameras/<camera_id>/            attrs: width, height (px); optional checks of the importer, e.g.
                                               intrinsics_source, reprojection_mean_px, reprojection_worst_px
            camera_3d   (N, 17, 3) float32   joints in this camera's frame
            pose_2d     (N, 17, 2) float32   joints in this camera's image, px
            valid       (N,)       bool      frames that count (3DHP ``valid_frame``); invalid frames may hold NaN
            focal (2,), center (2,), radial (3,), tangential (2,)   float64   intrinsics, px (Human3.6M model)
            rotation    (3, 3) or (N, 3, 3) float64   world -> camera: X_cam = R @ X_world + t (column vectors)
            translation (3,)   or (N, 3)    float64   mm
            boxes       (N, 4) float32       optional: person box [x0, y0, x1, y1] in full-frame px
            images      (N, H, W, 3) uint8   optional: frames; attr ``kind`` = "crop" (cut with ``boxes``) or "full"
            backgrounds (N, H, W, 3) uint8   optional: background estimate, cut like ``images``
            extras/<name> (N, ...)           optional per-frame arrays (e.g. 3DHP ``univ_annot3``, activity labels)

Sequences are written whole and flagged ``complete`` last, so an interrupted write can resume: incomplete groups
are dropped when the partial file is reopened. A store is written to ``<out>.partial`` and renamed over ``<out>``
only after it validates, so a crash never leaves a half-written store under the final name.

NaN policy: the writer and ``validate`` reject non-finite values in valid frames; invalid frames may hold NaN.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from typing import Sequence as Seq

import h5py
import numpy as np

from kspbench import __version__
from kspbench.core import skeleton
from kspbench.errors import KspbenchError

FORMAT_NAME = "kspbench-pose-store"
LAYOUT_VERSION = 1
PARTIAL_SUFFIX = ".partial"
INTRINSIC_SHAPES = {"focal": (2,), "center": (2,), "radial": (3,), "tangential": (2,)}
# Frames per chunk when scanning large arrays for NaN: bounds memory on stores of millions of frames.
_SCAN_CHUNK = 65536


class StoreError(KspbenchError):
    """A store (or a record about to be written) does not follow layout v1."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera with Human3.6M's distortion model; all values in pixels.

    Attributes:
        focal: (2,) fx, fy.
        center: (2,) cx, cy.
        radial: (3,) k1, k2, k3.
        tangential: (2,) p1, p2.
        width, height: image size in pixels.
    """

    focal: np.ndarray
    center: np.ndarray
    width: int
    height: int
    radial: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tangential: np.ndarray = field(default_factory=lambda: np.zeros(2))


@dataclass
class CameraData:
    """One camera's view of a sequence (arrays have N frames first)."""

    camera_id: str
    camera_3d: np.ndarray
    pose_2d: np.ndarray
    intrinsics: Intrinsics
    rotation: np.ndarray
    translation: np.ndarray
    valid: np.ndarray | None = None
    boxes: np.ndarray | None = None
    images: np.ndarray | None = None
    images_kind: str = "crop"
    backgrounds: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    # Scalars stored as attributes of the camera group (where the intrinsics come from, how well they reproject).
    attrs: dict[str, str | int | float] = field(default_factory=dict)


@dataclass
class SequenceData:
    """One sequence: a subject performing one take, seen by one or more cameras."""

    subject: str
    sequence: str
    action: str
    role: str
    fps: float
    cameras: dict[str, CameraData]
    world_3d: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        first = next(iter(self.cameras.values()))
        return int(first.camera_3d.shape[0])


@dataclass(frozen=True)
class SequenceInfo:
    """What a store knows about a sequence without reading its arrays."""

    subject: str
    sequence: str
    action: str
    role: str
    fps: float
    n_frames: int
    cameras: tuple[str, ...]


def partial_path(path: str | os.PathLike) -> Path:
    """Where a store is written before it is renamed into place."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _check_name(kind: str, name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise StoreError(f"{kind} name {name!r} cannot be an HDF5 group name: it must be non-empty and contain no '/'")


def _expect_shape(what: str, arr: np.ndarray, shape: tuple) -> None:
    """Check ``arr.shape`` against ``shape`` where ``None`` matches any size."""
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise StoreError(f"{what} must have shape {want}, got {tuple(arr.shape)}")


def _finite_in_valid(what: str, arr: np.ndarray, valid: np.ndarray) -> None:
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1) & valid
    if bad.any():
        idx = np.flatnonzero(bad)
        raise StoreError(
            f"{what} has non-finite values in {idx.size} valid frame(s), first at frame {idx[0]}; "
            "mark such frames invalid or fix the source data"
        )


def _check_sequence(seq: SequenceData) -> None:
    _check_name("subject", seq.subject)
    _check_name("sequence", seq.sequence)
    if not seq.cameras:
        raise StoreError(f"sequence {seq.subject}/{seq.sequence} has no camera")
    if not (np.isfinite(seq.fps) and seq.fps > 0):
        raise StoreError(f"sequence {seq.subject}/{seq.sequence}: fps must be positive, got {seq.fps}")
    n = seq.n_frames
    j = skeleton.NUM_JOINTS
    if seq.world_3d is not None:
        _expect_shape(f"{seq.subject}/{seq.sequence} world_3d", seq.world_3d, (n, j, 3))
    for cam_id, cam in seq.cameras.items():
        _check_name("camera", cam_id)
        where = f"{seq.subject}/{seq.sequence} camera {cam_id}"
        _expect_shape(f"{where} camera_3d", cam.camera_3d, (n, j, 3))
        _expect_shape(f"{where} pose_2d", cam.pose_2d, (n, j, 2))
        valid = np.ones(n, bool) if cam.valid is None else np.asarray(cam.valid, bool)
        _expect_shape(f"{where} valid", valid, (n,))
        for name, shape in INTRINSIC_SHAPES.items():
            _expect_shape(f"{where} {name}", np.asarray(getattr(cam.intrinsics, name), float), shape)
        rot, trans = np.asarray(cam.rotation, float), np.asarray(cam.translation, float)
        _expect_shape(f"{where} rotation", rot, (3, 3) if rot.ndim == 2 else (n, 3, 3))
        _expect_shape(f"{where} translation", trans, (3,) if trans.ndim == 1 else (n, 3))
        if cam.boxes is not None:
            _expect_shape(f"{where} boxes", cam.boxes, (n, 4))
        for name, imgs in (("images", cam.images), ("backgrounds", cam.backgrounds)):
            if imgs is not None:
                _expect_shape(f"{where} {name}", imgs, (n, None, None, 3))
                if imgs.dtype != np.uint8:
                    raise StoreError(f"{where} {name} must be uint8, got {imgs.dtype}")
        if cam.images_kind not in ("crop", "full"):
            raise StoreError(f"{where} images_kind must be 'crop' or 'full', got {cam.images_kind!r}")
        for name, arr in cam.extras.items():
            _check_name("extra", name)
            if arr.shape[:1] != (n,):
                raise StoreError(f"{where} extra {name!r} must have N={n} frames first, got {tuple(arr.shape)}")
        _finite_in_valid(f"{where} camera_3d", cam.camera_3d, valid)
        _finite_in_valid(f"{where} pose_2d", cam.pose_2d, valid)
        if seq.world_3d is not None:
            _finite_in_valid(f"{seq.subject}/{seq.sequence} world_3d", seq.world_3d, valid)


class StoreWriter:
    """Writes a pose store atomically: to ``<path>.partial``, validated, then renamed to ``path``.

    Use as a context manager. On an exception the partial file is deleted, unless ``resume=True``: then it is kept,
    and the next ``StoreWriter(path, resume=True)`` reopens it, drops incomplete sequences and lets the caller skip
    the complete ones (``has_sequence``).

    Args:
        path: final store path.
        dataset: dataset name recorded in the store (e.g. "h36m", "synthetic-world").
        source: free text: where the data came from (paths, versions, seeds).
        resume: keep and reuse a partial file across interruptions.
    """

    def __init__(self, path: str | os.PathLike, *, dataset: str, source: str, resume: bool = False) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.dataset = dataset
        self.source = source
        self.resume = resume
        self._h5: h5py.File | None = None
        self._lock: contextlib.ExitStack | None = None

    def __enter__(self) -> "StoreWriter":
        from kspbench.infra.atomic import exclusive_lock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # <out>.partial is one fixed, resumable name: two writers of the same store would write into one file, so
        # the second is refused while the first holds the lock (released when it ends or dies).
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(exclusive_lock(self.path, what="writing"))
        try:
            self._open()
        except BaseException:
            self._lock.close()
            raise
        return self

    def _open(self) -> None:
        if self.resume and self.partial.exists():
            try:
                self._h5 = h5py.File(self.partial, "a")
            except OSError:  # killed mid-write: the HDF5 file itself is unreadable; start over
                self.partial.unlink()
        if self._h5 is None:
            self._h5 = h5py.File(self.partial, "w")
            self._h5.attrs.update(
                {
                    "format": FORMAT_NAME,
                    "layout_version": LAYOUT_VERSION,
                    "kspbench_version": __version__,
                    "joint_names": np.array(skeleton.JOINT_NAMES, dtype=h5py.string_dtype()),
                }
            )
            self._h5.require_group("sequences")
        self._h5.attrs["dataset"] = self.dataset
        self._h5.attrs["source"] = self.source
        self._drop_incomplete()

    def _drop_incomplete(self) -> None:
        seqs = self._h5["sequences"]
        for subject in list(seqs):
            for name in list(seqs[subject]):
                if not seqs[subject][name].attrs.get("complete", False):
                    del seqs[subject][name]

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._lock is not None
        with self._lock:
            self._close(exc_type)

    def _close(self, exc_type) -> None:
        assert self._h5 is not None
        self._h5.close()
        self._h5 = None
        if exc_type is not None:
            if not self.resume and self.partial.exists():
                self.partial.unlink()
            return
        problems = validate(self.partial)
        if problems:
            if not self.resume:
                self.partial.unlink()
            raise StoreError(f"refusing to write {self.path}: " + "; ".join(problems[:5]))
        os.replace(self.partial, self.path)

    def set_attr(self, key: str, value: str | int | float) -> None:
        """Set a store (root) attribute, e.g. a builder's manifest as a JSON string."""
        assert self._h5 is not None, "use StoreWriter as a context manager"
        if key in ("format", "layout_version", "joint_names"):
            raise StoreError(f"store attribute {key!r} is set by the writer itself")
        self._h5.attrs[key] = value

    def has_sequence(self, subject: str, sequence: str) -> bool:
        """True if a complete sequence of that name is already in the (resumed) file."""
        assert self._h5 is not None, "use StoreWriter as a context manager"
        grp = self._h5["sequences"].get(subject)
        return grp is not None and sequence in grp and bool(grp[sequence].attrs.get("complete", False))

    def add_sequence(self, seq: SequenceData, *, compression: str | None = "gzip") -> None:
        """Validate and write one sequence; it is flagged complete only once every array is on disk."""
        assert self._h5 is not None, "use StoreWriter as a context manager"
        _check_sequence(seq)
        subj = self._h5["sequences"].require_group(seq.subject)
        if seq.sequence in subj:
            raise StoreError(f"sequence {seq.subject}/{seq.sequence} is already in the store")
        grp = subj.create_group(seq.sequence)
        grp.attrs.update(
            {
                "subject": seq.subject,
                "sequence": seq.sequence,
                "action": seq.action,
                "role": seq.role,
                "fps": float(seq.fps),
                "n_frames": seq.n_frames,
                "complete": False,
            }
        )
        if seq.world_3d is not None:
            grp.create_dataset("world_3d", data=np.asarray(seq.world_3d, np.float32), compression=compression)
        cams = grp.create_group("cameras")
        for cam_id, cam in seq.cameras.items():
            g = cams.create_group(cam_id)
            g.attrs.update({**cam.attrs, "width": int(cam.intrinsics.width), "height": int(cam.intrinsics.height)})
            g.create_dataset("camera_3d", data=np.asarray(cam.camera_3d, np.float32), compression=compression)
            g.create_dataset("pose_2d", data=np.asarray(cam.pose_2d, np.float32), compression=compression)
            valid = np.ones(seq.n_frames, bool) if cam.valid is None else np.asarray(cam.valid, bool)
            g.create_dataset("valid", data=valid)
            for name in INTRINSIC_SHAPES:
                g.create_dataset(name, data=np.asarray(getattr(cam.intrinsics, name), np.float64))
            g.create_dataset("rotation", data=np.asarray(cam.rotation, np.float64))
            g.create_dataset("translation", data=np.asarray(cam.translation, np.float64))
            if cam.boxes is not None:
                g.create_dataset("boxes", data=np.asarray(cam.boxes, np.float32))
            for name, imgs in (("images", cam.images), ("backgrounds", cam.backgrounds)):
                if imgs is not None:
                    ds = g.create_dataset(
                        name, data=imgs, chunks=(1, *imgs.shape[1:]), compression="gzip", compression_opts=4
                    )
                    ds.attrs["kind"] = cam.images_kind
            if cam.extras:
                ex = g.create_group("extras")
                for name, arr in cam.extras.items():
                    ex.create_dataset(name, data=np.asarray(arr), compression=compression)
        grp.attrs["complete"] = True
        self._h5.flush()


def _open_store_file(path: Path) -> h5py.File:
    """Open a store file read-only, or raise :class:`StoreError` saying why it cannot be opened."""
    if not path.is_file():
        raise StoreError(f"{path}: no such store; build one with `kspbench world build` or `kspbench data import`")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise StoreError(f"{path}: not a readable HDF5 file (truncated, corrupt or another format)") from None


class PoseStore:
    """Read access to a pose store; arrays are read lazily, frame ranges on demand.

    Example:
        >>> with PoseStore("data/world.h5") as store:
        ...     for info in store.sequences(role="h36m-test"):
        ...         pose = store.read(info.subject, info.sequence, "camera_3d", camera="54138969")
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._index: list[SequenceInfo] | None = None
        self._groups: dict[tuple[str, str], h5py.Group] = {}
        self._cameras: dict[tuple[str, str, str], h5py.Group | None] = {}
        self._h5 = _open_store_file(self.path)
        if self._h5.attrs.get("format") != FORMAT_NAME:
            self._h5.close()
            raise StoreError(f"{self.path}: not a kspbench pose store (attribute format != {FORMAT_NAME!r})")

    def __enter__(self) -> "PoseStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    @property
    def attrs(self) -> dict:
        """Store attributes: dataset, source, layout_version, joint_names, kspbench_version."""
        out = dict(self._h5.attrs)
        out["joint_names"] = [str(n.decode() if isinstance(n, bytes) else n) for n in out.get("joint_names", [])]
        return out

    def _group(self, subject: str, sequence: str) -> h5py.Group:
        # Memoised, like _camera_group: each h5py name lookup costs tens of microseconds, and a stage reads a few
        # arrays of every track.
        grp = self._groups.get((subject, sequence))
        if grp is None:
            try:
                grp = self._groups[(subject, sequence)] = self._h5["sequences"][subject][sequence]
            except KeyError:
                raise StoreError(f"{self.path}: no sequence {subject}/{sequence}") from None
        return grp

    def _camera_group(self, subject: str, sequence: str, camera: str) -> h5py.Group | None:
        key = (subject, sequence, camera)
        if key not in self._cameras:
            self._cameras[key] = self._group(subject, sequence)["cameras"].get(camera)
        return self._cameras[key]

    def sequences(
        self, *, role: str | Seq[str] | None = None, subject: str | Seq[str] | None = None
    ) -> list[SequenceInfo]:
        """Sequences (sorted by subject, then name), optionally only those of the given role(s)/subject(s)."""
        roles = {role} if isinstance(role, str) else set(role) if role is not None else None
        subjects = {subject} if isinstance(subject, str) else set(subject) if subject is not None else None
        return [
            info
            for info in self._sequence_index()
            if (subjects is None or info.subject in subjects) and (roles is None or info.role in roles)
        ]

    def _sequence_index(self) -> list[SequenceInfo]:
        """Every sequence's info, read once per open store (the file is read-only; h5py's attribute reads are slow
        enough that a stage asking several times paid a fifth of a second for them)."""
        if self._index is None:
            seqs = self._h5["sequences"]
            self._index = []
            for subj in sorted(seqs):
                for name in sorted(seqs[subj]):
                    grp = seqs[subj][name]
                    a = grp.attrs
                    self._index.append(
                        SequenceInfo(
                            subject=str(a["subject"]),
                            sequence=str(a["sequence"]),
                            action=str(a["action"]),
                            role=str(a["role"]),
                            fps=float(a["fps"]),
                            n_frames=int(a["n_frames"]),
                            cameras=tuple(sorted(grp["cameras"])),
                        )
                    )
        return self._index

    def roles(self) -> dict[str, int]:
        """Number of sequences per role."""
        counts: dict[str, int] = {}
        for info in self.sequences():
            counts[info.role] = counts.get(info.role, 0) + 1
        return counts

    def has(self, subject: str, sequence: str, key: str, *, camera: str | None = None) -> bool:
        grp = self._group(subject, sequence) if camera is None else self._camera_group(subject, sequence, camera)
        return grp is not None and key in grp

    def read(
        self,
        subject: str,
        sequence: str,
        key: str,
        *,
        camera: str | None = None,
        frames: slice | np.ndarray | None = None,
    ) -> np.ndarray:
        """Read one array, or a frame range of it.

        Args:
            key: ``world_3d`` (no camera), or a camera array: ``camera_3d``, ``pose_2d``, ``valid``, ``boxes``,
                ``images``, ``backgrounds``, ``rotation``, ``translation``, ``focal``, ``center``, ``radial``,
                ``tangential``, or ``extras/<name>``.
            camera: camera id, required for camera arrays.
            frames: a slice or increasing index array over the first axis (per-frame arrays only).
        """
        grp = self._group(subject, sequence) if camera is None else self._camera_group(subject, sequence, camera)
        if grp is None:
            raise StoreError(
                f"{self.path}: sequence {subject}/{sequence} has no camera {camera!r} "
                f"(has {sorted(self._group(subject, sequence)['cameras'])})"
            )
        if key not in grp:
            raise StoreError(
                f"{self.path}: {subject}/{sequence}{'' if camera is None else ' camera ' + camera} has no array {key!r}"
            )
        ds = grp[key]
        return ds[()] if frames is None else ds[frames]

    def array_info(
        self, subject: str, sequence: str, key: str, *, camera: str | None = None
    ) -> tuple[tuple[int, ...], dict] | None:
        """(shape, attributes) of an array without reading it, or None if the array is absent."""
        grp = self._group(subject, sequence)
        if camera is not None:
            grp = grp["cameras"].get(camera)
        if grp is None or key not in grp:
            return None
        return tuple(grp[key].shape), dict(grp[key].attrs)

    def intrinsics(self, subject: str, sequence: str, camera: str) -> Intrinsics:
        g = self._group(subject, sequence)["cameras"][camera]
        return Intrinsics(
            focal=g["focal"][()],
            center=g["center"][()],
            radial=g["radial"][()],
            tangential=g["tangential"][()],
            width=int(g.attrs["width"]),
            height=int(g.attrs["height"]),
        )

    def load_sequence(self, subject: str, sequence: str, *, images: bool = False) -> SequenceData:
        """Read a whole sequence into memory (images only if asked: they can be large)."""
        grp = self._group(subject, sequence)
        a = grp.attrs
        cams = {}
        for cam_id, g in grp["cameras"].items():
            cams[cam_id] = CameraData(
                camera_id=cam_id,
                camera_3d=g["camera_3d"][()],
                pose_2d=g["pose_2d"][()],
                valid=g["valid"][()],
                intrinsics=self.intrinsics(subject, sequence, cam_id),
                rotation=g["rotation"][()],
                translation=g["translation"][()],
                boxes=g["boxes"][()] if "boxes" in g else None,
                images=g["images"][()] if images and "images" in g else None,
                images_kind=str(g["images"].attrs.get("kind", "crop")) if "images" in g else "crop",
                backgrounds=g["backgrounds"][()] if images and "backgrounds" in g else None,
                extras={k: v[()] for k, v in g["extras"].items()} if "extras" in g else {},
                attrs={
                    k: (v.item() if isinstance(v, np.generic) else v)
                    for k, v in g.attrs.items()
                    if k not in ("width", "height")
                },
            )
        return SequenceData(
            subject=str(a["subject"]),
            sequence=str(a["sequence"]),
            action=str(a["action"]),
            role=str(a["role"]),
            fps=float(a["fps"]),
            cameras=cams,
            world_3d=grp["world_3d"][()] if "world_3d" in grp else None,
        )

    def iter_sequences(self, *, role: str | Seq[str] | None = None, images: bool = False) -> Iterator[SequenceData]:
        for info in self.sequences(role=role):
            yield self.load_sequence(info.subject, info.sequence, images=images)


def _scan_finite(ds: h5py.Dataset, valid: np.ndarray) -> int:
    """Number of valid frames of ``ds`` holding a non-finite value, read in chunks."""
    bad = 0
    for start in range(0, ds.shape[0], _SCAN_CHUNK):
        block = ds[start : start + _SCAN_CHUNK]
        ok = np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1)
        bad += int((~ok & valid[start : start + _SCAN_CHUNK]).sum())
    return bad


def _root_problems(path: Path, h5: h5py.File) -> list[str]:
    """Root attributes and the '/sequences' group: what every reader relies on before it opens a sequence."""
    a = h5.attrs
    if a.get("format") != FORMAT_NAME:
        return [f"{path}: attribute 'format' is {a.get('format')!r}, expected {FORMAT_NAME!r}"]
    problems = []
    version = a.get("layout_version")
    if not isinstance(version, (int, np.integer)) or int(version) != LAYOUT_VERSION:
        shown = int(version) if isinstance(version, (int, np.integer)) else repr(version)
        problems.append(f"layout_version is {shown}, this kspbench reads {LAYOUT_VERSION}")
    for key in ("dataset", "source", "joint_names"):
        if key not in a:
            problems.append(f"missing store attribute {key!r}")
    if "joint_names" in a:
        raw = np.atleast_1d(a["joint_names"])
        names = [n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in raw]
        if names != list(skeleton.JOINT_NAMES):
            problems.append(f"joint_names {names} differ from the Human3.6M-17 order {list(skeleton.JOINT_NAMES)}")
    if not isinstance(h5.get("sequences"), h5py.Group):
        return problems + ["missing group '/sequences'"]
    return problems


# dtype kinds an array may have: floats for coordinates and cameras, bool (or 0/1 integers) for valid.
_FLOAT = "fiu"
_KINDS = {
    "camera_3d": _FLOAT,
    "pose_2d": _FLOAT,
    "valid": "biu",
    "rotation": _FLOAT,
    "translation": _FLOAT,
    "focal": _FLOAT,
    "center": _FLOAT,
    "radial": _FLOAT,
    "tangential": _FLOAT,
    "boxes": _FLOAT,
    "world_3d": _FLOAT,
}


def _dataset_problem(where: str, grp: h5py.Group, key: str, shapes: Seq[tuple]) -> str | None:
    """Shape and dtype of ``grp[key]`` from metadata only (nothing is read)."""
    # h5py's low-level handle: the high-level Dataset object costs about as much again, and this check runs in
    # every train, predict and eval process over every array of the store.
    try:
        obj = h5py.h5o.open(grp.id, key.encode())
    except KeyError:
        return f"{where}: missing array {key!r}"
    if not isinstance(obj, h5py.h5d.DatasetID):
        return f"{where}: {key} is a group, expected an array"
    p = _shape_mismatch(where, key, obj.shape, shapes)
    if p:
        return p
    kinds = _KINDS.get(key)
    if kinds is not None and obj.dtype.kind not in kinds:
        return f"{where}: {key} has dtype {obj.dtype}, expected numbers"
    if key in ("images", "backgrounds") and obj.dtype != np.uint8:
        return f"{where}: {key} must be uint8, got {obj.dtype}"
    return None


def _sequence_structure(where: str, grp) -> tuple[list[str], list[str]]:
    """(problems, cameras whose arrays are well-formed) of one sequence, from metadata only."""
    if not isinstance(grp, h5py.Group):
        return [f"{where}: is an array, expected a sequence group /sequences/<subject>/<sequence>"], []
    problems = []
    for key in ("subject", "sequence", "action", "role", "fps", "n_frames"):
        if key not in grp.attrs:
            problems.append(f"{where}: missing attribute {key!r}")
    for key in ("subject", "sequence", "action", "role"):
        if key in grp.attrs and not isinstance(grp.attrs[key], (str, bytes)):
            problems.append(f"{where}: attribute {key!r} must be a string, got {grp.attrs[key]!r}")
    n = grp.attrs.get("n_frames", -1)
    if not isinstance(n, (int, np.integer)) or n < 0:
        problems.append(f"{where}: attribute 'n_frames' must be a non-negative integer, got {n!r}")
        n = -1
    n = int(n)
    fps = grp.attrs.get("fps", 1.0)
    if not isinstance(fps, (int, float, np.integer, np.floating)) or not (np.isfinite(fps) and fps > 0):
        problems.append(f"{where}: attribute 'fps' must be a positive number, got {fps!r}")
    if not grp.attrs.get("complete", False):
        problems.append(f"{where}: sequence was not completely written")
    cams = grp.get("cameras")
    if not isinstance(cams, h5py.Group) or not len(cams):
        return problems + [f"{where}: no cameras"], []
    j = skeleton.NUM_JOINTS
    if "world_3d" in grp:
        p = _dataset_problem(where, grp, "world_3d", [(n, j, 3)])
        problems += [p] if p else []
    good = []
    for cam_id, g in cams.items():
        w = f"{where} camera {cam_id}"
        if not isinstance(g, h5py.Group):
            problems.append(f"{w}: is an array, expected a camera group")
            continue
        checks = {
            "camera_3d": [(n, j, 3)],
            "pose_2d": [(n, j, 2)],
            "valid": [(n,)],
            "rotation": [(3, 3), (n, 3, 3)],
            "translation": [(3,), (n, 3)],
            **{k: [s] for k, s in INTRINSIC_SHAPES.items()},
        }
        optional = {"boxes": [(n, 4)], "images": [(n, None, None, 3)], "backgrounds": [(n, None, None, 3)]}
        names = set(g)  # one listing instead of a membership lookup per optional array
        found = [_dataset_problem(w, g, k, s) for k, s in checks.items()]
        found += [_dataset_problem(w, g, k, s) for k, s in optional.items() if k in names]
        for attr in ("width", "height"):
            if attr not in g.attrs:
                found.append(f"{w}: missing attribute {attr!r}")
        extras = g.get("extras") if "extras" in names else None
        if extras is not None:
            if not isinstance(extras, h5py.Group):
                found.append(f"{w}: extras is an array, expected a group")
            else:
                for name, ds in extras.items():
                    if not isinstance(ds, h5py.Dataset) or ds.shape[:1] != (n,):
                        found.append(
                            f"{w}: extras/{name} has shape {getattr(ds, 'shape', None)}, expected N={n} frames first"
                        )
        found = [p for p in found if p]
        problems += found
        if not found:
            good.append(cam_id)
    return problems, good


def check_store(path: str | os.PathLike) -> None:
    """Fast open-time check of a store before use: root attributes, every sequence's attributes, and every array's
    shape and dtype, from metadata only (nothing but the static rotations is read).

    Raises:
        StoreError: one line naming the first problems; ``kspbench data validate`` lists them all.
    """
    from kspbench.infra.passed_checks import check_key, has_passed, record_pass

    path = Path(path)
    key = check_key("check_store", _checker_version(), path)
    if has_passed(key):  # this very file passed before (kspbench/infra/passed_checks.py)
        return
    h5 = _open_store_file(path)
    with h5:
        problems = _root_problems(path, h5)
        if not problems:
            for subj, sgrp in h5["sequences"].items():
                if not isinstance(sgrp, h5py.Group):
                    problems.append(f"sequences/{subj}: is an array, expected a subject group")
                    continue
                for name, grp in sgrp.items():
                    found, good = _sequence_structure(f"{subj}/{name}", grp)
                    problems += found
                    for cam in good:
                        rot = grp["cameras"][cam]["rotation"]
                        # A cheap look at the data: the static rotation, or the first frame's.
                        r = rot[()] if rot.ndim == 2 else (rot[0] if rot.shape[0] else np.eye(3))
                        problems += _rotation_problem(f"{subj}/{name} camera {cam}", r)
                if problems:
                    break
    if problems:
        shown = "; ".join(problems[:2]) + (f" (and {len(problems) - 2} more)" if len(problems) > 2 else "")
        raise StoreError(f"{path} is not a valid pose store: {shown}; see `kspbench data validate {path}`")
    record_pass(key)


@functools.cache
def _checker_version() -> str:
    """The checking code's version: this module's bytes and kspbench's version (a changed check re-checks)."""
    return hashlib.sha256(Path(__file__).read_bytes() + __version__.encode()).hexdigest()


def _rotation_problem(where: str, rot: np.ndarray) -> list[str]:
    rot = np.asarray(rot, np.float64).reshape(-1, 3, 3)
    err = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).max(initial=0.0)
    if not np.isfinite(err) or err > 1e-4 or (rot.size and not np.all(np.linalg.det(rot) > 0)):
        return [f"{where}: rotation is not orthonormal with determinant +1 (max |R R^T - I| = {err:.2g})"]
    return []


def validate(path: str | os.PathLike, *, deep: bool = False) -> list[str]:
    """Check a store against layout v1: structure (as :func:`check_store`), finite values in valid frames,
    orthonormal rotations; ``deep`` also reads every chunk of every array (images included).

    Returns:
        A list of problems, each one line naming the array and what is wrong; empty when the store is valid.
    """
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        return [f"{path}: not a readable HDF5 file (truncated, corrupt or another format)"]
    with h5:
        problems = _root_problems(path, h5)
        if not isinstance(h5.get("sequences"), h5py.Group) or h5.attrs.get("format") != FORMAT_NAME:
            return problems
        for subj, sgrp in h5["sequences"].items():
            if not isinstance(sgrp, h5py.Group):
                problems.append(f"sequences/{subj}: is an array, expected a subject group")
                continue
            for name, grp in sgrp.items():
                problems += _validate_sequence(f"{subj}/{name}", grp)
        if deep:
            problems += _unreadable_chunks(h5)
    return problems


def _unreadable_chunks(h5: h5py.File) -> list[str]:
    """Read every chunk of every array; one problem per array with unreadable chunks (bit rot, truncation)."""
    datasets: list[h5py.Dataset] = []
    h5.visititems(lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
    problems = []
    for ds in datasets:
        bad, first = 0, None
        try:
            slices = list(ds.iter_chunks()) if ds.chunks else [()]
        except (OSError, ValueError, TypeError):
            slices = [()]
        for sl in slices:
            try:
                ds[sl]
            except Exception:  # h5py raises OSError, ValueError or RuntimeError from a failing filter
                bad += 1
                first = first or sl
        if bad:
            where = "" if first == () else f", first at {_describe_slice(first)}"
            problems.append(f"{ds.name}: {bad} unreadable chunk(s){where}")
    return problems


def _describe_slice(sl) -> str:
    s = sl[0] if isinstance(sl, tuple) and sl else sl
    return f"frames {s.start}..{s.stop - 1}" if isinstance(s, slice) and s.stop is not None else str(sl)


def _shape_mismatch(where: str, key: str, got: tuple, shapes: Seq[tuple]) -> str | None:
    for shape in shapes:
        if len(got) == len(shape) and all(s is None or s == g for s, g in zip(shape, got)):
            return None
    want = " or ".join("(" + ", ".join("N" if s is None else str(s) for s in sh) + ")" for sh in shapes)
    return f"{where}: {key} has shape {got}, expected {want}"


def _validate_sequence(where: str, grp) -> list[str]:
    problems, good = _sequence_structure(where, grp)
    if not good:
        return problems
    n = int(grp.attrs["n_frames"])
    j = skeleton.NUM_JOINTS
    for cam_id in good:
        g = grp["cameras"][cam_id]
        w = f"{where} camera {cam_id}"
        valid = g["valid"][()].astype(bool)
        for key in ("camera_3d", "pose_2d"):
            bad = _scan_finite(g[key], valid)
            if bad:
                problems.append(f"{w}: {key} has non-finite values in {bad} valid frame(s)")
        world = grp.get("world_3d")
        if isinstance(world, h5py.Dataset) and world.shape == (n, j, 3) and world.dtype.kind in _FLOAT:
            bad = _scan_finite(world, valid)
            if bad:
                problems.append(f"{where}: world_3d has non-finite values in {bad} valid frame(s)")
        problems += _rotation_problem(w, g["rotation"][()])
    return problems


def summary(path: str | os.PathLike) -> dict:
    """Counts a person wants to see first: dataset, sequences and frames per role, cameras, images."""
    with PoseStore(path) as store:
        infos = store.sequences()
        per_role: dict[str, dict[str, int]] = {}
        for info in infos:
            r = per_role.setdefault(info.role, {"sequences": 0, "frames": 0, "camera_frames": 0})
            r["sequences"] += 1
            r["frames"] += info.n_frames
            r["camera_frames"] += info.n_frames * len(info.cameras)
        attrs = store.attrs
        return {
            "path": str(path),
            "dataset": str(attrs.get("dataset")),
            "source": str(attrs.get("source")),
            "layout_version": int(attrs.get("layout_version", -1)),
            "roles": per_role,
            "subjects": sorted({i.subject for i in infos}),
        }
