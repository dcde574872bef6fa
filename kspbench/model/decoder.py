"""DI: the image decoder, concat(f2D, fa) plus the background Bt fused near the output (Rhodin et al. 2018 style).

Layout (kspbench's reading; the paper only says Bt is fused "towards the end ... in line with Rhodin et al."):

* ``concat(f2D, fa)`` at the feature resolution F -> conv3x3 to ``width`` + BN + ReLU;
* one stage per doubling from F to the input size: bilinear x2 -> conv3x3 + BN + ReLU -> conv3x3 + BN + ReLU,
  halving the channels (never below ``min_width``);
* background branch on Bt at full resolution: 2 x (conv3x3 + BN + ReLU) to ``bg_channels`` (Rhodin's
  ``conv_1_stage_bg``), concatenated with the last stage's output; ``bg_channels: 0`` drops it, and Bt then enters
  only through the mask composite (measured: with the branch, the foreground learns to repeat Bt inside the mask);
* 2 x (conv3x3 + ReLU) then a 1x1 conv to RGB (and, with ``mask_composite``, one mask logit);
* with ``map_skips``, the pose's maps (Tm's 33 maps drawn at each resolution by the caller) are concatenated into
  every stage's input and the output layer's: at the 8 px feature map of the cpu profile a limb is narrower than
  a pixel, and the stages must otherwise draw it from f2D's coarse code (benchmarks/decoder_probe.py: teacher-forced
  PCI 0.35 -> 0.42 at 1,000 steps).

Output: with ``mask_composite`` (kspbench default) ``I = m * sigmoid(rgb) + (1 - m) * Bt`` with
``m = sigmoid(mask logit + mask_prior * (2 s - 1))``, ``s`` the pose's silhouette in [0, 1] (given by the caller:
the max of Tm's limb maps; ``mask_prior`` 0 ignores it); otherwise ``I = sigmoid(rgb)``. Images are in [0, 1].

Why the silhouette prior: with a free mask logit the composite falls into "copy Bt" (m -> 0) within a few hundred
steps, before the foreground can be drawn; m then stops passing gradient to the foreground and to the pose (measured:
mean m 0.000 from step 500 on). With the prior the composite starts as "the person is where the pose says", the
learned logit only refines it, and the image loss reaches p2D through the silhouette as well as through f2D.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from kspbench.model.encoders import init_conv_bn_
from kspbench.model.profiles import ModelProfile

__all__ = ["Decoder"]


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Decoder(nn.Module):
    def __init__(self, profile: ModelProfile, f2d_channels: int, fa_channels: int, map_channels: int = 0) -> None:
        super().__init__()
        d = profile.decoder
        self.mask_composite = d.mask_composite
        self.mask_prior = float(d.mask_prior)
        self.map_skips = d.map_skips
        skip = map_channels if d.map_skips else 0
        self.input = nn.Sequential(*_conv_bn_relu(f2d_channels + fa_channels, d.width))
        n_up = int(round(math.log2(profile.input_size // profile.feature_size)))
        stages = []
        channels = d.width
        for _ in range(n_up):
            out = max(channels // 2, d.min_width)
            stages.append(nn.Sequential(*_conv_bn_relu(channels + skip, out), *_conv_bn_relu(out, out)))
            channels = out
        # The sizes at which the caller draws the maps: each stage's and the output's (the last stage's size).
        self.skip_sizes = tuple(profile.feature_size * 2 ** (i + 1) for i in range(n_up)) if skip else ()
        self.stages = nn.ModuleList(stages)
        # bg_channels 0: Bt enters only through the mask composite, so the foreground cannot be a copy of Bt.
        self.background = (
            nn.Sequential(*_conv_bn_relu(3, d.bg_channels), *_conv_bn_relu(d.bg_channels, d.bg_channels))
            if d.bg_channels
            else None
        )
        self.output = nn.Sequential(
            nn.Conv2d(channels + d.bg_channels + skip, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, 4 if self.mask_composite else 3, 1),
        )

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_conv_bn_(self, generator)
        if self.mask_composite:
            # The mask logit starts near 0, so the silhouette prior (or an even 0.5) decides the first steps.
            last = self.output[-1]
            with torch.no_grad():
                last.weight[3:].mul_(0.01)

    def forward(
        self,
        f2d: torch.Tensor,
        fa: torch.Tensor,
        background: torch.Tensor,
        silhouette: torch.Tensor | None = None,
        maps: dict[int, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """``f2d`` ``(B, C2, F, F)``, ``fa`` ``(B, Ca, F, F)``, ``background`` ``(B, 3, H, W)`` in [0, 1],
        ``silhouette`` ``(B, 1, H, W)`` in [0, 1] (used when ``mask_prior`` > 0), ``maps`` (with ``map_skips``)
        ``{size: (B, 33, size, size)}`` for every size in :attr:`skip_sizes`."""
        if self.map_skips and (maps is None or set(maps) != set(self.skip_sizes)):
            raise ValueError(f"map_skips: the decoder needs the pose maps at sizes {self.skip_sizes}")
        x = self.input(torch.cat([f2d, fa], dim=1))
        for stage in self.stages:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            if self.map_skips:
                x = torch.cat([x, maps[x.shape[-1]]], dim=1)
            x = stage(x)
        if self.background is not None:
            x = torch.cat([x, self.background(background)], dim=1)
        if self.map_skips:
            x = torch.cat([x, maps[x.shape[-1]]], dim=1)
        out = self.output(x)
        fg = torch.sigmoid(out[:, :3])
        if not self.mask_composite:
            return {"image": fg}
        logit = out[:, 3:4]
        if self.mask_prior and silhouette is not None:
            logit = logit + self.mask_prior * (2.0 * silhouette - 1.0)
        mask = torch.sigmoid(logit)
        return {"image": mask * fg + (1.0 - mask) * background, "mask": mask, "foreground": fg}
