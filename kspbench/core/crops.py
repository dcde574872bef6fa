"""The crop rule shared by the synthetic world, the importers and the model: square person boxes and their crops.

Conventions:
    * Pixel coordinates are continuous with pixel centres at integer values: pixel ``(row j, column i)`` covers
      ``[i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]``, so a 2D label ``(u, v)`` lies in pixel ``(round(v), round(u))``.
    * A box is ``[x0, y0, x1, y1]`` in those coordinates (its edges, not pixel indices); boxes made here are square.
    * Crop pixel ``(row b, column a)`` of an ``S x S`` crop samples the frame at the centre of the a-th of S equal
      cells of the box: ``x = x0 + (a + 0.5) * (x1 - x0) / S``, likewise y with b. :func:`to_crop` maps 2D labels
      the same way, so a joint at crop coordinates ``(a, b)`` lies in crop pixel ``(round(b), round(a))``.
    * Out-of-frame samples are zero (black); bilinear interpolation blends towards zero within half a pixel of the
      frame's edge, as ``torch.nn.functional.grid_sample(padding_mode="zeros")`` would.
    * A box with a non-finite coordinate (e.g. an invalid frame whose 2D joints are NaN) gives an all-zero crop.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_MARGIN", "box_from_joints", "crop_images", "to_crop", "to_normalised"]

# Side of the square box = (1 + margin) * the larger side of the joints' bounding box.
DEFAULT_MARGIN = 0.2
# Frames per block in crop_images: bounds the temporary index arrays.
_BLOCK = 64


def box_from_joints(
    p2d: np.ndarray,
    margin: float = DEFAULT_MARGIN,
    jitter: tuple[float, float] | float | None = None,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Square person boxes around 2D joints.

    Args:
        p2d: ``(N, J, 2)`` joints in pixels; NaN joints are ignored (a frame with no finite joint gets a NaN box).
        margin: the box side is ``(1 + margin) * max(width, height)`` of the joints' bounding box.
        jitter: ``None`` for exact boxes, or ``(centre_sd, scale_sd)`` (a single float sets both): the centre moves by
            ``N(0, centre_sd * side)`` per axis and the side is multiplied by ``exp(N(0, scale_sd))``, an oracle
            detector's error. Requires ``generator``.
        generator: numpy ``Generator`` for the jitter.

    Returns:
        ``(N, 4)`` float64 boxes ``[x0, y0, x1, y1]``, centred on the centre of the joints' bounding box.

    Raises:
        ValueError: on a wrong shape, a negative margin, or jitter without a generator.
    """
    p2d = np.asarray(p2d, dtype=np.float64)
    if p2d.ndim != 3 or p2d.shape[-1] != 2:
        raise ValueError(f"p2d must have shape (N, J, 2), got {p2d.shape}")
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin}")
    finite = np.isfinite(p2d).all(axis=-1)
    any_finite = finite.any(axis=1)
    big = np.where(finite[..., None], p2d, np.nan)
    with np.errstate(invalid="ignore"):
        lo = np.full((p2d.shape[0], 2), np.nan)
        hi = np.full((p2d.shape[0], 2), np.nan)
        if any_finite.any():
            lo[any_finite] = np.nanmin(big[any_finite], axis=1)
            hi[any_finite] = np.nanmax(big[any_finite], axis=1)
    centre = 0.5 * (lo + hi)
    side = (1.0 + margin) * np.max(hi - lo, axis=1)
    # A single joint (or coincident joints) would give a zero-size box: keep it at least one pixel wide.
    side = np.where(np.isfinite(side), np.maximum(side, 1.0), np.nan)
    if jitter is not None:
        if generator is None:
            raise ValueError("jitter needs a generator (numpy.random.Generator)")
        c_sd, s_sd = (jitter, jitter) if np.isscalar(jitter) else jitter
        centre = centre + generator.normal(size=centre.shape) * float(c_sd) * side[:, None]
        side = side * np.exp(generator.normal(size=side.shape) * float(s_sd))
    half = 0.5 * side[:, None]
    return np.concatenate([centre - half, centre + half], axis=1)


def _sample_grid(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame coordinates ``(N, size)`` of the crop's column centres (x) and row centres (y)."""
    cells = (np.arange(size, dtype=np.float64) + 0.5) / size
    x = boxes[:, 0:1] + cells[None, :] * (boxes[:, 2:3] - boxes[:, 0:1])
    y = boxes[:, 1:2] + cells[None, :] * (boxes[:, 3:4] - boxes[:, 1:2])
    return x, y


def crop_images(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut ``size x size`` crops out of frames with bilinear interpolation; outside the frame is zero.

    Args:
        frames: ``(N, H, W, C)`` uint8 (or any numeric dtype; the output has the same dtype).
        boxes: ``(N, 4)`` boxes ``[x0, y0, x1, y1]`` in frame pixels (see the module docstring).
        size: output side in pixels.

    Returns:
        ``(N, size, size, C)`` crops.
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, dtype=np.float64)
    if frames.ndim != 4:
        raise ValueError(f"frames must have shape (N, H, W, C), got {frames.shape}")
    if boxes.shape != (frames.shape[0], 4):
        raise ValueError(f"boxes must have shape ({frames.shape[0]}, 4), got {boxes.shape}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    size = int(size)
    n, h, w, c = frames.shape
    out = np.zeros((n, size, size, c), dtype=frames.dtype)
    ok = np.isfinite(boxes).all(axis=1)
    for start in range(0, n, _BLOCK):
        idx = np.flatnonzero(ok[start : start + _BLOCK]) + start
        if idx.size == 0:
            continue
        x, y = _sample_grid(boxes[idx], size)
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = (x - x0)[:, None, :, None]
        fy = (y - y0)[:, :, None, None]
        x0 = x0.astype(np.int64)
        y0 = y0.astype(np.int64)
        acc = np.zeros((idx.size, size, size, c), dtype=np.float64)
        fr = idx[:, None, None]
        for dy, wy in ((0, 1.0 - fy), (1, fy)):
            yy = y0 + dy
            yin = (yy >= 0) & (yy < h)
            yc = np.clip(yy, 0, h - 1)
            for dx, wx in ((0, 1.0 - fx), (1, fx)):
                xx = x0 + dx
                xin = (xx >= 0) & (xx < w)
                xc = np.clip(xx, 0, w - 1)
                vals = frames[fr, yc[:, :, None], xc[:, None, :]].astype(np.float64)
                inside = (yin[:, :, None] & xin[:, None, :])[..., None]
                acc += np.where(inside, vals, 0.0) * wy * wx
        if np.issubdtype(frames.dtype, np.integer):
            info = np.iinfo(frames.dtype)
            acc = np.clip(np.rint(acc), info.min, info.max)
        out[idx] = acc.astype(frames.dtype)
    return out


def to_crop(p2d: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Frame pixels ``(N, J, 2)`` -> crop pixels of an ``S x S`` crop cut with ``boxes`` (same convention)."""
    p2d = np.asarray(p2d, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    scale = size / (boxes[:, 2:4] - boxes[:, 0:2])
    return (p2d - boxes[:, None, 0:2]) * scale[:, None, :] - 0.5


def to_normalised(p2d: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Frame pixels ``(N, J, 2)`` -> the box's normalised coordinates ``[-1, 1]`` (x right, y down)."""
    p2d = np.asarray(p2d, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    centre = 0.5 * (boxes[:, 0:2] + boxes[:, 2:4])
    half = 0.5 * (boxes[:, 2:4] - boxes[:, 0:2])
    return (p2d - centre[:, None, :]) / half[:, None, :]
