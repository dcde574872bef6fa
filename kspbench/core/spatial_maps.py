"""The paper's spatial-map transformation Tm: 2D joints to joint heatmaps and limb (affinity) maps, in torch.

Conventions:
    * 2D points are ``(..., 17, 2)`` in normalised crop coordinates ``[-1, 1]``, x right, y down (as produced by
      :func:`kspbench.core.kinematics.project`); every length here (sigma, limb widths) is in the same normalised unit.
    * A map of size S samples pixel centres ``(2i + 1) / S - 1`` (the ``align_corners=False`` convention of
      ``torch.nn.functional.grid_sample``/``interpolate``): ``map[..., row, col]`` is at
      ``(x, y) = (grid[col], grid[row])``.
    * Maps are built from per-axis factors and broadcasting (Gaussians are separable in x and y, and the rotated
      limb coordinates are sums of an x part and a y part), so cost is a few elementwise passes over
      ``(..., C, S, S)``; nothing loops over joints, limbs or samples. Everything is differentiable w.r.t. ``p2d``.
    * Limb channels follow ``skeleton.BONES`` (bone b joins ``PARENTS[b + 1]`` -> ``b + 1``).
    * Map values never go below about ``e * finfo(dtype).tiny`` (3e-38 in float32) instead of reaching 0: the far
      tails are floored to keep ``exp`` off its slow subnormal path (see ``_exp_floor``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from kspbench.core import skeleton

__all__ = ["pixel_grid", "joint_heatmaps", "limb_maps", "spatial_maps", "limb_depths", "occlude_limbs"]

_BONE_PARENTS: tuple[int, ...] = tuple(p for p, _ in skeleton.BONES)
_BONE_CHILDREN: tuple[int, ...] = tuple(c for _, c in skeleton.BONES)


def _non_adjacent() -> tuple[tuple[float, ...], ...]:
    """M[a][b] = 1 if limbs a and b share no joint (a limb never covers itself or a limb it is joined to)."""
    ends = [set(bone) for bone in skeleton.BONES]
    return tuple(tuple(0.0 if a & b else 1.0 for b in ends) for a in ends)


_NON_ADJACENT = _non_adjacent()


def _exp_floor(dtype: torch.dtype) -> float:
    """Exponent floor ``log(finfo(dtype).tiny) + 1`` (about -86.3 in float32): exp of it is a normal float.

    Exponents are clamped here before ``exp``: subnormal results, and exp of inputs near ``log(tiny)``, take a slow
    path on CPUs (measured 10-35x slower in float32), and most of a map's far tail would otherwise be there. Values
    below ~1e-37 are zero for any use, and the clamp's zero gradient there replaces a gradient as negligible.
    """
    return math.log(torch.finfo(dtype).tiny) + 1.0


def _check_p2d(p2d: torch.Tensor) -> None:
    if p2d.dim() < 2 or tuple(p2d.shape[-2:]) != (skeleton.NUM_JOINTS, 2):
        raise ValueError(f"p2d must have shape (..., {skeleton.NUM_JOINTS}, 2), got {tuple(p2d.shape)}")


def _check_size(size: int) -> None:
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")


def pixel_grid(size: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel-centre coordinates of a ``size``-pixel axis spanning ``[-1, 1]``.

    Args:
        size: Number of pixels.
        dtype: Output dtype.
        device: Output device.

    Returns:
        ``(size,)`` tensor ``(2i + 1) / size - 1`` (``align_corners=False``): the first pixel covers
        ``[-1, -1 + 2/size]``.
    """
    _check_size(size)
    return (2.0 * torch.arange(size, dtype=dtype, device=device) + 1.0) / size - 1.0


def joint_heatmaps(p2d: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """The paper's f_hm: one isotropic Gaussian per joint, ``exp(-0.5 |u - p2d|^2 / sigma^2)`` (peak 1).

    Args:
        p2d: ``(..., 17, 2)`` joints in normalised crop coordinates.
        size: Map side S in pixels.
        sigma: Standard deviation in normalised units (e.g. 0.1 = 5 % of the crop width).

    Returns:
        ``(..., 17, S, S)``; rows index y, columns index x.

    Raises:
        ValueError: On a wrong ``p2d`` shape or size.
    """
    _check_p2d(p2d)
    _check_size(size)
    grid = pixel_grid(size, p2d.dtype, p2d.device)
    # exp(a + b) = exp(a) exp(b): a (S,) factor per axis, multiplied by broadcasting. Each factor's exponent is
    # floored at half of _exp_floor, so their product is a normal float too.
    floor = 0.5 * _exp_floor(p2d.dtype)
    gx = torch.exp((-0.5 * ((grid - p2d[..., 0:1]) / sigma) ** 2).clamp_min(floor))
    gy = torch.exp((-0.5 * ((grid - p2d[..., 1:2]) / sigma) ** 2).clamp_min(floor))
    return gy[..., :, None] * gx[..., None, :]


def limb_maps(
    p2d: torch.Tensor,
    limb_widths: torch.Tensor | Sequence[float],
    alpha: float | torch.Tensor,
    size: int,
    *,
    eps: float = 1e-4,
) -> torch.Tensor:
    """The paper's f_am: one oriented Gaussian per bone, ``exp(-0.5 (u'x / sx)^2 - 0.5 (u'y / sy)^2)``.

    For bone (parent, child): midpoint ``mu``, direction ``d = child - parent``, ``l = max(|d|, eps)``,
    ``e = d / l``; ``u'x = e . (u - mu)`` (along the limb), ``u'y = e_perp . (u - mu)`` (across it);
    ``sx = alpha * l``, ``sy = limb_widths / 2``.

    Foreshortened limbs: a limb pointing at the camera has ``|d| -> 0``. Clamping ``l`` at ``eps`` keeps ``sx > 0``
    and the division by ``l`` finite, so no inf/NaN can reach the loss or the gradient. Below ``eps``, ``e`` is no
    longer a unit vector (it shrinks with ``d``), which alone would let the map tend to 1 over the whole channel; the
    term ``(1 - |e|^2) |u - mu|^2 / sy^2`` is added to the exponent's quadratic form: it is exactly 0 for
    ``|d| >= eps`` (the paper's map) and makes the map tend, at ``d = 0``, to a disk of radius ``sy`` (a limb seen
    end-on shows its width). The map is continuous in ``d`` everywhere.

    Args:
        p2d: ``(..., 17, 2)`` joints in normalised crop coordinates.
        limb_widths: ``(16,)`` or ``(..., 16)`` limb widths in normalised 2D units, in ``skeleton.BONES`` order. The
            caller converts physical widths (e.g. ``skeleton.LIMB_WIDTH_RATIOS`` in trunk units) to the crop, e.g. by
            ``focal / depth``.
        alpha: Ratio of the along-limb standard deviation to the 2D limb length (method notes: 0.3).
        size: Map side S in pixels.
        eps: Minimum 2D limb length, in normalised units.

    Returns:
        ``(..., 16, S, S)``; rows index y, columns index x.

    Raises:
        ValueError: On a wrong ``p2d`` or ``limb_widths`` shape, or size.
    """
    _check_p2d(p2d)
    _check_size(size)
    widths = torch.as_tensor(limb_widths, dtype=p2d.dtype, device=p2d.device)
    if widths.dim() == 0 or widths.shape[-1] != skeleton.NUM_BONES:
        raise ValueError(f"limb_widths must have shape (..., {skeleton.NUM_BONES}), got {tuple(widths.shape)}")
    parents = p2d.index_select(-2, torch.tensor(_BONE_PARENTS, device=p2d.device))
    children = p2d.index_select(-2, torch.tensor(_BONE_CHILDREN, device=p2d.device))
    mid = 0.5 * (parents + children)
    d = children - parents
    norm = torch.linalg.vector_norm(d, dim=-1)
    length = norm.clamp_min(eps)
    ex, ey = (d / length[..., None]).unbind(-1)
    # 1 - |e|^2 written so that it is exactly 0 (not a rounding residue) for |d| >= eps.
    end_on = 1.0 - (norm / eps).clamp(max=1.0) ** 2
    # sqrt(0.5) folded into the per-axis factors: exponent = -(along^2 + across^2) + radial.
    inv_sx = (0.5**0.5) / (alpha * length)
    inv_sy = (0.5**0.5) / (0.5 * widths)
    grid = pixel_grid(size, p2d.dtype, p2d.device)
    wx = grid - mid[..., 0:1]  # (..., 16, S), varies along columns
    wy = grid - mid[..., 1:2]  # (..., 16, S), varies along rows

    def outer_sum(col: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        return row[..., :, None] + col[..., None, :]

    along = outer_sum((ex * inv_sx)[..., None] * wx, (ey * inv_sx)[..., None] * wy)
    across = outer_sum((-ey * inv_sy)[..., None] * wx, (ex * inv_sy)[..., None] * wy)
    radial_coef = (-end_on * inv_sy**2)[..., None]
    radial = outer_sum(radial_coef * wx**2, radial_coef * wy**2)
    exponent = torch.addcmul(torch.addcmul(radial, along, along, value=-1.0), across, across, value=-1.0)
    return torch.exp(exponent.clamp_min(_exp_floor(p2d.dtype)))


def spatial_maps(
    p2d: torch.Tensor, size: int, sigma: float, limb_widths: torch.Tensor | Sequence[float], alpha: float | torch.Tensor
) -> torch.Tensor:
    """Tm: the 17 joint heatmaps followed by the 16 limb maps.

    Args:
        p2d: ``(..., 17, 2)`` joints in normalised crop coordinates.
        size: Map side S in pixels.
        sigma: Heatmap standard deviation (normalised units).
        limb_widths: ``(16,)`` or ``(..., 16)`` limb widths (normalised units), see :func:`limb_maps`.
        alpha: Along-limb standard deviation over 2D limb length.

    Returns:
        ``(..., 33, S, S)``.
    """
    return torch.cat([joint_heatmaps(p2d, size, sigma), limb_maps(p2d, limb_widths, alpha, size)], dim=-3)


def limb_depths(depth: torch.Tensor) -> torch.Tensor:
    """``(..., 17)`` joint depths (distance along the optical axis) -> ``(..., 16)`` limb depths, the mean of each
    limb's two joints, in ``skeleton.BONES`` order."""
    if depth.dim() < 1 or depth.shape[-1] != skeleton.NUM_JOINTS:
        raise ValueError(f"depth must have shape (..., {skeleton.NUM_JOINTS}), got {tuple(depth.shape)}")
    idx = torch.tensor(_BONE_PARENTS + _BONE_CHILDREN, device=depth.device)
    ends = depth.index_select(-1, idx)
    return 0.5 * (ends[..., : skeleton.NUM_BONES] + ends[..., skeleton.NUM_BONES :])


def occlude_limbs(limbs: torch.Tensor, depth: torch.Tensor, softness: float) -> torch.Tensor:
    """Limb maps drawn in depth order: where two limbs overlap, the nearer covers the farther.

    ``out_l(u) = A_l(u) * prod_k (1 - s(d_l - d_k) * A_k(u))`` over the limbs k that share no joint with l, with
    ``s(x) = sigmoid(x / softness)`` (1 when k is nearer than l by several ``softness``). Joined limbs overlap at their
    joint whatever their depths, so they never cover each other. Differentiable w.r.t. the depths: where limbs
    overlap, the maps say which one is in front, which the paper's Tm (drawn without depth) cannot.

    Args:
        limbs: ``(..., 16, S, S)`` limb maps in [0, 1] (:func:`limb_maps`).
        depth: ``(..., 16)`` limb depths (:func:`limb_depths`; larger is farther).
        softness: Depth difference (the unit of ``depth``) over which the order goes from undecided to decided.

    Returns:
        ``(..., 16, S, S)``, each map at most the input map.
    """
    if softness <= 0:
        raise ValueError(f"softness must be > 0, got {softness}")
    if limbs.dim() < 3 or limbs.shape[-3] != skeleton.NUM_BONES or depth.shape[-1] != skeleton.NUM_BONES:
        raise ValueError(
            f"limbs must be (..., {skeleton.NUM_BONES}, S, S) and depth (..., {skeleton.NUM_BONES}), "
            f"got {tuple(limbs.shape)} and {tuple(depth.shape)}"
        )
    mask = torch.tensor(_NON_ADJACENT, dtype=limbs.dtype, device=limbs.device)
    # front[..., l, k]: how surely limb k is in front of limb l.
    front = torch.sigmoid((depth[..., :, None] - depth[..., None, :]) / softness) * mask
    cover = front[..., None, None] * limbs.unsqueeze(-4)  # (..., l, k, S, S): limb k's map where it covers l
    return limbs * torch.prod(1.0 - cover, dim=-3)
