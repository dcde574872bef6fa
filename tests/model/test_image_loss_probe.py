"""benchmarks/image_loss_probe.py and benchmarks/error_by_pose_rarity.py: the pieces that must agree with the model
and the protocol."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from assertions import assert_close
from kspbench.model.ksp import KSP

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = _load("image_loss_probe")
rarity = _load("error_by_pose_rarity")


def test_the_probes_kinematic_pose_is_the_models(tiny):
    model = KSP(tiny)
    model.reset_parameters(torch.Generator().manual_seed(3))
    model.eval()
    images = torch.rand(4, 3, tiny.input_size, tiny.input_size, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = model.pose(images)
        p2d, scale = probe.kinematic_p2d(model, model.ep(images))
    assert_close(p2d.numpy(), want["p2d"].numpy(), atol=1e-6)
    assert_close(scale.numpy(), want["scale"].numpy(), atol=1e-6)


def test_descent_reports_pck_and_loss_at_the_named_steps_and_moves_down_the_loss():
    truth = torch.zeros(3, 17, 2)
    start = torch.full((3, 17, 2), 0.5)
    pose = start.clone().requires_grad_(True)
    scale = torch.ones(3)
    out = probe.descend(
        lambda p, s: ((p - truth) ** 2).sum(dim=(1, 2)), [pose], lambda: (pose, scale), truth, steps=60, lr=0.05
    )
    assert list(out) == ["0", "10", "30", "60"]
    assert out["0"]["pck"] == 0.0 and out["60"]["pck"] == 1.0  # this loss's minimum is the truth
    assert out["60"]["loss"] < out["10"]["loss"] < out["0"]["loss"]


def test_rarity_bins_follow_the_quantiles_of_the_floor():
    floor = np.arange(100, dtype=float)
    bins, edges = rarity.bins_of(floor)
    assert edges[0] == 0 and edges[-1] == 99
    assert np.bincount(bins).tolist() == [25, 25, 25, 15, 10]
    assert (np.diff(bins[np.argsort(floor)]) >= 0).all()  # a rarer pose never lands in an earlier bin


def test_a_fixed_generator_takes_the_saved_weights_no_gradient_and_stays_in_eval_mode(tiny):
    fixed = _load("train_with_fixed_generator")
    donor = KSP(tiny)
    donor.reset_parameters(torch.Generator().manual_seed(1))
    state = {k: v for k, v in donor.state_dict().items() if k.split(".")[0] in ("pose_maps", "di", "ea")}
    model = KSP(tiny)
    model.reset_parameters(torch.Generator().manual_seed(2))
    ep_before = {k: v.clone() for k, v in model.ep.state_dict().items()}
    fixed.fix_generator(model, state)
    model.train()
    for name in ("pose_maps", "di", "ea"):
        module = getattr(model, name)
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
        for k, v in module.state_dict().items():
            assert torch.equal(v, state[f"{name}.{k}"])
    assert model.ep.training and all(p.requires_grad for p in model.ep.parameters())
    assert all(torch.equal(v, ep_before[k]) for k, v in model.ep.state_dict().items())  # EP untouched
