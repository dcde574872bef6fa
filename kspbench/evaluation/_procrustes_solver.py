"""The fast closed-form P-MPJPE solver behind :func:`kspbench.evaluation.metrics.p_mpjpe` (private).

VideoPose3D solves each frame with a 3x3 SVD (a LAPACK call per frame). Here blocks of frames are held frames-last,
(xyz, joint, frame), so that every step is a handful of long vectorised operations: the rotation comes from Horn's
quaternion method (the largest eigenvalue of a 4x4 symmetric matrix by Newton on its characteristic quartic, the
eigenvector as a column of the adjugate), polished by one Newton step on SO(3) where the eigen-gap is small.
Ill-conditioned frames fall back to the SVD, computed exactly as VideoPose3D does (:func:`svd_fit`); see :func:`fit`
for the criterion. Memory beyond the inputs and the output is a few blocks.

Entry points: :func:`fit` (scale, rotation, translation) and :func:`errors` (per-joint errors), with the solver's
knobs and its ``stats`` counters, for :mod:`kspbench.evaluation.metrics` and for tests and benchmarks. They take
float64 (N, J, 3) arrays already checked by the caller and raise :class:`NotFinite` where a block holds NaN/inf;
the callers in ``metrics`` turn that into the message naming the frames. Conventions: as in ``metrics`` (row
vectors, ``scale * pred @ R + t``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Frames per block: large enough that numpy's per-call overhead is small next to the work, small enough that a
# block's buffers and temporaries (about 2 kB per frame for J = 17, ~16 MB) stay in the last-level cache.
DEFAULT_CHUNK_FRAMES = 8192
# Horn's eigenvector is polished by a Newton step on SO(3) when the harmonic eigen-gap (see fit)
# is below this; above it the unpolished rotation is already at rounding level (measured: <= 3e-14 rad).
_POLISH_BELOW_GAP = 0.1


def svd_fit(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale (n,) and rotation (n, 3, 3) by VideoPose3D's batched SVD, operation for operation.

    Used for the frames the fast path declines. Repeating VideoPose3D's arithmetic (same centring, normalisation,
    matmuls) means that where the optimum is not unique (the rotation about a degenerate axis is then decided by
    rounding) the same LAPACK call sees the same bits and picks the same solution.
    """
    mu_x = np.mean(gt, axis=1, keepdims=True)
    mu_y = np.mean(pred, axis=1, keepdims=True)
    x0 = gt - mu_x
    y0 = pred - mu_y
    norm_x = np.sqrt(np.sum(x0**2, axis=(1, 2), keepdims=True))
    norm_y = np.sqrt(np.sum(y0**2, axis=(1, 2), keepdims=True))
    x0 /= norm_x
    y0 /= norm_y
    h = np.matmul(x0.transpose(0, 2, 1), y0)
    u, s, vt = np.linalg.svd(h)
    v = vt.transpose(0, 2, 1)
    r = np.matmul(v, u.transpose(0, 2, 1))
    # Avoid improper rotations (reflections): flip the last singular vector where det(R) = -1.
    sign_det = np.sign(np.expand_dims(np.linalg.det(r), axis=1))
    v[:, :, -1] *= sign_det
    s[:, -1] *= sign_det.flatten()
    r = np.matmul(v, u.transpose(0, 2, 1))
    scale = np.sum(s, axis=1) * norm_x[:, 0, 0] / norm_y[:, 0, 0]
    return scale, r


class NotFinite(Exception):
    """A block's squared norms are not finite (NaN/inf in the input, or an overflow); the caller reports it."""


class _Workspace:
    """Buffers for blocks of n frames, allocated once per call and reused by every block.

    Blocks are held frames-last, ``(3, J, n)`` (xyz, joint, frame): every per-frame scalar is then a contiguous
    (n,) vector and every per-joint operation runs over long contiguous rows, where numpy is fast; in the (N, J, 3)
    layout the innermost loops have length 3. The transposition is folded into the copy out of the input.
    Reusing the buffers matters too: glibc serves allocations above ~128 kB with fresh mmap'd pages, so allocating
    them per block would pay page faults on every block.
    """

    def __init__(self, n: int, n_joints: int) -> None:
        self.n = n
        self.y0, self.x0, self.d = (np.empty((3, n_joints, n)) for _ in range(3))
        self.e = np.empty((n_joints, n))
        self.mu_y, self.mu_x = np.empty((3, n)), np.empty((3, n))
        self.h, self.rot = np.empty((3, 3, n)), np.empty((3, 3, n))


def _centre_into(poses: np.ndarray, out: np.ndarray, mean: np.ndarray) -> None:
    """Copy (n, J, 3) poses into ``out`` (3, J, n) minus their mean over joints, written to ``mean`` (3, n)."""
    # The transposing copy in sub-blocks of 512 frames (200 kB for J = 17): both sides stay in cache, ~20% faster.
    for b in range(0, poses.shape[0], 512):
        np.copyto(out[:, :, b : b + 512], poses[b : b + 512].transpose(2, 1, 0))
    np.add.reduce(out, axis=1, out=mean)
    mean /= out.shape[1]
    out -= mean[:, None, :]


def _horn_rotation(
    m: np.ndarray,
    rot: np.ndarray,
    *,
    gap_tol: float,
    step_tol: float,
    max_newton: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Optimal proper rotations for a block of normalised cross-covariances, by Horn's quaternion method.

    Args:
        m: (3, 3, n) ``Y0^T X0 / (|Y0| |X0|)`` per frame (prediction rows, truth columns), entry-major: every
            scalar below is one contiguous (n,) vector.
        rot: (3, 3, n) output, entry-major: the row-vector rotation maximising ``trace(R^T m)``.
        gap_tol, step_tol, max_newton: see :func:`fit`.

    Returns:
        lam (n,), the maximum (the scale factor of the normalised poses); hgap (n,), the harmonic eigen-gap; ok
        (n,) bool, False where the frame must go to the SVD fallback; the number of Newton iterations.
    """
    (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = m
    n = sxx.size
    # Characteristic polynomial of Horn's matrix, det(K - lam I) = lam^4 + c2 lam^2 + c1 lam + c0, from invariants
    # of m (singular values s1..s3): c2 = -2 |m|^2, c1 = -8 det m, c0 = |m|^4 - 4 |cof m|^2 (= the product of
    # the four eigenvalues +-s1 +-s2 +-s3).
    cof = (
        syy * szz - syz * szy,
        syz * szx - syx * szz,
        syx * szy - syy * szx,
        sxz * szy - sxy * szz,
        sxx * szz - sxz * szx,
        sxy * szx - sxx * szy,
        sxy * syz - sxz * syy,
        sxz * syx - sxx * syz,
        sxx * syy - sxy * syx,
    )
    f = np.einsum("kn,kn->n", m.reshape(9, n), m.reshape(9, n))  # s1^2 + s2^2 + s3^2
    e2 = sum(c * c for c in cof)  # s1^2 s2^2 + s1^2 s3^2 + s2^2 s3^2
    c2 = -2.0 * f
    c1 = -8.0 * (sxx * cof[0] + sxy * cof[1] + sxz * cof[2])
    c0 = f * f - 4.0 * e2
    # Largest root by Newton from an upper bound: the roots are all real (K is symmetric), so the iterates fall
    # monotonically onto the largest one. Bound: s1 + s2 + s3 <= 1 for normalised poses (Cauchy-Schwarz), and
    # (s1 + s2 + s3)^2 = f + 2 (s1 s2 + s1 s3 + s2 s3) <= f + 2 sqrt(3 e2), tighter for poor fits.
    lam, converged, iterations = _largest_quartic_root(
        c2, c1, c0, np.minimum(1.0, np.sqrt(f + 2.0 * np.sqrt(3.0 * e2))), max_newton
    )
    # Conditioning: with gaps g_k = lam1 - lam_k (k = 2, 3, 4) of Horn's matrix, P'(lam1) = g2 g3 g4 and
    # P''(lam1) / 2 = g2 g3 + g2 g4 + g3 g4, so hgap = 1 / (1/g2 + 1/g3 + 1/g4) lies in [g2 / 3, g2], with
    # g2 = 2 (s2 + sign(det m) s3) the eigen-gap that decides how well the rotation is determined.
    l2 = lam * lam
    hgap = ((4.0 * l2 + 2.0 * c2) * lam + c1) / (6.0 * l2 + c2)
    ok = converged & (hgap > gap_tol)  # also False for NaN (0/0 on an all-zero m)

    # Horn's 4x4 symmetric matrix K minus lam I; its null vector is the quaternion of R^T (the column-vector
    # rotation taking the prediction onto the truth).
    a00 = sxx + syy + szz - lam
    a11 = sxx - syy - szz - lam
    a22 = syy - sxx - szz - lam
    a33 = szz - sxx - syy - lam
    a01, a02, a03 = syz - szy, szx - sxz, sxy - syx
    a12, a13, a23 = sxy + syx, szx + sxz, syz + szy
    # adj(K - lam I) = -g2 g3 g4 q q^T has rank one: every column is the eigenvector up to scale; the column with
    # the largest diagonal entry is the best conditioned. 2x2 minors of rows (0, 1) and (2, 3), then the usual 4x4
    # cofactor expansion (symmetric, so adj[i][j] = adj[j][i]).
    s0 = a00 * a11 - a01 * a01
    s1 = a00 * a12 - a01 * a02
    s2 = a00 * a13 - a01 * a03
    s3 = a01 * a12 - a11 * a02
    s4 = a01 * a13 - a11 * a03
    s5 = a02 * a13 - a12 * a03
    t1 = a02 * a23 - a03 * a22
    t2 = a02 * a33 - a03 * a23
    t3 = a12 * a23 - a13 * a22
    t4 = a12 * a33 - a13 * a23
    t5 = a22 * a33 - a23 * a23
    b00 = a11 * t5 - a12 * t4 + a13 * t3
    b01 = a02 * t4 - a01 * t5 - a03 * t3
    b02 = a13 * s5 - a23 * s4 + a33 * s3
    b03 = a22 * s4 - a12 * s5 - a23 * s3
    b11 = a00 * t5 - a02 * t2 + a03 * t1
    b12 = a23 * s2 - a03 * s5 - a33 * s1
    b13 = a02 * s5 - a22 * s2 + a23 * s1
    b22 = a03 * s4 - a13 * s2 + a33 * s0
    b23 = a12 * s2 - a02 * s4 - a23 * s0
    b33 = a02 * s3 - a12 * s1 + a22 * s0
    # Column with the largest |diagonal entry| (a knockout: 0 vs 1, 2 vs 3, then the winners), blended with one-hot
    # 0/1 weights: exact (x * 1 + 0 + 0 + 0 = x), and cheaper than np.where here. A non-finite entry would leak
    # NaN into the blend, but only in frames already sent to the fallback.
    d0, d1, d2, d3 = np.abs(b00), np.abs(b11), np.abs(b22), np.abs(b33)
    pick1, pick3, pick23 = d1 > d0, d3 > d2, np.maximum(d2, d3) > np.maximum(d0, d1)
    pick01 = ~pick23
    one_hot = (
        (pick01 & ~pick1).astype(float),
        (pick01 & pick1).astype(float),
        (pick23 & ~pick3).astype(float),
        (pick23 & pick3).astype(float),
    )
    w, x, y, z = (
        sum(h * c for h, c in zip(one_hot, row))
        for row in ((b00, b01, b02, b03), (b01, b11, b12, b13), (b02, b12, b22, b23), (b03, b13, b23, b33))
    )
    # Quaternion -> rotation, dividing by |q|^2 instead of normalising q: orthogonal to rounding. rot = Q^T, with
    # Q the column-vector rotation of q (x_col ~ Q y_col  <=>  x_row ~ y_row Q^T).
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    inv = 1.0 / (ww + xx + yy + zz)
    inv2 = inv + inv
    wx, wy, wz = w * x * inv2, w * y * inv2, w * z * inv2
    xy, xz, yz = x * y * inv2, x * z * inv2, y * z * inv2
    np.multiply(ww + xx - yy - zz, inv, out=rot[0, 0])
    np.multiply(ww - xx + yy - zz, inv, out=rot[1, 1])
    np.multiply(ww - xx - yy + zz, inv, out=rot[2, 2])
    np.add(xy, wz, out=rot[0, 1])
    np.subtract(xy, wz, out=rot[1, 0])
    np.subtract(xz, wy, out=rot[0, 2])
    np.add(xz, wy, out=rot[2, 0])
    np.add(yz, wx, out=rot[1, 2])
    np.subtract(yz, wx, out=rot[2, 1])
    # trace(R^T m), the maximum itself: its error is quadratic in the rotation's, so more accurate than the root.
    lam = np.einsum("kn,kn->n", rot.reshape(9, n), m.reshape(9, n))
    # Polish the frames with a small gap: the eigenvector carries the root's error divided by the gap, so its
    # error grows as eps / gap^2; one Newton step on SO(3) brings it back to eps / gap, the conditioning of the
    # problem itself (and of the SVD). Above _POLISH_BELOW_GAP both are at rounding level.
    sel = np.flatnonzero(ok & (hgap < _POLISH_BELOW_GAP))
    if sel.size:
        rot_sel, lam[sel], step2 = _so3_newton_step(rot[:, :, sel], m[:, :, sel])
        rot[:, :, sel] = rot_sel
        # A large step means the first estimate was poor and the first-order update is no longer exact.
        ok[sel] &= step2 <= step_tol * step_tol  # also False for NaN
    return lam, hgap, ok, iterations


def _largest_quartic_root(
    c2: np.ndarray,
    c1: np.ndarray,
    c0: np.ndarray,
    lam: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Largest root of ``lam^4 + c2 lam^2 + c1 lam + c0`` (all roots real) by Newton from an upper bound ``lam``.

    From above the largest root the polynomial is increasing and convex, so the iterates fall monotonically onto
    it. A frame stops after a step below 1e-9: once the error is below the gap to the next root, convergence is
    quadratic, error_next ~ error^2 P'' / (2 P') <= 1e-18 / hgap, at rounding level for every frame that passes the
    gap test. (Frames near a double root converge only linearly; they fail the gap test and go to the fallback.)
    Frames that are done keep iterating harmlessly until three quarters of the block are done; then the rest is
    compacted, so that a slow frame costs only itself.

    Returns:
        The roots (n,), a mask of the frames that stopped within ``max_iter`` iterations, the iteration count.
    """
    n = lam.size
    act = None  # indices of the frames still iterated; None = all
    la, a2, a1, a0 = lam, c2, c1, c0
    moving = np.ones(n, bool)
    n_moving, iterations = n, 0
    while iterations < max_iter and n_moving:
        iterations += 1
        l2 = la * la
        step = ((l2 + a2) * l2 + a1 * la + a0) / ((4.0 * l2 + 2.0 * a2) * la + a1)
        la = la - step
        moving = np.abs(step) > 1e-9  # NaN stops too, and then fails the gap test
        n_moving = np.count_nonzero(moving)
        if n_moving and 4 * n_moving < la.size:
            if act is None:
                lam, act = la, np.flatnonzero(moving)
            else:
                lam[act], act = la, act[moving]
            la, a2, a1, a0 = la[moving], a2[moving], a1[moving], a0[moving]
            moving = np.ones(la.size, bool)
    converged = np.ones(n, bool)
    if act is None:
        lam = la
        converged[moving] = False
    else:
        lam[act] = la
        converged[act[moving]] = False
    return lam, converged, iterations


def _so3_newton_step(rot: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Newton step of ``max trace(R^T m)`` over rotations, from ``rot``; both (3, 3, n) entry-major.

    With B = R^T m, maximising trace((R exp[w]x)^T m) to second order in w gives
    (trace(B) I - sym(B)) w = -axial(B), axial(B) = (B12 - B21, B20 - B02, B01 - B10); the matrix is positive
    definite near the maximum, with eigenvalues (s2 + d s3, s1 + d s3, s1 + s2).

    Returns:
        The updated rotation ``R (I + [w]x)`` (exact to O(|w|^2)), ``trace(B)`` (n,) and ``|w|^2`` (n,).
    """
    bm = np.einsum("ikn,ijn->kjn", rot, m)
    tr = bm[0, 0] + bm[1, 1] + bm[2, 2]
    g0, g1, g2 = bm[1, 2] - bm[2, 1], bm[2, 0] - bm[0, 2], bm[0, 1] - bm[1, 0]
    h00, h11, h22 = tr - bm[0, 0], tr - bm[1, 1], tr - bm[2, 2]
    h01, h02, h12 = -0.5 * (bm[0, 1] + bm[1, 0]), -0.5 * (bm[0, 2] + bm[2, 0]), -0.5 * (bm[1, 2] + bm[2, 1])
    e00, e01, e02 = h11 * h22 - h12 * h12, h02 * h12 - h01 * h22, h01 * h12 - h02 * h11
    e11, e12, e22 = h00 * h22 - h02 * h02, h01 * h02 - h00 * h12, h00 * h11 - h01 * h01
    neg_inv_det = -1.0 / (h00 * e00 + h01 * e01 + h02 * e02)
    w0 = (e00 * g0 + e01 * g1 + e02 * g2) * neg_inv_det
    w1 = (e01 * g0 + e11 * g1 + e12 * g2) * neg_inv_det
    w2 = (e02 * g0 + e12 * g1 + e22 * g2) * neg_inv_det
    r0, r1, r2 = rot[:, 0], rot[:, 1], rot[:, 2]  # columns: each row r <- r + r x w
    new = np.empty_like(rot)
    new[:, 0] = r0 + r1 * w2 - r2 * w1
    new[:, 1] = r1 + r2 * w0 - r0 * w2
    new[:, 2] = r2 + r0 * w1 - r1 * w0
    return new, tr, w0 * w0 + w1 * w1 + w2 * w2


def _fit_block(
    pred: np.ndarray,
    gt: np.ndarray,
    ws: _Workspace,
    *,
    gap_tol: float,
    step_tol: float,
    max_newton: int,
    stats: dict[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity fit of one block of ``ws.n`` frames, (n, J, 3) each.

    Returns:
        scale (n,); rotation (3, 3, n) entry-major (a view of ``ws.rot``); the block indices of the frames left to
        the SVD fallback (their scale and rotation here are meaningless). ``ws.y0``, ``ws.x0`` hold the centred
        poses and ``ws.mu_y``, ``ws.mu_x`` their means, frames-last, until the next block.
    """
    n = ws.n
    y0, x0, rot = ws.y0, ws.x0, ws.rot
    _centre_into(pred, y0, ws.mu_y)
    _centre_into(gt, x0, ws.mu_x)
    ss_y = np.einsum("kn,kn->n", y0.reshape(-1, n), y0.reshape(-1, n))
    ss_x = np.einsum("kn,kn->n", x0.reshape(-1, n), x0.reshape(-1, n))
    if not (np.isfinite(ss_y).all() and np.isfinite(ss_x).all()):
        raise NotFinite  # NaN/inf in the block (or an overflow); the caller reports on the whole input
    norm_y, norm_x = np.sqrt(ss_y), np.sqrt(ss_x)
    nn = norm_y * norm_x
    # A prediction (or truth) collapsed onto one point: the best similarity has scale 0 and any rotation (the SVD
    # formula divides by zero). Scale 0 and R = I, so the error is each truth joint's distance to its centroid.
    zero = ~(nn > 0)
    inv = np.divide(1.0, nn, out=np.zeros_like(nn), where=~zero)
    # Cross-covariance Y0^T X0, normalised as in VideoPose3D.
    m = np.einsum("ijn,kjn->ikn", y0, x0, out=ws.h)
    m *= inv
    lam, _, ok, iterations = _horn_rotation(m, rot, gap_tol=gap_tol, step_tol=step_tol, max_newton=max_newton)
    scale = lam * np.divide(norm_x, norm_y, out=np.zeros_like(nn), where=~zero)
    scale[zero] = 0.0
    rot[:, :, zero] = np.eye(3)[:, :, None]
    if stats is not None:
        stats["frames"] = stats.get("frames", 0) + n
        stats["zero_norm_frames"] = stats.get("zero_norm_frames", 0) + int(zero.sum())
        stats["max_newton_iterations"] = max(stats.get("max_newton_iterations", 0), iterations)
    return scale, rot, np.flatnonzero(~ok & ~zero)


def _fallback(
    pred: np.ndarray,
    gt: np.ndarray,
    idx: np.ndarray,
    stats: dict[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale (k,) and rotation (k, 3, 3) of the frames ``idx`` by VideoPose3D's SVD, all blocks' frames at once.

    A frame whose pose the SVD's own centring finds exactly collapsed (0/0) gets scale 0 and R = I, as in
    :func:`_fit_block`.
    """
    if stats is not None:
        stats["fallback_frames"] = stats.get("fallback_frames", 0) + int(idx.size)
    if idx.size == 0:
        return np.zeros(0), np.zeros((0, 3, 3))
    # A lone frame is padded to two: numpy may take another code path (and rounding) for a batch of one.
    padded = idx if idx.size > 1 else np.repeat(idx, 2)
    with np.errstate(all="ignore"):
        scale, rot = (a[: idx.size] for a in svd_fit(pred[padded], gt[padded]))
    bad = ~np.isfinite(scale)
    scale[bad], rot[bad] = 0.0, np.eye(3)
    return scale, rot


def _blocks(
    pred: np.ndarray,
    gt: np.ndarray,
    chunk_frames: int,
    gap_tol: float,
    step_tol: float,
    max_newton: int,
    stats: dict[str, Any] | None,
):
    """Yield (frame slice, workspace, scale, rotation, frames for the fallback) over blocks of ``chunk_frames``."""
    if chunk_frames < 1 or max_newton < 1:
        raise ValueError(f"chunk_frames and max_newton must be >= 1; got {chunk_frames} and {max_newton}")
    ws = None
    for start in range(0, pred.shape[0], chunk_frames):
        sl = slice(start, min(start + chunk_frames, pred.shape[0]))
        if ws is None or ws.n != sl.stop - sl.start:
            ws = _Workspace(sl.stop - sl.start, pred.shape[1])
        # inf/NaN in ill-conditioned frames are expected (they go to the fallback): no warnings for them.
        with np.errstate(all="ignore"):
            scale, rot, redo = _fit_block(
                pred[sl], gt[sl], ws, gap_tol=gap_tol, step_tol=step_tol, max_newton=max_newton, stats=stats
            )
        yield sl, ws, scale, rot, sl.start + redo


def fit(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    gap_tol: float = 1e-2,
    step_tol: float = 1e-7,
    max_newton: int = 16,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    stats: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame similarity transform aligning the prediction onto the ground truth (least squares, no reflection).

    The aligned prediction is ``scale[:, None, None] * pred @ rotation + translation[:, None, :]`` (row vectors,
    rotation on the right). Both poses are centred by their mean over joints; the rotation maximises
    ``trace(R^T Y0^T X0)`` over proper rotations (det +1) and the scale is that maximum divided by ``|Y0|^2``
    (Y0, X0: centred prediction and truth) - the same optimum as VideoPose3D's SVD with its det-sign fix.

    Ill-conditioning criterion (fallback to VideoPose3D's SVD for that frame). Let the normalised cross-covariance
    ``Y0^T X0 / (|Y0| |X0|)`` have singular values s1 >= s2 >= s3 and d = sign(det). Horn's matrix then has the
    eigenvalues s1 + s2 + d s3 (the maximum) and three others, at gaps g2 = 2 (s2 + d s3) <= g3 = 2 (s1 + d s3)
    <= g4 = 2 (s1 + s2) below it, and the optimal proper rotation is determined to about eps / g2 - by any method:
    the SVD's rotation has the same sensitivity. A frame falls back when

    * ``hgap = 1 / (1/g2 + 1/g3 + 1/g4)`` (from the quartic's derivatives at the root; g2 / 3 <= hgap <= g2) is not
      above ``gap_tol``;
    * or the Newton solve for the eigenvalue has not converged within ``max_newton`` iterations;
    * or, for the frames that get the polishing step (hgap < 0.1), that step exceeds ``step_tol`` radians.

    This sends nearly collinear joints (s2 ~ s3 ~ 0) and reflected frames with s2 ~ s3 to the SVD. Coplanar joints
    (s3 = 0), repeated singular values with d = +1 (isotropic poses) and mirrored predictions with s2 well above
    s3 are well-conditioned for a proper rotation and stay on the fast path. A frame whose prediction or truth has
    all joints equal (zero norm) gets scale 0 and the identity rotation (VideoPose3D would return NaN).

    Args:
        pred: (N, J, 3) float64 predicted joints, mm (checked by the caller).
        gt: (N, J, 3) float64 ground-truth joints, mm.
        gap_tol: fall back to the SVD when hgap <= gap_tol. Measured, the fast path and the SVD differ by about
            3e-15 / g2 rad (both are that accurate), so at 1e-2 the difference stays below ~3e-13 rad, 3e-10 mm on
            a joint 1 m from the centroid. Below it the two roundings drift apart, and the fallback's rotation is
            the SVD's own, from the same arithmetic; in realistic data only degenerate frames are that close.
        step_tol: fall back when the polishing Newton step is larger than this (radians): a large step means the
            first estimate was poor, and the first-order update would no longer be exact to rounding.
        max_newton: cap on the Newton iterations for the largest eigenvalue; frames that pass the gap test need
            at most ~11 (measured); frames near a double root converge only linearly and fall back anyway.
        chunk_frames: frames per block; temporaries scale with it (about 2 kB per frame for J = 17), not with N.
        stats: if a dict is given, it receives counters, added to the values already there: ``frames``,
            ``fallback_frames`` (solved by the SVD), ``zero_norm_frames`` and ``max_newton_iterations``.

    Returns:
        scale (N,), rotation (N, 3, 3) with det +1, translation (N, 3) in mm.

    Raises:
        NotFinite: a block holds NaN/inf, or its squared norms overflow.
        ValueError: chunk_frames or max_newton below 1.
    """
    n = pred.shape[0]
    scale, rotation, trans = np.empty(n), np.empty((n, 3, 3)), np.empty((n, 3))
    redo = []
    for sl, ws, s, rot, redo_block in _blocks(pred, gt, chunk_frames, gap_tol, step_tol, max_newton, stats):
        scale[sl] = s
        rotation[sl] = rot.transpose(2, 0, 1)
        # Row vectors: t = mu_x - s mu_y R.
        trans[sl] = (ws.mu_x - s * np.einsum("in,ikn->kn", ws.mu_y, rot)).T
        redo.append(redo_block)
    idx = np.concatenate(redo) if redo else np.zeros(0, np.int64)
    scale[idx], rotation[idx] = _fallback(pred, gt, idx, stats)
    mu_y_fb = pred[idx].mean(axis=1)[:, None, :]
    trans[idx] = gt[idx].mean(axis=1) - scale[idx, None] * np.matmul(mu_y_fb, rotation[idx])[:, 0]
    return scale, rotation, trans


def errors(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    gap_tol: float = 1e-2,
    step_tol: float = 1e-7,
    max_newton: int = 16,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    stats: dict[str, Any] | None = None,
) -> np.ndarray:
    """(N, J) per-joint errors, mm, after the per-frame alignment of :func:`fit` (same arguments and knobs).

    The residual is computed inside the block loop, from the centred poses the fit already holds (the translation
    cancels), so memory beyond the (N, J) output is a few blocks of ``chunk_frames`` frames.
    """
    n, n_joints, _ = pred.shape
    out = np.empty((n, n_joints))
    redo = []
    for sl, ws, s, rot, redo_block in _blocks(pred, gt, chunk_frames, gap_tol, step_tol, max_newton, stats):
        # Residual of the centred poses, s Y0 R - X0 (the translation cancels), frames-last like the block.
        rot *= s
        np.einsum("ijn,ikn->kjn", ws.y0, rot, out=ws.d)
        ws.d -= ws.x0
        np.sqrt(np.einsum("kjn,kjn->jn", ws.d, ws.d, out=ws.e), out=out[sl].T)
        redo.append(redo_block)
    idx = np.concatenate(redo) if redo else np.zeros(0, np.int64)
    s_fb, r_fb = _fallback(pred, gt, idx, stats)
    y0 = pred[idx] - pred[idx].mean(axis=1, keepdims=True)
    x0 = gt[idx] - gt[idx].mean(axis=1, keepdims=True)
    out[idx] = np.linalg.norm(s_fb[:, None, None] * np.matmul(y0, r_fb) - x0, axis=-1)
    return out
