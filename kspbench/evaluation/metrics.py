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

P-MPJPE is solved by Horn's quaternion method with an SVD fallback, blockwise, in
:mod:`kspbench.evaluation._procrustes_solver`; this module checks the inputs and exposes the plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from kspbench.errors import KspbenchError
from kspbench.evaluation import _procrustes_solver

PCK_THRESHOLD_MM = 150.0
# MATLAB ``thresh = 0:5:150`` in mpii_compute_3d_pck.m: 31 thresholds, all exact in binary.
AUC_THRESHOLDS_MM = np.arange(0.0, 151.0, 5.0)
AUC_THRESHOLDS_MM.setflags(write=False)


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
    bad = [
        start + np.flatnonzero(~np.isfinite(a[start : start + chunk].reshape(min(chunk, len(a) - start), -1)).all(1))
        for start in range(0, len(a), chunk)
    ]
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


class SimilarityTransform(NamedTuple):
    """Per-frame similarity aligning a prediction onto the truth: ``scale[:, None, None] * pred @ rotation +
    translation[:, None, :]`` (row vectors, rotation on the right)."""

    scale: np.ndarray  # (N,)
    rotation: np.ndarray  # (N, 3, 3), det +1
    translation: np.ndarray  # (N, 3), mm


def _solve(solver: Callable[..., Any], pred: Any, gt: Any, **knobs: Any) -> Any:
    """``solver`` (an entry point of :mod:`._procrustes_solver`) on checked float64 poses; NaN/inf it meets are
    reported like every other metric's (the solver finds them blockwise, without a pass of its own)."""
    pred, gt = _as_pose_pair(pred, gt)
    try:
        return solver(pred, gt, **knobs)
    except _procrustes_solver.NotFinite:
        _raise_if_nonfinite(pred=pred, gt=gt)
        raise ValueError("pose coordinates too large: their squared norms overflow float64") from None


def _similarity_transform(pred: Any, gt: Any, **knobs: Any) -> SimilarityTransform:
    """:func:`similarity_transform` with the solver's knobs and counters (``gap_tol``, ``step_tol``, ``max_newton``,
    ``chunk_frames``, ``stats``: see :func:`._procrustes_solver.fit`), for tests and benchmarks."""
    return SimilarityTransform(*_solve(_procrustes_solver.fit, pred, gt, **knobs))


def _p_mpjpe(pred: Any, gt: Any, **knobs: Any) -> np.ndarray:
    """:func:`p_mpjpe` with the solver's knobs and counters (see :func:`_similarity_transform`)."""
    return _solve(_procrustes_solver.errors, pred, gt, **knobs)


def similarity_transform(pred: Any, gt: Any) -> SimilarityTransform:
    """Per-frame similarity transform aligning the prediction onto the ground truth (least squares, no reflection).

    Both poses are centred by their mean over joints; the rotation maximises ``trace(R^T Y0^T X0)`` over proper
    rotations (det +1) and the scale is that maximum divided by ``|Y0|^2`` (Y0, X0: centred prediction and truth) -
    the same optimum as VideoPose3D's SVD with its det-sign fix. Solved by Horn's quaternion method, with
    ill-conditioned frames on VideoPose3D's SVD (:func:`kspbench.evaluation._procrustes_solver.fit` gives the
    criterion). A frame whose prediction or truth has all joints equal (zero norm) gets scale 0 and the identity
    rotation (VideoPose3D would return NaN).

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.

    Returns:
        :class:`SimilarityTransform`: scale (N,), rotation (N, 3, 3) with det +1, translation (N, 3) in mm.

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), or on NaN/inf input.
    """
    return _similarity_transform(pred, gt)


def procrustes_align(pred: Any, gt: Any) -> np.ndarray:
    """The prediction after the per-frame similarity transform of :func:`similarity_transform`.

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.

    Returns:
        (N, J, 3) aligned prediction, mm.
    """
    pred, gt = _as_pose_pair(pred, gt)
    fit = similarity_transform(pred, gt)
    return fit.scale[:, None, None] * np.matmul(pred, fit.rotation) + fit.translation[:, None, :]


def p_mpjpe(pred: Any, gt: Any) -> np.ndarray:
    """Per-joint error after the per-frame Procrustes similarity alignment (P-MPJPE, "Protocol #2").

    Same optimum as VideoPose3D ``p_mpjpe`` (mean-centring, rotation with det +1, one uniform scale, prediction
    aligned onto the truth), computed blockwise by the solver of :func:`similarity_transform`. Memory beyond the
    (N, J) output is a few blocks of frames.

    Args:
        pred: (N, J, 3) predicted joints, mm.
        gt: (N, J, 3) ground-truth joints, mm.

    Returns:
        (N, J) Euclidean distances between the aligned prediction and the truth, mm. P-MPJPE is their mean.

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), or on NaN/inf input.
    """
    return _p_mpjpe(pred, gt)


# --- alignments ---------------------------------------------------------------------------------------------------


class UnknownAlignmentError(KspbenchError):
    """An alignment name that :data:`ALIGNMENTS` does not know."""


# The one table of alignments a protocol may name: alignment -> per-joint errors (N, J) of root-centred poses.
ALIGNMENTS: Mapping[str, Callable[[Any, Any], np.ndarray]] = MappingProxyType(
    {"root": mpjpe, "scale": n_mpjpe, "procrustes": p_mpjpe}
)


def aligned_errors(alignment: str) -> Callable[[Any, Any], np.ndarray]:
    """The per-joint error function of ``alignment`` (a key of :data:`ALIGNMENTS`).

    Raises:
        UnknownAlignmentError: on any other name (one line, naming the known ones).
    """
    try:
        return ALIGNMENTS[alignment]
    except (KeyError, TypeError):
        raise UnknownAlignmentError(f"unknown alignment {alignment!r}; known: {', '.join(ALIGNMENTS)}") from None


# --- Procrustes mean and input dependence (spread ratio) ----------------------------------------------------------

# Frames the spread ratio looks at: at most this many, evenly spaced (the same frames of prediction and truth).
# Each GPA pass is one similarity_transform over them; 20,000 frames keep a pass at tens of milliseconds.
SPREAD_MAX_FRAMES = 20_000


def _centred(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, 3) poses minus their centroid (mean over joints), and (N,) RMS distance of the joints from it."""
    c = poses - poses.mean(axis=1, keepdims=True)
    return c, np.sqrt(np.einsum("njk,njk->n", c, c) / poses.shape[1])


def procrustes_mean(
    poses: Any,
    *,
    scale: bool = True,
    max_iter: int = 20,
    tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Procrustes analysis: the mean shape of a set of poses, and the poses aligned onto it.

    Every pose is centred on its centroid (mean over joints). Starting from the first pose of non-zero size, each
    pass aligns every pose onto the current mean (a proper rotation, plus one uniform scale per pose when
    ``scale``; :func:`similarity_transform`), averages the aligned poses, re-centres the average and rescales it
    to the mean RMS size of the inputs (the mean of similarity-aligned poses would otherwise shrink a little every
    pass). It stops when the mean moves by less than ``tol`` times its size (RMS over joints), or after
    ``max_iter`` passes. The mean's orientation is the first pose's, up to the drift of the passes: callers that
    need a particular orientation rotate it themselves.

    Args:
        poses: (N, J, 3) poses, any unit (mm).
        scale: align with a similarity (True) or a rotation only (False: the poses' own sizes are kept).
        max_iter: most passes (>= 1).
        tol: relative change of the mean below which the passes stop.

    Returns:
        mean (J, 3), centred on its centroid, RMS size = the mean RMS size of the inputs; aligned (N, J, 3): the
        centred poses aligned onto that mean (by its last pass), centroids at the origin. All-zero-size input
        gives a zero mean and the centred poses unchanged.

    Raises:
        ValueError: on a shape other than (N, J, 3) with N >= 1, on NaN/inf, or on max_iter < 1.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[-1] != 3 or poses.shape[0] == 0:
        raise ValueError(f"poses must have shape (N, J, 3) with N >= 1; got {poses.shape}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1; got {max_iter}")
    _raise_if_nonfinite(poses=poses)
    x, size = _centred(poses)
    target = float(size.mean())
    nonzero = np.flatnonzero(size > 0)
    if nonzero.size == 0:
        return np.zeros(poses.shape[1:]), x
    mean = x[nonzero[0]] * (target / size[nonzero[0]])
    aligned = x
    for _ in range(max_iter):
        fit = similarity_transform(x, np.broadcast_to(mean, x.shape))
        # Rotation only: the optimal rotation does not depend on the scale, so the similarity fit's is the one.
        aligned = np.matmul(x, fit.rotation)
        if scale:
            aligned *= fit.scale[:, None, None]
        new, new_size = _centred(aligned.mean(axis=0, keepdims=True))
        new = new[0] * (target / new_size[0]) if new_size[0] > 0 else mean
        moved = float(np.sqrt(np.mean(np.sum((new - mean) ** 2, axis=-1))))
        mean = new
        if moved <= tol * target:
            break
    return mean, aligned


def _subsample(n: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` evenly spaced frame indices of ``n`` (all of them when n <= max_frames)."""
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_frames).round().astype(np.int64))


def pose_spread(poses: Any, *, max_iter: int = 20) -> float:
    """How much a set of poses varies in shape, with position, orientation and size removed.

    Each pose is centred on its centroid and divided by its RMS distance from it (unit size: a scale error is not
    spread); the normalised poses are aligned by rotation only onto their generalized-Procrustes mean
    (:func:`procrustes_mean` with ``scale=False``: a per-pose scale would shrink the poses that fit the mean badly
    and understate the spread). The spread is ``sqrt(mean over joints of the per-joint variance across frames,
    summed over xyz)`` of the aligned poses, in units of pose size. A pose of zero size stays all zeros.

    Args:
        poses: (N, J, 3) poses (any unit).
        max_iter: GPA passes, see :func:`procrustes_mean`.

    Returns:
        The spread (>= 0); 0 for N = 1 or identical shapes (up to rounding).
    """
    poses = np.asarray(poses, dtype=np.float64)
    c, size = _centred(poses)
    unit = np.divide(c, size[:, None, None], out=np.zeros_like(c), where=size[:, None, None] > 0)
    _, aligned = procrustes_mean(unit, scale=False, max_iter=max_iter)
    return float(np.sqrt(aligned.var(axis=0).sum(axis=-1).mean()))


def spread_ratio(pred: Any, gt: Any, *, max_frames: int = SPREAD_MAX_FRAMES, max_iter: int = 20) -> float:
    """Input dependence of a prediction set: ``pose_spread(pred) / pose_spread(gt)`` over the same frames.

    Both sets are normalised the same way (:func:`pose_spread`: centroid, unit RMS size, rotation onto their own
    generalized-Procrustes mean), so the ratio is free of position, orientation and scale. A constant prediction
    (one shape for every frame, in whatever position, orientation or size) gives 0 up to rounding; the truth
    itself, or any per-frame similarity transform of it, gives 1; predictions whose deviations from their mean
    shape are half the truth's give about 0.5. It says nothing about accuracy: a random shape per frame can score
    above 1. With more than ``max_frames`` frames, ``max_frames`` evenly spaced ones are used (the same for both).

    Args:
        pred: (N, J, 3) predicted joints.
        gt: (N, J, 3) ground-truth joints.
        max_frames: most frames used (evenly spaced); the default keeps memory and time small.
        max_iter: GPA passes per set, see :func:`procrustes_mean`.

    Returns:
        The ratio (>= 0), or NaN when the truth has no spread (a single frame, or one shape throughout: below
        1e-9 of the pose size).

    Raises:
        ValueError: on shapes other than two equal (N, J, 3), N >= 1, or on NaN/inf input.
    """
    pred, gt = _as_pose_pair(pred, gt)
    if pred.shape[0] == 0:
        raise ValueError("spread_ratio needs at least one frame")
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1; got {max_frames}")
    _raise_if_nonfinite(pred=pred, gt=gt)
    idx = _subsample(pred.shape[0], max_frames)
    sp, sg = pose_spread(pred[idx], max_iter=max_iter), pose_spread(gt[idx], max_iter=max_iter)
    # Unit-size poses: a truth spread at rounding level means one shape throughout, and the ratio is undefined.
    return sp / sg if sg > 1e-9 else float("nan")


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
    return np.cumsum(hist[:, : t.size], axis=1) / n_joints


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
