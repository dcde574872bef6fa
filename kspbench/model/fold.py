"""Inference only: BatchNorm folded into the convolution before it (prediction runs the networks without them).

In eval mode a BatchNorm is a per-channel affine map of its input, ``y = g (x - m) / sqrt(v + eps) + b``; after a
convolution ``x = W * z + c`` it is the same convolution with ``W' = W s`` and ``c' = (c - m) s + b`` per output
channel, ``s = g / sqrt(v + eps)``. Folding removes one pass over every activation map (measured: BatchNorm was a
fifth of ``kspbench predict``'s time on the cpu profile). Outputs agree with the unfolded model to float rounding.

Only pairs whose adjacency is structural are folded: a ``Conv2d`` directly followed by a ``BatchNorm2d`` inside an
``nn.Sequential``, and the ``convN -> bnN`` pairs of the ResNet trunk's stem and bottleneck blocks
(:mod:`kspbench.model.resnet`, whose ``forward`` applies them back to back).
"""

from __future__ import annotations

import torch
from torch import nn

from kspbench.model.resnet import Bottleneck, ResNetTrunk

__all__ = ["fold_batchnorm_"]


def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Rewrite ``conv`` in place as ``bn(conv(.))`` (eval statistics)."""
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (bias - bn.running_mean) * scale + (bn.bias if bn.bias is not None else 0.0)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))  # in place: keeps the weight's memory format
        conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype), requires_grad=False)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (
        isinstance(conv, nn.Conv2d)
        and isinstance(bn, nn.BatchNorm2d)
        and bn.track_running_stats
        and bn.running_mean is not None
        and conv.out_channels == bn.num_features
    )


def fold_batchnorm_(model: nn.Module) -> int:
    """Fold every structurally adjacent Conv2d -> BatchNorm2d pair of ``model`` (eval mode) in place.

    Each folded BatchNorm is replaced by ``nn.Identity``; the model is for inference only afterwards.

    Returns:
        The number of BatchNorm layers folded.

    Raises:
        ValueError: ``model`` is in training mode (its BatchNorms use batch statistics there).
    """
    if any(m.training for m in model.modules()):
        raise ValueError("fold_batchnorm_ needs a model in eval mode")
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if _foldable(conv, bn):
                    _fold_pair(conv, bn)
                    module._modules[b] = nn.Identity()
                    folded += 1
        elif isinstance(module, (Bottleneck, ResNetTrunk)):
            for i in (1, 2, 3):
                conv, bn = getattr(module, f"conv{i}", None), getattr(module, f"bn{i}", None)
                if _foldable(conv, bn):
                    _fold_pair(conv, bn)
                    setattr(module, f"bn{i}", nn.Identity())
                    folded += 1
    return folded
