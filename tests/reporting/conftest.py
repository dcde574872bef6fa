"""Fixtures of the reporting tests shared by more than one module."""

from __future__ import annotations

import numpy as np
import pytest

from factories import make_sequence
from kspbench.data.store import StoreWriter
from leaderboard_fixtures import scored_result


@pytest.fixture(scope="module")
def mpi(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lb3dhp")
    rng = np.random.default_rng(3)
    store = tmp / "3dhp.h5"
    with StoreWriter(store, dataset="unit-3dhp", source="tests") as w:
        for k, n in ((1, 160), (2, 120)):
            seq = make_sequence(rng, subject=f"TS{k}", sequence=f"TS{k}", role="3dhp-test", n=n, cameras=("0",))
            cam = seq.cameras["0"]
            cam.valid[::4] = False
            cam.extras = {"univ_annot3": cam.camera_3d * 0.9, "activity": (np.arange(n) // 5) % 7 + 1}
            w.add_sequence(seq)
    kw = dict(role="3dhp-test", key="extras/univ_annot3")
    return {
        "dir": tmp / "results",
        "sharp": scored_result(tmp, store, "3dhp", "sharp", "sharp", 0, 25.0, 5, **kw),
        "blurry": scored_result(tmp, store, "3dhp", "blurry", "blurry", 0, 70.0, 6, **kw),
    }
