"""P-MPJPE cost: kspbench's blockwise solver against the usual batched-NumPy-SVD implementation (VideoPose3D's).

Run: ``python -m pytest benchmarks/test_bench_p_mpjpe.py --benchmark-only -q`` (not part of the default test run,
which collects ``tests/`` only). Same data as ``benchmarks/p_mpjpe_vs_svd.py`` (realistic poses with ~1% near-
degenerate and ~1% mirrored frames), 100,000 frames x 17 joints; per-frame time = reported time / 100,000. For
the 1,000,000-frame comparison with memory figures, run that script.
"""

from __future__ import annotations

import numpy as np
import pytest

from kspbench.evaluation import metrics
from p_mpjpe_vs_svd import make_dataset, svd_p_mpjpe

FRAMES = 100_000


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    pred, gt, _ = make_dataset(FRAMES, seed=0)
    return pred, gt


@pytest.mark.parametrize("impl", ["kspbench", "svd"])
def test_p_mpjpe(benchmark, data, impl: str) -> None:
    fn = metrics.p_mpjpe if impl == "kspbench" else svd_p_mpjpe
    errors = benchmark.pedantic(fn, args=data, rounds=5, iterations=1, warmup_rounds=1)
    assert errors.shape == (FRAMES, 17)
    benchmark.extra_info["per_frame_ns"] = benchmark.stats.stats.mean / FRAMES * 1e9


def test_same_errors(data) -> None:
    stats: dict = {}
    diff = np.abs(metrics._p_mpjpe(*data, stats=stats) - svd_p_mpjpe(*data))
    assert diff.max() <= 1e-9
    assert 0 < stats["fallback_frames"] < FRAMES // 50
