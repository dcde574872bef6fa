"""Cost of the pose bottleneck Tk = Tm o Tc o Tfk (vk, c6 -> 33 spatial maps), forward and backward, CPU float32.

Run: ``python -m pytest benchmarks/test_bench_kinematics.py --benchmark-only -q`` (not part of the default test run,
which collects ``tests/`` only). Batch 64; per-sample time = reported time / 64. Threads: torch's default.
"""
from __future__ import annotations

import pytest
import torch

from kspbench import skeleton
from kspbench.kinematics import (
    DEFAULT_CAMERA_DISTANCE,
    DEFAULT_FOCAL,
    camera_rotation,
    canonical_bone_lengths,
    forward_kinematics,
    project,
)
from kspbench.spatial_maps import spatial_maps

BATCH = 64
SIGMA = 0.1  # method notes 1.3.4
ALPHA = 0.3


def make_inputs(size: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    vk = torch.randn(BATCH, skeleton.VK_DIM, generator=gen)
    vk[:, 0] = 0.3 * torch.tanh(vk[:, 0])
    return {
        "vk": vk,
        "c6": torch.randn(BATCH, 6, generator=gen),
        "grad": torch.randn(BATCH, 33, size, size, generator=gen),
    }


def pose_maps(vk: torch.Tensor, c6: torch.Tensor, size: int, frame: str) -> torch.Tensor:
    lengths = canonical_bone_lengths(dtype=vk.dtype)
    translation = torch.tensor([0.0, 0.0, DEFAULT_CAMERA_DISTANCE], dtype=vk.dtype)
    # Physical limb widths seen at the camera distance.
    widths = torch.tensor(skeleton.LIMB_WIDTH_RATIOS, dtype=vk.dtype) * (DEFAULT_FOCAL / DEFAULT_CAMERA_DISTANCE)
    p3d = forward_kinematics(vk, lengths, frame=frame)
    p2d = project(p3d, camera_rotation(c6), translation, DEFAULT_FOCAL)
    return spatial_maps(p2d, size, SIGMA, widths, ALPHA)


@pytest.mark.parametrize("frame", ["canonical", "local"])
@pytest.mark.parametrize("size", [16, 56])
def test_forward(benchmark, size: int, frame: str) -> None:
    inputs = make_inputs(size)

    def run() -> torch.Tensor:
        with torch.no_grad():
            return pose_maps(inputs["vk"], inputs["c6"], size, frame)

    maps = benchmark(run)
    assert maps.shape == (BATCH, 33, size, size)
    benchmark.extra_info["per_sample_us"] = benchmark.stats.stats.mean / BATCH * 1e6


@pytest.mark.parametrize("frame", ["canonical", "local"])
@pytest.mark.parametrize("size", [16, 56])
def test_forward_backward(benchmark, size: int, frame: str) -> None:
    inputs = make_inputs(size)
    vk = inputs["vk"].clone().requires_grad_(True)
    c6 = inputs["c6"].clone().requires_grad_(True)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        maps = pose_maps(vk, c6, size, frame)
        return torch.autograd.grad(maps, (vk, c6), inputs["grad"])

    grad_vk, grad_c6 = benchmark(run)
    assert torch.isfinite(grad_vk).all() and torch.isfinite(grad_c6).all()
    benchmark.extra_info["per_sample_us"] = benchmark.stats.stats.mean / BATCH * 1e6
