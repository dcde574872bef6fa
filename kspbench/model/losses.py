"""The paper's losses (Sec. 3.3) and kspbench's supervised variants; every term is a mean L1.

* ``Lprior`` (:func:`prior_loss`): on the 20 labelled prior samples, ``w3d |Rc p3D - p3D*| + w2d |p2D - p2D*|``.
  3D in the root-relative, trunk-normalised camera frame (kspbench: the paper says "directly on p3D and p2D");
  2D in crop coordinates [-1, 1].
* ``LP`` (:func:`paired_loss`, Dp): ``|It - Ît| + lambda1 |p2D - p̂2D| + lambda2 |fa - f̂a|`` with
  ``Ît = DI(f2D(It), EA(Is), Bt)``, ``p̂2D = Tk(EP(Ît))``, ``f̂a = EA(Ît)`` (images in [0, 1]).
* ``LUNP`` (:func:`unpaired_loss`, Dunp): ``|p2D - p̃2D| + lambda2 |fa - f̃a|`` with
  ``Ĩt = DI(f2D(It), EA(Is), Br)``, ``p̃2D = T^-1(Tk(EP(T(Ĩt))))``, ``f̃a = EA(Ĩt)``. The generator (the pose-map
  convs and DI) must be frozen by the caller (:func:`frozen`): parameters without gradients and in eval mode, so
  neither its weights nor its normalisation statistics change, while gradients still flow through it to EP and EA.
* ``sup2d`` (weakly-supervised): ``weight |p2D - p2D*|`` on labelled frames.
* ``sup3d`` (semi-supervised and the fully supervised ceiling): as ``Lprior`` on labelled frames.

By default no term is detached: each loss's gradients reach every network its optimiser holds
(:mod:`kspbench.model.train`). With ``detach_cycle`` the cycle terms' targets (EP's p2D and EA's fa on the real
frames) are constants: the cycle then trains EP/EA to read the generated image, and cannot be lowered by making the
real-image outputs constant (measured: with shared targets EP collapsed to one pose).
Each function returns ``(loss, terms)``, ``terms`` a dict of detached scalars named as in the training log.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from kspbench.core import kinematics as K
from kspbench.model import transforms as T
from kspbench.model.ksp import KSP

__all__ = ["l1", "frozen", "prior_loss", "paired_loss", "unpaired_loss", "sup2d_loss", "sup3d_loss", "TERMS"]

# Every term name the training log has a column for, per loss.
TERMS = {
    "prior": ("prior_3d", "prior_2d", "prior_kp", "prior_can"),
    "paired": ("p_image", "p_cycle_2d", "p_cycle_fa"),
    "unpaired": ("unp_2d", "unp_fa"),
    "sup2d": ("sup_2d", "sup_kp"),
    "sup3d": ("sup_3d", "sup_3d_2d", "sup_3d_kp", "sup_3d_can"),
}


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


@contextlib.contextmanager
def frozen(modules: tuple[nn.Module, ...]) -> Iterator[None]:
    """Freeze ``modules`` inside the block: eval mode and ``requires_grad=False``; both restored afterwards."""
    saved = [(m, m.training, [(p, p.requires_grad) for p in m.parameters()]) for m in modules]
    try:
        for m in modules:
            m.eval()
            m.requires_grad_(False)
        yield
    finally:
        for m, training, params in saved:
            m.train(training)
            for p, flag in params:
                p.requires_grad_(flag)


def _terms(**values: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in values.items()}


def _keypoint_term(out: dict[str, torch.Tensor], p2d: torch.Tensor) -> torch.Tensor:
    """L1 of EP's soft-argmax keypoints to the 2D labels (0 when EP has no keypoint head)."""
    return l1(out["keypoints"], p2d) if "keypoints" in out else p2d.new_zeros(())


def _canonical_term(out: dict[str, torch.Tensor], p3d: torch.Tensor) -> torch.Tensor:
    """L1 between Tfk's pose in C and the label ``(B, 17, 3)`` (root-relative) expressed in its own canonical frame.

    The camera-frame term mixes the view into every joint, so while Rc is wrong it pulls the pose towards an
    average over views; this term scores the pose alone (benchmarks/lifting_probe.py: 53.0 -> 41.0 mm at 1200 steps).
    """
    _, _, rotation, pelvis = K.inverse_kinematics(p3d)
    return l1(out["p3d"], (p3d - pelvis[:, None, :]) @ rotation)


def _labelled_pose(
    model: KSP,
    images: torch.Tensor,
    p2d: torch.Tensor,
    p3d: torch.Tensor,
    w3d: float,
    w2d: float,
    wkp: float,
    wcan: float,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Lprior and sup3d alike: the weighted sum and its terms (camera-frame 3D, 2D, keypoints, canonical 3D)."""
    out = model.pose(images)
    terms = (l1(out["p3d_cam"], p3d), l1(out["p2d"], p2d), _keypoint_term(out, p2d), _canonical_term(out, p3d))
    return sum(w * t for w, t in zip((w3d, w2d, wkp, wcan), terms)), terms


def prior_loss(
    model: KSP,
    images: torch.Tensor,
    p2d: torch.Tensor,
    p3d: torch.Tensor,
    *,
    w3d: float,
    w2d: float,
    wkp: float = 0.0,
    wcan: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    value, (l3, l2, lk, lc) = _labelled_pose(model, images, p2d, p3d, w3d, w2d, wkp, wcan)
    return value, _terms(prior_3d=l3, prior_2d=l2, prior_kp=lk, prior_can=lc)


def _target(x: torch.Tensor, detach: bool) -> torch.Tensor:
    return x.detach() if detach else x


def _depth(pose: dict[str, torch.Tensor]) -> torch.Tensor:
    """The pose's joint depths ``(B, 17)`` in the camera frame, for Tm's depth order (``maps.occlusion``)."""
    return pose["p3d_cam"][..., 2]


def paired_loss(
    model: KSP,
    source: torch.Tensor,
    target: torch.Tensor,
    background: torch.Tensor,
    *,
    lambda1: float,
    lambda2: float,
    detach_cycle: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    pose = model.pose(target)
    fa = model.appearance(source)
    rec = model.render(pose["p2d"], pose["scale"], fa, background, _depth(pose))["image"]
    l_img = l1(rec, target)
    l_p = l1(_target(pose["p2d"], detach_cycle), model.pose(rec)["p2d"])
    l_fa = l1(_target(fa, detach_cycle), model.appearance(rec))
    return l_img + lambda1 * l_p + lambda2 * l_fa, _terms(p_image=l_img, p_cycle_2d=l_p, p_cycle_fa=l_fa)


def unpaired_loss(
    model: KSP,
    source: torch.Tensor,
    target: torch.Tensor,
    background: torch.Tensor,
    flip: torch.Tensor,
    angle: torch.Tensor,
    *,
    lambda2: float,
    detach_cycle: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """LUNP; call inside ``frozen(model.generator_modules())``. ``flip`` ``(B,)`` bool and ``angle`` ``(B,)``
    radians define T."""
    pose = model.pose(target)
    fa = model.appearance(source)
    gen = model.render(pose["p2d"], pose["scale"], fa, background, _depth(pose))["image"]
    p_tilde = T.invert_p2d(model.pose(T.apply_images(gen, flip, angle))["p2d"], flip, angle)
    l_p = l1(_target(pose["p2d"], detach_cycle), p_tilde)
    l_fa = l1(_target(fa, detach_cycle), model.appearance(gen))
    return l_p + lambda2 * l_fa, _terms(unp_2d=l_p, unp_fa=l_fa)


def sup2d_loss(
    model: KSP, images: torch.Tensor, p2d: torch.Tensor, *, weight: float, wkp: float = 0.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    out = model.pose(images)
    l2, lk = l1(out["p2d"], p2d), _keypoint_term(out, p2d)
    return weight * l2 + wkp * lk, _terms(sup_2d=l2, sup_kp=lk)


def sup3d_loss(
    model: KSP,
    images: torch.Tensor,
    p2d: torch.Tensor,
    p3d: torch.Tensor,
    *,
    w3d: float,
    w2d: float,
    wkp: float = 0.0,
    wcan: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    value, (l3, l2, lk, lc) = _labelled_pose(model, images, p2d, p3d, w3d, w2d, wkp, wcan)
    return value, _terms(sup_3d=l3, sup_3d_2d=l2, sup_3d_kp=lk, sup_3d_can=lc)
