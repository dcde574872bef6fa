"""Data machinery: labels agree with images and with the model's camera, flips swap left and right, T^-1 inverts T,
pairs keep their time gap, the supervised subset is made of whole time blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from assertions import assert_close
from kspbench.core import skeleton
from kspbench.core.kinematics import DEFAULT_CAMERA_DISTANCE, DEFAULT_FOCAL
from kspbench.data.store import PoseStore, StoreWriter
from kspbench.model import data as D
from kspbench.model import transforms as T
from model_fixtures import make_clip


@pytest.fixture(scope="module")
def frames(store):
    with PoseStore(store) as s:
        return D.load_frames(s, ["h36m-train"], 32, backgrounds=True)


def _pixel(images: torch.Tensor, p: np.ndarray) -> np.ndarray:
    """Colours at crop coordinates ``p`` (N, 2) of ``images`` (N, 3, S, S) uint8."""
    size = images.shape[-1]
    col = np.clip(np.floor((p[:, 0] + 1) * size / 2).astype(int), 0, size - 1)
    row = np.clip(np.floor((p[:, 1] + 1) * size / 2).astype(int), 0, size - 1)
    return images[np.arange(len(p)), :, row, col].numpy().astype(float) / 255


def _limb_colour_at(images: torch.Tensor, p2d: np.ndarray, bone: int) -> np.ndarray:
    """Colour in the middle of a bone (away from joints, where limbs overlap)."""
    a, c = skeleton.BONES[bone]
    return _pixel(images, 0.5 * (p2d[:, a] + p2d[:, c]))


def test_labels_are_crop_coordinates_of_the_drawn_limbs(frames):
    # The fixture draws the limbs at the labelled crop coordinates over the background estimate: under every bone's
    # midpoint the image differs from the background, and away from the person it does not.
    hits = [
        np.abs(_limb_colour_at(frames.images, frames.p2d, b) - _limb_colour_at(frames.backgrounds, frames.p2d, b)).max(
            axis=1
        )
        > 0.1
        for b in range(skeleton.NUM_BONES)
    ]
    assert np.mean(hits) > 0.95
    corner = np.full((len(frames), 2), -0.95)
    assert_close(_pixel(frames.images, corner), _pixel(frames.backgrounds, corner), atol=0.02)


def test_mirroring_swaps_left_and_right_consistently_with_flip_permutation(frames):
    n = 8
    images = D.to_float(frames.images[:n])
    p2d = torch.from_numpy(frames.p2d[:n])
    p3d = torch.from_numpy(frames.p3d[:n])
    flip = torch.ones(n, dtype=torch.bool)
    zero = torch.zeros(n)
    fi = T.apply_images(images, flip, zero)
    fp = T.apply_p2d(p2d, flip, zero)
    # The mirrored image's joint j is the original joint FLIP[j], at -x.
    perm = list(skeleton.FLIP_PERMUTATION)
    assert torch.equal(fp[:, :, 0], -p2d[:, perm, 0]) and torch.equal(fp[:, :, 1], p2d[:, perm, 1])
    assert torch.equal(fi, images.flip(-1))
    # Pixels agree: the colour under each mirrored bone is the colour under the original bone it relabels.
    u8 = (fi * 255).round().to(torch.uint8)
    for bone in range(skeleton.NUM_BONES):
        src_bone = skeleton.LIMB_FLIP_PERMUTATION[bone]
        assert_close(
            _limb_colour_at(u8, fp.numpy(), bone),
            _limb_colour_at(frames.images[:n], p2d.numpy(), src_bone),
            atol=0.02,
            what=f"bone {bone}",
        )
    # 3D: mirrored like 2D (x negated, joints relabelled); mirroring twice is the identity.
    f3 = T.apply_p3d(p3d, flip, zero)
    assert torch.equal(f3[..., 0], -p3d[:, perm, 0]) and torch.equal(f3[..., 1:], p3d[:, perm, 1:])
    assert torch.equal(T.apply_p3d(f3, flip, zero), p3d)
    # The augmentation of the prior samples uses the same rule.
    rng = np.random.default_rng(0)
    ai, a2, a3 = D.augment_prior(images, p2d, p3d, rng, mirror=1.0, rotation_degrees=0.0, colour_jitter=0.0)
    assert_close(ai, images.flip(-1))
    assert torch.equal(a2, fp) and torch.equal(a3, f3)


def test_rotation_moves_labels_with_the_image():
    size = 64
    grid = (2 * torch.arange(size) + 1) / size - 1
    p = torch.tensor([[0.4, -0.2], [-0.3, 0.5]])
    # One sharp blob per sample at p.
    dx = grid[None, None, :] - p[:, 0, None, None]
    dy = grid[None, :, None] - p[:, 1, None, None]
    img = torch.exp(-(dx**2 + dy**2) / (2 * 0.03**2))[:, None].repeat(1, 3, 1, 1)
    angle = torch.tensor([math.radians(25.0), math.radians(-40.0)])
    flip = torch.zeros(2, dtype=torch.bool)
    rotated = T.apply_images(img, flip, angle)[:, 0]
    peak = rotated.flatten(1).argmax(1)
    found = torch.stack([grid[peak % size], grid[peak // size]], dim=1)
    labels = T.apply_p2d(p[:, None].expand(2, 17, 2).contiguous(), flip, angle)[:, 0]
    assert_close(found, labels, atol=2.0 / size)


def test_inverse_transform_undoes_the_transform():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(6, 17, 2, generator=g) * 2 - 1
    flip = torch.tensor([True, False, True, False, True, False])
    angle = torch.rand(6, generator=g) - 0.5
    assert_close(T.invert_p2d(T.apply_p2d(p, flip, angle), flip, angle), p, atol=1e-6)


def test_3d_labels_project_to_the_2d_labels_with_the_models_camera(frames):
    # The virtual-camera 3D target, seen by the model's camera (distance d, focal f) and fitted with the crop's
    # scale and offset, lands on the 2D labels: the two label sets and the model's geometry share one convention.
    p3d = frames.p3d[frames.usable].astype(np.float64)
    p2d = frames.p2d[frames.usable].astype(np.float64)
    cam = p3d + np.array([0.0, 0.0, DEFAULT_CAMERA_DISTANCE])
    proj = DEFAULT_FOCAL * cam[..., :2] / cam[..., 2:]
    for a, b in zip(proj, p2d):
        design = np.concatenate([a.reshape(-1, 1), np.tile(np.eye(2), (17, 1))], axis=1)
        coef, *_ = np.linalg.lstsq(design, b.reshape(-1), rcond=None)
        assert coef[0] > 0.5  # a positive scale: no mirror between the 3D and 2D labels
        assert np.abs(design @ coef - b.reshape(-1)).max() < 0.06


def test_pairs_come_from_one_clip_at_least_the_gap_apart(frames):
    sampler = D.PairSampler(frames, min_gap_seconds=1.0)
    src, tgt = sampler.sample(np.random.default_rng(0), 200)
    assert np.array_equal(frames.clip[src], frames.clip[tgt])
    assert (np.abs(frames.time[src] - frames.time[tgt]) >= 1.0 - 1e-9).all()
    # A gap longer than every clip falls back to the farthest frame.
    src, tgt = D.PairSampler(frames, min_gap_seconds=100.0).sample(np.random.default_rng(1), 50)
    assert (np.abs(frames.time[src] - frames.time[tgt]) >= 1.0).all()


def test_supervised_subset_is_whole_time_blocks_in_every_camera(frames):
    mask = D.supervision_subset(frames, 0.05, "time-block", 1.0, seed=0)
    assert mask.any() and not mask.all()
    blocks = np.floor(frames.time + 1e-9).astype(int)
    for key in set(zip(frames.seq_id[mask], blocks[mask])):
        members = (frames.seq_id == key[0]) & (blocks == key[1])
        assert mask[members].all()  # the whole block, all cameras
    assert np.array_equal(mask, D.supervision_subset(frames, 0.05, "time-block", 1.0, seed=0))
    share = D.supervision_subset(frames, 0.5, "frame", 1.0, seed=3).mean()
    assert 0.5 <= share < 0.65


def test_roles_without_images_or_backgrounds_are_refused(store, tmp_path):
    with PoseStore(store) as s:
        with pytest.raises(D.DataError, match="no sequence has role 'nope'|role nope"):
            D.load_frames(s, ["nope"], 32)
        with pytest.raises(D.DataError, match="no background estimate"):
            D.load_frames(s, ["dunp"], 32, backgrounds=True)
    bare = tmp_path / "bare.h5"
    seq = make_clip(np.random.default_rng(0), subject="S9", sequence="Walking 1", role="h36m-test", n=4)
    for cam in seq.cameras.values():
        cam.images = cam.backgrounds = None
    with StoreWriter(bare, dataset="t", source="t") as w:
        w.add_sequence(seq)
    with PoseStore(bare) as s, pytest.raises(D.DataError, match="has images"):
        D.load_frames(s, ["h36m-test"], 32)


def test_resize_keeps_uint8_and_shape():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    out = D.resize_images(imgs, 32)
    assert out.dtype == torch.uint8 and out.shape == (3, 3, 32, 32)
    assert torch.equal(D.resize_images(imgs, 64), torch.from_numpy(imgs).permute(0, 3, 1, 2))
