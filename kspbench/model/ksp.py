"""The whole KSP model: EP -> Tfk -> Tc (+ kspbench's crop offset and scale) -> Tm -> two convs -> f2D; EA -> fa;
DI(f2D, fa, background) -> image.

Ablations (the paper's Table 4): ``no-tfk`` replaces Tfk by an MLP from EP's features to the 17 joints in C (see
:class:`~kspbench.model.encoders.PoseEncoder`); ``no-tm`` replaces Tm by a learned network from the 34 numbers of
p2D to the 33 maps (:class:`LearnedMaps`). Everything else is identical.

Units: 3D in trunk units (pelvis -> thorax = 1, :func:`kspbench.core.kinematics.canonical_bone_lengths`), 2D in crop
coordinates [-1, 1] (x right, y down), images in [0, 1].
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from kspbench.core import kinematics as K
from kspbench.core import skeleton
from kspbench.core.spatial_maps import limb_depths, occlude_limbs, spatial_maps
from kspbench.model.decoder import Decoder
from kspbench.model.encoders import AppearanceEncoder, PoseEncoder, init_conv_bn_
from kspbench.model.profiles import ModelProfile

__all__ = ["ABLATIONS", "KSP", "PoseMaps", "LearnedMaps"]

ABLATIONS = ("none", "no-tfk", "no-tm")
N_MAPS = skeleton.NUM_JOINTS + skeleton.NUM_BONES  # 33


def _strides(profile: ModelProfile) -> tuple[int, int]:
    ratio = profile.maps.size // profile.feature_size
    return {1: (1, 1), 2: (2, 1), 4: (2, 2)}[ratio]


class LearnedMaps(nn.Module):
    """The ``no-tm`` ablation: p2D (34) -> FC -> ReLU -> FC -> ReLU -> FC -> sigmoid -> 33 maps of S x S."""

    def __init__(self, size: int, hidden: int) -> None:
        super().__init__()
        self.size = size
        self.net = nn.Sequential(
            nn.Linear(2 * skeleton.NUM_JOINTS, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, N_MAPS * size * size),
        )

    def forward(self, p2d: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(p2d.flatten(1))).unflatten(1, (N_MAPS, self.size, self.size))


class PoseMaps(nn.Module):
    """Tm (or its learned replacement) followed by the paper's two convolutions: p2D -> f2D ``(B, C, F, F)``."""

    def __init__(self, profile: ModelProfile, *, learned: bool = False) -> None:
        super().__init__()
        m = profile.maps
        self.size = m.size
        self.alpha = m.alpha
        self.sigma = profile.heatmap_sigma()
        self.min_width = 2.0 * profile.min_sigma()
        self.base_sigma, self.min_sigma_px = m.sigma, m.min_sigma_px
        self.occlusion = m.occlusion
        self.learned = LearnedMaps(m.size, profile.ablation_hidden) if learned else None
        # Physical limb widths seen at the model camera's distance, in [-1, 1] units at scale 1.
        self.register_buffer(
            "limb_widths",
            torch.tensor(skeleton.LIMB_WIDTH_RATIOS) * (K.DEFAULT_FOCAL / K.DEFAULT_CAMERA_DISTANCE),
            persistent=False,
        )
        s1, s2 = _strides(profile)
        half = max(m.channels // 2, 1)
        self.convs = nn.Sequential(
            nn.Conv2d(N_MAPS, half, 3, stride=s1, padding=1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, m.channels, 3, stride=s2, padding=1, bias=False),
            nn.BatchNorm2d(m.channels),
            nn.ReLU(inplace=True),
        )

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_conv_bn_(self, generator)

    def maps(self, p2d: torch.Tensor, scale: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """The 33 maps ``(B, 33, S, S)``; ``scale`` ``(B,)`` is the crop scale s (limb widths scale with it);
        ``depth`` ``(B, 17)``, the joints' depths (camera frame, trunk units), orders the limb maps when the profile's
        ``maps.occlusion`` is on (ignored otherwise, and by no-tm's learned maps)."""
        if self.learned is not None:
            return self.learned(p2d)
        widths = (self.limb_widths * scale[:, None]).clamp_min(self.min_width)
        return self.ordered(spatial_maps(p2d, self.size, self.sigma, widths, self.alpha), depth)

    def ordered(self, maps: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        """``maps`` ``(B, 33, S, S)`` with the limb maps in depth order (``depth`` ``(B, 17)``); unchanged when the
        profile's ``maps.occlusion`` is 0, ``depth`` is None or the maps are no-tm's learned ones."""
        if not self.occlusion or depth is None or self.learned is not None:
            return maps
        joints, limbs = maps.split([skeleton.NUM_JOINTS, skeleton.NUM_BONES], dim=-3)
        return torch.cat([joints, occlude_limbs(limbs, limb_depths(depth), self.occlusion)], dim=-3)

    def forward(self, p2d: torch.Tensor, scale: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        return self.convs(self.maps(p2d, scale, depth))

    def maps_at(
        self,
        p2d: torch.Tensor,
        scale: torch.Tensor,
        sizes: Sequence[int],
        maps: torch.Tensor,
        depth: torch.Tensor | None = None,
    ) -> dict[int, torch.Tensor]:
        """The maps at each of ``sizes`` (the decoder's skips): Tm draws them at the largest size, with the
        profile's sigma and the physical limb widths, widened to ``min_sigma_px`` pixels OF THAT SIZE (so a limb
        keeps its width instead of the 16 px maps' floor), and smaller sizes are its area averages. ``maps`` are the
        ``(B, 33, S, S)`` maps already drawn; no-tm's learned maps are resized bilinearly (no-tm must not use Tm)."""
        if not sizes:
            return {}
        top = max(sizes)
        if self.learned is not None:
            big = F.interpolate(maps, size=(top, top), mode="bilinear", align_corners=False)
        elif top == self.size:
            big = maps
        else:
            floor = self.min_sigma_px * 2.0 / top  # min_sigma_px pixels of a top-size map, in [-1, 1] units
            widths = (self.limb_widths * scale[:, None]).clamp_min(2.0 * floor)
            big = self.ordered(spatial_maps(p2d, top, max(self.base_sigma, floor), widths, self.alpha), depth)
        return {s: big if s == top else F.interpolate(big, size=(s, s), mode="area") for s in sizes}


class KSP(nn.Module):
    """The KSP model.

    Args:
        profile: network sizes (:mod:`kspbench.model.profiles`).
        ablation: ``"none"``, ``"no-tfk"`` or ``"no-tm"``.
        bone_ratios: 17 bone lengths in trunk units (default: ``skeleton.BONE_LENGTH_RATIOS``); entry 8 is the
            trunk and is always 1.
        fk_frame: ``"canonical"`` or ``"local"`` (see :func:`kspbench.core.kinematics.forward_kinematics`).
    """

    def __init__(
        self,
        profile: ModelProfile,
        ablation: str = "none",
        *,
        bone_ratios: Sequence[float] | None = None,
        fk_frame: str = "canonical",
    ) -> None:
        super().__init__()
        if ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {ablation!r}; use one of {', '.join(ABLATIONS)}")
        self.profile = profile
        self.ablation = ablation
        self.fk_frame = fk_frame
        self.ep = PoseEncoder(profile, direct_3d=ablation == "no-tfk")
        self.ea = AppearanceEncoder(profile)
        self.pose_maps = PoseMaps(profile, learned=ablation == "no-tm")
        self.di = Decoder(profile, profile.maps.channels, self.ea.out_channels, map_channels=N_MAPS)
        lengths = K.canonical_bone_lengths()
        if bone_ratios is not None:
            lengths = torch.tensor([float(r) for r in bone_ratios])
            lengths[8] = 1.0
        self.register_buffer("bone_lengths", lengths)
        self.register_buffer("translation", torch.tensor([0.0, 0.0, K.DEFAULT_CAMERA_DISTANCE]), persistent=False)
        self.focal = K.DEFAULT_FOCAL

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise every parameter from ``generator`` (no global RNG)."""
        self.ep.reset_parameters(generator)
        self.ea.reset_parameters(generator)
        self.pose_maps.reset_parameters(generator)
        self.di.reset_parameters(generator)

    def generator_modules(self) -> tuple[nn.Module, ...]:
        """The parts frozen for LUNP: the pose-map convs (and no-tm's learned maps) and DI."""
        return (self.pose_maps, self.di)

    # --- the pose branch: EP -> Tfk -> Tc (Tk in the paper) ---------------------------------------------------
    def pose(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images`` ``(B, 3, H, W)`` in [0, 1] -> EP's outputs plus

        ``p3d`` ``(B, 17, 3)`` in C, ``rotation`` Rc ``(B, 3, 3)``, ``p3d_cam`` = Rc p3d (root-relative camera
        frame), ``scale`` s ``(B,)`` and ``p2d`` = s * P(Rc p3d + Tc) + o ``(B, 17, 2)`` in crop coordinates.
        """
        return self.pose_from_head(self.ep(images))

    def pose_from_head(self, head: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Tfk and Tc on EP's raw outputs (``vk`` or, for no-tfk, ``p3d``; ``c6``, ``log_scale``, ``offset``): the
        second half of :meth:`pose`, for callers that move those outputs themselves (a new dict; ``head`` is left as
        it is)."""
        out = dict(head)
        if "p3d" not in out:
            out["p3d"] = K.forward_kinematics(out["vk"], self.bone_lengths, frame=self.fk_frame)
        rot = K.camera_rotation(out["c6"])
        scale = torch.exp(out["log_scale"])
        proj = K.project(out["p3d"], rot, self.translation, self.focal)
        out.update(
            rotation=rot,
            scale=scale,
            p3d_cam=out["p3d"] @ rot.transpose(-1, -2),
            p2d=scale[:, None, None] * proj + out["offset"][:, None, :],
        )
        return out

    def appearance(self, images: torch.Tensor) -> torch.Tensor:
        """EA: ``(B, 3, H, W)`` in [0, 1] -> fa."""
        return self.ea(images)

    def render(
        self,
        p2d: torch.Tensor,
        scale: torch.Tensor,
        fa: torch.Tensor,
        background: torch.Tensor,
        depth: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Tm + two convs -> f2D, then DI(f2D, fa, background); the output dict also holds ``silhouette``
        ``(B, 1, H, W)``, the max of the limb maps (no-tm: of its learned maps) upsampled to the image. ``depth``
        ``(B, 17)`` (the pose's camera-frame z) puts the limb maps in depth order when the profile asks for it
        (``maps.occlusion``); the silhouette is drawn from the maps before the ordering (where the person is does not
        depend on which limb is in front)."""
        drawn = self.pose_maps.maps(p2d, scale)
        maps = self.pose_maps.ordered(drawn, depth)
        f2d = self.pose_maps.convs(maps)
        silhouette = None
        if self.di.mask_prior:
            limbs = drawn[:, skeleton.NUM_JOINTS :].amax(dim=1, keepdim=True)
            silhouette = F.interpolate(limbs, size=background.shape[-2:], mode="bilinear", align_corners=False)
        skips = self.pose_maps.maps_at(p2d, scale, self.di.skip_sizes, maps, depth)
        out = self.di(f2d, fa, background, silhouette, skips or None)
        if silhouette is not None:
            out["silhouette"] = silhouette
        return out
