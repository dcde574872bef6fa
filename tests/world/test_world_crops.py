"""kspbench.core.crops: the square-box rule and bilinear crops shared by the world, the importers and the model."""

from __future__ import annotations

import numpy as np
import pytest

from assertions import assert_close
from kspbench.core.crops import box_from_joints, crop_images, to_crop, to_normalised


def test_box_is_square_centred_with_margin():
    p2d = np.array([[[10.0, 20.0], [50.0, 100.0], [30.0, 60.0]]])
    box = box_from_joints(p2d, margin=0.2)[0]
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])
    assert box[2] - box[0] == pytest.approx(1.2 * 80.0)
    assert 0.5 * (box[0] + box[2]) == pytest.approx(30.0)
    assert 0.5 * (box[1] + box[3]) == pytest.approx(60.0)


def test_box_jitter_is_seeded_and_needs_a_generator():
    p2d = np.random.default_rng(0).uniform(0, 100, (50, 17, 2))
    a = box_from_joints(p2d, jitter=(0.05, 0.05), generator=np.random.default_rng(1))
    b = box_from_joints(p2d, jitter=(0.05, 0.05), generator=np.random.default_rng(1))
    exact = box_from_joints(p2d)
    assert np.array_equal(a, b) and not np.allclose(a, exact)
    np.testing.assert_allclose(a[:, 2] - a[:, 0], a[:, 3] - a[:, 1])
    with pytest.raises(ValueError):
        box_from_joints(p2d, jitter=0.05)


def test_box_of_nan_frame_is_nan_and_crops_to_zero():
    p2d = np.full((2, 17, 2), np.nan)
    p2d[0] = np.random.default_rng(0).uniform(10, 20, (17, 2))
    boxes = box_from_joints(p2d)
    assert np.isfinite(boxes[0]).all() and np.isnan(boxes[1]).all()
    frames = np.full((2, 32, 32, 3), 200, np.uint8)
    crops = crop_images(frames, boxes, 8)
    assert crops[0].min() > 0 and crops[1].max() == 0


def test_crop_of_whole_frame_at_native_size_is_identity():
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    boxes = np.tile([-0.5, -0.5, 15.5, 15.5], (3, 1))
    assert np.array_equal(crop_images(frames, boxes, 16), frames)


def test_outside_the_frame_is_zero_and_shape_dtype():
    frames = np.full((1, 10, 10, 3), 255, np.uint8)
    crops = crop_images(frames, np.array([[-20.0, -20.0, -10.0, -10.0]]), 5)
    assert crops.shape == (1, 5, 5, 3) and crops.dtype == np.uint8 and crops.max() == 0
    half = crop_images(frames, np.array([[-5.5, -0.5, 4.5, 9.5]]), 10)
    assert half[0, :, :4].max() == 0 and half[0, :, 6:].min() == 255


def test_to_crop_finds_a_marked_pixel():
    frames = np.zeros((1, 100, 120, 3), np.uint8)
    frames[0, 40, 70] = 255
    p = np.array([[[70.0, 40.0]]])
    box = np.array([[49.5, 19.5, 89.5, 59.5]])  # 40 px box on pixel edges -> 40 px crop: pixel for pixel
    crop = crop_images(frames, box, 40)
    uv = to_crop(p, box, 40)[0, 0]
    assert crop[0, int(round(uv[1])), int(round(uv[0]))].max() == 255
    assert_close(to_normalised(np.array([[[69.5, 39.5]]]), box), 0.0)
