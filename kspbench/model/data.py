"""Data for training and prediction: frames of a pose store in memory, the paper's tuples, and their augmentation.

Frames (:class:`Frames`, :func:`load_frames`) hold, for every (subject, sequence, camera, frame) of some roles that
has an image: the crop (resampled once to the profile's input size), the background estimate where the store has
one, and the labels in the model's units:

* 2D: the store's ``pose_2d`` in crop coordinates [-1, 1] with the stored box,
  ``x_crop = 2 (x - x0) / (x1 - x0) - 1`` (:func:`kspbench.core.crops.to_normalised`);
* 3D: root-relative, trunk-normalised joints in the crop's *virtual camera* frame: the store's camera frame rotated
  so that its optical axis passes through the box centre (:func:`crop_camera_rotation`; the model's camera looks at
  the crop centre). ``p3d = R_v^T (X - X_pelvis) / |X_thorax - X_pelvis|``. Predictions are mapped back with
  ``R_v`` (:mod:`kspbench.model.predict`), so the whole rule uses only boxes and intrinsics, never ground truth.

Samplers draw from an explicit ``numpy.random.Generator`` (no global RNG):

* :class:`PairSampler`: (Is, It) from the same clip (subject, sequence, camera) at least ``min_gap_seconds`` apart
  (the farthest frame of the clip when it is shorter than that), with Bt = It's background estimate (Dp) or with a
  random background Br of *another* clip (Dunp, whose roles have no background estimate);
* :class:`FrameSampler`: single frames, optionally restricted to a supervised subset
  (:func:`supervision_subset`: a seeded fraction of time blocks or frames);
* :func:`augment_prior`: mirroring with the left/right swap, in-plane rotation and colour jitter of the 20 prior
  samples (labels follow, :mod:`kspbench.model.transforms`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from kspbench.core.crops import to_normalised
from kspbench.data.store import PoseStore, SequenceInfo
from kspbench.errors import KspbenchError
from kspbench.model import transforms as T

__all__ = [
    "DataError",
    "Frames",
    "load_frames",
    "TrackCrops",
    "read_crops",
    "crop_camera_rotation",
    "resize_images",
    "PairSampler",
    "FrameSampler",
    "supervision_subset",
    "augment_prior",
    "to_float",
]

_RESIZE_BLOCK = 256


class DataError(KspbenchError):
    """The store cannot give what a card asks for; one line."""


def crop_camera_rotation(boxes: np.ndarray, focal: np.ndarray, center: np.ndarray) -> np.ndarray:
    """``R_v`` ``(N, 3, 3)``: the rotation from a crop's virtual camera to the store's camera, ``X = R_v X_v``.

    The virtual camera shares the store camera's centre and has its optical axis through the box centre (the
    smallest rotation taking +z to that ray; lens distortion ignored). Boxes with a non-finite value give I.
    """
    boxes = np.asarray(boxes, np.float64)
    centre = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    ray = np.concatenate([(centre - center) / focal, np.ones((len(boxes), 1))], axis=1)
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, ray)
    sin = np.linalg.norm(axis, axis=1)
    cos = ray[:, 2]
    k = np.where(sin[:, None] > 1e-12, axis / np.maximum(sin, 1e-12)[:, None], 0.0)
    kx = np.zeros((len(boxes), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx[:, 1, 0], kx[:, 2, 0], kx[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    rot = np.eye(3) + sin[:, None, None] * kx + (1.0 - cos)[:, None, None] * (kx @ kx)
    bad = ~np.isfinite(rot).all(axis=(1, 2))
    rot[bad] = np.eye(3)
    return rot


def resize_images(images: np.ndarray, size: int) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 -> ``(N, 3, size, size)`` uint8 tensor (bilinear, antialiased when shrinking)."""
    out = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if images.shape[1] == size and images.shape[2] == size:
        return out.contiguous()
    blocks = []
    for start in range(0, out.shape[0], _RESIZE_BLOCK):
        x = out[start : start + _RESIZE_BLOCK].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < images.shape[1])
        blocks.append(y.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(blocks).contiguous()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` -> float32 in [0, 1]."""
    return images.float().div_(255.0)


@dataclass
class Frames:
    """Frames of some roles, in memory; arrays have one row per (subject, sequence, camera, frame) with an image.

    Attributes:
        images: ``(N, 3, S, S)`` uint8 crops.
        backgrounds: ``(N, 3, S, S)`` uint8 background estimates, or None (a role without them, e.g. dunp).
        p2d: ``(N, 17, 2)`` float32 crop coordinates (NaN where unknown).
        p3d: ``(N, 17, 3)`` float32 root-relative trunk-normalised virtual-camera 3D (NaN where unknown).
        crop_rotation: ``(N, 3, 3)`` float64 ``R_v``.
        trunk_mm: ``(N,)`` the labelled pose's pelvis -> thorax length (scores only; NaN where unknown).
        usable: ``(N,)`` valid frame with a finite box and finite labels (training uses these only).
        clip: ``(N,)`` clip id (one per subject, sequence, camera); time: ``(N,)`` seconds from the clip start;
        frame: ``(N,)`` frame index in the sequence; seq_id: ``(N,)`` id of (subject, sequence).
        subject, sequence, camera: ``(N,)`` str.
    """

    images: torch.Tensor
    backgrounds: torch.Tensor | None
    p2d: np.ndarray
    p3d: np.ndarray
    crop_rotation: np.ndarray
    trunk_mm: np.ndarray
    usable: np.ndarray
    clip: np.ndarray
    time: np.ndarray
    frame: np.ndarray
    seq_id: np.ndarray
    subject: np.ndarray
    sequence: np.ndarray
    camera: np.ndarray
    roles: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class TrackCrops:
    """The crops of one track (a sequence seen by one camera), with what places them in the camera; no label."""

    images: torch.Tensor  # (N, 3, S, S) uint8, resampled to the model's input size
    boxes: np.ndarray  # (N, 4) float64 crop boxes in the camera image
    crop_rotation: np.ndarray  # (N, 3, 3) R_v (:func:`crop_camera_rotation`)


def read_crops(store: PoseStore, info: SequenceInfo, camera: str, size: int) -> TrackCrops | None:
    """The crops of ``info``'s sequence seen by ``camera``, resampled to ``size``; None when it has no images.

    Raises:
        DataError: the track has images but no boxes.
    """
    subject, sequence = info.subject, info.sequence
    if not store.has(subject, sequence, "images", camera=camera):
        return None
    if not store.has(subject, sequence, "boxes", camera=camera):
        raise DataError(
            f"{store.path}: {subject}/{sequence} camera {camera} has images but no boxes; its crops "
            "need them (the crop camera and the 2D labels)"
        )
    images = store.read(subject, sequence, "images", camera=camera)
    boxes = store.read(subject, sequence, "boxes", camera=camera).astype(np.float64)
    rot = crop_camera_rotation(
        boxes,
        store.read(subject, sequence, "focal", camera=camera),
        store.read(subject, sequence, "center", camera=camera),
    )
    return TrackCrops(resize_images(images, size), boxes, rot)


def _labels(
    store: PoseStore, subject: str, sequence: str, camera: str, boxes: np.ndarray, rot: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2D and 3D labels of one track in the model's units, ``R_v`` (computed unless given), usable, trunk (mm)."""
    p2d_px = store.read(subject, sequence, "pose_2d", camera=camera).astype(np.float64)
    cam3d = store.read(subject, sequence, "camera_3d", camera=camera).astype(np.float64)
    valid = store.read(subject, sequence, "valid", camera=camera).astype(bool)
    if rot is None:
        rot = crop_camera_rotation(
            boxes,
            store.read(subject, sequence, "focal", camera=camera),
            store.read(subject, sequence, "center", camera=camera),
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        p2d = to_normalised(p2d_px, boxes)
        rel = cam3d - cam3d[:, :1]
        trunk = np.linalg.norm(rel[:, 8], axis=-1)
        p3d = np.einsum("nji,nkj->nki", rot, rel) / trunk[:, None, None]  # row form of R_v^T rel
    finite = (
        np.isfinite(boxes).all(axis=1)
        & np.isfinite(p2d).all(axis=(1, 2))
        & np.isfinite(p3d).all(axis=(1, 2))
        & (trunk > 0)
    )
    return p2d.astype(np.float32), p3d.astype(np.float32), rot, valid & finite, trunk


def load_frames(
    store: PoseStore, roles: list[str] | tuple[str, ...], size: int, *, backgrounds: bool = False
) -> Frames:
    """Every frame with an image of the roles' sequences, resampled to ``size``.

    Args:
        store: an open pose store.
        roles: roles to read.
        size: the model's input size.
        backgrounds: require background estimates (Dp); raises if a camera with images has none.

    Raises:
        DataError: no sequence of these roles, none with images, missing boxes or (if asked) backgrounds.
    """
    infos = store.sequences(role=list(roles))
    if not infos:
        raise DataError(
            f"{store.path}: no sequence has role {' or '.join(roles)} (roles here: "
            f"{', '.join(sorted(store.roles())) or 'none'})"
        )
    keys = (
        "images",
        "bg",
        "p2d",
        "p3d",
        "rot",
        "trunk",
        "usable",
        "clip",
        "time",
        "frame",
        "seq",
        "subject",
        "sequence",
        "camera",
    )
    parts: dict[str, list] = {k: [] for k in keys}
    clip = 0
    for seq_id, info in enumerate(infos):
        for cam in info.cameras:
            crops = read_crops(store, info, cam, size)
            if crops is None:
                continue
            n = crops.images.shape[0]
            p2d, p3d, rot, usable, trunk = _labels(
                store, info.subject, info.sequence, cam, crops.boxes, crops.crop_rotation
            )
            parts["images"].append(crops.images)
            if backgrounds:
                if not store.has(info.subject, info.sequence, "backgrounds", camera=cam):
                    raise DataError(
                        f"{store.path}: {info.subject}/{info.sequence} camera {cam} (role {info.role}) "
                        "has no background estimate; paired training (Dp) needs one"
                    )
                parts["bg"].append(
                    resize_images(store.read(info.subject, info.sequence, "backgrounds", camera=cam), size)
                )
            parts["p2d"].append(p2d)
            parts["p3d"].append(p3d)
            parts["rot"].append(rot)
            parts["trunk"].append(trunk)
            parts["usable"].append(usable)
            parts["clip"].append(np.full(n, clip))
            parts["time"].append(np.arange(n) / info.fps)
            parts["frame"].append(np.arange(n))
            parts["seq"].append(np.full(n, seq_id))
            parts["subject"].append(np.full(n, info.subject, dtype=object))
            parts["sequence"].append(np.full(n, info.sequence, dtype=object))
            parts["camera"].append(np.full(n, cam, dtype=object))
            clip += 1
    if not parts["images"]:
        raise DataError(f"{store.path}: no sequence of role {' or '.join(roles)} has images")
    cat = {k: np.concatenate(v) for k, v in parts.items() if k not in ("images", "bg") and v}
    return Frames(
        images=torch.cat(parts["images"]),
        backgrounds=torch.cat(parts["bg"]) if backgrounds else None,
        p2d=cat["p2d"],
        p3d=cat["p3d"],
        crop_rotation=cat["rot"],
        trunk_mm=cat["trunk"],
        usable=cat["usable"],
        clip=cat["clip"],
        time=cat["time"],
        frame=cat["frame"],
        seq_id=cat["seq"],
        subject=cat["subject"].astype(str),
        sequence=cat["sequence"].astype(str),
        camera=cat["camera"].astype(str),
        roles=tuple(roles),
    )


class FrameSampler:
    """Uniform draws (with replacement) of usable frames, optionally only those in ``mask``."""

    def __init__(self, frames: Frames, mask: np.ndarray | None = None, what: str = "frames") -> None:
        keep = frames.usable if mask is None else frames.usable & mask
        self.index = np.flatnonzero(keep)
        if self.index.size == 0:
            raise DataError(f"no usable {what} in role(s) {', '.join(frames.roles)} (valid frames with finite labels)")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.index[rng.integers(0, self.index.size, size=n)]


class PairSampler:
    """(source, target) frame pairs from the same clip at least ``min_gap_seconds`` apart."""

    def __init__(self, frames: Frames, min_gap_seconds: float) -> None:
        self.frames = frames
        self.min_gap = float(min_gap_seconds)
        usable = np.flatnonzero(frames.usable)
        if usable.size == 0:
            raise DataError(f"no usable frames in role(s) {', '.join(frames.roles)}")
        self.targets = usable
        self.by_clip: dict[int, np.ndarray] = {}
        for c in np.unique(frames.clip[usable]):
            self.by_clip[int(c)] = usable[frames.clip[usable] == c]

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        tgt = self.targets[rng.integers(0, self.targets.size, size=n)]
        src = np.empty_like(tgt)
        for i, t in enumerate(tgt):
            members = self.by_clip[int(self.frames.clip[t])]
            gap = np.abs(self.frames.time[members] - self.frames.time[t])
            far = members[gap >= self.min_gap - 1e-9]
            if far.size:
                src[i] = far[rng.integers(0, far.size)]
            else:  # a clip shorter than the gap: its farthest frame
                src[i] = members[int(np.argmax(gap))]
        return src, tgt


def validation_index(usable: np.ndarray, k: int) -> np.ndarray:
    """The fixed validation frames: ``k`` usable frames evenly spaced over the role, the same for every card and seed.

    Args:
        usable: ``(N,)`` bool.
    Returns:
        ``(<= k,)`` sorted int indices into the frames.
    """
    idx = np.flatnonzero(usable)
    k = min(k, idx.size)
    return idx[np.unique(np.linspace(0, idx.size - 1, k).round().astype(int))]


def supervision_subset(frames: Frames, fraction: float, unit: str, block_seconds: float, seed: int) -> np.ndarray:
    """A seeded subset of the frames (by time instant, so all cameras of a labelled instant are in it).

    ``unit="time-block"``: each (subject, sequence) is cut into blocks of ``block_seconds``; blocks are drawn in a
    seeded random order until they hold at least ``fraction`` of the time instants (at least one block). A 3D label
    is a property of a time instant (motion capture sees every camera at once), and neighbouring frames are nearly
    identical, so blocks model "annotate 5 % of the footage"; ``unit="frame"`` draws single instants instead.

    Returns:
        ``(N,)`` bool mask over ``frames``.
    """
    if unit not in ("time-block", "frame"):
        raise ValueError(f"unknown subset unit {unit!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E41]))
    seq = frames.seq_id.astype(np.int64)
    if unit == "time-block":
        unit_of_row = np.floor(frames.time / block_seconds + 1e-9).astype(np.int64)
    else:
        unit_of_row = frames.frame.astype(np.int64)
    units, unit_index = np.unique(np.stack([seq, unit_of_row], axis=1), axis=0, return_inverse=True)
    unit_index = unit_index.reshape(-1)
    # Time instants per unit, each (sequence, frame) counted once whatever the number of cameras.
    _, first = np.unique(np.stack([seq, frames.frame.astype(np.int64)], axis=1), axis=0, return_index=True)
    counts = np.bincount(unit_index[first], minlength=len(units))
    order = rng.permutation(len(units))
    covered = np.cumsum(counts[order])
    n_take = int(np.searchsorted(covered, fraction * counts.sum() - 1e-9)) + 1
    chosen = np.zeros(len(units), bool)
    chosen[order[: max(1, min(n_take, len(units)))]] = True
    return chosen[unit_index]


def augment_prior(
    images: torch.Tensor,
    p2d: torch.Tensor,
    p3d: torch.Tensor,
    rng: np.random.Generator,
    *,
    mirror: float,
    rotation_degrees: float,
    colour_jitter: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Augment prior samples: mirror (prob. ``mirror``, with the L/R swap), in-plane rotation (uniform in
    ``+-rotation_degrees``), colour jitter (brightness, contrast, saturation factors in ``1 +- colour_jitter``).

    Args:
        images: ``(B, 3, S, S)`` float in [0, 1]; p2d ``(B, 17, 2)`` crop coordinates; p3d ``(B, 17, 3)`` camera frame.

    Returns:
        The transformed images, 2D and 3D labels.
    """
    b = images.shape[0]
    flip = torch.from_numpy(rng.random(b) < mirror)
    angle = torch.from_numpy(rng.uniform(-1.0, 1.0, b) * math.radians(rotation_degrees)).float()
    jitter = torch.from_numpy(rng.uniform(1.0 - colour_jitter, 1.0 + colour_jitter, (b, 3))).float()
    images = T.apply_images(images, flip, angle)
    brightness, contrast, saturation = (jitter[:, i].view(b, 1, 1, 1) for i in range(3))
    images = images * brightness
    grey = images.mean(dim=1, keepdim=True)
    images = grey + (images - grey) * saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (mean + (images - mean) * contrast).clamp(0.0, 1.0)
    return images, T.apply_p2d(p2d, flip, angle), T.apply_p3d(p3d, flip, angle)
