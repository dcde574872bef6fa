"""Training speed of the KSP model on this machine: one iteration of each loss, and the share of the pose
bottleneck (Tfk + Tc + Tm, forward and backward) in an LP iteration.

Run with pytest-benchmark (not part of the default test run, which collects ``tests/`` only)::

    python -m pytest benchmarks/test_bench_train.py --benchmark-only -q

or as a script, which prints samples per second per loss and the bottleneck's share for the tiny and cpu profiles::

    python benchmarks/test_bench_train.py [--profiles tiny,cpu] [--threads 2] [--seconds 3]

Inputs are random images of the profile's size (no store is read), laid out as the trainer does (channels-last on
CPU, fused Adam): the figure is the networks' cost, the part that dominates a training run. A "sample" is one
element of the batch: one image for Lprior/sup2d/sup3d, one (Is, It, Bt) tuple for LP, one (Is, It, Br) tuple for
LUNP. ``benchmarks/train_side_by_side.py`` times the real trainer instead, old and new code side by side.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Callable

import pytest
import torch

from kspbench.core import kinematics as K
from kspbench.core.spatial_maps import spatial_maps
from kspbench.model import losses as L
from kspbench.model.ksp import KSP
from kspbench.model.profiles import ModelProfile, load_profile
from kspbench.model.train import memory_format

LOSSES = ("prior", "paired", "unpaired", "sup3d")
CARD_BATCH = 16  # the cards' schedule.batch, used by profiles with batch: null


def _batch(profile: ModelProfile) -> int:
    return profile.batch or CARD_BATCH


def step_fn(profile: ModelProfile, loss: str, *, seed: int = 0) -> Callable[[], float]:
    """A callable running one training iteration of ``loss`` (forward, backward, Adam step) on a random batch."""
    gen = torch.Generator().manual_seed(seed)
    model = KSP(profile)
    model.reset_parameters(gen)
    layout = memory_format("cpu")  # as the trainer lays out the model and its batches
    model = model.to(memory_format=layout)
    b, s = _batch(profile), profile.input_size

    def img() -> torch.Tensor:
        return torch.rand(b, 3, s, s, generator=gen).contiguous(memory_format=layout)

    p2d = torch.rand(b, 17, 2, generator=gen) - 0.5
    p3d = torch.randn(b, 17, 3, generator=gen) * 0.3
    src, tgt, bg = img(), img(), img()
    flip = torch.rand(b, generator=gen) < 0.5
    angle = torch.rand(b, generator=gen) - 0.5
    params = {"prior": model.ep, "paired": model, "unpaired": None, "sup3d": model.ep}[loss]
    opt = torch.optim.Adam(
        list(params.parameters()) if params is not None else [*model.ep.parameters(), *model.ea.parameters()],
        lr=1e-3,
        fused=True,
    )

    def run() -> float:
        model.zero_grad(set_to_none=True)
        if loss == "prior":
            value, _ = L.prior_loss(model, tgt, p2d, p3d, w3d=1.0, w2d=1.0)
        elif loss == "sup3d":
            value, _ = L.sup3d_loss(model, tgt, p2d, p3d, w3d=1.0, w2d=1.0)
        elif loss == "paired":
            value, _ = L.paired_loss(model, src, tgt, bg, lambda1=1.0, lambda2=0.1)
        else:
            with L.frozen(model.generator_modules()):
                value, _ = L.unpaired_loss(model, src, tgt, bg, flip, angle, lambda2=0.1)
        value.backward()
        opt.step()
        return float(value.detach())

    return run


def bottleneck_fn(profile: ModelProfile, *, seed: int = 0) -> tuple[Callable[[], None], Callable[[], None]]:
    """Forward+backward callables of (Tfk + Tc) and of Tm for one batch of the profile's sizes."""
    gen = torch.Generator().manual_seed(seed)
    b = _batch(profile)
    vk = torch.randn(b, 40, generator=gen).requires_grad_(True)
    c6 = torch.randn(b, 6, generator=gen).requires_grad_(True)
    lengths = K.canonical_bone_lengths()
    t = torch.tensor([0.0, 0.0, K.DEFAULT_CAMERA_DISTANCE])
    p2d = (torch.rand(b, 17, 2, generator=gen) - 0.5).requires_grad_(True)
    widths = torch.full((b, 16), 0.1)
    sigma = profile.heatmap_sigma()

    def tfk_tc() -> None:
        out = K.project(K.forward_kinematics(vk, lengths), K.camera_rotation(c6), t, K.DEFAULT_FOCAL)
        out.sum().backward()

    def tm() -> None:
        spatial_maps(p2d, profile.maps.size, sigma, widths, profile.maps.alpha).sum().backward()

    return tfk_tc, tm


def _time(fn: Callable[[], object], seconds: float) -> float:
    """Median seconds per call over about ``seconds`` (after one warm-up call)."""
    fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def measure(profile_name: str, seconds: float = 3.0) -> dict[str, object]:
    """Samples per second per loss, and the bottleneck's share of an LP iteration (isolated timings)."""
    profile = load_profile(profile_name)
    per_loss = {loss: _time(step_fn(profile, loss), seconds) for loss in LOSSES}
    tfk_tc, tm = bottleneck_fn(profile)
    t_tfk_tc, t_tm = _time(tfk_tc, seconds / 2), _time(tm, seconds / 2)
    # An LP iteration runs Tfk + Tc twice (It, and Ît for the cycle term) and Tm once.
    lp_bottleneck = 2 * t_tfk_tc + t_tm
    cycle = ("prior", "paired", "unpaired")
    cycle_rate = len(cycle) * _batch(profile) / sum(per_loss[c] for c in cycle)
    return {
        "profile": profile_name,
        "batch": _batch(profile),
        "input": profile.input_size,
        "threads": torch.get_num_threads(),
        "samples_per_s": {k: _batch(profile) / v for k, v in per_loss.items()},
        "unsup_cycle_samples_per_s": cycle_rate,
        "tfk_tc_ms": 1e3 * t_tfk_tc,
        "tm_ms": 1e3 * t_tm,
        "lp_step_ms": 1e3 * per_loss["paired"],
        "bottleneck_share_of_lp": lp_bottleneck / per_loss["paired"],
        "bottleneck_share_of_prior": t_tfk_tc / per_loss["prior"],
    }


@pytest.mark.parametrize("profile_name", ["tiny", "cpu"])
@pytest.mark.parametrize("loss", LOSSES)
def test_train_step(benchmark, profile_name: str, loss: str) -> None:
    profile = load_profile(profile_name)
    value = benchmark(step_fn(profile, loss))
    assert math.isfinite(value)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["samples_per_s"] = _batch(profile) / benchmark.stats.stats.median


@pytest.mark.parametrize("profile_name", ["tiny", "cpu"])
def test_pose_bottleneck(benchmark, profile_name: str) -> None:
    tfk_tc, tm = bottleneck_fn(load_profile(profile_name))

    def both() -> None:
        tfk_tc()
        tm()

    benchmark(both)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="tiny,cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.profiles.split(","):
        r = measure(name, args.seconds)
        rates = ", ".join(f"{k} {v:.1f}" for k, v in r["samples_per_s"].items())
        print(
            f"{name}: batch {r['batch']} at {r['input']} px, {r['threads']} threads: samples/s {rates}; "
            f"unsup cycle {r['unsup_cycle_samples_per_s']:.1f} samples/s; LP step {r['lp_step_ms']:.1f} ms, "
            f"Tfk+Tc {r['tfk_tc_ms']:.2f} ms, Tm {r['tm_ms']:.2f} ms -> bottleneck "
            f"{100 * r['bottleneck_share_of_lp']:.1f} % of an LP step, "
            f"{100 * r['bottleneck_share_of_prior']:.1f} % of an Lprior step"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
