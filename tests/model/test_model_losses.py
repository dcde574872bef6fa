"""Losses: each one can be driven down on four samples; LUNP leaves the frozen generator untouched."""

from __future__ import annotations

import pytest
import torch

from kspbench.model.train import Trainer

STEPS = 60
# LP starts lower since Bt enters through the mask composite only (the background outside the pose silhouette is
# right from the first step); what is left is the person, which a tiny decoder with pooled appearance features
# draws only coarsely: on four samples it falls by ~45 % and then flattens, so LP must fall by more than a third.
FALL = {"paired": 0.65}


@pytest.fixture()
def trainer(all_losses_card, store, tmp_path):
    tr = Trainer(all_losses_card, store, tmp_path / "run", profile="tiny")
    tr._build()
    tr._load_data()
    tr.batch = 4
    return tr


@pytest.mark.parametrize("loss", ["prior", "paired", "unpaired", "sup2d", "sup3d"])
def test_each_loss_falls_by_more_than_half_when_overfitting_four_samples(trainer, loss):
    batch = trainer._batch(loss)
    values = [trainer.train_step(loss, batch)["value"] for _ in range(STEPS)]
    assert values[-1] < FALL.get(loss, 0.5) * values[0], (loss, values[0], values[-1])


def test_lunp_step_leaves_the_generator_unchanged_and_moves_the_encoders(trainer):
    m = trainer.model
    frozen_before = {
        f"{name}.{k}": v.clone()
        for name, mod in (("maps", m.pose_maps), ("di", m.di))
        for k, v in mod.state_dict().items()
    }
    ep_before = {k: v.clone() for k, v in m.ep.state_dict().items()}
    ea_before = {k: v.clone() for k, v in m.ea.state_dict().items()}
    trainer.train_step("unpaired")
    after = {
        f"{name}.{k}": v for name, mod in (("maps", m.pose_maps), ("di", m.di)) for k, v in mod.state_dict().items()
    }
    for k, v in frozen_before.items():
        assert torch.equal(v, after[k]), f"{k} changed in an LUNP step"
    assert any(not torch.equal(v, m.ep.state_dict()[k]) for k, v in ep_before.items() if v.is_floating_point())
    assert any(not torch.equal(v, m.ea.state_dict()[k]) for k, v in ea_before.items() if v.is_floating_point())
    # Everything is trainable and in train mode again afterwards (LP updates DI).
    assert all(p.requires_grad for p in m.parameters()) and m.di.training
    # ... and an LP step does move DI.
    trainer.train_step("paired")
    assert any(
        not torch.equal(v, m.di.state_dict()[k.split(".", 1)[1]])
        for k, v in frozen_before.items()
        if k.startswith("di.") and v.is_floating_point()
    )


def test_lunp_gradients_flow_through_the_frozen_decoder(trainer):
    # EP's gradient through DI: the p2D that renders the image also gets gradient from the cycle term.
    m = trainer.model
    batch = trainer._batch("unpaired")
    from kspbench.model import losses as L

    with L.frozen(m.generator_modules()):
        m.zero_grad(set_to_none=True)
        value, _ = L.unpaired_loss(
            m, batch["source"], batch["target"], batch["background"], batch["flip"], batch["angle"], lambda2=0.0
        )
        value.backward()
    assert all(p.grad is None for p in m.di.parameters())
    assert m.ep.trunk.conv1.weight.grad is not None and float(m.ep.trunk.conv1.weight.grad.abs().sum()) > 0


def test_shared_optimiser_is_one_object_and_each_loss_steps_only_its_parameters(all_losses_card, store, tmp_path):
    import dataclasses

    from kspbench.model.profiles import load_profile

    tiny = load_profile("tiny")
    prof = dataclasses.replace(tiny, optimiser=dataclasses.replace(tiny.optimiser, per_loss=False))
    tr = Trainer(all_losses_card, store, tmp_path / "run", profile=prof)
    tr._build()
    tr._load_data()
    tr.batch = 4
    assert len({id(o) for o in tr.optimisers.values()}) == 1
    di_before = {k: v.clone() for k, v in tr.model.di.state_dict().items()}
    tr.train_step("prior")
    # Lprior's gradients reach EP only: the shared optimiser leaves the decoder's parameters alone.
    for k, v in tr.model.di.state_dict().items():
        assert torch.equal(v, di_before[k]), k
    for loss in ("paired", "unpaired", "sup2d", "sup3d"):
        assert torch.isfinite(torch.tensor(tr.train_step(loss)["value"]))


def test_canonical_term_ignores_the_view_and_scores_the_pose():
    from kspbench.core import kinematics as K
    from kspbench.model.losses import _canonical_term

    gen = torch.Generator().manual_seed(0)
    vk = torch.randn(4, 40, generator=gen)
    vk[:, 0] = 0.3 * torch.tanh(vk[:, 0])
    pose_c = K.forward_kinematics(vk, K.canonical_bone_lengths())
    rot = K.camera_rotation(torch.randn(4, 6, generator=gen))
    label = pose_c @ rot.transpose(-1, -2)  # the same pose seen from four random views
    assert float(_canonical_term({"p3d": pose_c}, label)) < 1e-5
    other = K.forward_kinematics(torch.roll(vk, 1, dims=0), K.canonical_bone_lengths())
    assert float(_canonical_term({"p3d": other}, label)) > 0.05
