"""Speed measurements of kspbench's own code on this machine (``kspbench bench``); figures, never assertions."""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from kspbench import kinematics as K
from kspbench import skeleton
from kspbench.spatial_maps import spatial_maps

# Tm settings used for the measurement (method notes 1.3.4): heatmap sigma 0.1 and alpha 0.3 in [-1, 1] units;
# limb widths projected at the default camera distance.
_SIGMA, _ALPHA = 0.1, 0.3


def kinematic_core_workload(batch: int, size: int, *, seed: int = 0) -> Callable[[], torch.Tensor]:
    """One training-like pass through Tfk -> Tc -> Tm, forward and backward, on random parameters.

    Returns:
        A callable running one pass and returning the vk gradient (so the work cannot be skipped).
    """
    gen = torch.Generator().manual_seed(seed)
    vk = torch.randn(batch, skeleton.VK_DIM, generator=gen, requires_grad=True)
    c6 = torch.randn(batch, 6, generator=gen, requires_grad=True)
    lengths = K.canonical_bone_lengths()
    translation = torch.tensor([0.0, 0.0, K.DEFAULT_CAMERA_DISTANCE])
    widths = torch.tensor(skeleton.LIMB_WIDTH_RATIOS) * (K.DEFAULT_FOCAL / K.DEFAULT_CAMERA_DISTANCE)

    def step() -> torch.Tensor:
        vk.grad = c6.grad = None
        p3d = K.forward_kinematics(vk, lengths)
        p2d = K.project(p3d, K.camera_rotation(c6), translation, K.DEFAULT_FOCAL)
        maps = spatial_maps(p2d, size, _SIGMA, widths, _ALPHA)
        maps.square().mean().backward()
        return vk.grad

    return step


def time_call(fn: Callable[[], Any], *, min_seconds: float = 1.0, warmup: int = 3) -> dict[str, float]:
    """Median wall time of ``fn`` over repeated calls lasting at least ``min_seconds`` in total."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_s": times[len(times) // 2], "min_s": times[0], "calls": len(times)}


def bench_kinematic_core(batch: int = 64, sizes: tuple[int, ...] = (16, 56), *,
                         min_seconds: float = 1.0) -> list[dict[str, Any]]:
    """Tfk + Tc + Tm forward and backward per sample, for each map size."""
    rows = []
    for size in sizes:
        t = time_call(kinematic_core_workload(batch, size), min_seconds=min_seconds)
        rows.append({"benchmark": "tfk+tc+tm fwd+bwd", "batch": batch, "map_size": size,
                     "per_batch_ms": 1e3 * t["median_s"], "per_sample_us": 1e6 * t["median_s"] / batch,
                     "calls": t["calls"]})
    return rows
