"""Speed measurements of kspbench's own code on this machine (``kspbench bench``); figures, never assertions."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from kspbench.core import kinematics as K
from kspbench.core import skeleton
from kspbench.core.spatial_maps import spatial_maps

# Tm settings used for the measurement (method notes 1.3.4): heatmap sigma 0.1 and alpha 0.3 in [-1, 1] units.
SIGMA, ALPHA = 0.1, 0.3


def pose_maps(vk: torch.Tensor, c6: torch.Tensor, size: int, frame: str = "canonical") -> torch.Tensor:
    """The pose bottleneck Tm(Tc(Tfk(vk), c6)) with the model's default camera: (B, 40), (B, 6) -> (B, 33, S, S)."""
    lengths = K.canonical_bone_lengths(dtype=vk.dtype)
    translation = torch.tensor([0.0, 0.0, K.DEFAULT_CAMERA_DISTANCE], dtype=vk.dtype)
    # Physical limb widths seen at the camera distance.
    widths = torch.tensor(skeleton.LIMB_WIDTH_RATIOS, dtype=vk.dtype) * (K.DEFAULT_FOCAL / K.DEFAULT_CAMERA_DISTANCE)
    p2d = K.project(K.forward_kinematics(vk, lengths, frame=frame), K.camera_rotation(c6), translation, K.DEFAULT_FOCAL)
    return spatial_maps(p2d, size, SIGMA, widths, ALPHA)


def random_inputs(batch: int, size: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded vk (phi within the representable range), c6, and an upstream gradient for the maps."""
    gen = torch.Generator().manual_seed(seed)
    vk = torch.randn(batch, skeleton.VK_DIM, generator=gen)
    vk[:, 0] = 0.3 * torch.tanh(vk[:, 0])
    return {
        "vk": vk,
        "c6": torch.randn(batch, 6, generator=gen),
        "grad": torch.randn(batch, 33, size, size, generator=gen),
    }


def forward_backward_workload(
    batch: int, size: int, frame: str = "canonical", *, seed: int = 0
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """A callable running one training-like pass (forward and backward) and returning the vk and c6 gradients."""
    inputs = random_inputs(batch, size, seed=seed)
    vk = inputs["vk"].clone().requires_grad_(True)
    c6 = inputs["c6"].clone().requires_grad_(True)

    def step() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.autograd.grad(pose_maps(vk, c6, size, frame), (vk, c6), inputs["grad"])

    return step


def time_call(fn: Callable[[], Any], *, min_seconds: float = 1.0, warmup_seconds: float = 0.3) -> dict[str, float]:
    """Median and minimum wall time of ``fn`` over calls lasting at least ``min_seconds`` in total."""
    start = time.perf_counter()
    while time.perf_counter() - start < warmup_seconds:
        fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_s": times[len(times) // 2], "min_s": times[0], "calls": len(times)}


def bench_kinematic_core(
    batch: int = 64, sizes: tuple[int, ...] = (16, 56), *, min_seconds: float = 1.0
) -> list[dict[str, Any]]:
    """Tfk + Tc + Tm forward and backward per sample, for each map size."""
    rows = []
    for size in sizes:
        t = time_call(forward_backward_workload(batch, size), min_seconds=min_seconds)
        rows.append(
            {
                "benchmark": "tfk+tc+tm fwd+bwd",
                "batch": batch,
                "map_size": size,
                "per_batch_ms": 1e3 * t["median_s"],
                "per_sample_us": 1e6 * t["median_s"] / batch,
                "min_per_sample_us": 1e6 * t["min_s"] / batch,
                "calls": t["calls"],
                "torch_threads": torch.get_num_threads(),
            }
        )
    return rows
