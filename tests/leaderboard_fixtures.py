"""Results to rank, for the leaderboard tests: a unit Human3.6M store and noisy truth scored by `kspbench eval`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factories import EVAL, make_sequence, truth_predictions
from kspbench import cli as kcli
from kspbench.data.predictions import write_predictions
from kspbench.data.store import StoreWriter

CAMS = ("54138969", "60457274")


def h36m_store(path: Path, seed: int = 0) -> Path:
    """Four Human3.6M test takes (S9, S11; Walking, Eating) over two cameras, 120 to 250 frames each."""
    rng = np.random.default_rng(seed)
    with StoreWriter(path, dataset="unit-h36m", source="tests") as w:
        # Several 100-frame blocks per track, two actions: a stratified bootstrap with more than one block each.
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=250, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Walking 2", n=150, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Eating 1", n=200, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 2", n=120, cameras=CAMS))
    return path


def scored_result(
    tmp: Path,
    store: Path,
    protocol: str,
    name: str,
    card: str,
    seed: int,
    noise: float,
    noise_seed: int,
    extra: tuple[str, ...] = (),
    **truth_kw,
) -> Path:
    """Truth + Gaussian noise (mm) as a predictions file of ``card``/``seed``, scored by `kspbench eval`."""
    p = truth_predictions(store, **truth_kw)
    p.poses_3d = p.poses_3d + np.random.default_rng(noise_seed).normal(scale=noise, size=p.poses_3d.shape)
    p.attrs = {"card": card, "seed": seed}
    pred = tmp / "preds" / f"{name}.npz"
    pred.parent.mkdir(exist_ok=True)
    write_predictions(pred, p)
    out = tmp / "results" / f"{name}.json"
    assert (
        kcli.main(
            [
                *EVAL,
                "--protocol",
                protocol,
                "--predictions",
                str(pred),
                "--store",
                str(store),
                "--out",
                str(out),
                *extra,
            ]
        )
        == 0
    )
    return out
