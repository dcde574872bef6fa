"""The paper's two encoders: EP (pose: ResNet trunk + vk and camera heads) and EA (appearance: 10 convolutions).

EP's outputs (kspbench's reading of the paper; the choices are recorded in ``docs/model.md``):

* ``vk`` (40): ``phi = (pi/4) tanh(raw_0)`` (the pelvis-to-hip-line angle, bounded), then 13 raw 3-vectors that
  :func:`kspbench.core.kinematics.forward_kinematics` normalises.
* ``c6`` (6): three (sin, cos) pairs (azimuth, elevation, roll), normalised by
  :func:`kspbench.core.kinematics.camera_rotation`.
* ``offset`` (2) and ``log_scale`` (1): kspbench's crop camera. The paper's Tc has a fixed translation and focal
  length, so the pelvis would always project to the crop centre at a fixed scale; kspbench's crops come from a 2D
  box rule (:mod:`kspbench.core.crops`), so the 2D pose in the crop is ``s * Tc(p3D) + o`` with
  ``o = OFFSET_BOUND * tanh(raw)`` and ``s = exp(LOG_SCALE_BOUND * tanh(raw))``, i.e. o in (-1, 1) and s in
  (0.37, 2.7). The bounds cover the labels of the synthetic world (fitted per frame: s 0.8-2.4, |o| up to 0.7,
  largest for sitting and crouching people, whose box is small and whose pelvis is off the box centre).

With the ``no-tfk`` ablation the vk branch is replaced by an MLP that outputs the 17 joints in C directly (``p3d``,
pelvis pinned to the origin), and forward kinematics is not used.

Initialisation: hidden layers Kaiming-normal; each branch's last layer has small weights (Xavier x 0.01, as in the
authors' group's ``ss_human_mesh`` regressor) and a bias giving a rest pose (legs and arms down, trunk and head up)
seen from the front at scale 1 and offset 0, so training starts from a plausible, centred, upright skeleton.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kspbench.core import skeleton
from kspbench.model.profiles import ModelProfile
from kspbench.model.resnet import ResNetTrunk, init_resnet_

__all__ = [
    "OFFSET_BOUND",
    "LOG_SCALE_BOUND",
    "PHI_BOUND",
    "PoseEncoder",
    "AppearanceEncoder",
    "rest_vk",
    "rest_pose_canonical",
    "init_conv_bn_",
    "soft_argmax",
]

PHI_BOUND = math.pi / 4
OFFSET_BOUND = 1.0
LOG_SCALE_BOUND = 1.0
_LAST_LAYER_GAIN = 0.01
# ImageNet statistics (the inputs of torchvision's pretrained ResNet-50).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Rest-pose directions in C of the 13 predicted joints (skeleton.PREDICTED_JOINTS order).
_REST_DIRECTIONS = {
    2: (0, 0, -1),
    3: (0, 0, -1),
    5: (0, 0, -1),
    6: (0, 0, -1),
    7: (0, 0, 1),
    9: (0, 0, 1),
    10: (0, 0, 1),
    11: (0, 1, 0),
    12: (0, 0, -1),
    13: (0, 0, -1),
    14: (0, -1, 0),
    15: (0, 0, -1),
    16: (0, 0, -1),
}


def rest_vk() -> torch.Tensor:
    """(40,) vk of the rest pose: phi 0, legs and arms down, spine and head up, shoulders sideways."""
    vecs = [_REST_DIRECTIONS[j] for j in skeleton.PREDICTED_JOINTS]
    return torch.tensor([0.0] + [float(c) for v in vecs for c in v])


def rest_pose_canonical() -> torch.Tensor:
    """(17, 3) the rest pose in C, trunk units (the no-tfk head's initial output)."""
    from kspbench.core.kinematics import canonical_bone_lengths, forward_kinematics

    return forward_kinematics(rest_vk(), canonical_bone_lengths())


def init_conv_bn_(module: nn.Module, generator: torch.Generator) -> None:
    """Kaiming-normal (fan-out, ReLU) convs with zero bias, BN (1, 0), Kaiming-normal (fan-in) linears."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            nn.init.zeros_(m.bias)


def _init_output_(layer: nn.Linear, bias: torch.Tensor, generator: torch.Generator) -> None:
    nn.init.xavier_uniform_(layer.weight, gain=_LAST_LAYER_GAIN, generator=generator)
    with torch.no_grad():
        layer.bias.copy_(bias)


def _branch(in_features: int, hidden: int, out: int, depth: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


class PoseEncoder(nn.Module):
    """EP: normalised image -> ``{"vk" | "p3d", "c6", "offset", "log_scale", "features"}``.

    Args:
        profile: network sizes.
        direct_3d: the ``no-tfk`` ablation (an MLP to 17 x 3 joints replaces the vk branch and Tfk).
    """

    def __init__(self, profile: ModelProfile, *, direct_3d: bool = False) -> None:
        super().__init__()
        r, h = profile.resnet, profile.ep_head
        self.trunk = ResNetTrunk(r.width, r.blocks, r.maxpool)
        stride = 2 if profile.feature_size >= 8 else 1
        side = (profile.feature_size + stride - 1) // stride
        # "flatten" keeps where things are in the head's map (side x side): a global average pool leaves only
        # channel statistics, which a narrow CPU-size head cannot turn into precise limb positions.
        pool = [nn.Flatten()] if h.pool == "flatten" else [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        features = h.channels * side * side if h.pool == "flatten" else h.channels
        # "keypoints": 17 heatmaps on the trunk's map, read out by soft-argmax, join the pooled vector. Where the
        # joints are is then an explicit input of the vk and camera branches (a 2D-to-3D lifting), instead of
        # something a pooled channel vector must encode.
        self.keypoints = nn.Conv2d(self.trunk.out_channels, skeleton.NUM_JOINTS, 1) if h.pool == "keypoints" else None
        if self.keypoints is not None:
            features += 2 * skeleton.NUM_JOINTS
        self.head = nn.Sequential(
            nn.Conv2d(self.trunk.out_channels, h.channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(h.channels),
            nn.ReLU(inplace=True),
            *pool,
        )
        self.direct_3d = direct_3d
        if direct_3d:
            # Same first layer as the vk branch, plus one hidden layer of ablation_hidden: a learned Tfk.
            self.pose_branch = nn.Sequential(
                nn.Linear(features, h.hidden),
                nn.ReLU(inplace=True),
                nn.Linear(h.hidden, profile.ablation_hidden),
                nn.ReLU(inplace=True),
                nn.Linear(profile.ablation_hidden, 3 * skeleton.NUM_JOINTS),
            )
        else:
            self.pose_branch = _branch(features, h.hidden, skeleton.VK_DIM)
        self.camera_branch = _branch(features, h.hidden, 6 + 2 + 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_resnet_(self.trunk, generator)
        init_conv_bn_(self.head, generator)
        init_conv_bn_(self.pose_branch, generator)
        init_conv_bn_(self.camera_branch, generator)
        if self.keypoints is not None:
            # Zero logits: every point starts at the crop centre and the heatmaps learn from the branches' gradients.
            nn.init.zeros_(self.keypoints.weight)
            nn.init.zeros_(self.keypoints.bias)
        pose_bias = rest_pose_canonical().flatten() if self.direct_3d else rest_vk()
        _init_output_(self.pose_branch[-1], pose_bias, generator)
        _init_output_(self.camera_branch[-1], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]), generator)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images``: ``(B, 3, H, W)`` in [0, 1]."""
        trunk = self.trunk((images - self.mean) / self.std)
        feats = self.head(trunk)
        points = None
        if self.keypoints is not None:
            points = soft_argmax(self.keypoints(trunk))
            feats = torch.cat([feats, points.flatten(1)], dim=1)
        raw = self.pose_branch(feats)
        cam = self.camera_branch(feats)
        out = {
            "features": feats,
            "c6": cam[:, :6],
            "offset": OFFSET_BOUND * torch.tanh(cam[:, 6:8]),
            "log_scale": LOG_SCALE_BOUND * torch.tanh(cam[:, 8]),
        }
        if points is not None:
            out["keypoints"] = points
        if self.direct_3d:
            p3d = raw.unflatten(-1, (skeleton.NUM_JOINTS, 3))
            out["p3d"] = p3d - p3d[:, :1]
        else:
            out["vk"] = torch.cat([PHI_BOUND * torch.tanh(raw[:, :1]), raw[:, 1:]], dim=1)
        return out


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """``(B, K, H, W)`` heatmap logits -> ``(B, K, 2)`` expected (x, y) in [-1, 1] crop coordinates (pixel centres)."""
    b, k, h, w = logits.shape
    prob = torch.softmax(logits.flatten(2), dim=-1).unflatten(-1, (h, w))
    xs = (torch.arange(w, dtype=logits.dtype, device=logits.device) + 0.5) * (2.0 / w) - 1.0
    ys = (torch.arange(h, dtype=logits.dtype, device=logits.device) + 0.5) * (2.0 / h) - 1.0
    return torch.stack([(prob.sum(dim=2) * xs).sum(-1), (prob.sum(dim=3) * ys).sum(-1)], dim=-1)


class AppearanceEncoder(nn.Module):
    """EA: 10 conv3x3 (the first 7x7) + BN (+ ReLU but after the last) -> fa ``(B, 8w, F, F)``.

    Widths w, w, 2w, 2w, 4w, 4w, 8w, 8w, 8w, 8w (w = profile.ea_width; paper-size w = 64 gives fa = 512 channels);
    convs 2, 4, 6, 8 have stride 2 as far as needed to reach the trunk's feature size F; with
    ``profile.ea_stem_stride`` 2 the first conv is the first of those downsamplings (and conv 8 keeps stride 1).
    With ``profile.ea_pool`` fa is averaged over space and tiled back to F x F (kspbench's default; see
    ``profiles.yaml``).
    """

    N_CONVS = 10

    def __init__(self, profile: ModelProfile) -> None:
        super().__init__()
        w = profile.ea_width
        widths = (w, w, 2 * w, 2 * w, 4 * w, 4 * w, 8 * w, 8 * w, 8 * w, 8 * w)
        n_down = int(round(math.log2(profile.input_size // profile.feature_size)))
        # A strided stem runs the 7x7 conv (EA's most expensive one) and every later one on a quarter of the pixels.
        down_at = (0, 1, 3, 5)[:n_down] if profile.ea_stem_stride == 2 else (1, 3, 5, 7)[:n_down]
        layers: list[nn.Module] = []
        channels = 3
        for i, out in enumerate(widths):
            k = 7 if i == 0 else 3
            layers += [
                nn.Conv2d(channels, out, k, stride=2 if i in down_at else 1, padding=k // 2, bias=False),
                nn.BatchNorm2d(out),
            ]
            if i < self.N_CONVS - 1:
                layers.append(nn.ReLU(inplace=True))
            channels = out
        self.net = nn.Sequential(*layers)
        self.out_channels = channels
        self.pool = profile.ea_pool
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_conv_bn_(self.net, generator)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: ``(B, 3, H, W)`` in [0, 1] -> fa ``(B, 8w, F, F)``."""
        fa = self.net((images - self.mean) / self.std)
        if self.pool:
            # The image average keeps the person's colours and drops where the source frame's limbs are, so DI
            # cannot draw Is's pose and must take the pose from f2D.
            fa = fa.mean(dim=(2, 3), keepdim=True).expand_as(fa)
        return fa
