"""EP's trunk: ResNet-50 bottleneck blocks up to ``layer3`` (Caffe's res4a-res4f), in plain torch.

Parameter names follow torchvision's ``resnet50`` (``conv1``, ``bn1``, ``layer1.0.conv1`` ... ``layer3.5.bn3``,
``layerN.0.downsample.{0,1}``), and the stride sits on the 3x3 conv of a block (torchvision's "v1.5"), so a user's
own ``resnet50-*.pth`` state dict loads with :func:`load_torchvision_weights` (its ``layer4.*`` and ``fc.*`` entries
are not part of the trunk and are skipped). Width and depth are settings: ``width=64, blocks=(3, 4, 6)`` is
torchvision's network; smaller profiles divide the width and cut blocks, which changes parameter shapes, and the
loader then refuses the file naming the first parameter whose shape differs.

Initialisation (kspbench default, a deviation from the paper's ImageNet weights, which cannot be downloaded here):
Kaiming-normal convolutions (fan-out, ReLU), BatchNorm weight 1 and bias 0, and the last BatchNorm of every block
(``bn3``) zero-initialised so each residual block starts as the identity. Every draw uses the generator passed in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from kspbench.errors import KspbenchError

__all__ = ["Bottleneck", "ResNetTrunk", "WeightsError", "load_torchvision_weights", "init_resnet_"]

EXPANSION = 4
# torchvision keys that are not part of the trunk (stage 5 and the classifier).
_SKIPPED_PREFIXES = ("layer4.", "fc.")


class WeightsError(KspbenchError):
    """A weights file does not fit the trunk; the message names the parameter."""


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 (x4 channels), BatchNorm after each, identity or projected shortcut."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNetTrunk(nn.Module):
    """conv1 (7x7/2) -> bn1 -> relu -> [maxpool 3x3/2] -> layer1 -> layer2 (/2) -> layer3 (/2).

    Args:
        width: planes of the stem and layer1 (torchvision 64); layer2 and layer3 use 2x and 4x.
        blocks: blocks in layer1, layer2, layer3 (torchvision (3, 4, 6)).
        maxpool: keep the stem's max pool (output stride 16) or drop it (output stride 8; no parameter changes).

    Input ``(B, 3, H, W)`` normalised images; output ``(B, 16 * width, H / stride, W / stride)``.
    """

    def __init__(self, width: int = 64, blocks: tuple[int, int, int] = (3, 4, 6), maxpool: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if maxpool else nn.Identity()
        channels = width
        for i, (n_blocks, stride) in enumerate(zip(blocks, (1, 2, 2))):
            planes = width * 2**i
            layer = []
            for b in range(n_blocks):
                layer.append(Bottleneck(channels, planes, stride if b == 0 else 1))
                channels = planes * EXPANSION
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


def init_resnet_(trunk: ResNetTrunk, generator: torch.Generator) -> None:
    """Kaiming-normal convs (fan-out, ReLU), BN (1, 0), zero-init of every block's last BN weight."""
    for m in trunk.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in trunk.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)


def load_torchvision_weights(trunk: ResNetTrunk, source: str | os.PathLike | Mapping[str, torch.Tensor]) -> list[str]:
    """Copy a torchvision ResNet-50 state dict (file or mapping) into the trunk, with strict shape checks.

    Keys may carry a ``module.`` prefix (DataParallel). ``layer4.*`` and ``fc.*`` are skipped; any other key the trunk
    lacks, any trunk key the file lacks, and any shape difference raise :class:`WeightsError` naming the parameter.
    Nothing is copied unless everything fits.

    Returns:
        The skipped keys (sorted).
    """
    if isinstance(source, Mapping):
        state = dict(source)
        where = "the state dict"
    else:
        path = Path(source)
        if not path.is_file():
            raise WeightsError(f"{path}: no such weights file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for a file that is not a state dict
            raise WeightsError(f"{path}: not a loadable torch state dict ({type(err).__name__})") from None
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping):
            raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
        state = dict(state)
        where = str(path)
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    own = trunk.state_dict()
    skipped = sorted(k for k in state if k not in own and k.startswith(_SKIPPED_PREFIXES))
    # Shapes of the shared keys first: a full-size file in a smaller profile is named by its first parameter.
    for key, value in own.items():
        if key not in state:
            continue
        got = state[key]
        if not isinstance(got, torch.Tensor):
            raise WeightsError(f"{where}: parameter {key!r} is a {type(got).__name__}, not a tensor")
        if tuple(got.shape) != tuple(value.shape):
            raise WeightsError(
                f"{where}: parameter {key!r} has shape {tuple(got.shape)}, the trunk expects "
                f"{tuple(value.shape)} (use a profile with the file's width and depth, e.g. paper)"
            )
    missing = sorted(k for k in own if k not in state)
    if missing:
        raise WeightsError(
            f"{where}: parameter {missing[0]!r} is missing ({len(missing)} missing key(s)); the "
            "profile's trunk has more blocks than the file"
        )
    unexpected = sorted(k for k in state if k not in own and not k.startswith(_SKIPPED_PREFIXES))
    if unexpected:
        raise WeightsError(
            f"{where}: parameter {unexpected[0]!r} is not part of the profile's trunk "
            f"({len(unexpected)} unexpected key(s)); the file has more blocks than the profile, or is "
            "not a torchvision resnet50 state dict"
        )
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(state[key].to(value.dtype))
    return skipped
