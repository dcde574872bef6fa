"""Tests for kspbench.core.spatial_maps: the paper's Tm (joint heatmaps and limb maps)."""

from __future__ import annotations

import math

import pytest
import torch

from assertions import assert_close
from kspbench.core import skeleton
from kspbench.core.spatial_maps import (
    joint_heatmaps,
    limb_depths,
    limb_maps,
    occlude_limbs,
    pixel_grid,
    spatial_maps,
)

WIDTHS = torch.tensor(skeleton.LIMB_WIDTH_RATIOS, dtype=torch.float64) * 0.44  # trunk units seen at f/d = 0.44
ALPHA = 0.3


def random_p2d(gen: torch.Generator, *shape: int, spread: float = 0.7) -> torch.Tensor:
    return (2 * torch.rand(*shape, 17, 2, generator=gen, dtype=torch.float64) - 1) * spread


def reference_limb_map(a: torch.Tensor, b: torch.Tensor, width: float, alpha: float, size: int) -> torch.Tensor:
    """The paper's formula, pixel by pixel: u' = R(-theta)(u - mu)."""
    grid = pixel_grid(size, torch.float64)
    mu, d = (a + b) / 2, b - a
    theta = math.atan2(d[1].item(), d[0].item())
    sx, sy = alpha * torch.linalg.vector_norm(d).item(), width / 2
    out = torch.empty(size, size, dtype=torch.float64)
    for row in range(size):
        for col in range(size):
            wx, wy = grid[col] - mu[0], grid[row] - mu[1]
            ux = math.cos(theta) * wx + math.sin(theta) * wy
            uy = -math.sin(theta) * wx + math.cos(theta) * wy
            out[row, col] = math.exp(-0.5 * (ux / sx) ** 2 - 0.5 * (uy / sy) ** 2)
    return out


def test_pixel_grid_centres() -> None:
    expected = torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64)
    torch.testing.assert_close(pixel_grid(4, torch.float64), expected)
    grid = pixel_grid(7)
    assert grid.dtype == torch.float32 and grid.shape == (7,)
    torch.testing.assert_close(grid, -grid.flip(0))  # symmetric: mirroring maps pixels onto pixels
    with pytest.raises(ValueError, match="size"):
        pixel_grid(0)


def test_heatmap_formula_and_layout() -> None:
    p2d = torch.zeros(17, 2, dtype=torch.float64)
    p2d[3] = torch.tensor([0.5, -0.25])  # x = 0.5 (right), y = -0.25 (up)
    maps = joint_heatmaps(p2d, 8, 0.2)
    assert maps.shape == (17, 8, 8)
    grid = pixel_grid(8, torch.float64)
    row, col = 2, 5  # (x, y) = (grid[5], grid[2]) = (0.375, -0.375)
    expected = math.exp(-0.5 * ((grid[col] - 0.5) ** 2 + (grid[row] + 0.25) ** 2) / 0.2**2)
    assert maps[3, row, col].item() == pytest.approx(expected, rel=1e-12)


def test_heatmap_peak_within_half_pixel() -> None:
    gen = torch.Generator().manual_seed(1)
    size = 16
    p2d = random_p2d(gen, 32, spread=0.9)
    maps = joint_heatmaps(p2d, size, 0.1)
    flat = maps.flatten(-2).argmax(-1)
    grid = pixel_grid(size, torch.float64)
    peak = torch.stack([grid[flat % size], grid[flat // size]], dim=-1)
    assert ((peak - p2d).abs() <= 1.0 / size + 1e-12).all()  # half a pixel = (2 / size) / 2


def test_limb_map_matches_paper_formula() -> None:
    gen = torch.Generator().manual_seed(2)
    p2d = random_p2d(gen)
    maps = limb_maps(p2d, WIDTHS, ALPHA, 9)
    assert maps.shape == (16, 9, 9)
    for b in (0, 6, 9, 15):
        parent, child = skeleton.BONES[b]
        ref = reference_limb_map(p2d[parent], p2d[child], WIDTHS[b].item(), ALPHA, 9)
        torch.testing.assert_close(maps[b], ref, rtol=1e-10, atol=1e-12)


def test_limb_map_peak_and_symmetries() -> None:
    size = 12
    grid = pixel_grid(size, torch.float64)
    p2d = torch.zeros(17, 2, dtype=torch.float64)
    # Bone 0 (pelvis -> RHip) horizontal, bone 4 (LHip -> LKnee) on the diagonal, both centred on the map centre.
    p2d[0], p2d[1] = torch.tensor([-0.4, 0.0]), torch.tensor([0.4, 0.0])
    p2d[4], p2d[5] = torch.tensor([-0.3, -0.3]), torch.tensor([0.3, 0.3])
    maps = limb_maps(p2d, torch.full((16,), 0.3, dtype=torch.float64), ALPHA, size)
    for b in (0, 4):
        m = maps[b]
        torch.testing.assert_close(m, m.flip(-1, -2))  # 180 deg about the midpoint
    torch.testing.assert_close(maps[0], maps[0].flip(-2))  # across the horizontal limb axis: flip rows
    torch.testing.assert_close(maps[4], maps[4].transpose(-1, -2))  # across the diagonal y = x
    assert (maps[4] - maps[4].flip(-1)).abs().max() > 0.1  # ...and not across the other diagonal
    # Midpoint on a pixel centre: the map is 1 there and smaller everywhere else.
    mid = torch.stack([grid[3], grid[7]])
    p2d[0], p2d[1] = mid - torch.tensor([0.3, 0.2]), mid + torch.tensor([0.3, 0.2])
    m = limb_maps(p2d, torch.full((16,), 0.3, dtype=torch.float64), ALPHA, size)[0]
    assert m[7, 3].item() == pytest.approx(1.0, abs=1e-12)
    others = torch.ones_like(m, dtype=torch.bool)
    others[7, 3] = False
    assert (m[others] < 1.0).all()
    # Value at the limb ends is exp(-0.5 (0.5 / alpha)^2).
    p2d[0], p2d[1] = torch.stack([grid[2], grid[5]]), torch.stack([grid[8], grid[5]])
    m = limb_maps(p2d, torch.full((16,), 0.3, dtype=torch.float64), ALPHA, size)[0]
    assert m[5, 2].item() == pytest.approx(math.exp(-0.5 * (0.5 / ALPHA) ** 2), rel=1e-12)
    assert m[5, 8].item() == pytest.approx(math.exp(-0.5 * (0.5 / ALPHA) ** 2), rel=1e-12)


def test_mirroring_maps_equals_maps_of_mirrored_pose() -> None:
    widths = WIDTHS
    torch.testing.assert_close(widths[list(skeleton.LIMB_FLIP_PERMUTATION)], widths)  # symmetric widths
    gen = torch.Generator().manual_seed(3)
    p2d = random_p2d(gen, 4)
    mirrored = p2d[:, list(skeleton.FLIP_PERMUTATION)] * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    size = 10
    maps = spatial_maps(p2d, size, 0.1, widths, ALPHA)
    channels = list(skeleton.FLIP_PERMUTATION) + [17 + b for b in skeleton.LIMB_FLIP_PERMUTATION]
    expected = maps[:, channels].flip(-1)
    torch.testing.assert_close(spatial_maps(mirrored, size, 0.1, widths, ALPHA), expected)


def test_spatial_maps_concat_and_broadcast() -> None:
    gen = torch.Generator().manual_seed(4)
    p2d = random_p2d(gen, 2, 3)
    per_sample_widths = WIDTHS * (1 + torch.rand(2, 3, 16, generator=gen, dtype=torch.float64))
    maps = spatial_maps(p2d, 6, 0.1, per_sample_widths, ALPHA)
    assert maps.shape == (2, 3, 33, 6, 6)
    torch.testing.assert_close(maps[..., :17, :, :], joint_heatmaps(p2d, 6, 0.1))
    torch.testing.assert_close(maps[1, 2, 17:], limb_maps(p2d[1, 2], per_sample_widths[1, 2], ALPHA, 6))
    assert (maps >= 0).all() and (maps <= 1).all()


def test_foreshortened_limb_is_a_disk_and_finite() -> None:
    p2d = random_p2d(torch.Generator().manual_seed(5)).requires_grad_(True)
    with torch.no_grad():
        p2d[2] = p2d[1]  # bone 1 (RHip -> RKnee) seen end-on
    width = WIDTHS[1].item()
    maps = limb_maps(p2d, WIDTHS, ALPHA, 8)
    (grad,) = torch.autograd.grad(maps.sum(), p2d)
    assert torch.isfinite(maps).all() and torch.isfinite(grad).all()
    grid = pixel_grid(8, torch.float64)
    r2 = (grid[None, :] - p2d[1, 0]) ** 2 + (grid[:, None] - p2d[1, 1]) ** 2
    torch.testing.assert_close(maps[1], torch.exp(-0.5 * r2 / (width / 2) ** 2).detach())
    # Continuous through the clamp: just above eps the map is the paper's (checked against the reference).
    with torch.no_grad():
        p2d[2] = p2d[1] + torch.tensor([3e-4, 0.0], dtype=torch.float64)
    ref = reference_limb_map(p2d[1].detach(), p2d[2].detach(), width, ALPHA, 8)
    torch.testing.assert_close(limb_maps(p2d, WIDTHS, ALPHA, 8)[1].detach(), ref, rtol=1e-9, atol=1e-12)


def test_maps_follow_dtype() -> None:
    p2d = random_p2d(torch.Generator().manual_seed(6)).float()
    maps = spatial_maps(p2d, 5, 0.1, WIDTHS.float(), ALPHA)
    assert maps.dtype == torch.float32 and maps.shape == (33, 5, 5)


def test_gradcheck_maps() -> None:
    gen = torch.Generator().manual_seed(7)
    p2d = random_p2d(gen, 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: joint_heatmaps(p, 5, 0.3), (p2d,))
    widths = WIDTHS.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, w: limb_maps(p, w, ALPHA, 5), (p2d, widths))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"p2d must have shape \(\.\.\., 17, 2\), got \(4, 17, 3\)"):
        joint_heatmaps(torch.zeros(4, 17, 3), 8, 0.1)
    with pytest.raises(ValueError, match=r"p2d must have shape \(\.\.\., 17, 2\), got \(16, 2\)"):
        limb_maps(torch.zeros(16, 2), WIDTHS, ALPHA, 8)
    with pytest.raises(ValueError, match=r"limb_widths must have shape \(\.\.\., 16\), got \(17,\)"):
        limb_maps(torch.zeros(17, 2), torch.zeros(17), ALPHA, 8)
    with pytest.raises(ValueError, match="size"):
        spatial_maps(torch.zeros(17, 2), 2.5, 0.1, WIDTHS, ALPHA)  # type: ignore[arg-type]


# --- depth order (maps.occlusion) ---------------------------------------------------------------------------------
THIGH, FOREARM = 1, 12  # bones 1 -> 2 (right hip -> knee) and 12 -> 13 (left elbow -> wrist): no joint shared


def _crossing_limbs() -> torch.Tensor:
    """``(16, 16, 16)`` limb maps: the right thigh vertical and the left forearm horizontal, crossing at the centre;
    every other limb's map is zero."""
    p = torch.zeros(17, 2, dtype=torch.float64)
    p[1], p[2] = torch.tensor([0.0, -0.5]), torch.tensor([0.0, 0.5])
    p[12], p[13] = torch.tensor([-0.5, 0.0]), torch.tensor([0.5, 0.0])
    limbs = limb_maps(p, torch.full((16,), 0.2, dtype=torch.float64), ALPHA, 16)
    keep = torch.zeros(16, 1, 1, dtype=torch.float64)
    keep[[THIGH, FOREARM]] = 1.0
    return limbs * keep


def test_limb_depths_are_the_mean_of_each_limbs_ends() -> None:
    depth = torch.arange(17, dtype=torch.float64)
    expected = torch.tensor([(p + c) / 2 for p, c in skeleton.BONES], dtype=torch.float64)
    assert_close(limb_depths(depth), expected)
    with pytest.raises(ValueError):
        limb_depths(torch.zeros(16))


def test_the_nearer_of_two_crossing_limbs_covers_the_farther() -> None:
    limbs = _crossing_limbs()
    depth = torch.zeros(16, dtype=torch.float64)
    depth[FOREARM] = -1.0  # the forearm is nearer
    out = occlude_limbs(limbs, depth, 0.05)
    assert bool((out <= limbs + 1e-12).all())
    assert_close(out[FOREARM], limbs[FOREARM], atol=1e-12)  # nothing in front of it
    centre = (slice(7, 9), slice(7, 9))  # the four pixels around the crossing
    assert float(limbs[THIGH][centre].min()) > 0.5
    assert float(out[THIGH][centre].max()) < 0.5 * float(limbs[THIGH][centre].min())
    # Away from the forearm the thigh is untouched.
    assert_close(out[THIGH][0], limbs[THIGH][0], atol=1e-6)
    # The other way round: the thigh in front.
    swapped = occlude_limbs(limbs, -depth, 0.05)
    assert_close(swapped[THIGH], limbs[THIGH], atol=1e-12)
    assert float(swapped[FOREARM][centre].max()) < 0.5 * float(limbs[FOREARM][centre].min())


def test_joined_limbs_never_cover_each_other() -> None:
    p = torch.zeros(17, 2, dtype=torch.float64)
    p[1], p[2], p[3] = torch.tensor([0.0, -0.5]), torch.tensor([0.0, 0.0]), torch.tensor([0.3, 0.3])
    leg = limb_maps(p, torch.full((16,), 0.2, dtype=torch.float64), ALPHA, 16)
    keep = torch.zeros(16, 1, 1, dtype=torch.float64)
    keep[[1, 2]] = 1.0  # hip -> knee and knee -> ankle share the knee, where their maps overlap
    leg = leg * keep
    assert float((leg[1] * leg[2]).max()) > 0.05
    depth = torch.linspace(-3.0, 3.0, 16, dtype=torch.float64)
    assert_close(occlude_limbs(leg, depth, 0.05), leg, atol=1e-12)


def test_depth_order_passes_gradient_to_the_depths_of_overlapping_limbs_only() -> None:
    limbs = _limbs_with_a_loner()
    depth = torch.zeros(16, dtype=torch.float64, requires_grad=True)
    # The thigh's map only: summed over both limbs, the two gradients cancel at equal depths.
    occlude_limbs(limbs, depth, 0.1)[THIGH].sum().backward()
    grad = depth.grad.abs()
    assert float(grad[THIGH]) > 1e-2 and float(grad[FOREARM]) > 1e-2
    assert float(grad[LONER]) < 1e-12  # only the thigh's far tails reach the corner


LONER = 15  # bone 15 -> 16 (right elbow -> wrist), drawn in a corner where nothing else is


def _limbs_with_a_loner() -> torch.Tensor:
    p = torch.zeros(17, 2, dtype=torch.float64)
    p[15], p[16] = torch.tensor([0.8, 0.8]), torch.tensor([0.9, 0.9])
    alone = limb_maps(p, torch.full((16,), 0.05, dtype=torch.float64), ALPHA, 16)[LONER]
    limbs = _crossing_limbs()
    limbs[LONER] = alone * (alone > 1e-3)  # cut the tails, so it truly overlaps nothing
    return limbs


def test_depth_order_refuses_bad_input() -> None:
    limbs = _crossing_limbs()
    with pytest.raises(ValueError):
        occlude_limbs(limbs, torch.zeros(16), 0.0)
    with pytest.raises(ValueError):
        occlude_limbs(limbs[:15], torch.zeros(15), 0.1)
