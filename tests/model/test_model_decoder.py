"""The decoder's pose conditioning: silhouette prior on the mask, no background shortcut, pooled appearance."""

from __future__ import annotations

import dataclasses

import torch

from assertions import assert_close
from kspbench.core import skeleton
from kspbench.model.ksp import KSP
from kspbench.model.losses import paired_loss


def _model(profile, seed=0, **decoder):
    if decoder:
        profile = dataclasses.replace(profile, decoder=dataclasses.replace(profile.decoder, **decoder))
    m = KSP(profile)
    m.reset_parameters(torch.Generator().manual_seed(seed))
    return m.eval()


def _pose(profile, b=2):
    m = _model(profile)
    with torch.no_grad():
        return m.pose(
            torch.rand(b, 3, profile.input_size, profile.input_size, generator=torch.Generator().manual_seed(1))
        )


def test_mask_starts_on_the_pose_silhouette_not_on_copy_bt(tiny):
    m = _model(tiny)
    pose = _pose(tiny)
    s = tiny.input_size
    with torch.no_grad():
        out = m.render(pose["p2d"], pose["scale"], m.appearance(torch.rand(2, 3, s, s)), torch.rand(2, 3, s, s))
    sil, mask = out["silhouette"], out["mask"]
    assert sil.shape == mask.shape == (2, 1, s, s)
    inside, outside = mask[sil > 0.8], mask[sil < 0.05]
    # The composite draws the person where the pose is and Bt elsewhere, from the first step on.
    assert inside.numel() and outside.numel()
    assert float(inside.mean()) > 0.9 and float(outside.mean()) < 0.1, (float(inside.mean()), float(outside.mean()))


def test_without_prior_the_mask_starts_even(tiny):
    m = _model(tiny, mask_prior=0.0)
    pose = _pose(tiny)
    s = tiny.input_size
    with torch.no_grad():
        out = m.render(pose["p2d"], pose["scale"], m.appearance(torch.rand(2, 3, s, s)), torch.rand(2, 3, s, s))
    assert "silhouette" not in out
    assert abs(float(out["mask"].mean()) - 0.5) < 0.1


def test_silhouette_moves_with_the_pose_and_passes_gradient_to_p2d(tiny):
    m = _model(tiny)
    pose = _pose(tiny, b=1)
    s = tiny.input_size
    p2d = pose["p2d"].clone().requires_grad_(True)
    fa = m.appearance(torch.rand(1, 3, s, s))
    bg = torch.rand(1, 3, s, s)
    out = m.render(p2d, pose["scale"], fa, bg)
    out["image"].sum().backward()
    out = {k: v.detach() for k, v in out.items()}
    assert p2d.grad is not None and float(p2d.grad.abs().sum()) > 0
    with torch.no_grad():
        moved = m.render(p2d + torch.tensor([0.4, 0.0]), pose["scale"], fa, bg)["silhouette"]
    cols = torch.arange(s, dtype=torch.float32)
    centre = lambda x: float((x[0, 0].sum(0) * cols).sum() / x[0, 0].sum())  # noqa: E731
    # +0.4 in [-1, 1] units is 0.2 of the crop: the silhouette's centre of mass follows.
    assert abs(centre(moved) - centre(out["silhouette"]) - 0.2 * s) < 0.1 * s


def test_no_background_branch_means_the_foreground_does_not_see_bt(tiny):
    m = _model(tiny, bg_channels=0)
    assert m.di.background is None
    pose = _pose(tiny, b=1)
    s = tiny.input_size
    fa = m.appearance(torch.rand(1, 3, s, s))
    with torch.no_grad():
        a = m.render(pose["p2d"], pose["scale"], fa, torch.zeros(1, 3, s, s))
        b = m.render(pose["p2d"], pose["scale"], fa, torch.ones(1, 3, s, s))
    assert torch.equal(a["foreground"], b["foreground"]) and torch.equal(a["mask"], b["mask"])


def test_pooled_appearance_carries_no_layout(tiny):
    m = _model(tiny)
    assert tiny.ea_pool
    img = torch.rand(1, 3, tiny.input_size, tiny.input_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fa = m.appearance(img)
    # Every position holds the image average, so the features do not say where the limbs were.
    assert torch.equal(fa, fa[..., :1, :1].expand_as(fa))
    assert fa.shape[-1] == tiny.feature_size


def test_detached_cycle_gives_no_cycle_gradient_through_the_real_frame_branch(tiny):
    torch.manual_seed(0)
    s = tiny.input_size
    src, tgt, bg = (torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(k)) for k in range(3))
    grads = {}
    for detach in (False, True):
        m = _model(tiny)
        m.train()
        # Only the cycle terms: image weight is fixed at 1, so compare the 2D cycle's gradient on the real frame.
        pose = m.pose(tgt)
        p2d = pose["p2d"]
        p2d.retain_grad()
        fa = m.appearance(src)
        rec = m.render(p2d, pose["scale"], fa, bg)["image"]
        target = p2d.detach() if detach else p2d
        cyc = (target - m.pose(rec)["p2d"]).abs().mean()
        cyc.backward()
        grads[detach] = p2d.grad.clone()
    assert not torch.equal(grads[False], grads[True])
    # And the loss function itself honours the flag (values equal, only gradients differ).
    m = _model(tiny)
    v1, _ = paired_loss(m, src, tgt, bg, lambda1=1.0, lambda2=0.1, detach_cycle=False)
    v2, _ = paired_loss(m, src, tgt, bg, lambda1=1.0, lambda2=0.1, detach_cycle=True)
    assert_close(v1, v2)
    assert skeleton.NUM_JOINTS == p2d.shape[1]


def test_map_skips_feed_the_pose_maps_into_every_stage_at_its_size(tiny):
    m = _model(tiny, map_skips=True)
    n = len(m.di.stages)
    assert m.di.skip_sizes == tuple(tiny.feature_size * 2 ** (i + 1) for i in range(n))
    assert n >= 1 and max(m.di.skip_sizes) == tiny.input_size
    pose = _pose(tiny)
    s = tiny.input_size
    fa = m.appearance(torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(2)))
    bg = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(3))
    maps = m.pose_maps.maps(pose["p2d"], pose["scale"])
    skips = m.pose_maps.maps_at(pose["p2d"], pose["scale"], m.di.skip_sizes, maps)
    assert {k: tuple(v.shape) for k, v in skips.items()} == {k: (2, 33, k, k) for k in m.di.skip_sizes}
    f2d = m.pose_maps.convs(maps)
    with torch.no_grad():
        base = m.di(f2d, fa, bg, None, skips)["foreground"]
        # Same f2D, other skip maps: the output changes, so the stages read the skips.
        other = m.di(f2d, fa, bg, None, {k: v.flip(-1) for k, v in skips.items()})["foreground"]
    assert float((base - other).abs().max()) > 1e-4
    try:
        m.di(f2d, fa, bg, None, None)
    except ValueError as err:
        assert "needs the pose maps" in str(err)
    else:
        raise AssertionError("a map_skips decoder without maps must refuse")


def test_skip_maps_keep_the_limb_width_of_the_larger_size(tiny):
    m = _model(tiny, map_skips=True)
    pose = _pose(tiny, b=1)
    maps = m.pose_maps.maps(pose["p2d"], pose["scale"])
    top = max(m.di.skip_sizes)
    big = m.pose_maps.maps_at(pose["p2d"], pose["scale"], (top,), maps)[top]
    # Limbs drawn at the larger size are no wider than the small maps upsampled (the floor is in pixels of the size
    # drawn), so they cover at most as much of the image.
    up = torch.nn.functional.interpolate(maps, size=(top, top), mode="bilinear", align_corners=False)
    limbs = slice(skeleton.NUM_JOINTS, None)
    assert float((big[:, limbs] > 0.5).float().mean()) <= float((up[:, limbs] > 0.5).float().mean()) + 1e-6
    # The default (no skips) draws nothing extra and keeps the decoder's inputs as they were.
    assert _model(tiny).di.skip_sizes == ()


def _with_occlusion(profile, softness):
    return dataclasses.replace(profile, maps=dataclasses.replace(profile.maps, occlusion=softness))


def test_depth_order_is_off_by_default_and_then_ignores_the_depth(tiny):
    assert tiny.maps.occlusion == 0.0
    m = _model(tiny)
    pose = _pose(tiny)
    s = tiny.input_size
    fa = m.appearance(torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(2)))
    bg = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = m.render(pose["p2d"], pose["scale"], fa, bg)["image"]
        given = m.render(pose["p2d"], pose["scale"], fa, bg, pose["p3d_cam"][..., 2])["image"]
    assert torch.equal(plain, given)


def test_with_occlusion_the_depth_reaches_the_maps_and_the_image_but_not_the_silhouette(tiny):
    m = KSP(_with_occlusion(tiny, 0.1))
    m.reset_parameters(torch.Generator().manual_seed(0))
    m.eval()
    pose = _pose(tiny)
    s = tiny.input_size
    fa = m.appearance(torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(2)))
    bg = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(3))
    depth = pose["p3d_cam"][..., 2].clone().requires_grad_(True)
    out = m.render(pose["p2d"], pose["scale"], fa, bg, depth)
    flipped = m.render(pose["p2d"], pose["scale"], fa, bg, -depth.detach())
    assert torch.equal(out["silhouette"], flipped["silhouette"])
    assert float((out["image"] - flipped["image"]).detach().abs().max()) > 1e-6  # another depth order, another image
    out["image"].sum().backward()
    assert depth.grad is not None and float(depth.grad.abs().max()) > 0.0


def test_a_checkpoint_profile_without_occlusion_reads_as_the_paper_tm(tiny):
    from kspbench.model.profiles import ModelProfile

    raw = tiny.to_dict()
    del raw["maps"]["occlusion"]
    assert ModelProfile.from_dict(raw).maps.occlusion == 0.0


def test_the_image_losses_give_the_depth_order_the_poses_depths(tiny, monkeypatch):
    from kspbench.model.losses import unpaired_loss

    m = _model(tiny)
    s = tiny.input_size
    src, tgt, bg = (torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(k)) for k in range(3))
    seen = []
    render = m.render

    def spy(p2d, scale, fa, background, depth=None):
        seen.append(depth)
        return render(p2d, scale, fa, background, depth)

    monkeypatch.setattr(m, "render", spy)
    with torch.no_grad():
        expected = m.pose(tgt)["p3d_cam"][..., 2]
        paired_loss(m, src, tgt, bg, lambda1=1.0, lambda2=0.1)
        unpaired_loss(m, src, tgt, bg, torch.tensor([False, True]), torch.zeros(2), lambda2=0.1)
    assert len(seen) == 2
    for depth in seen:
        assert_close(depth, expected)
