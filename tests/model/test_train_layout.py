"""The trainer's memory layout on CPU: channels-last model and image batches, layout-free checkpoint bytes."""

from __future__ import annotations

import torch

from kspbench.model.train import Trainer, load_checkpoint


def _trainer(card, store, tmp_path, tiny) -> Trainer:
    t = Trainer(card, store, tmp_path / "run", profile=tiny, threads=1)
    t._build()
    t._apply_init()
    t._load_data()
    return t


def test_cpu_trainer_keeps_model_and_image_batches_channels_last(all_losses_card, store, tmp_path, tiny):
    t = _trainer(all_losses_card, store, tmp_path, tiny)
    convs = [p for p in t.model.parameters() if p.dim() == 4]
    assert convs and all(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
        for p in convs
        if p.shape[2] * p.shape[3] > 1
    )
    for loss in ("prior", "paired", "unpaired"):
        images = [v for v in t._batch(loss).values() if v.dim() == 4]
        assert images and all(v.is_contiguous(memory_format=torch.channels_last) for v in images)


def test_checkpoint_tensors_are_contiguous_after_channels_last_training(all_losses_card, store, tmp_path, tiny):
    t = _trainer(all_losses_card, store, tmp_path, tiny)
    for loss in ("prior", "paired", "unpaired"):
        t.train_step(loss)
    t.out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(t.save_checkpoint())
    weights = [v for v in ckpt["model"].values() if v.dim() == 4]
    moments = [
        v
        for opt in ckpt["optimisers"].values()
        for st in opt["state"].values()
        for v in st.values()
        if isinstance(v, torch.Tensor) and v.dim() == 4
    ]
    assert weights and moments
    assert all(v.is_contiguous() for v in weights + moments)


def test_restored_optimiser_moments_take_their_parameters_layout_for_the_fused_adam(
    all_losses_card, store, tmp_path, tiny
):
    t = _trainer(all_losses_card, store, tmp_path, tiny)
    assert all(o.param_groups[0]["fused"] for o in t.optimisers.values())
    for loss in ("prior", "paired", "unpaired"):
        t.train_step(loss)
    t.out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(t.save_checkpoint())
    fresh = _trainer(all_losses_card, store, tmp_path, tiny)
    fresh._restore(ckpt)
    opt = fresh.optimisers["paired"]
    checked = 0
    for p in opt.param_groups[0]["params"]:
        if p.dim() == 4 and p.shape[2] * p.shape[3] > 1:
            for key in ("exp_avg", "exp_avg_sq"):
                assert opt.state[p][key].stride() == p.stride()
                checked += 1
    assert checked
