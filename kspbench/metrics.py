"""Pose-error metrics (MPJPE, P-MPJPE, N-MPJPE, PCK, AUC): pure numpy, float64, vectorised over frames.

Conventions (every function here):
    * Poses are arrays ``(N, J, 3)``: N frames, J joints, xyz in millimetres. ``pred`` is the prediction, ``gt``
      the ground truth; an alignment always moves the prediction onto the ground truth, never the reverse.
    * Row vectors: a point is a row ``p`` (shape ``(3,)``) and a rotation acts on the right, ``p @ R``. A similarity
      transform maps the prediction to ``scale * pred @ R + t`` with ``scale`` (N,), ``R`` (N, 3, 3) and ``t``
      (N, 3), as in VideoPose3D's ``common/loss.py``.
    * Per-joint functions return ``(N, J)`` errors in mm and per-frame statistics return ``(N,)``; averaging over
      frames, actions or joint groups (and the x100 of percentages) is the protocol layer's job.

Protocols (facts from VideoPose3D ``common/loss.py``, the MPI-INF-3DHP ``test_util`` and MMPose):
    * MPJPE ("Protocol #1"): Euclidean distance per joint, no alignment inside the metric.
    * P-MPJPE ("Protocol #2"): per frame, the similarity transform (translation, rotation, ONE uniform scale)
      minimising the squared error, both poses centred by their mean over joints, with a proper rotation
      (det +1: a mirrored prediction is not rescued by a reflection).
    * N-MPJPE (Rhodin et al. 2018, VideoPose3D ``n_mpjpe``): per frame, the least-squares scale
      ``s = <pred, gt> / <pred, pred>`` over the flattened pose, no centring and no rotation. Callers pass
      root-centred poses.
    * PCK: fraction of joints whose error is strictly below the threshold (150 mm); AUC: the mean of PCK over the
      31 thresholds 0, 5, ..., 150 mm (MATLAB ``0:5:150``).

P-MPJPE computation. VideoPose3D solves each frame with a 3x3 SVD; here the rotation comes from Horn's quaternion
method (the largest eigenvector of a 4x4 symmetric matrix, found with a Newton solve of its characteristic quartic
and an adjugate column), is polished with one Newton step on SO(3), and everything runs on whole blocks of frames.
Frames where that is ill-conditioned fall back to the SVD, computed exactly as VideoPose3D does; see
:func:`similarity_transform` for the criterion.
"""
from __future__ import annotations

from typing import Any

import numpy as np

PCK_THRESHOLD_MM = 150.0
# MATLAB ``thresh = 0:5:150`` in mpii_compute_3d_pck.m: 31 thresholds, all exact in binary.
AUC_THRESHOLDS_MM = np.arange(0.0, 151.0, 5.0)
AUC_THRESHOLDS_MM.setflags(write=False)

# Frames per block: large enough that numpy's per-call overhead is small, small enough that a block's
# temporaries (about 1.5 kB per frame for J = 17) stay in cache and far below the size of the inputs.
DEFAULT_CHUNK_FRAMES = 4096


# --- input checks -------------------------------------------------------------------------------------------------

def _as_pose_pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    """float64 views (copies only when the dtype differs) of two pose arrays of equal shape (N, J, 3)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    for name, a in (("pred", pred), ("gt", gt)):
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (N, J, 3) (frames, joints, xyz in mm); got {a.shape}")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same shape (N, J, 3); got pred {pred.shape} and gt {gt.shape}")
    return pred, gt


def _nonfinite_frames(a: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Indices of frames of an (N, ...) array holding at least one NaN or infinity (blockwise: small temporaries)."""
    bad = [start + np.flatnonzero(~np.isfinite(a[start:start + chunk].reshape(min(chunk, len(a) - start), -1)).all(1))
           for start in range(0, len(a), chunk)]
    return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def _raise_if_nonfinite(**arrays: np.ndarray) -> None:
    """ValueError naming, for each array, how many frames (and which first ones) hold non-finite values."""
    parts = []
    for name, a in arrays.items():
        bad = _nonfinite_frames(a)
        if bad.size:
            first = ", ".join(str(int(i)) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
            parts.append(f"{name}: {bad.size} of {len(a)} frames (frame indices {first})")
    if parts:
        raise ValueError("non-finite values (NaN or inf) in " + "; ".join(parts))


def _check_errors(errors: Any) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2:
        raise ValueError(f"errors must have shape (N, J) (per-joint errors in mm); got {errors.shape}")
    _raise_if_nonfinite(errors=errors)
    return errors


def _check_thresholds(thresholds: Any) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"thresholds must have shape (T,) with T >= 1 (mm); got {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise ValueError("thresholds must be finite and sorted in increasing order")
    return t


# --- MPJPE and N-MPJPE --------------------------------------------------------------------------------------------

def mpjpe(pred: Any, gt: Any) -> np.ndarray:
    """Per-joint position error with no alignment (Protocol #1).

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.

    Returns:
        (N, J) Euclidean distances, mm. MPJPE is their mean.

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), or on NaN/inf input.
    """
    pred, gt = _as_pose_pair(pred, gt)
    _raise_if_nonfinite(pred=pred, gt=gt)
    d = pred - gt
    return np.sqrt(np.einsum("njk,njk->nj", d, d))


def n_mpjpe(pred: Any, gt: Any) -> np.ndarray:
    """Per-joint error after the least-squares uniform scaling of the prediction (N-MPJPE, "Protocol #3").

    Per frame, ``s = <pred, gt> / <pred, pred>`` over the flattened (J*3) pose, with no centring and no rotation
    (Rhodin et al. 2018; VideoPose3D ``n_mpjpe``): the scale is about the origin, so pass root-centred poses. A
    frame whose prediction is all zeros gets ``s = 0`` (error = ``|gt|``) where the formula would give 0/0.

    Args:
        pred: (N, J, 3) predicted joints, mm, root-centred.
        gt: (N, J, 3) ground-truth joints, mm, root-centred.

    Returns:
        (N, J) Euclidean distances between ``s * pred`` and ``gt``, mm.

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), or on NaN/inf input.
    """
    pred, gt = _as_pose_pair(pred, gt)
    _raise_if_nonfinite(pred=pred, gt=gt)
    n = pred.shape[0]
    p, g = pred.reshape(n, -1), gt.reshape(n, -1)
    pp = np.einsum("nk,nk->n", p, p)
    pg = np.einsum("nk,nk->n", p, g)
    s = np.divide(pg, pp, out=np.zeros_like(pp), where=pp > 0)
    d = s[:, None, None] * pred - gt
    return np.sqrt(np.einsum("njk,njk->nj", d, d))


# --- P-MPJPE ------------------------------------------------------------------------------------------------------

def _svd_fit(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale (n,) and rotation (n, 3, 3) by VideoPose3D's batched SVD, with its exact sequence of operations.

    Used for the frames the fast path declines. Repeating VideoPose3D's arithmetic (same centring, same
    normalisation, same matmul) means that even where the optimum is not unique (the rotation about a degenerate
    axis is then decided by rounding), the same LAPACK call sees the same bits and picks the same solution.
    """
    mu_x = np.mean(gt, axis=1, keepdims=True)
    mu_y = np.mean(pred, axis=1, keepdims=True)
    x0 = gt - mu_x
    y0 = pred - mu_y
    norm_x = np.sqrt(np.sum(x0 ** 2, axis=(1, 2), keepdims=True))
    norm_y = np.sqrt(np.sum(y0 ** 2, axis=(1, 2), keepdims=True))
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


def _mean_weights(n_joints: int) -> np.ndarray:
    """(1, J) row of 1/J: ``np.matmul(w, poses)`` averages each (J, 3) pose over its joints. This stacked matmul
    is single-threaded and about 8x faster than ``poses.mean(axis=1)``; a gemm on (N, J*3) is as fast alone but
    multi-threaded in OpenBLAS, and stalls when the other cores are busy."""
    return np.full((1, n_joints), 1.0 / n_joints)


def _horn_rotation(m: np.ndarray, *, gap_tol: float, step_tol: float, max_newton: int,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Optimal proper rotations for a block of normalised cross-covariances, by Horn's quaternion method.

    Args:
        m: (3, 3, n) ``Y0^T X0 / (|Y0| |X0|)`` per frame (prediction rows, truth columns), entry-major so that
            every scalar below is one contiguous (n,) vector.
        gap_tol, step_tol, max_newton: see :func:`similarity_transform`.

    Returns:
        rot (3, 3, n) row-vector rotations maximising ``trace(R^T m)``; lam (n,) that maximum (the scale factor of
        the normalised poses); ok (n,) bool, False where the frame must go to the SVD fallback; the number of
        Newton iterations of the eigenvalue solve.
    """
    n = m.shape[2]
    (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = m
    # Characteristic polynomial of Horn's matrix, det(K - lam I) = lam^4 + c2 lam^2 + c1 lam + c0, from invariants
    # of m (singular values s1..s3): c2 = -2 |m|^2, c1 = -8 det m, c0 = |m|^4 - 4 |cof m|^2 (= the product of
    # the four eigenvalues +-s1 +-s2 +-s3).
    cof = np.empty((3, 3, n))
    cof[0, 0], cof[0, 1], cof[0, 2] = syy * szz - syz * szy, syz * szx - syx * szz, syx * szy - syy * szx
    cof[1, 0], cof[1, 1], cof[1, 2] = sxz * szy - sxy * szz, sxx * szz - sxz * szx, sxy * szx - sxx * szy
    cof[2, 0], cof[2, 1], cof[2, 2] = sxy * syz - sxz * syy, sxz * syx - sxx * syz, sxx * syy - sxy * syx
    f = np.einsum("kn,kn->n", m.reshape(9, n), m.reshape(9, n))
    c2 = -2.0 * f
    c1 = -8.0 * np.einsum("kn,kn->n", m[0], cof[0])
    c0 = f * f - 4.0 * np.einsum("kn,kn->n", cof.reshape(9, n), cof.reshape(9, n))
    # Largest root by Newton from an upper bound: the roots are all real (K is symmetric), so the iterates fall
    # monotonically onto the largest one. sum(s) <= min(1, sqrt(3 |m|^2)) for normalised poses. Each frame stops
    # one step after its first step below 1e-9 (quadratic convergence: the root is then at rounding level);
    # converged frames leave the active set, so a slow frame costs only itself.
    lam = np.minimum(1.0, np.sqrt(3.0 * f))
    act = np.arange(n)
    la, a2, a1, a0 = lam.copy(), c2, c1, c0
    prev_big = np.ones(n, bool)
    iterations = 0
    for iterations in range(1, max_newton + 1):
        l2 = la * la
        step = ((l2 + a2) * l2 + a1 * la + a0) / ((4.0 * l2 + 2.0 * a2) * la + a1)
        la = la - step
        big = ~(np.abs(step) <= 1e-9)  # NaN counts as not converged
        keep = big | prev_big
        if keep.all():
            prev_big = big
            continue
        lam[act] = la
        act, la, a2, a1, a0, prev_big = act[keep], la[keep], a2[keep], a1[keep], a0[keep], big[keep]
        if act.size == 0:
            break
    lam[act] = la
    ok = np.ones(n, bool)
    ok[act] = False  # frames still iterating after max_newton
    # Conditioning: with gaps g_k = lam1 - lam_k (k = 2, 3, 4) of Horn's matrix, P'(lam1) = g2 g3 g4 and
    # P''(lam1) / 2 = g2 g3 + g2 g4 + g3 g4, so hgap = 1 / (1/g2 + 1/g3 + 1/g4) lies in [g2 / 3, g2], with
    # g2 = 2 (s2 + sign(det m) s3) the eigen-gap that decides how well the rotation is determined.
    l2 = lam * lam
    hgap = ((4.0 * l2 + 2.0 * c2) * lam + c1) / (6.0 * l2 + c2)
    ok &= hgap > gap_tol  # also False for NaN (0/0 on an all-zero m)

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
    # cofactor expansion (symmetric, so adj[i, j] = adj[j, i]).
    s0 = a00 * a11 - a01 * a01
    s1 = a00 * a12 - a01 * a02
    s2 = a00 * a13 - a01 * a03
    s3 = a01 * a12 - a11 * a02
    s4 = a01 * a13 - a11 * a03
    s5 = a02 * a13 - a12 * a03
    t0 = a02 * a13 - a03 * a12
    t1 = a02 * a23 - a03 * a22
    t2 = a02 * a33 - a03 * a23
    t3 = a12 * a23 - a13 * a22
    t4 = a12 * a33 - a13 * a23
    t5 = a22 * a33 - a23 * a23
    adj = np.empty((4, 4, n))
    adj[0, 0] = a11 * t5 - a12 * t4 + a13 * t3
    adj[0, 1] = adj[1, 0] = a02 * t4 - a01 * t5 - a03 * t3
    adj[0, 2] = adj[2, 0] = a13 * s5 - a23 * s4 + a33 * s3
    adj[0, 3] = adj[3, 0] = a22 * s4 - a12 * s5 - a23 * s3
    adj[1, 1] = a00 * t5 - a02 * t2 + a03 * t1
    adj[1, 2] = adj[2, 1] = a23 * s2 - a03 * s5 - a33 * s1
    adj[1, 3] = adj[3, 1] = a02 * s5 - a22 * s2 + a23 * s1
    adj[2, 2] = a03 * s4 - a13 * s2 + a33 * s0
    adj[2, 3] = adj[3, 2] = a12 * s2 - a02 * s4 - a23 * s0
    adj[3, 3] = a02 * s3 - a12 * s1 + a22 * s0
    best = np.argmax(np.abs(adj[[0, 1, 2, 3], [0, 1, 2, 3]]), axis=0)
    w, x, y, z = np.take_along_axis(adj, best[None, None, :], axis=0)[0]
    # Quaternion -> rotation, dividing by |q|^2 instead of normalising q: orthogonal to rounding. rot = Q^T, with
    # Q the column-vector rotation of q (x_col ~ Q y_col  <=>  x_row ~ y_row Q^T).
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    inv = 1.0 / (ww + xx + yy + zz)
    inv2 = inv + inv
    wx, wy, wz = w * x * inv2, w * y * inv2, w * z * inv2
    xy, xz, yz = x * y * inv2, x * z * inv2, y * z * inv2
    rot = np.empty((3, 3, n))
    rot[0, 0] = (ww + xx - yy - zz) * inv
    rot[1, 1] = (ww - xx + yy - zz) * inv
    rot[2, 2] = (ww - xx - yy + zz) * inv
    rot[0, 1], rot[1, 0] = xy + wz, xy - wz
    rot[0, 2], rot[2, 0] = xz - wy, xz + wy
    rot[1, 2], rot[2, 1] = yz + wx, yz - wx
    # One Newton step on SO(3). The eigenvector above carries lam's error divided by the gap; the step (quadratic
    # convergence) brings the rotation to rounding level. With B = R^T m, maximising trace((R exp[w]x)^T m) over
    # w gives (trace(B) I - sym(B)) w = -axial(B), axial(B) = (B12 - B21, B20 - B02, B01 - B10).
    bm = np.einsum("ikn,ijn->kjn", rot, m)
    lam = bm[0, 0] + bm[1, 1] + bm[2, 2]  # stationary in R: its error is quadratic in the rotation's error
    g0, g1, g2 = bm[1, 2] - bm[2, 1], bm[2, 0] - bm[0, 2], bm[0, 1] - bm[1, 0]
    h00, h11, h22 = lam - bm[0, 0], lam - bm[1, 1], lam - bm[2, 2]
    h01, h02, h12 = -0.5 * (bm[0, 1] + bm[1, 0]), -0.5 * (bm[0, 2] + bm[2, 0]), -0.5 * (bm[1, 2] + bm[2, 1])
    e00, e01, e02 = h11 * h22 - h12 * h12, h02 * h12 - h01 * h22, h01 * h12 - h02 * h11
    e11, e12, e22 = h00 * h22 - h02 * h02, h01 * h02 - h00 * h12, h00 * h11 - h01 * h01
    neg_inv_det = -1.0 / (h00 * e00 + h01 * e01 + h02 * e02)
    w0 = (e00 * g0 + e01 * g1 + e02 * g2) * neg_inv_det
    w1 = (e01 * g0 + e11 * g1 + e12 * g2) * neg_inv_det
    w2 = (e02 * g0 + e12 * g1 + e22 * g2) * neg_inv_det
    # R <- R (I + [w]x): each row r <- r + r x w. Exact to O(|w|^2); |w| <= step_tol is enforced below.
    r0, r1_, r2_ = rot[:, 0].copy(), rot[:, 1].copy(), rot[:, 2].copy()
    rot[:, 0] += r1_ * w2 - r2_ * w1
    rot[:, 1] += r2_ * w0 - r0 * w2
    rot[:, 2] += r0 * w1 - r1_ * w0
    ok &= (w0 * w0 + w1 * w1 + w2 * w2) <= step_tol * step_tol  # also False for NaN
    return rot, lam, ok, iterations


def _fit_block(pred: np.ndarray, gt: np.ndarray, avg: np.ndarray, *, gap_tol: float, step_tol: float,
               max_newton: int, stats: dict[str, Any] | None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Similarity fit of one contiguous block of n frames.

    Returns:
        scale (n,), rotation (n, 3, 3), centred prediction and truth (n, J, 3) each, their means (n, 3) each.
    """
    n, n_joints, _ = pred.shape
    pred_f, gt_f = pred.reshape(n, -1), gt.reshape(n, -1)
    mu_y, mu_x = np.matmul(avg, pred)[:, 0], np.matmul(avg, gt)[:, 0]
    # Centre on the flattened (n, J*3) view with the mean tiled per joint: a contiguous subtraction, several times
    # faster than broadcasting an (n, 1, 3) mean over (n, J, 3).
    y0 = (pred_f - np.tile(mu_y, n_joints)).reshape(n, n_joints, 3)
    x0 = (gt_f - np.tile(mu_x, n_joints)).reshape(n, n_joints, 3)
    ss_y = np.einsum("nk,nk->n", y0.reshape(n, -1), y0.reshape(n, -1))
    ss_x = np.einsum("nk,nk->n", x0.reshape(n, -1), x0.reshape(n, -1))
    if not (np.isfinite(ss_y).all() and np.isfinite(ss_x).all()):
        _raise_if_nonfinite(pred=pred, gt=gt)
        raise ValueError("pose coordinates too large: their squares overflow float64")
    norm_y, norm_x = np.sqrt(ss_y), np.sqrt(ss_x)
    nn = norm_y * norm_x
    # A prediction (or truth) collapsed onto one point: the best similarity has scale 0 and any rotation (the SVD
    # formula divides by zero). Scale 0 and R = I, so the error is each truth joint's distance to its centroid.
    zero = ~(nn > 0)
    inv = np.divide(1.0, nn, out=np.zeros_like(nn), where=~zero)
    # Cross-covariance Y0^T X0, entry-major (3, 3, n) and normalised as in VideoPose3D.
    m = np.multiply(np.matmul(y0.transpose(0, 2, 1), x0).transpose(1, 2, 0), inv, order="C")
    with np.errstate(all="ignore"):  # ill-conditioned frames may make inf/NaN here; they are redone below
        rot_e, lam, ok, iterations = _horn_rotation(m, gap_tol=gap_tol, step_tol=step_tol, max_newton=max_newton)
        scale = lam * np.divide(norm_x, norm_y, out=np.zeros_like(nn), where=~zero)
    rot = rot_e.transpose(2, 0, 1)
    rot[zero] = np.eye(3)
    scale[zero] = 0.0
    redo = np.flatnonzero(~ok & ~zero)
    if redo.size:
        # A lone frame is padded to two: numpy may take another code path (and rounding) for a batch of one.
        idx = redo if redo.size > 1 else np.repeat(redo, 2)
        s_fb, r_fb = _svd_fit(pred[idx], gt[idx])
        scale[redo], rot[redo] = s_fb[:redo.size], r_fb[:redo.size]
    if stats is not None:
        stats["frames"] = stats.get("frames", 0) + n
        stats["fallback_frames"] = stats.get("fallback_frames", 0) + int(redo.size)
        stats["zero_norm_frames"] = stats.get("zero_norm_frames", 0) + int(zero.sum())
        stats["max_newton_iterations"] = max(stats.get("max_newton_iterations", 0), iterations)
    return scale, rot, y0, x0, mu_y, mu_x


def _blocks(pred: np.ndarray, gt: np.ndarray, chunk_frames: int, gap_tol: float, step_tol: float,
            max_newton: int, stats: dict[str, Any] | None):
    """Yield (frame slice, :func:`_fit_block` result) over blocks of ``chunk_frames`` frames."""
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1; got {chunk_frames}")
    avg = _mean_weights(pred.shape[1])
    for start in range(0, pred.shape[0], chunk_frames):
        sl = slice(start, min(start + chunk_frames, pred.shape[0]))
        yield sl, _fit_block(np.ascontiguousarray(pred[sl]), np.ascontiguousarray(gt[sl]), avg, gap_tol=gap_tol,
                             step_tol=step_tol, max_newton=max_newton, stats=stats)


def similarity_transform(pred: Any, gt: Any, *, gap_tol: float = 1e-3, step_tol: float = 1e-7,
                         max_newton: int = 60, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                         stats: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame similarity transform aligning the prediction onto the ground truth (least squares, no reflection).

    The aligned prediction is ``scale[:, None, None] * pred @ rotation + translation[:, None, :]`` (row vectors,
    rotation on the right). Both poses are centred by their mean over joints; the rotation maximises
    ``trace(R^T Y0^T X0)`` over proper rotations (det +1) and the scale is that maximum divided by ``|Y0|^2``
    (Y0, X0: centred prediction and truth) - the same optimum as VideoPose3D's SVD with its det-sign fix.

    Ill-conditioning criterion (fallback to VideoPose3D's SVD for that frame). With the normalised cross-covariance
    ``Y0^T X0 / (|Y0| |X0|)`` of singular values s1 >= s2 >= s3 and d = sign(det), the optimal rotation is
    determined to rounding / g2 where g2 = 2 (s2 + d s3) is the gap between the two largest eigenvalues of Horn's
    matrix. A frame falls back when ``hgap = 1 / (1/g2 + 1/g3 + 1/g4)`` (computed from the quartic's derivatives;
    g2 / 3 <= hgap <= g2) is not above ``gap_tol``, when the eigenvalue's Newton solve has not converged after
    ``max_newton`` iterations, or when the final Newton step on the rotation exceeds ``step_tol`` radians. This
    catches nearly collinear joints (s2 ~ s3 ~ 0) and reflected frames with s2 ~ s3; coplanar joints (s3 = 0),
    repeated singular values with d = +1 and mirrored predictions with s2 well above s3 are well-conditioned for a
    proper rotation and stay on the fast path. A frame whose prediction or truth has all joints equal (zero norm)
    gets scale 0 and the identity rotation (VideoPose3D would return NaN).

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.
        gap_tol: fall back to the SVD when hgap <= gap_tol. The rotation's rounding error grows as eps / hgap
            (and the eigenvector's, before the polishing step, as eps / hgap^2); 1e-3 keeps the fast path's errors
            far below 1e-9 mm for poses of a few metres while sending only degenerate frames to the SVD.
        step_tol: fall back when the polishing Newton step is larger than this (radians): a large step means the
            first estimate was poor, and the first-order update would no longer be exact to rounding.
        max_newton: cap on the Newton iterations for the largest eigenvalue (usually under 10).
        chunk_frames: frames per block; temporaries scale with it, not with N.
        stats: if a dict is given, it receives counters: ``frames``, ``fallback_frames`` (solved by the SVD),
            ``zero_norm_frames`` and ``max_newton_iterations`` (added to the values already there).

    Returns:
        scale (N,), rotation (N, 3, 3) with det +1, translation (N, 3) in mm.

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), or on NaN/inf input.
    """
    pred, gt = _as_pose_pair(pred, gt)
    n = pred.shape[0]
    scale, rot, trans = np.empty(n), np.empty((n, 3, 3)), np.empty((n, 3))
    for sl, (s, r, _, _, mu_y, mu_x) in _blocks(pred, gt, chunk_frames, gap_tol, step_tol, max_newton, stats):
        scale[sl], rot[sl] = s, r
        trans[sl] = mu_x - s[:, None] * np.einsum("nk,nkl->nl", mu_y, r)
    return scale, rot, trans


def procrustes_align(pred: Any, gt: Any, **kwargs: Any) -> np.ndarray:
    """The prediction after the per-frame similarity transform of :func:`similarity_transform`.

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.
        **kwargs: passed to :func:`similarity_transform` (``gap_tol``, ``chunk_frames``, ``stats``, ...).

    Returns:
        (N, J, 3) aligned prediction, mm.
    """
    pred, gt = _as_pose_pair(pred, gt)
    scale, rot, trans = similarity_transform(pred, gt, **kwargs)
    return scale[:, None, None] * np.matmul(pred, rot) + trans[:, None, :]


def p_mpjpe(pred: Any, gt: Any, *, gap_tol: float = 1e-3, step_tol: float = 1e-7, max_newton: int = 60,
            chunk_frames: int = DEFAULT_CHUNK_FRAMES, stats: dict[str, Any] | None = None) -> np.ndarray:
    """Per-joint error after the per-frame Procrustes similarity alignment (P-MPJPE, "Protocol #2").

    Same optimum as VideoPose3D ``p_mpjpe`` (mean-centring, rotation with det +1, one uniform scale, prediction
    aligned onto the truth), computed blockwise with the fast solver and SVD fallback of
    :func:`similarity_transform`. Memory beyond the (N, J) output is a few blocks of ``chunk_frames`` frames.

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.
        gap_tol, step_tol, max_newton, chunk_frames, stats: see :func:`similarity_transform`.

    Returns:
        (N, J) Euclidean distances between the aligned prediction and the truth, mm. P-MPJPE is their mean.

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), or on NaN/inf input.
    """
    pred, gt = _as_pose_pair(pred, gt)
    n, n_joints, _ = pred.shape
    out = np.empty((n, n_joints))
    for sl, (s, r, y0, x0, _, _) in _blocks(pred, gt, chunk_frames, gap_tol, step_tol, max_newton, stats):
        # Residual of the centred poses, s Y0 R - X0 (the translation cancels), then row norms with the three
        # squares added explicitly (a reduction over a last axis of length 3 is slow in numpy).
        d = np.matmul(y0, s[:, None, None] * r)
        d -= x0
        d *= d
        o = out[sl]
        np.add(d[:, :, 0], d[:, :, 1], out=o)
        o += d[:, :, 2]
        np.sqrt(o, out=o)
    return out


# --- PCK and AUC --------------------------------------------------------------------------------------------------

def pck(errors: Any, threshold_mm: float = PCK_THRESHOLD_MM) -> np.ndarray:
    """Per-frame fraction of joints whose error is strictly below the threshold (3DPCK; MPI-INF-3DHP: 150 mm).

    Args:
        errors: (N, J) per-joint errors, mm (e.g. from :func:`mpjpe`).
        threshold_mm: a joint counts when ``error < threshold_mm`` (strict, as ``mpii_compute_3d_pck.m``).

    Returns:
        (N,) fractions in [0, 1]; x100 for the percentage the papers report.

    Raises:
        ValueError: if errors is not 2-D or holds NaN/inf.
    """
    errors = _check_errors(errors)
    return np.count_nonzero(errors < threshold_mm, axis=1) / errors.shape[1]


def pck_curve(errors: Any, thresholds: Any = AUC_THRESHOLDS_MM) -> np.ndarray:
    """Per-frame PCK at each threshold.

    Args:
        errors: (N, J) per-joint errors, mm.
        thresholds: (T,) increasing thresholds, mm; a joint counts when ``error < threshold``.

    Returns:
        (N, T) fractions in [0, 1].

    Raises:
        ValueError: on wrong shapes, NaN/inf, or unsorted thresholds.
    """
    errors = _check_errors(errors)
    t = _check_thresholds(thresholds)
    n, n_joints = errors.shape
    # For each joint, the index of the first threshold above its error; joints counted at threshold k are those
    # with index <= k: a per-frame histogram of indices, accumulated along the grid.
    first = np.searchsorted(t, errors, side="right")
    hist = np.zeros((n, t.size + 1))
    np.add.at(hist, (np.arange(n)[:, None], first), 1.0)
    return np.cumsum(hist[:, :t.size], axis=1) / n_joints


def auc(errors: Any, thresholds: Any = AUC_THRESHOLDS_MM) -> np.ndarray:
    """Per-frame area under the PCK curve: the mean of PCK over the threshold grid (MPI-INF-3DHP AUC).

    Args:
        errors: (N, J) per-joint errors, mm.
        thresholds: (T,) increasing thresholds, mm; default 0, 5, ..., 150 (31 values, MATLAB ``0:5:150``).

    Returns:
        (N,) values in [0, 1]; x100 for the percentage the papers report.

    Raises:
        ValueError: on wrong shapes, NaN/inf, or unsorted thresholds.
    """
    errors = _check_errors(errors)
    t = _check_thresholds(thresholds)
    # A joint with error e is counted at the thresholds t > e: T - #(t <= e) of them.
    counted = t.size - np.searchsorted(t, errors, side="right")
    return counted.sum(axis=1) / (t.size * errors.shape[1])
