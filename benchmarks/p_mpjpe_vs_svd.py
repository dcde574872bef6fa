"""P-MPJPE: kspbench's blockwise solver against the usual batched-NumPy-SVD implementation, side by side.

Usage: ``python benchmarks/p_mpjpe_vs_svd.py [--frames 1000000] [--repeats 3] [--seed 0]``

Both functions get the same (N, 17, 3) float64 arrays: realistic root-centred truths (the S1 skeleton with jittered
bone lengths and random joint directions around a standing pose), predictions = truth + 40 mm noise moved by a
random similarity transform, with ~1% near-degenerate frames (coplanar joints; repeated singular values, half of
them mirrored so that the optimum is not unique; nearly collinear predictions; predictions collapsed to a point
up to 1 mm of noise) and ~1% mirrored predictions. Prints both times (best and median of ``--repeats``
alternating runs), the speed ratio, the max |difference| in mm (overall and per kind of frame), the fallback
count, and peak memory measured with ``tracemalloc`` (numpy reports its buffers to it) in separate, untimed runs,
relative to the size of the two inputs. A separate set of ill-posed frames (predictions collapsed to 1e-3 mm far
from the origin, where float64 itself fixes the answer only to ~1e-8 mm) is compared to an extended-precision
reference.

A measurement, not a test: nothing here is part of the package.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from kspbench.core import skeleton
from kspbench.evaluation import metrics
from kspbench.evaluation._procrustes_solver import svd_fit


def svd_p_mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The usual batched-NumPy-SVD P-MPJPE (VideoPose3D's algorithm), per joint: (N, J, 3) x2 -> (N, J) mm.

    Scale and rotation from the library's copy of VideoPose3D's arithmetic (:func:`svd_fit`: centre both by the
    joint mean, Frobenius-normalise, H = X0^T Y0, batched SVD, det-sign fix, scale = sum(s) |X0| / |Y0|), then the
    prediction aligned onto the target with row vectors (``pred @ R``), as VideoPose3D does.
    """
    scale, r = svd_fit(predicted, target)
    a = scale[:, None, None]
    t = np.mean(target, axis=1, keepdims=True) - a * np.matmul(np.mean(predicted, axis=1, keepdims=True), r)
    aligned = a * np.matmul(predicted, r) + t
    return np.linalg.norm(aligned - target, axis=-1)


# Standing pose: unit direction of each joint from its parent (x: subject's left, y: forward, z: up).
_REST_DIRECTIONS = np.array(
    [
        [0, 0, 0],
        [-1, 0, 0],
        [0, 0, -1],
        [0, 0, -1],
        [1, 0, 0],
        [0, 0, -1],
        [0, 0, -1],
        [0, 0, 1],
        [0, 0, 1],
        [0, 0.5, 1],
        [0, -0.3, 1],
        [1, 0, 0],
        [0.2, 0, -1],
        [0, 0.3, -1],
        [-1, 0, 0],
        [-0.2, 0, -1],
        [0, 0.3, -1],
    ],
    dtype=float,
)


def _rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform random proper rotations (QR of Gaussian matrices, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q *= np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


def _similarity(rng: np.random.Generator, poses: np.ndarray) -> np.ndarray:
    """Each frame moved by a random rotation, a scale in [0.5, 2] and a translation of ~500 mm."""
    n = len(poses)
    scale = 2.0 ** rng.uniform(-1.0, 1.0, size=(n, 1, 1))
    return scale * np.matmul(poses, _rotations(rng, n)) + rng.normal(scale=500.0, size=(n, 1, 3))


def realistic_truths(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) root-centred poses, mm: the S1 skeleton, bone lengths x U(0.85, 1.15) x U(0.95, 1.05) per bone,
    joint directions = the standing pose + N(0, 0.45) noise, then a random heading and a small tilt."""
    dirs = _REST_DIRECTIONS / np.maximum(np.linalg.norm(_REST_DIRECTIONS, axis=1, keepdims=True), 1e-12)
    dirs = dirs + rng.normal(scale=0.45, size=(n, skeleton.NUM_JOINTS, 3))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    lengths = (
        np.array(skeleton.BONE_LENGTHS_MM)
        * rng.uniform(0.85, 1.15, size=(n, 1))
        * rng.uniform(0.95, 1.05, size=(n, skeleton.NUM_JOINTS))
    )
    pose = np.zeros((n, skeleton.NUM_JOINTS, 3))
    for j in range(1, skeleton.NUM_JOINTS):  # parents precede children in the H36M order
        pose[:, j] = pose[:, skeleton.PARENTS[j]] + lengths[:, j, None] * dirs[:, j]
    yaw = rng.uniform(0, 2 * np.pi, n)
    tilt = rng.normal(scale=0.1, size=n)
    c, s, ct, st = np.cos(yaw), np.sin(yaw), np.cos(tilt), np.sin(tilt)
    rot = np.zeros((n, 3, 3))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, s, -s, c, 1.0
    tilt_rot = np.zeros((n, 3, 3))
    tilt_rot[:, 0, 0], tilt_rot[:, 1, 1], tilt_rot[:, 1, 2], tilt_rot[:, 2, 1], tilt_rot[:, 2, 2] = 1, ct, st, -st, ct
    return np.matmul(pose, np.matmul(rot, tilt_rot))


def make_dataset(
    n: int,
    seed: int = 0,
    *,
    special_fraction: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """pred, gt (n, 17, 3) mm and {kind: frame indices} for the benchmark's mixture of frames."""
    rng = np.random.default_rng(seed)
    gt = realistic_truths(rng, n)
    pred = _similarity(rng, gt + rng.normal(scale=40.0, size=gt.shape))
    order = rng.permutation(n)
    k = max(1, int(round(n * special_fraction / 4)))
    kinds = {
        "coplanar": order[:k],
        "repeated singular values": order[k : 2 * k],
        "collinear-ish": order[2 * k : 3 * k],
        "point + noise": order[3 * k : 4 * k],
        "mirrored": order[4 * k : 4 * k + max(1, int(round(n * special_fraction)))],
    }
    idx = kinds["coplanar"]  # depth flattened: every joint in one plane, truth and prediction
    flat = gt[idx] * np.array([1.0, 0.0, 1.0])
    gt[idx], pred[idx] = flat, _similarity(rng, flat + rng.normal(scale=40.0, size=flat.shape) * [1, 0, 1])
    idx = kinds["repeated singular values"]  # whitened truth: X0^T X0 = (300 mm)^2 I; half the copies mirrored
    iso = rng.normal(size=(len(idx), 17, 3))
    iso -= iso.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(np.matmul(iso.transpose(0, 2, 1), iso))
    iso = 300.0 * np.matmul(np.matmul(iso, evecs), evecs.transpose(0, 2, 1) / np.sqrt(evals)[:, :, None])
    mirror = np.ones((len(idx), 1, 3))
    mirror[1::2, 0, 0] = -1.0
    gt[idx], pred[idx] = iso, _similarity(rng, iso * mirror + rng.normal(scale=1e-6, size=iso.shape))
    idx = kinds["collinear-ish"]  # prediction on a line, up to 1e-3 mm
    line = rng.normal(size=(len(idx), 1, 3))
    pred[idx] = rng.normal(scale=300.0, size=(len(idx), 17, 1)) * line + rng.normal(scale=1e-3, size=(len(idx), 17, 3))
    idx = kinds["point + noise"]  # prediction collapsed onto one point, up to 1 mm (see collapsed_far_away)
    pred[idx] = rng.normal(scale=500.0, size=(len(idx), 1, 3)) + rng.normal(scale=1.0, size=(len(idx), 17, 3))
    idx = kinds["mirrored"]  # left-right mirror image of the truth, noisy, moved
    pred[idx] = _similarity(rng, gt[idx] * np.array([-1.0, 1.0, 1.0]) + rng.normal(scale=40.0, size=(len(idx), 17, 3)))
    return pred, gt, kinds


def collapsed_far_away(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Ill-posed inputs: predictions collapsed to a point ~500 mm from the origin, up to 1e-3 mm of noise.

    Centring leaves ~eps * 500 mm of rounding in each centred joint, and the alignment scales it up by
    |X0| / |Y0| ~ 3e5: the float64 answer itself is only determined to ~1e-8 mm, whatever the method. Kept out of
    the timed mixture (whose "point + noise" frames have 1 mm of noise) and compared to an extended-precision
    reference instead.
    """
    rng = np.random.default_rng(seed)
    gt = realistic_truths(rng, n)
    pred = rng.normal(scale=500.0, size=(n, 1, 3)) + rng.normal(scale=1e-3, size=(n, 17, 3))
    return pred, gt


def extended_precision_p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """P-MPJPE per joint with centring, cross-covariance and residual in np.longdouble (x87 80-bit on x86-64,
    eps 1e-19); only the 3x3 SVD is float64 (rotation accurate to eps / gap, errors to ~1e-13 mm)."""
    p, g = pred.astype(np.longdouble), gt.astype(np.longdouble)
    y0, x0 = p - p.mean(axis=1, keepdims=True), g - g.mean(axis=1, keepdims=True)
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", y0, x0).astype(np.float64))
    d = np.ones((len(p), 3))
    d[:, 2] = np.sign(np.linalg.det(np.matmul(u, vt)))
    rot = np.matmul(u * d[:, None, :], vt).astype(np.longdouble)
    scale = (np.sum(s * d, axis=1) / np.sum(y0**2, axis=(1, 2)).astype(np.float64)).astype(np.longdouble)
    return np.linalg.norm(scale[:, None, None] * np.matmul(y0, rot) - x0, axis=-1).astype(np.float64)


def _peak_bytes(fn, *args, **kwargs) -> tuple[int, int]:
    """(peak traced bytes allocated during the call, bytes of its result), via tracemalloc."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    out = fn(*args, **kwargs)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, out.nbytes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    pred, gt, kinds = make_dataset(args.frames, args.seed)
    in_bytes = pred.nbytes + gt.nbytes
    print(
        f"data: {args.frames} frames x 17 joints, float64; inputs {in_bytes / 2**20:.0f} MiB "
        f"(made in {time.perf_counter() - t0:.1f} s); special frames: "
        + ", ".join(f"{k} {len(v)}" for k, v in kinds.items())
    )
    print(
        f"numpy {np.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}"
    )

    times: dict[str, list[float]] = {"kspbench": [], "svd": []}
    stats: dict = {}
    for rep in range(args.repeats):  # alternate, so that slow phases of a shared machine hit both
        t = time.perf_counter()
        fast = metrics._p_mpjpe(pred, gt, stats=stats if rep == 0 else None)
        times["kspbench"].append(time.perf_counter() - t)
        del fast
        t = time.perf_counter()
        ref = svd_p_mpjpe(pred, gt)
        times["svd"].append(time.perf_counter() - t)
        del ref
    fast = metrics.p_mpjpe(pred, gt)
    ref = svd_p_mpjpe(pred, gt)
    diff = np.abs(fast - ref)

    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\ntimes (best / median of {args.repeats}):")
    print(f"  kspbench.evaluation.metrics.p_mpjpe : {best['kspbench']:.3f} s / {med['kspbench']:.3f} s")
    print(f"  batched NumPy SVD        : {best['svd']:.3f} s / {med['svd']:.3f} s")
    print(
        f"  speed ratio              : {best['svd'] / best['kspbench']:.1f}x (best) / "
        f"{med['svd'] / med['kspbench']:.1f}x (median)"
    )
    print(f"\nmax |difference|: {diff.max():.3g} mm over all {diff.size} errors (mean error {ref.mean():.2f} mm)")
    special = np.zeros(len(pred), bool)
    for kind, idx in kinds.items():
        special[idx] = True
        kind_stats: dict = {}
        metrics._p_mpjpe(pred[idx], gt[idx], stats=kind_stats)
        print(
            f"  {kind:26s}: max {diff[idx].max():.3g} mm, {kind_stats['fallback_frames']} of {len(idx)} "
            f"frames on the SVD fallback"
        )
    print(f"  {'ordinary frames':26s}: max {diff[~special].max():.3g} mm")
    print(
        f"fallback frames: {stats['fallback_frames']} of {stats['frames']} "
        f"({100 * stats['fallback_frames'] / stats['frames']:.3f}%); zero-norm frames: {stats['zero_norm_frames']}; "
        f"max Newton iterations: {stats['max_newton_iterations']}"
    )

    far_pred, far_gt = collapsed_far_away(1000)
    exact = extended_precision_p_mpjpe(far_pred, far_gt)
    ours, theirs = metrics.p_mpjpe(far_pred, far_gt), svd_p_mpjpe(far_pred, far_gt)
    print(
        f"\nill-posed inputs, not in the mixture (1000 predictions collapsed to 1e-3 mm at ~500 mm; the float64 "
        f"answer is determined to ~1e-8 mm): max |kspbench - extended precision| {np.abs(ours - exact).max():.3g} "
        f"mm, max |SVD - extended precision| {np.abs(theirs - exact).max():.3g} mm, max |kspbench - SVD| "
        f"{np.abs(ours - theirs).max():.3g} mm"
    )

    print("\npeak memory allocated during the call (tracemalloc; inputs excluded, they exist before):")
    for name, fn in (("kspbench", metrics.p_mpjpe), ("svd", svd_p_mpjpe)):
        peak, out_bytes = _peak_bytes(fn, pred, gt)
        print(
            f"  {name:8s}: {peak / 2**20:8.1f} MiB = {peak / in_bytes:.3f} x inputs; without the (N, 17) output "
            f"({out_bytes / 2**20:.0f} MiB): {(peak - out_bytes) / 2**20:.1f} MiB = "
            f"{(peak - out_bytes) / in_bytes:.3f} x inputs; inputs + peak = {(in_bytes + peak) / in_bytes:.2f} x "
            f"inputs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
