"""benchmarks/train_side_by_side.py: the per-part split of a profiled step and the report (tiny profile, in-process)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kspbench.core import kinematics

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_side_by_side.py"
_spec = importlib.util.spec_from_file_location("train_side_by_side", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def worker(store):
    w = bench.Worker("unsup", str(store), "tiny", 1)
    yield w
    w.out.cleanup()


@pytest.mark.parametrize(
    "loss, parts",
    [
        ("prior", ("EP", "Tfk", "Tc", "data", "optimiser")),
        ("paired", ("EP", "EA", "DI", "f2D convs", "Tfk", "Tc", "Tm", "optimiser")),
        ("unpaired", ("EP", "EA", "DI", "Tm", "optimiser")),
    ],
)
def test_profiled_step_is_split_into_the_parts_that_loss_runs(worker, loss, parts):
    forward_kinematics = kinematics.forward_kinematics
    split = worker.profile(loss, 2)
    assert kinematics.forward_kinematics is forward_kinematics  # the labels are removed again
    assert split["step"] > 0
    for part in parts:
        assert split[part] > 0, part
    if loss == "prior":  # Lprior runs EP only: no appearance, decoder or maps
        assert split["EA"] == split["DI"] == split["Tm"] == 0
    assert sum(split[p] for p in bench.PARTS) + split["other"] == pytest.approx(split["step"])
    assert split["other"] >= -1e-3 * split["step"]


def test_steps_report_wall_and_cpu_seconds(worker):
    ans = worker.steps("prior", 2)
    assert ans["batch"] == 4 and ans["seconds"] > 0 and ans["cpu_seconds"] > 0


def test_report_gives_per_round_ratios_and_the_cycle():
    rates = {
        "old": {"prior": [100.0, 50.0], "paired": [10.0, 10.0]},
        "new": {"prior": [200.0, 100.0], "paired": [20.0, 10.0]},
    }
    res = {
        "baseline": "abc",
        "candidate": "working tree",
        "threads": 1,
        "batch": 16,
        "rates": rates,
        "cpu_rates": rates,
        "shares": {},
        "rss_after_load_mib": {"old": 1.0, "new": 2.0},
        "peak_rss_mib": {"old": 3.0, "new": 4.0},
    }
    text = bench.report(res)
    assert "new/old 2.00 [2.00, 2.00]" in text  # prior doubled in both rounds
    assert "new/old 1.50 [1.00, 2.00]" in text  # paired: 2x then 1x
    # The cycle's rate: 2 steps of 16 samples over their summed time; old's slower round 32 / (0.32 + 1.6) s.
    assert f"({2 * 16 / (16 / 50 + 16 / 10):6.1f})" in text
    assert "old 1 -> 3, new 2 -> 4" in text
