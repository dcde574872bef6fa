"""``assert_close``: numpy.allclose's rule, with a failure message that says where and by how much.

A bare ``assert np.allclose(a, b)`` fails with ``assert False``; this one names the worst element (its index, both
values, the absolute and relative difference) and how many elements are out of tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_array(x: Any) -> np.ndarray:
    """A numpy array of ``x`` (a torch tensor is detached and moved to the CPU first)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch for numpy-only tests
        t = x.detach().cpu()
        if not t.is_complex():
            t = t.double()  # bfloat16 and friends have no numpy dtype
        x = t.numpy()
    a = np.asarray(x)
    return a if a.dtype.kind == "c" else a.astype(np.float64)


def assert_close(actual: Any, expected: Any, *, atol: float = 1e-8, rtol: float = 1e-5, what: str = "") -> None:
    """Fail unless every ``|actual - expected| <= atol + rtol * |expected|`` (numpy.allclose's rule and defaults).

    ``actual`` and ``expected`` are numpy arrays, torch tensors or numbers, of the same shape; a scalar ``expected``
    stands for every element of ``actual``. NaN is never close; equal infinities are. ``what`` starts the message.
    """
    a, e = _as_array(actual), _as_array(expected)
    prefix = f"{what}: " if what else ""
    if e.ndim == 0:
        e = np.broadcast_to(e, a.shape)
    if a.shape != e.shape:
        raise AssertionError(f"{prefix}shapes differ: actual {a.shape}, expected {e.shape}")
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and NaN are judged below, not warned about
        diff = np.abs(a - e)
        tol = atol + rtol * np.abs(e)
        bad = ~((diff <= tol) | (a == e))
    n_bad = int(bad.sum())
    if n_bad == 0:
        return
    # The worst element: a NaN difference first, else the one furthest beyond its tolerance.
    excess = np.where(bad, np.where(np.isnan(diff), np.inf, diff - tol), -np.inf)
    flat = int(np.argmax(excess))
    index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    d, ev = diff.flat[flat], e.flat[flat]
    rel = d / abs(ev) if ev != 0 else float("inf")
    raise AssertionError(
        f"{prefix}{n_bad} of {a.size} elements out of tolerance (atol={atol:g}, rtol={rtol:g}); "
        f"worst at index {index}: actual {a.flat[flat]:.10g}, expected {ev:.10g}, "
        f"abs diff {d:.4g}, rel diff {rel:.4g}"
    )
