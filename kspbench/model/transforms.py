"""Spatial transforms shared by the data pipeline (Lprior augmentation) and LUNP (the paper's T and T^-1), in torch.

A transform is a per-sample horizontal flip followed by an in-plane rotation about the crop centre:
``T(I) = rotate(flip?(I), angle)``. On labels (crop coordinates [-1, 1], x right, y down; square crops, so the
coordinates are isotropic):

* flip: ``x -> -x`` and the joints are relabelled left <-> right with ``skeleton.FLIP_PERMUTATION`` (the flipped
  image's left wrist is the original right wrist); camera-frame 3D likewise (``X -> -X`` and relabel);
* rotation by ``angle`` (radians; positive turns image +x towards image +y, i.e. clockwise on screen):
  ``p -> R(angle) p`` in 2D, and the camera-frame 3D rotates about the optical axis by the same matrix, which is
  exact for a camera whose principal point is the crop centre (the model's camera).

``invert_p2d`` maps 2D predicted on ``T(I)`` back to ``I``'s frame: ``unflip(R(-angle) p)``. Everything is batched
and differentiable in the images (``grid_sample`` with zeros outside, ``align_corners=False`` as in
:mod:`kspbench.core.spatial_maps`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from kspbench.core import skeleton

__all__ = ["flip_labels", "rotation_2d", "rotate_images", "apply_images", "apply_p2d", "apply_p3d", "invert_p2d"]


def _flip_index(device: torch.device) -> torch.Tensor:
    return torch.tensor(skeleton.FLIP_PERMUTATION, dtype=torch.long, device=device)


def flip_labels(p: torch.Tensor) -> torch.Tensor:
    """Mirror ``(..., 17, D)`` labels (D = 2 or 3, x first) horizontally: negate x and swap left/right joints."""
    sign = torch.ones(p.shape[-1], dtype=p.dtype, device=p.device)
    sign[0] = -1.0
    return (p * sign).index_select(-2, _flip_index(p.device))


def rotation_2d(angle: torch.Tensor) -> torch.Tensor:
    """``(B,)`` angles -> ``(B, 2, 2)`` rotations ``[[c, -s], [s, c]]`` (column-vector convention)."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _where_flip(flip: torch.Tensor, flipped: torch.Tensor, plain: torch.Tensor) -> torch.Tensor:
    return torch.where(flip.view(-1, *([1] * (plain.dim() - 1))), flipped, plain)


def rotate_images(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate ``(B, C, H, W)`` images (square) by ``angle`` ``(B,)`` about their centre; zeros outside."""
    # Output pixel u samples the input at R(-angle) u.
    inv = rotation_2d(-angle).to(images.dtype)
    theta = torch.cat([inv, torch.zeros_like(inv[:, :, :1])], dim=2)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def apply_images(images: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``T(I)``: flip where ``flip`` ``(B,)`` bool, then rotate by ``angle`` ``(B,)``."""
    images = _where_flip(flip, images.flip(-1), images)
    if bool((angle != 0).any()):
        images = rotate_images(images, angle)
    return images


def apply_p2d(p2d: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """The labels of ``T(I)`` from those of ``I`` (``(B, 17, 2)``)."""
    p2d = _where_flip(flip, flip_labels(p2d), p2d)
    return p2d @ rotation_2d(angle).to(p2d.dtype).transpose(-1, -2)


def apply_p3d(p3d: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Camera-frame 3D labels of ``T(I)`` from those of ``I`` (``(B, 17, 3)``): mirror, then roll about z."""
    p3d = _where_flip(flip, flip_labels(p3d), p3d)
    rot = rotation_2d(angle).to(p3d.dtype)
    return torch.cat([p3d[..., :2] @ rot.transpose(-1, -2), p3d[..., 2:]], dim=-1)


def invert_p2d(p2d: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``T^-1`` on 2D: labels predicted on ``T(I)`` -> labels of ``I``."""
    p2d = p2d @ rotation_2d(-angle).to(p2d.dtype).transpose(-1, -2)
    return _where_flip(flip, flip_labels(p2d), p2d)
