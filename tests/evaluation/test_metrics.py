"""metrics.py: hand-computed cases, invariances, reflections, agreement with a slow SVD reference, PCK/AUC, errors."""

from __future__ import annotations

import numpy as np
import pytest

from assertions import assert_close
from factories import random_rotation, random_world_poses
from kspbench.errors import KspbenchError
from kspbench.evaluation import _procrustes_solver as solver
from kspbench.evaluation import metrics as M

ATOL_MM = 1e-9


# --- a slow, independent reference --------------------------------------------------------------------------------


def reference_p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame loop: centre by the joint mean, SVD of the 3x3 cross-covariance, det-sign fix, optimal scale.

    Umeyama/Kabsch in row-vector form: minimise |s Y0 R - X0|^2 over proper R and s. With Y0^T X0 = U S V^T,
    R = U D V^T where D = diag(1, 1, sign det(U V^T)) forbids reflections, and s = trace(D S) / |Y0|^2.
    (scipy.linalg.orthogonal_procrustes is not this reference: it returns the best orthogonal matrix, reflections
    included, and has no scale.)
    """
    out = np.empty(pred.shape[:2])
    for i in range(len(pred)):
        y0 = pred[i] - pred[i].mean(axis=0)
        x0 = gt[i] - gt[i].mean(axis=0)
        u, s, vt = np.linalg.svd(y0.T @ x0)
        d = np.ones(3)
        d[2] = np.sign(np.linalg.det(u @ vt))
        rot = u @ np.diag(d) @ vt
        scale = np.sum(d * s) / np.sum(y0**2)
        out[i] = np.linalg.norm(scale * y0 @ rot - x0, axis=1)
    return out


def similarity(
    rng: np.random.Generator,
    poses: np.ndarray,
    *,
    log10_scale: tuple[float, float] = (-1.0, 1.0),
    shift_mm: float = 1000.0,
) -> np.ndarray:
    """Each frame moved by its own random similarity transform (proper rotation, uniform scale, translation)."""
    n = len(poses)
    scale = 10.0 ** rng.uniform(*log10_scale, size=(n, 1, 1))
    return scale * poses @ random_rotation(rng, n) + rng.normal(scale=shift_mm, size=(n, 1, 3))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20200207)


# --- MPJPE and N-MPJPE --------------------------------------------------------------------------------------------


def test_mpjpe_of_a_translated_pose_is_the_translation(rng):
    gt = random_world_poses(rng, 5)
    assert_close(M.mpjpe(gt + np.array([10.0, 0.0, 0.0]), gt), 10.0, rtol=0, atol=1e-12)
    assert_close(M.mpjpe(gt + np.array([3.0, 0.0, -4.0]), gt), 5.0, rtol=0, atol=1e-12)
    assert M.mpjpe(gt, gt).shape == (5, 17)


def test_n_mpjpe_hand_case():
    # <p, g> = 1 and <p, p> = 2, so s = 1/2: s p = (0.5, 0, 0), (0, 0, 0.5); errors 0.5 and |(0, -1, 0.5)|.
    gt = np.array([[[1.0, 0, 0], [0, 1.0, 0]]])
    pred = np.array([[[1.0, 0, 0], [0, 0, 1.0]]])
    assert_close(M.n_mpjpe(pred, gt), [[0.5, np.sqrt(1.25)]], rtol=0, atol=1e-15)


def test_n_mpjpe_is_scale_invariant_but_not_rotation_invariant(rng):
    gt = random_world_poses(rng, 50) - np.array([0.0, 0.0, 900.0])
    assert_close(M.n_mpjpe(3.7 * gt, gt), 0.0, atol=1e-9)
    err = M.n_mpjpe(gt @ random_rotation(rng), gt)
    assert err.mean() > 10.0  # no rotation in N-MPJPE
    # A prediction of all zeros has no scale to fit: s = 0 and the error is |gt|.
    assert_close(M.n_mpjpe(np.zeros_like(gt), gt), np.linalg.norm(gt, axis=-1))


# --- P-MPJPE: hand cases ------------------------------------------------------------------------------------------


def test_p_mpjpe_of_a_similar_copy_is_zero(rng):
    gt = random_world_poses(rng, 200)
    pred = similarity(rng, gt, log10_scale=(-2.0, 2.0))
    assert np.abs(M.p_mpjpe(pred, gt)).max() <= ATOL_MM


def test_p_mpjpe_rectangle_closed_form(rng):
    # Truth: the square (+-1, +-1, 0); prediction: the rectangle (+-1, +-3, 0). Both are centred and symmetric, so
    # Y0^T X0 = diag(4 * 1, 4 * 3, 0): R = I, and s = <Y0, X0> / |Y0|^2 = (4 + 12) / (4 + 36) = 0.4. Aligned
    # corners (+-0.4, +-1.2, 0): each is |(0.6, 0.2)| = sqrt(0.4) from its truth. Coplanar: s3 = 0.
    gt = np.array([[[1.0, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]]])
    pred = gt * np.array([1.0, 3.0, 1.0])
    expected = np.full((1, 4), np.sqrt(0.4))
    assert_close(M.p_mpjpe(pred, gt), expected, rtol=0, atol=1e-14)
    # Any similarity of the prediction changes nothing.
    moved = similarity(rng, np.repeat(pred, 20, axis=0))
    assert_close(M.p_mpjpe(moved, np.repeat(gt, 20, axis=0)), np.sqrt(0.4), rtol=0, atol=1e-12)
    scale, rot, trans = M.similarity_transform(pred, gt)
    assert_close(scale, 0.4)
    assert_close(rot[0], np.eye(3))
    assert_close(trans, 0.0)


def test_two_joints_always_align_exactly(rng):
    # A segment maps onto any other segment by a similarity: the error is 0 (a collinear, degenerate frame).
    gt, pred = rng.normal(size=(10, 2, 3)) * 100, rng.normal(size=(10, 2, 3)) * 100
    assert np.abs(M.p_mpjpe(pred, gt)).max() <= ATOL_MM


def test_similarity_transform_reproduces_the_alignment(rng):
    gt = random_world_poses(rng, 100)
    pred = similarity(rng, gt + rng.normal(scale=30.0, size=gt.shape))
    fit = M.similarity_transform(pred, gt)
    scale, rot, trans = fit.scale, fit.rotation, fit.translation
    assert scale.shape == (100,) and rot.shape == (100, 3, 3) and trans.shape == (100, 3)
    assert_close(np.linalg.det(rot), 1.0, atol=1e-12)
    assert_close(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    aligned = M.procrustes_align(pred, gt)
    assert_close(aligned, scale[:, None, None] * pred @ rot + trans[:, None, :], atol=1e-9)
    assert_close(np.linalg.norm(aligned - gt, axis=-1), M.p_mpjpe(pred, gt), atol=1e-9)
    assert_close(M.p_mpjpe(pred, gt), reference_p_mpjpe(pred, gt), rtol=0, atol=ATOL_MM)


def test_similarity_transform_is_a_named_result_that_still_unpacks(rng):
    gt = random_world_poses(rng, 50)
    pred = similarity(rng, gt + rng.normal(scale=30.0, size=gt.shape))
    fit = M.similarity_transform(pred, gt)
    assert isinstance(fit, M.SimilarityTransform)
    assert fit._fields == ("scale", "rotation", "translation")
    scale, rot, trans = fit  # positional callers keep working: the fields in this order
    assert scale is fit.scale and rot is fit.rotation and trans is fit.translation


def test_the_private_entry_points_are_the_public_functions_plus_knobs(rng):
    gt = random_world_poses(rng, 300)
    pred = similarity(rng, gt + rng.normal(scale=30.0, size=gt.shape))
    stats: dict = {}
    errors = M._p_mpjpe(pred, gt, stats=stats)
    assert errors.tobytes() == M.p_mpjpe(pred, gt).tobytes()  # bit for bit
    assert stats == {
        "frames": 300,
        "zero_norm_frames": 0,
        "max_newton_iterations": stats["max_newton_iterations"],
        "fallback_frames": 0,
    }
    assert 1 <= stats["max_newton_iterations"] <= 16
    public, private = M.similarity_transform(pred, gt), M._similarity_transform(pred, gt)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(public, private))
    assert isinstance(private, M.SimilarityTransform)


# --- P-MPJPE: invariances and reflections -------------------------------------------------------------------------


def test_p_mpjpe_is_invariant_to_similarity_transforms_of_the_prediction(rng):
    gt = random_world_poses(rng, 300)
    pred = gt + rng.normal(scale=40.0, size=gt.shape)
    base = M.p_mpjpe(pred, gt)
    assert base.mean() > 10.0
    for log10_scale in ((-2.0, 0.0), (0.0, 2.0), (2.0, 3.0)):  # includes scales up to 1000
        moved = similarity(rng, pred, log10_scale=log10_scale)
        assert np.abs(M.p_mpjpe(moved, gt) - base).max() <= ATOL_MM


def test_a_mirrored_prediction_is_not_aligned_by_a_reflection(rng):
    gt = random_world_poses(rng, 300)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    err = M.p_mpjpe(mirrored, gt)
    # With reflections allowed the mirror image would align exactly (error 0); with det +1 it cannot.
    assert err.mean(axis=1).min() > 1.0
    assert np.abs(err - reference_p_mpjpe(mirrored, gt)).max() <= ATOL_MM
    _, rot, _ = M.similarity_transform(mirrored, gt)
    assert_close(np.linalg.det(rot), 1.0, atol=1e-12)


# --- P-MPJPE: agreement with the reference, near-degenerate frames included --------------------------------------


def near_degenerate_frames(rng: np.random.Generator, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(pred, gt) pairs of kinds where a rotation solver can go wrong; each kind has a determined answer."""
    gt = random_world_poses(rng, n)
    cases = {}
    # Coplanar joints (s3 = 0): both poses flattened onto z = 900, the prediction noisy and moved.
    flat = gt.copy()
    flat[..., 2] = 900.0
    cases["coplanar"] = (similarity(rng, flat + rng.normal(scale=20.0, size=flat.shape) * [1, 1, 0]), flat)
    # A nearly collinear prediction: the rotation about the line is ill-determined, the errors are not.
    line = rng.normal(size=(n, 1, 3))
    collinear = rng.normal(scale=300.0, size=(n, 17, 1)) * line + rng.normal(scale=1e-3, size=(n, 17, 3))
    cases["collinear-ish"] = (similarity(rng, collinear), gt)
    # A prediction collapsed onto one point up to 1e-4 mm of noise. The point sits near the origin: centring a
    # point at distance c leaves ~eps c of rounding, which the alignment magnifies by |X0| / |Y0| (~1e7 here), so
    # far from the origin float64 itself would not determine the answer to 1e-9 mm.
    cases["point+noise"] = (rng.normal(scale=0.1, size=(n, 1, 3)) + rng.normal(scale=1e-4, size=gt.shape), gt)
    # Repeated singular values: an isotropic truth (Y0^T X0 ~ s I), predicted by a noisy rotated copy.
    iso = rng.normal(size=(n, 17, 3))
    iso -= iso.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(iso.transpose(0, 2, 1) @ iso)
    iso = 300.0 * iso @ evecs @ (evecs.transpose(0, 2, 1) / np.sqrt(evals)[:, :, None])  # whitened: X0^T X0 = 9e4 I
    cases["isotropic"] = (similarity(rng, iso + rng.normal(scale=1e-6, size=iso.shape)), iso)
    # Mirrored, noisy predictions (det of the cross-covariance < 0).
    cases["mirrored"] = (similarity(rng, gt * [1.0, -1.0, 1.0] + rng.normal(scale=30.0, size=gt.shape)), gt)
    # Mirrored coplanar: a reflection where the smallest singular value is ~0.
    cases["mirrored-coplanar"] = (similarity(rng, flat * [-1.0, 1.0, 1.0]), flat)
    return cases


def test_p_mpjpe_matches_the_reference_on_random_frames(rng):
    gt = random_world_poses(rng, 2000)
    pred = similarity(rng, gt + rng.normal(scale=50.0, size=gt.shape))
    stats: dict = {}
    err = M._p_mpjpe(pred, gt, stats=stats)
    assert np.abs(err - reference_p_mpjpe(pred, gt)).max() <= ATOL_MM
    assert stats["frames"] == 2000 and stats["fallback_frames"] == 0


@pytest.mark.parametrize(
    "kind", ["coplanar", "collinear-ish", "point+noise", "isotropic", "mirrored", "mirrored-coplanar"]
)
def test_p_mpjpe_matches_the_reference_on_near_degenerate_frames(rng, kind):
    pred, gt = near_degenerate_frames(rng, 200)[kind]
    stats: dict = {}
    err = M._p_mpjpe(pred, gt, stats=stats)
    ref = reference_p_mpjpe(pred, gt)
    assert np.abs(err - ref).max() <= ATOL_MM, f"{kind}: {np.abs(err - ref).max():.3g} mm, stats {stats}"
    if kind == "collinear-ish":
        assert stats["fallback_frames"] == 200  # s2 ~ s3 ~ 0: the gap criterion sends these to the SVD
    if kind in ("coplanar", "isotropic", "mirrored-coplanar"):
        assert stats["fallback_frames"] == 0  # well-conditioned for a proper rotation: the fast path
    if kind == "mirrored":  # the fast path, but for the odd frame whose mirror image has s2 ~ s3 (g2 = 2 (s2 - s3))
        assert stats["fallback_frames"] <= 5


def test_fast_path_and_fallback_agree_in_between(rng):
    # Gaps just above and below the threshold: forcing every frame onto the SVD changes nothing.
    gt = random_world_poses(rng, 500)
    squash = 10.0 ** rng.uniform(-3.0, 0.0, size=(500, 1, 1))
    pred = similarity(
        rng,
        (gt - gt.mean(axis=1, keepdims=True)) * np.concatenate([np.ones_like(squash), squash, squash], axis=2)
        + rng.normal(scale=0.5, size=gt.shape),
    )
    fast_stats: dict = {}
    fast = M._p_mpjpe(pred, gt, stats=fast_stats)
    svd_stats: dict = {}
    svd = M._p_mpjpe(pred, gt, gap_tol=np.inf, stats=svd_stats)
    assert svd_stats["fallback_frames"] == 500 and 0 < fast_stats["fallback_frames"] < 500
    assert np.abs(fast - svd).max() <= ATOL_MM
    assert np.abs(fast - reference_p_mpjpe(pred, gt)).max() <= ATOL_MM


def test_a_non_unique_optimum_still_gives_the_optimal_objective(rng):
    # Mirrored isotropic truth: singular values s1 = s2 = s3 with det < 0, so g2 = 2 (s2 - s3) = 0 and a whole
    # circle of rotations is optimal. Per-joint errors then depend on which one rounding picks; the optimal sum of
    # squared errors does not.
    pred, gt = near_degenerate_frames(rng, 100)["isotropic"]
    pred = pred * np.array([-1.0, 1.0, 1.0])
    stats: dict = {}
    err = M._p_mpjpe(pred, gt, stats=stats)
    ref = reference_p_mpjpe(pred, gt)
    assert stats["fallback_frames"] == 100
    assert_close((err**2).sum(axis=1), (ref**2).sum(axis=1), rtol=1e-12, atol=0)


def test_so3_newton_step_converges_quadratically(rng):
    # The fast path's polishing step on its own (a private helper): from rotations 1e-4 rad off the optimum of
    # trace(R^T m), one step lands within ~(1e-4)^2 / gap of it; a step in the wrong direction would double the
    # error instead.
    n = 200
    u, vt = random_rotation(rng, n), random_rotation(rng, n)
    m = u * np.array([0.5, 0.3, 0.2])[None, None, :] @ vt  # singular values 0.5, 0.3, 0.2: gap g2 = 1
    best = u @ vt  # the optimum (det +1, and d = +1)
    axis = rng.normal(size=(n, 3))
    axis *= 1e-4 / np.linalg.norm(axis, axis=1, keepdims=True)
    skew = np.zeros((n, 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    skew -= skew.transpose(0, 2, 1)
    start = best @ (np.eye(3) + skew + skew @ skew / 2)  # exp([w]x) to third order
    new, trace, step2 = solver._so3_newton_step(start.transpose(1, 2, 0).copy(), m.transpose(1, 2, 0).copy())
    before = np.abs(start - best).max(axis=(1, 2))
    after = np.abs(new.transpose(2, 0, 1) - best).max(axis=(1, 2))
    assert before.min() > 3e-5 and after.max() < 1e-7
    assert_close(np.sqrt(step2), 1e-4, rtol=1e-3)
    assert_close(trace, 1.0, atol=1e-7)  # the maximum, s1 + s2 + s3


def test_small_gaps_on_the_fast_path_are_polished(rng):
    # Nearly collinear poses (spreads 1000, 14, 10 mm: normalised gap g2 ~ 6e-4), exact similarity copies, the
    # fallback disabled down to hgap 1e-5. Horn's eigenvector alone is off by ~eps / g2^2 (~1e-9 rad); after the
    # SO(3) Newton step by ~eps / g2 (~1e-12 rad), like the SVD.
    n = 300
    gt = rng.normal(size=(n, 17, 3)) * np.array([1000.0, 14.0, 10.0])
    rot = random_rotation(rng, n)
    pred = 2.0 * gt @ rot + 100.0
    stats: dict = {}
    est = M._similarity_transform(pred, gt, gap_tol=1e-5, stats=stats).rotation
    assert stats["fallback_frames"] == 0
    assert np.abs(est - rot.transpose(0, 2, 1)).max() < 1e-11  # pred @ R undoes the rotation: R = rot^T


def test_collapsed_poses_get_scale_zero(rng):
    gt = random_world_poses(rng, 3)
    # Every joint at one point (integers, so that the mean is exact and the centred pose exactly zero).
    pred = np.repeat(rng.integers(-1000, 1000, size=(3, 1, 3)).astype(float), 17, axis=1)
    stats: dict = {}
    err = M._p_mpjpe(pred, gt, stats=stats)
    assert_close(err, np.linalg.norm(gt - gt.mean(axis=1, keepdims=True), axis=-1))
    assert stats["zero_norm_frames"] == 3 and stats["fallback_frames"] == 0
    scale, rot, trans = M.similarity_transform(pred, gt)
    assert np.all(scale == 0)
    assert_close(rot, np.broadcast_to(np.eye(3), rot.shape))
    assert_close(trans, gt.mean(axis=1))


def test_blocks_layout_and_dtype_do_not_change_results(rng):
    gt = random_world_poses(rng, 1000)
    pred = similarity(rng, gt + rng.normal(scale=50.0, size=gt.shape))
    base = M.p_mpjpe(pred, gt)
    assert np.abs(M._p_mpjpe(pred, gt, chunk_frames=7) - base).max() <= 1e-11  # ragged last block
    strided = np.concatenate([pred, pred], axis=1)[:, ::2]  # a non-contiguous view
    assert np.abs(M.p_mpjpe(strided, gt) - M.p_mpjpe(np.ascontiguousarray(strided), gt)).max() == 0.0
    as32 = M.p_mpjpe(pred.astype(np.float32), gt.astype(np.float32))
    assert as32.dtype == np.float64 and np.abs(as32 - base).max() < 0.01
    assert M.p_mpjpe(np.zeros((0, 17, 3)), np.zeros((0, 17, 3))).shape == (0, 17)
    subset = M.p_mpjpe(pred[:, :14], gt[:, :14])  # the 3DHP 14-joint subset: any J works
    assert subset.shape == (1000, 14) and np.abs(subset - reference_p_mpjpe(pred[:, :14], gt[:, :14])).max() <= 1e-9


# --- Procrustes mean and spread ratio -----------------------------------------------------------------------------


def noisy_copies(rng: np.random.Generator, n: int, noise_mm: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """A base pose (17, 3) and (n, 17, 3) Gaussian deviations from it, mm: a population of one shape family."""
    return random_world_poses(rng, 1)[0], rng.normal(scale=noise_mm, size=(n, 17, 3))


def test_procrustes_mean_of_similar_copies_is_the_shape(rng):
    base = random_world_poses(rng, 1)[0]
    copies = similarity(rng, np.broadcast_to(base, (200, 17, 3)))
    mean, aligned = M.procrustes_mean(copies)
    assert mean.shape == (17, 3) and aligned.shape == (200, 17, 3)
    # One shape: the mean is it (up to a similarity), every aligned copy is the mean, sizes are the inputs' mean.
    assert M.p_mpjpe(mean[None], base[None]).max() < 1e-9
    assert np.abs(aligned - mean).max() < 1e-9 * np.abs(copies).max()
    rms = np.sqrt(((copies - copies.mean(axis=1, keepdims=True)) ** 2).sum(-1).mean(-1))
    assert np.sqrt((mean**2).sum(-1).mean()) == pytest.approx(rms.mean(), rel=1e-12)
    assert np.abs(mean.mean(axis=0)).max() < 1e-9


def test_procrustes_mean_rigid_keeps_sizes_and_beats_the_plain_mean(rng):
    base, dev = noisy_copies(rng, 500)
    poses = similarity(rng, base + dev, log10_scale=(0.0, 0.0))
    mean, aligned = M.procrustes_mean(poses, scale=False)
    size = lambda x: np.sqrt(((x - x.mean(axis=-2, keepdims=True)) ** 2).sum(-1).mean(-1))  # noqa: E731
    np.testing.assert_allclose(size(aligned), size(poses), rtol=1e-12)  # rotation only: sizes untouched
    # The Procrustes mean is a pose of the family; the plain mean of randomly rotated poses is a blur.
    assert M.p_mpjpe(mean[None], base[None]).mean() < 10.0
    assert M.p_mpjpe(poses.mean(0)[None], base[None]).mean() > 50.0


def test_procrustes_mean_edge_cases(rng):
    zeros = np.zeros((3, 17, 3))
    mean, aligned = M.procrustes_mean(zeros)
    assert not mean.any() and not aligned.any()
    with pytest.raises(ValueError, match="N >= 1"):
        M.procrustes_mean(np.zeros((0, 17, 3)))
    with pytest.raises(ValueError, match="max_iter"):
        M.procrustes_mean(random_world_poses(rng, 2), max_iter=0)


def test_spread_ratio_of_a_constant_prediction_is_zero(rng):
    base, dev = noisy_copies(rng, 400)
    gt = base + dev
    assert M.spread_ratio(np.broadcast_to(base, gt.shape), gt) == pytest.approx(0.0, abs=1e-9)
    # One shape in a different position, orientation and size every frame is still one shape.
    assert M.spread_ratio(similarity(rng, np.broadcast_to(base, gt.shape)), gt) == pytest.approx(0.0, abs=1e-9)


def test_spread_ratio_of_the_truth_is_one(rng):
    base, dev = noisy_copies(rng, 400)
    gt = similarity(rng, base + dev)
    assert M.spread_ratio(gt, gt) == pytest.approx(1.0, abs=1e-12)
    wild = random_world_poses(rng, 300)  # random bone directions: far from one shape family
    assert M.spread_ratio(wild, wild) == pytest.approx(1.0, abs=1e-12)


def test_spread_ratio_ignores_per_frame_similarity_transforms(rng):
    for gt in (np.add(*noisy_copies(rng, 400)), random_world_poses(rng, 300)):
        pred = similarity(rng, gt)  # its own rotation, scale in [0.1, 10] and shift per frame
        assert M.spread_ratio(pred, gt) == pytest.approx(1.0, abs=1e-6)


def test_spread_ratio_of_half_shrunk_deviations_is_about_half(rng):
    base, dev = noisy_copies(rng, 2000)
    rot = random_rotation(rng, 2000)
    gt, pred = (base + dev) @ rot, (base + 0.5 * dev) @ rot
    assert M.spread_ratio(pred, gt) == pytest.approx(0.5, abs=0.02)
    assert M.spread_ratio(gt, pred) == pytest.approx(2.0, abs=0.08)


def test_spread_ratio_subsamples_evenly_spaced_frames(rng):
    base, dev = noisy_copies(rng, 1001)
    gt = base + dev
    pred = base + 0.7 * dev + rng.normal(scale=5.0, size=dev.shape)
    idx = np.linspace(0, 1000, 101).round().astype(int)
    assert M.spread_ratio(pred, gt, max_frames=101) == M.spread_ratio(pred[idx], gt[idx])
    assert M.spread_ratio(pred, gt, max_frames=5000) == M.spread_ratio(pred, gt)
    assert M.SPREAD_MAX_FRAMES == 20_000


def test_spread_ratio_is_undefined_without_truth_spread(rng):
    one = random_world_poses(rng, 1)
    assert np.isnan(M.spread_ratio(one, one))
    assert np.isnan(M.spread_ratio(random_world_poses(rng, 5), np.repeat(one, 5, axis=0)))
    with pytest.raises(ValueError, match="at least one frame"):
        M.spread_ratio(np.zeros((0, 17, 3)), np.zeros((0, 17, 3)))


# --- PCK and AUC --------------------------------------------------------------------------------------------------


def test_auc_grid_is_the_matlab_grid():
    assert M.AUC_THRESHOLDS_MM.shape == (31,)
    assert M.AUC_THRESHOLDS_MM[0] == 0.0 and M.AUC_THRESHOLDS_MM[-1] == 150.0
    assert np.all(np.diff(M.AUC_THRESHOLDS_MM) == 5.0)


def test_pck_is_strict_at_the_threshold():
    errors = np.array([[0.0, 5.0, 149.9999, 150.0, 150.0001]])
    assert M.pck(errors).tolist() == [3 / 5]  # 150 exactly is not counted: error < 150
    assert M.pck(errors, threshold_mm=5.0).tolist() == [1 / 5]


@pytest.mark.parametrize(
    "e, above", [(0.0, 30), (4.9, 30), (5.0, 29), (72.5, 16), (75.0, 15), (149.0, 1), (150.0, 0), (1000.0, 0)]
)
def test_auc_of_a_constant_error_counts_the_thresholds_above_it(e, above):
    # With every error equal to e, PCK(t) is 1 for t > e and 0 otherwise: AUC = #{t in 0:5:150 : t > e} / 31.
    errors = np.full((2, 17), e)
    assert_close(M.auc(errors), above / 31, rtol=0, atol=1e-15)


def test_pck_curve_and_auc_agree_with_a_brute_force_count(rng):
    errors = np.abs(rng.normal(scale=80.0, size=(300, 17)))
    errors[:, :3] = rng.choice(M.AUC_THRESHOLDS_MM, size=(300, 3))  # errors exactly on the grid
    brute = (errors[:, :, None] < M.AUC_THRESHOLDS_MM).mean(axis=1)
    curve = M.pck_curve(errors)
    assert curve.shape == (300, 31)
    assert_close(curve, brute, rtol=0, atol=1e-15)
    assert_close(M.auc(errors), brute.mean(axis=1), rtol=0, atol=1e-15)
    assert_close(curve[:, -1], M.pck(errors, 150.0), rtol=0, atol=1e-15)
    # 16 joints at 0 mm count at the 30 thresholds above 0; one at 100 mm counts at 105..150, 10 thresholds.
    one_off = np.zeros((1, 17))
    one_off[0, 0] = 100.0
    assert np.isclose(M.auc(one_off)[0], (16 * 30 + 10) / (17 * 31))


# --- input errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [M.mpjpe, M.n_mpjpe, M.p_mpjpe, M.procrustes_align, M.spread_ratio])
def test_shape_errors_name_the_shapes(fn):
    with pytest.raises(ValueError, match=r"pred \(4, 17, 3\) and gt \(4, 16, 3\)"):
        fn(np.zeros((4, 17, 3)), np.zeros((4, 16, 3)))
    with pytest.raises(ValueError, match=r"\(N, J, 3\).*got \(4, 17, 2\)"):
        fn(np.zeros((4, 17, 2)), np.zeros((4, 17, 2)))
    with pytest.raises(ValueError, match=r"\(N, J, 3\).*got \(17, 3\)"):
        fn(np.zeros((17, 3)), np.zeros((17, 3)))


@pytest.mark.parametrize("fn", [M.mpjpe, M.n_mpjpe, M.p_mpjpe, M.similarity_transform, M.spread_ratio])
def test_non_finite_input_is_refused_with_a_frame_count(rng, fn):
    gt = random_world_poses(rng, 10_000)
    pred = gt.copy()
    pred[[3, 9000], 5, 1] = np.nan  # two frames, in different blocks of p_mpjpe
    with pytest.raises(ValueError, match=r"pred: 2 of 10000 frames \(frame indices 3, 9000\)"):
        fn(pred, gt)
    gt[7, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"gt: 1 of 10000 frames"):
        fn(np.ones_like(gt), gt)


@pytest.mark.parametrize("fn", [M.p_mpjpe, M.similarity_transform])
def test_coordinates_whose_squares_overflow_are_refused(fn):
    pred = np.full((3, 17, 3), 1e200)
    pred[:, 0] = -1e200  # centred coordinates ~1e200: their squared norms overflow float64
    with pytest.raises(ValueError, match=r"^pose coordinates too large: their squared norms overflow float64$"):
        fn(pred, np.ones((3, 17, 3)))


def test_the_alignment_table_names_the_protocol_alignments():
    assert dict(M.ALIGNMENTS) == {"root": M.mpjpe, "scale": M.n_mpjpe, "procrustes": M.p_mpjpe}
    assert [M.aligned_errors(a) for a in ("root", "scale", "procrustes")] == [M.mpjpe, M.n_mpjpe, M.p_mpjpe]
    with pytest.raises(TypeError):
        M.ALIGNMENTS["affine"] = M.mpjpe  # read-only: the one table is not patched at run time


@pytest.mark.parametrize("name", ["affine", "Procrustes", "", None])
def test_an_unknown_alignment_is_refused_in_one_line(name):
    with pytest.raises(M.UnknownAlignmentError) as info:
        M.aligned_errors(name)
    assert str(info.value) == f"unknown alignment {name!r}; known: root, scale, procrustes"
    assert isinstance(info.value, KspbenchError)


def test_pck_and_auc_refuse_bad_input():
    with pytest.raises(ValueError, match=r"\(N, J\).*got \(17,\)"):
        M.pck(np.zeros(17))
    with pytest.raises(ValueError, match="non-finite.*errors: 1 of 2 frames"):
        M.auc(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="increasing"):
        M.pck_curve(np.zeros((2, 3)), thresholds=[10.0, 5.0])
    with pytest.raises(ValueError, match=r"\(T,\)"):
        M.auc(np.zeros((2, 3)), thresholds=[])
