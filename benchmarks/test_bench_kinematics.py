"""Cost of the pose bottleneck Tk = Tm o Tc o Tfk (vk, c6 -> 33 spatial maps), forward and backward, CPU float32.

Run: ``python -m pytest benchmarks/test_bench_kinematics.py --benchmark-only -q`` (not part of the default test run,
which collects ``tests/`` only). Batch 64; per-sample time = reported time / 64. Threads: torch's default.
"""

from __future__ import annotations

import pytest
import torch

from kspbench.tools.bench import forward_backward_workload, pose_maps, random_inputs

BATCH = 64


@pytest.mark.parametrize("frame", ["canonical", "local"])
@pytest.mark.parametrize("size", [16, 56])
def test_forward(benchmark, size: int, frame: str) -> None:
    inputs = random_inputs(BATCH, size)

    def run() -> torch.Tensor:
        with torch.no_grad():
            return pose_maps(inputs["vk"], inputs["c6"], size, frame)

    maps = benchmark(run)
    assert maps.shape == (BATCH, 33, size, size)
    benchmark.extra_info["per_sample_us"] = benchmark.stats.stats.mean / BATCH * 1e6


@pytest.mark.parametrize("frame", ["canonical", "local"])
@pytest.mark.parametrize("size", [16, 56])
def test_forward_backward(benchmark, size: int, frame: str) -> None:
    grad_vk, grad_c6 = benchmark(forward_backward_workload(BATCH, size, frame))
    assert torch.isfinite(grad_vk).all() and torch.isfinite(grad_c6).all()
    benchmark.extra_info["per_sample_us"] = benchmark.stats.stats.mean / BATCH * 1e6
