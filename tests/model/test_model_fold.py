"""BatchNorm folding for inference: the folded model predicts what the unfolded one does, with no BatchNorm left."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from kspbench.model.fold import fold_batchnorm_
from kspbench.model.ksp import KSP


def _trained_like(profile) -> KSP:
    """A KSP with random weights and non-trivial BatchNorm statistics (a few training-mode passes)."""
    gen = torch.Generator().manual_seed(3)
    model = KSP(profile)
    model.reset_parameters(gen)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0.0, 0.2, generator=gen)
    with torch.no_grad():
        for _ in range(3):
            model.pose(torch.rand(8, 3, profile.input_size, profile.input_size, generator=gen) * 2.0)
    return model.eval()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_folded_model_gives_the_same_pose_and_has_no_batchnorm_left_in_the_pose_branch(tiny, layout):
    model = _trained_like(tiny).to(memory_format=layout)
    folded = copy.deepcopy(model)
    n = fold_batchnorm_(folded)
    assert n == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(5, 3, tiny.input_size, tiny.input_size, generator=torch.Generator().manual_seed(4))
    x = x.contiguous(memory_format=layout)
    with torch.no_grad():
        want, got = model.pose(x), folded.pose(x)
    for key in ("p3d_cam", "p2d", "scale"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5)
    # The BatchNorms matter: dropping them without folding changes the pose.
    dropped = copy.deepcopy(model)
    for m in dropped.modules():
        for name, child in m.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(m, name, nn.Identity())
    with torch.no_grad():
        assert (dropped.pose(x)["p3d_cam"] - want["p3d_cam"]).abs().max() > 1e-3


def test_folding_a_model_in_training_mode_is_refused(tiny):
    model = KSP(tiny)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm_(model)
