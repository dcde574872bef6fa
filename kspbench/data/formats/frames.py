"""Image folders: frame listing, person crops with oracle boxes, median backgrounds, and unlabelled clips.

Frame folders hold one image per video frame (``.jpg``, ``.jpeg`` or ``.png``). When every file name ends in a number
(``000001.jpg``, ``img_000001.jpg``, ``frame_000001.jpg``: what ``ffmpeg -i video.mp4 %06d.jpg`` writes, numbered from
1) the files are ordered by that number, which must run without gaps; the first image is frame 0 of the poses.
Otherwise they are ordered by name.

Crops follow the shared crop rule of :mod:`kspbench.core.crops` (pixel centres at integer coordinates, boxes
``[x0, y0, x1, y1]``, bilinear samples at the centres of the crop's cells, black outside the frame), so
``kspbench.core.crops.to_crop`` maps the stored 2D poses into the stored crops. Boxes (``boxes``): the square of
``kspbench.core.crops.box_from_joints`` around the frame's 2D ground-truth joints (an *oracle detector*: it uses the
labels, which a real detector would not have), side ``(1 + margin)`` x the larger side of the joints' bounding
rectangle; a frame without a finite joint takes the box of the nearest frame that has one. To avoid aliasing when a
large box becomes a small crop, the frame is first shrunk by an integer factor ``s`` (block average; JPEGs are decoded
at 1/2, 1/4 or 1/8 scale directly) so that the box keeps at least twice the crop's resolution, and the box is mapped to
the shrunk frame exactly (``x' = (x + 0.5) / s - 0.5``). ``backgrounds``: the per-pixel temporal median of up to
:data:`MEDIAN_MAX_FRAMES` evenly spaced full frames of the sequence, cut with each frame's box exactly like the image.

Unlabelled clips (``kspbench data import frames``): every frame is cut to its largest centred square (the box is kept
in ``boxes``) and resampled to ``size`` x ``size`` the same way; stored with ``kind="full"``, NaN poses and ``valid``
all False.
"""

from __future__ import annotations

import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from kspbench.core import crops, skeleton
from kspbench.data.formats import FormatError, SequenceJob
from kspbench.data.store import CameraData, Intrinsics, SequenceData

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BOX_MARGIN = crops.DEFAULT_MARGIN
MEDIAN_MAX_FRAMES = 50
# Cap on the frames held in memory for one median (a 2048x2048 RGB frame is 12 MiB: about 40 frames).
MEDIAN_MAX_BYTES = 512 * 2**20
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def default_workers() -> int:
    """Threads for image decoding (Pillow releases the GIL while decoding)."""
    return max(1, min(8, os.cpu_count() or 1))


def list_images(folder: str | os.PathLike, *, what: str = "frames") -> list[Path]:
    """The image files of ``folder`` in frame order (module docstring); raises if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: no such folder ({what})")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    if not files:
        raise FormatError(f"{folder}: no .jpg/.jpeg/.png images ({what})")
    numbers = [_TRAILING_NUMBER.search(p.stem) for p in files]
    if not all(numbers):
        return sorted(files, key=lambda p: p.name)
    order = sorted(zip((int(m.group(1)) for m in numbers), files))
    for (a, pa), (b, pb) in zip(order, order[1:]):
        if b == a:
            raise FormatError(f"{folder}: two images carry frame number {a} ({pa.name}, {pb.name})")
        if b != a + 1:
            raise FormatError(f"{folder}: frame numbers jump from {a} to {b} ({pa.name} -> {pb.name}): missing frames")
    return [p for _, p in order]


def _open(path: Path, shrink: int = 1, expected_wh: tuple[int, int] | None = None) -> tuple[np.ndarray, int]:
    """Decode ``path`` to RGB, shrunk by an integer factor (JPEG: DCT scaling 1/2..1/8, then block averages).

    Returns:
        ``(H', W', 3)`` uint8 array and the factor ``s`` actually applied (``W' = ceil(W / s)``).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            full = im.size
            if expected_wh is not None and tuple(full) != tuple(expected_wh):
                raise FormatError(
                    f"{path}: frame is {full[0]}x{full[1]} px but the camera image is "
                    f"{expected_wh[0]}x{expected_wh[1]}; extract frames at the video's native "
                    "resolution"
                )
            if shrink > 1 and im.format == "JPEG":
                im.draft("RGB", (math.ceil(full[0] / shrink), math.ceil(full[1] / shrink)))
            img = im.convert("RGB")
    except FormatError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise FormatError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    done = max(1, round(full[0] / img.size[0]))
    if shrink // done > 1:
        img = img.reduce(shrink // done)
        done *= shrink // done
    return np.asarray(img), done


def read_image(path: str | os.PathLike) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB."""
    return _open(Path(path))[0]


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) read from the header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise FormatError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None


def shrink_factor(box: Sequence[float], size: int) -> int:
    """Integer pre-shrink that keeps at least ``2 * size`` pixels across the box (1 for small or invalid boxes)."""
    side = float(box[2] - box[0])
    return max(1, int(side // (2 * size))) if np.isfinite(side) else 1


def crop_shrunk(shrunk: np.ndarray, factor: int, box: Sequence[float], size: int) -> np.ndarray:
    """Crop of a frame that was shrunk by ``factor``, with ``box`` in full-frame pixels (module docstring)."""
    b = (np.asarray(box, np.float64) + 0.5) / factor - 0.5
    return crops.crop_images(shrunk[None], b[None], size)[0]


def crop_frame(frame: np.ndarray, box: Sequence[float], size: int) -> np.ndarray:
    """``size x size`` crop of a full ``(H, W, 3)`` uint8 frame, pre-shrunk like the importers do."""
    from PIL import Image

    factor = shrink_factor(box, size)
    shrunk = np.asarray(Image.fromarray(frame).reduce(factor)) if factor > 1 else frame
    return crop_shrunk(shrunk, factor, box, size)


def boxes_from_2d(pose_2d: np.ndarray, image_wh: tuple[int, int], *, margin: float = BOX_MARGIN) -> np.ndarray:
    """Oracle person boxes: ``(N, J, 2)`` pixels -> ``(N, 4)`` float32 squares
    (``kspbench.core.crops.box_from_joints``).

    Frames without a finite joint take the box of the nearest frame that has one (or, if none has, the largest
    centred square of the image).
    """
    boxes = crops.box_from_joints(np.asarray(pose_2d, np.float64), margin)
    ok = np.isfinite(boxes).all(axis=1)
    if not ok.any():
        w, h = image_wh
        side = min(w, h)
        boxes[:] = [(w - side) / 2 - 0.5, (h - side) / 2 - 0.5, (w + side) / 2 - 0.5, (h + side) / 2 - 0.5]
    elif not ok.all():
        good = np.flatnonzero(ok)
        nearest = good[np.abs(np.arange(len(boxes))[:, None] - good[None, :]).argmin(axis=1)]
        boxes = boxes[nearest]
    return boxes.astype(np.float32)


def median_background(
    paths: Sequence[Path],
    *,
    max_frames: int = MEDIAN_MAX_FRAMES,
    expected_wh: tuple[int, int] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Per-pixel temporal median of up to ``max_frames`` evenly spaced full frames: ``(H, W, 3)`` uint8."""
    w, h = expected_wh or image_size(paths[0])
    k = int(min(max_frames, len(paths), max(3, MEDIAN_MAX_BYTES // (w * h * 3))))
    chosen = sorted(set(np.linspace(0, len(paths) - 1, k).round().astype(int).tolist()))

    def load(i: int) -> np.ndarray:
        arr, _ = _open(paths[i], expected_wh=(w, h))
        return arr

    with ThreadPoolExecutor(workers or default_workers()) as pool:
        stack = np.stack(list(pool.map(load, chosen)))
    out = np.empty((h, w, 3), np.uint8)
    for r in range(0, h, 64):  # strips keep the float temporaries small
        out[r : r + 64] = np.round(np.median(stack[:, r : r + 64], axis=0)).astype(np.uint8)
    return out


def cut_crops(
    paths: Sequence[Path],
    boxes: np.ndarray,
    size: int,
    *,
    background: bool = True,
    expected_wh: tuple[int, int] | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Crops of each frame (and of the median background) with that frame's box.

    Args:
        paths: one image per frame, ``len(paths) == len(boxes)``.
        boxes: ``(N, 4)`` full-frame pixel boxes.
        size: crop side in pixels.
        background: also compute :func:`median_background` and cut it.
        expected_wh: the camera's image size; frames of another size are refused.

    Returns:
        ``images (N, size, size, 3)`` uint8 and ``backgrounds`` of the same shape (or None).
    """
    from PIL import Image

    if len(paths) != len(boxes):
        raise ValueError(f"{len(paths)} frames but {len(boxes)} boxes")
    bg_levels: dict[int, np.ndarray] = {}
    lock = threading.Lock()
    bg_image = None
    if background:
        bg_image = Image.fromarray(median_background(paths, expected_wh=expected_wh, workers=workers))

    def bg_at(factor: int) -> np.ndarray:
        with lock:
            if factor not in bg_levels:
                bg_levels[factor] = np.asarray(bg_image.reduce(factor) if factor > 1 else bg_image)
            return bg_levels[factor]

    def one(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        shrunk, factor = _open(paths[i], shrink_factor(boxes[i], size), expected_wh)
        crop = crop_shrunk(shrunk, factor, boxes[i], size)
        return crop, (crop_shrunk(bg_at(factor), factor, boxes[i], size) if bg_image is not None else None)

    with ThreadPoolExecutor(workers or default_workers()) as pool:
        results = list(pool.map(one, range(len(paths))))
    images = np.stack([r[0] for r in results]).astype(np.uint8)
    backgrounds = np.stack([r[1] for r in results]).astype(np.uint8) if background else None
    return images, backgrounds


# --- unlabelled clips ----------------------------------------------------------------------------------------------

UNKNOWN_INTRINSICS_NOTE = (
    "unlabelled frames: camera unknown; focal and center are NaN, distortion 0, rotation "
    "identity, translation 0 (placeholders)"
)


def clip_folders(root: str | os.PathLike) -> list[Path]:
    """The clip folders of ``root``: its sub-folders holding images, or ``root`` itself if it holds images directly."""
    root = Path(root)
    if not root.is_dir():
        raise FormatError(f"{root}: no such folder (expected one sub-folder of images per clip)")
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    clips = [p for p in subs if any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir())]
    if clips:
        return clips
    if any(q.suffix.lower() in IMAGE_SUFFIXES for q in root.iterdir()):
        return [root]
    raise FormatError(f"{root}: no clip folders with .jpg/.jpeg/.png images (expected ROOT/<clip>/<frame>.jpg)")


def load_clip(folder: Path, *, size: int, role: str, fps: float, workers: int | None = None) -> SequenceData:
    """One unlabelled clip -> a sequence with ``images`` (``kind="full"``), NaN poses and no valid frame."""
    paths = list_images(folder, what=f"clip {folder.name}")
    w, h = image_size(paths[0])
    side = min(w, h)
    # The largest centred square, as a box in the crop convention (pixel centres at integers, edges at +-0.5).
    box = np.array([(w - side) / 2 - 0.5, (h - side) / 2 - 0.5, (w + side) / 2 - 0.5, (h + side) / 2 - 0.5], np.float32)
    factor = shrink_factor(box, size)

    def one(p: Path) -> np.ndarray:
        shrunk, done = _open(p, factor, (w, h))
        return crop_shrunk(shrunk, done, box, size)

    with ThreadPoolExecutor(workers or default_workers()) as pool:
        images = np.stack(list(pool.map(one, paths))).astype(np.uint8)
    n, j = len(paths), skeleton.NUM_JOINTS
    cam = CameraData(
        camera_id="0",
        camera_3d=np.full((n, j, 3), np.nan, np.float32),
        pose_2d=np.full((n, j, 2), np.nan, np.float32),
        intrinsics=Intrinsics(focal=np.full(2, np.nan), center=np.full(2, np.nan), width=w, height=h),
        rotation=np.eye(3),
        translation=np.zeros(3),
        valid=np.zeros(n, bool),
        boxes=np.repeat(box[None], n, axis=0),
        images=images,
        images_kind="full",
    )
    return SequenceData(
        subject=folder.name, sequence=folder.name, action=folder.name, role=role, fps=fps, cameras={"0": cam}
    )


def scan_clips(
    root: str | os.PathLike, *, size: int, role: str, fps: float, workers: int | None = None
) -> list[SequenceJob]:
    """One job per clip folder of ``root`` (see :func:`clip_folders`)."""
    jobs = []
    for folder in clip_folders(root):
        if "/" in folder.name or folder.name in (".", ".."):
            raise FormatError(f"{folder}: a clip folder name cannot be used as a store name")
        jobs.append(
            SequenceJob(
                subject=folder.name,
                sequence=folder.name,
                label=folder.name,
                load=lambda f=folder: load_clip(f, size=size, role=role, fps=fps, workers=workers),
            )
        )
    return jobs
