"""kill -9 during `kspbench world build`, `kspbench world baseline` and `kspbench predict`: the output path holds
nothing or a complete valid file after every kill, and a rerun succeeds.

Each run is a fresh interpreter (``python -m kspbench.cli``); the kill delays are spread over a timed full run, so
some land in the imports and most in the work and the write. The checkpoint for `predict` is trained in a
subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kspbench.data.predictions import read_predictions
from kspbench.data.store import validate

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
N_DELAYS = 4


def _run(argv, delay: float | None = None) -> int | None:
    """Run ``kspbench argv`` in a fresh interpreter; kill -9 it after ``delay`` seconds (None: let it finish).

    A fresh process, not a fork: the test process may already have started torch's thread pools (other test modules
    run first in the full suite), and a forked child of such a process can deadlock in them."""
    p = subprocess.Popen(
        [sys.executable, "-m", "kspbench.cli", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if delay is not None:
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
    try:
        return p.wait(300)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def _kill_at_delays(argv, out: Path, check) -> list[str]:
    """Time one run, then kill runs at N_DELAYS points across it, alternately onto no file (which must leave nothing
    or a valid file) and onto an old one (which must leave the old or the new file, valid)."""
    t0 = time.perf_counter()
    assert _run(argv) == 0
    span = time.perf_counter() - t0
    check(out)
    outcomes = []
    for k, delay in enumerate(np.linspace(0.4, 0.95, N_DELAYS) * span):
        rewrite = k % 2 == 1
        if not rewrite:
            out.unlink(missing_ok=True)
        elif not out.exists():
            assert _run(argv) == 0
        code = _run(argv, delay)
        if out.exists():
            check(out)  # raises or fails if the output is a partial file
        else:
            assert not rewrite, f"killed after {delay:.2f} s while rewriting {out}: the old file is gone"
        outcomes.append(
            f"{'rewrite' if rewrite else 'fresh'}:"
            f"{'killed' if code == -signal.SIGKILL else code}:{'file' if out.exists() else 'none'}"
        )
    leftovers = sorted(p.name for p in out.parent.iterdir() if p != out)
    sys.stderr.write(f"{argv[:2]} kill -9 at {N_DELAYS} delays: {outcomes}; beside the output: {leftovers}\n")
    assert _run(argv) == 0  # a rerun after the last kill succeeds
    check(out)
    return outcomes


def _valid_store(path: Path) -> None:
    assert validate(path) == [], path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from kspbench.cli import main

    root = tmp_path_factory.mktemp("faults")
    store = root / "world.h5"
    assert (
        main(["world", "build", "--profile", "tiny", "--quiet", "--no-datasheet", "--jobs", "1", "--out", str(store)])
        == 0
    )
    return root, store


def test_kill_9_during_world_build(world, tmp_path):
    out = tmp_path / "w.h5"
    argv = ["world", "build", "--profile", "tiny", "--quiet", "--no-datasheet", "--jobs", "1", "--out", str(out)]
    _kill_at_delays(argv, out, _valid_store)


def _valid_predictions(n: int):
    def check(path: Path) -> None:
        assert len(read_predictions(path)) == n

    return check


def test_kill_9_during_world_baseline(world, tmp_path):
    _, store = world
    out = tmp_path / "nn2d.h5"
    argv = ["world", "baseline", "--kind", "nn2d", "--store", str(store), "--out", str(out)]
    assert _run(argv) == 0
    n = len(read_predictions(out))
    _kill_at_delays(argv, out, _valid_predictions(n))


def test_kill_9_during_predict(world, tmp_path):
    root, store = world
    run = root / "run"
    if not (run / "checkpoint.pt").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "kspbench.cli",
                "train",
                "--card",
                "unsup",
                "--profile",
                "tiny",
                "--store",
                str(store),
                "--out",
                str(run),
                "--quiet",
            ],
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
        )
    out = tmp_path / "preds.h5"
    argv = ["predict", "--checkpoint", str(run / "checkpoint.pt"), "--store", str(store), "--out", str(out)]
    assert _run(argv) == 0
    n = len(read_predictions(out))
    _kill_at_delays(argv, out, _valid_predictions(n))
