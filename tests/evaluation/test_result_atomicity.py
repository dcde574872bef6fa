"""`kspbench eval --out` as a crash-safe pair: kill -9 mid-rewrite, and concurrent writers of one result.

Children are forked from the test process (``multiprocessing`` "fork"), so each runs ``kspbench.cli.main`` without
paying the interpreter's start-up: the kills then land across the evaluation and the write, not in imports.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sys
import time

import numpy as np
import pytest

import factories
from factories import EVAL, make_sequence
from kspbench.data.predictions import write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.results import frames_path, load_result

pytestmark = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
CAMS = ("54138969", "60457274")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("atomic")
    rng = np.random.default_rng(0)
    store = root / "s.h5"
    with StoreWriter(store, dataset="unit-h36m", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=60, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 1", n=40, cameras=CAMS))
    preds = {}
    for name, offset in (("old", 3.0), ("new", 7.0)):
        p = factories.truth_predictions(store, attrs={"card": name, "seed": 0})
        p.poses_3d[:, 1:] += offset
        preds[name] = root / f"{name}.h5"
        write_predictions(preds[name], p)
    return root, store, preds


def _argv(store, pred, out):
    return [*EVAL, "--protocol", "h36m-p2", "--predictions", str(pred), "--store", str(store), "--out", str(out)]


def _child(argv):
    from kspbench.cli import main

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os._exit(main(argv))


def _start(argv) -> mp.Process:
    p = mp.get_context("fork").Process(target=_child, args=(argv,), daemon=True)  # never outlives the run
    p.start()
    return p


def _card(out) -> str:
    """The row of the result at ``out``, read back through the validating reader (digest, per-frame sha256)."""
    r = load_result(out)
    assert frames_path(r.path, r.data).is_file()
    return r.data["predictions"]["model"]["card"]


def test_kill_9_while_rewriting_a_result_leaves_old_or_new(setup):
    root, store, preds = setup
    out = root / "kill" / "r.json"
    from kspbench.cli import main

    assert main(_argv(store, preds["old"], out)) == 0
    # How long one forked evaluation takes here, to spread the kills over it (and a little past it).
    t0 = time.perf_counter()
    p = _start(_argv(store, preds["new"], out))
    p.join(300)
    span = time.perf_counter() - t0
    assert p.exitcode == 0 and _card(out) == "new"
    outcomes = []
    delays = np.linspace(0.1, 1.1, 12) * span
    for delay in delays:
        want = "old" if _card(out) == "new" else "new"  # always rewrite the result with the other one
        before = _card(out)
        p = _start(_argv(store, preds[want], out))
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.join(300)
        got = _card(out)  # raises if the pair is broken
        assert got in (before, want)
        outcomes.append(
            "killed-old"
            if p.exitcode == -signal.SIGKILL and got == before
            else "killed-new"
            if p.exitcode == -signal.SIGKILL
            else "finished"
        )
    sys.stderr.write(f"kill -9 outcomes over {len(delays)} delays: {outcomes}\n")
    assert len(delays) >= 8 and outcomes.count("finished") < len(delays)
    # Leftovers of killed writers (temporary files, orphan per-frame files) are swept by the next writer.
    assert main(_argv(store, preds["old"], out)) == 0
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == sorted(["r.json", json.loads(out.read_text())["per_frame_file"]]), names


def test_two_writers_of_one_result_always_leave_one_valid_result(setup):
    root, store, preds = setup
    out = root / "race" / "r.json"
    cards = []
    for trial in range(20):
        ps = [_start(_argv(store, preds[name], out)) for name in ("old", "new")]
        for p in ps:
            p.join(60)
        assert [p.exitcode for p in ps] == [0, 0], f"trial {trial}"
        cards.append(_card(out))
        names = sorted(p.name for p in out.parent.iterdir())
        assert names == sorted(["r.json", json.loads(out.read_text())["per_frame_file"]]), (trial, names)
    sys.stderr.write(f"20 concurrent trials, last writer: {cards}\n")
