"""Networks: torchvision-compatible ResNet trunk, strict weight loading, seeded init, shapes, Tfk bone ratios."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from assertions import assert_close
from kspbench.core import skeleton
from kspbench.errors import ConfigError
from kspbench.model.cards import load_card
from kspbench.model.ksp import ABLATIONS, KSP
from kspbench.model.profiles import load_profile, profile_names
from kspbench.model.resnet import Bottleneck, ResNetTrunk, WeightsError, init_resnet_, load_torchvision_weights
from kspbench.model.train import build_model


def _model(profile, ablation="none", seed=0):
    m = KSP(profile, ablation)
    m.reset_parameters(torch.Generator().manual_seed(seed))
    return m


def test_full_width_trunk_has_torchvision_names_and_shapes():
    sd = ResNetTrunk(64, (3, 4, 6), True).state_dict()
    expected = {
        "conv1.weight": (64, 3, 7, 7),
        "bn1.running_var": (64,),
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.0.downsample.1.weight": (256,),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer2.3.bn3.bias": (512,),
        "layer3.0.downsample.0.weight": (1024, 512, 1, 1),
        "layer3.5.conv3.weight": (1024, 256, 1, 1),
        "layer3.5.bn3.num_batches_tracked": (),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith(("layer4", "fc")) for k in sd)
    # 13 bottlenecks x (3 convs + 3 BNs x 5 entries) + 3 projections x (conv + BN x 5), as in torchvision.
    assert sum(1 for k in sd if k.startswith("layer")) == 13 * 18 + 3 * 6
    out = ResNetTrunk(64, (3, 4, 6), True)(torch.zeros(1, 3, 224, 224))
    assert out.shape == (1, 1024, 14, 14)


def test_init_is_seeded_not_global_and_zero_inits_last_bn(tiny):
    torch.manual_seed(1)
    a = _model(tiny, seed=3)
    torch.manual_seed(2)
    b = _model(tiny, seed=3)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    blocks = [m for m in a.ep.trunk.modules() if isinstance(m, Bottleneck)]
    assert blocks and all(float(m.bn3.weight.detach().abs().sum()) == 0.0 for m in blocks)
    c = _model(tiny, seed=4)
    assert not torch.equal(a.ep.trunk.conv1.weight, c.ep.trunk.conv1.weight)


def test_init_weights_load_and_skip_layer4_fc(tiny):
    src = ResNetTrunk(tiny.resnet.width, tiny.resnet.blocks, tiny.resnet.maxpool)
    init_resnet_(src, torch.Generator().manual_seed(7))
    state = {f"module.{k}": v + 0.5 for k, v in src.state_dict().items() if v.is_floating_point()}
    state.update({f"module.{k}": v for k, v in src.state_dict().items() if not v.is_floating_point()})
    state["layer4.0.conv1.weight"] = torch.zeros(3)
    state["fc.weight"] = torch.zeros(2, 2)
    dst = ResNetTrunk(tiny.resnet.width, tiny.resnet.blocks, tiny.resnet.maxpool)
    skipped = load_torchvision_weights(dst, state)
    assert skipped == ["fc.weight", "layer4.0.conv1.weight"]
    assert torch.equal(dst.conv1.weight, src.conv1.weight + 0.5)


def test_init_weights_wrong_shape_is_refused_naming_the_parameter(tiny, tmp_path):
    full = ResNetTrunk(64, (3, 4, 6), True)
    path = tmp_path / "resnet50-fake.pth"
    torch.save(full.state_dict(), path)
    small = ResNetTrunk(tiny.resnet.width, tiny.resnet.blocks, tiny.resnet.maxpool)
    before = small.conv1.weight.clone()
    with pytest.raises(WeightsError, match=r"parameter 'conv1\.weight' has shape \(64, 3, 7, 7\)"):
        load_torchvision_weights(small, path)
    assert torch.equal(small.conv1.weight, before)  # nothing copied
    # A file with fewer blocks than the trunk: the missing parameter is named.
    with pytest.raises(WeightsError, match="missing"):
        load_torchvision_weights(ResNetTrunk(4, (2, 1, 1), False), ResNetTrunk(4, (1, 1, 1), False).state_dict())


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_shapes_and_rest_pose(tiny, ablation):
    m = _model(tiny, ablation)
    x = torch.rand(3, 3, tiny.input_size, tiny.input_size)
    pose = m.pose(x)
    assert pose["p3d"].shape == (3, 17, 3) and pose["p2d"].shape == (3, 17, 2)
    assert_close(pose["p3d"][:, 0], torch.zeros(3, 3))
    fa = m.appearance(x)
    assert fa.shape == (3, tiny.fa_channels, tiny.feature_size, tiny.feature_size)
    with torch.no_grad():
        out = m.render(pose["p2d"], pose["scale"], fa, x)
    assert out["image"].shape == x.shape and 0.0 <= float(out["image"].min()) <= float(out["image"].max()) <= 1.0
    # The initial pose is upright and centred: head above pelvis above ankles (y down), near the crop centre.
    p2d = pose["p2d"].detach()
    assert (p2d[:, 10, 1] < p2d[:, 0, 1]).all() and (p2d[:, 0, 1] < p2d[:, 3, 1]).all()
    assert float(p2d[:, 0].abs().max()) < 0.1


def test_tfk_output_bone_ratios_equal_the_cards(tiny):
    card = load_card("unsup")
    ratios = list(np.linspace(0.2, 0.9, skeleton.NUM_JOINTS))
    ratios[0] = 0.0
    m = build_model(dataclasses.replace(card, model=dataclasses.replace(card.model, bone_ratios=tuple(ratios))), tiny)
    m.reset_parameters(torch.Generator().manual_seed(0))
    p3d = m.pose(torch.rand(5, 3, tiny.input_size, tiny.input_size))["p3d"].detach().double()
    lengths = torch.linalg.vector_norm(p3d - p3d[:, list(max(p, 0) for p in skeleton.PARENTS)], dim=-1)
    trunk = torch.linalg.vector_norm(p3d[:, 8] - p3d[:, 0], dim=-1)
    assert_close(trunk, torch.ones(5, dtype=torch.float64), atol=1e-6)
    for j in range(1, skeleton.NUM_JOINTS):
        if j == 8:  # the thorax sits on the trunk (canonical rule): spine -> thorax is a limb map only
            continue
        assert_close(
            lengths[:, j] / trunk,
            torch.full((5,), ratios[j], dtype=torch.float64),
            atol=1e-5,
            what=skeleton.JOINT_NAMES[j],
        )
    # The default card uses Human3.6M S1's ratios.
    d = build_model(load_card("unsup"), tiny)
    assert_close(d.bone_lengths[1:8], torch.tensor(skeleton.BONE_LENGTH_RATIOS[1:8], dtype=torch.float32))


def test_profiles_load_and_refuse_unknowns(tmp_path):
    assert set(profile_names()) == {"tiny", "smoke", "cpu", "paper"}
    for name in profile_names():
        p = load_profile(name)
        assert p.maps.size >= 14 and p.input_size % p.resnet.stride == 0
        if name != "paper":
            assert p.maps.size >= 16 and p.heatmap_sigma() >= 2.0 / p.maps.size  # >= 1 map pixel
    with pytest.raises(ConfigError, match="unknown model profile 'huge'"):
        load_profile("huge")
    bad = tmp_path / "bad.yaml"
    raw = load_profile("tiny").to_dict()
    raw.pop("name")
    raw["maps"]["colour"] = 1
    import yaml

    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="maps: unknown key 'colour'"):
        load_profile(str(bad))


def test_soft_argmax_reads_the_peak_in_crop_coordinates():
    from kspbench.model.encoders import soft_argmax

    logits = torch.full((2, 3, 8, 8), -1e4)
    # Pixel (row 2, col 5) of 8: centre x = (5.5 / 8) * 2 - 1 = 0.375, y = (2.5 / 8) * 2 - 1 = -0.375.
    logits[:, 0, 2, 5] = 0.0
    logits[:, 1] = 0.0  # uniform -> the centre
    logits[:, 2, 7, 0] = 0.0
    logits[:, 2, 7, 1] = 0.0  # two equal peaks -> their midpoint
    got = soft_argmax(logits)
    want = torch.tensor([[0.375, -0.375], [0.0, 0.0], [-0.75, 0.875]]).expand(2, 3, 2)
    torch.testing.assert_close(got, want)


def test_keypoint_head_gives_points_that_move_with_the_person(tiny):
    import dataclasses

    prof = dataclasses.replace(tiny, ep_head=dataclasses.replace(tiny.ep_head, pool="keypoints"))
    m = _model(prof)
    m.eval()
    with torch.no_grad():
        # A non-degenerate detector (zero init puts every point at the centre).
        m.ep.keypoints.weight.normal_(generator=torch.Generator().manual_seed(0))
        images = torch.zeros(1, 3, prof.input_size, prof.input_size)
        images[..., 4:12, 4:12] = 1.0
        shifted = torch.roll(images, shifts=(16, 16), dims=(-2, -1))
        out_a, out_b = m.pose(images), m.pose(shifted)
    assert out_a["keypoints"].shape == (1, skeleton.NUM_JOINTS, 2)
    assert out_a["p2d"].shape == (1, skeleton.NUM_JOINTS, 2)
    # A bright square moved down-right by half the crop pulls the soft-argmax points down-right.
    assert bool((out_b["keypoints"] - out_a["keypoints"]).mean(dim=1).gt(0.05).all())
    # Zero-initialised heatmaps start every point at the crop centre.
    fresh = _model(prof)
    with torch.no_grad():
        torch.testing.assert_close(fresh.ep(images)["keypoints"], torch.zeros(1, skeleton.NUM_JOINTS, 2))


@pytest.mark.parametrize("stem_stride", [1, 2])
def test_ea_stem_stride_keeps_fa_shape_and_moves_the_first_downsampling(tiny, stem_stride):
    from kspbench.model.encoders import AppearanceEncoder

    p = dataclasses.replace(tiny, ea_stem_stride=stem_stride)
    ea = AppearanceEncoder(p)
    convs = [m for m in ea.net if isinstance(m, torch.nn.Conv2d)]
    n_down = int(np.log2(p.input_size // p.feature_size))
    assert sum(c.stride == (2, 2) for c in convs) == n_down  # the same total downsampling either way
    assert convs[0].stride == (stem_stride, stem_stride) and convs[0].kernel_size == (7, 7)
    ea.reset_parameters(torch.Generator().manual_seed(0))
    fa = ea(torch.rand(2, 3, p.input_size, p.input_size))
    assert fa.shape == (2, p.fa_channels, p.feature_size, p.feature_size)


def test_ea_stem_stride_needs_a_strided_trunk_and_old_checkpoints_keep_stride_one(tiny):
    raw = tiny.to_dict()
    assert all(load_profile(n).ea_stem_stride == 1 for n in profile_names())  # opt-in (docs/model.md)
    raw.pop("ea_stem_stride")
    assert type(tiny).from_dict(raw).ea_stem_stride == 1
    raw = {**tiny.to_dict(), "ea_stem_stride": 3}
    with pytest.raises(ConfigError, match="ea_stem_stride"):
        type(tiny).from_dict(raw)
