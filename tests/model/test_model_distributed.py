"""Data-parallel training (DDP, gloo on CPU): two processes versus one, and torchrun end to end.

Slow-ish (process start-up and torch import in each worker): marked ``slow``, still part of the default run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kspbench.model.cards import Card, load_card
from kspbench.model.train import CHECKPOINT_NAME, Trainer, deterministic, load_checkpoint

pytestmark = pytest.mark.slow
CYCLE = ("prior", "paired", "unpaired", "sup2d", "sup3d", "prior", "paired", "unpaired")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _card(cycle: tuple[str, ...] = CYCLE) -> Card:
    card = load_card("unsup").to_dict()
    card["losses"]["sup2d"] = {"weight": 1.0, "optimiser": None}
    card["losses"]["sup3d"] = {"w3d": 1.0, "w2d": 1.0, "optimiser": None}
    card["data"]["supervised"] = ["h36m-train"]
    card["schedule"]["stages"] = [{"name": "all", "steps": len(cycle), "cycle": list(cycle)}]
    return Card.from_dict(card)


def _train_on_doubled_batches(
    rank: int, world: int, port: int, store: str, out: str, cycle: tuple[str, ...] = CYCLE
) -> None:
    """Run ``cycle`` on drawn batches: one process trains on each batch as drawn; N processes train on a global
    batch of N copies of it, so that every rank's shard is that batch. The mean gradient, the BatchNorm statistics
    (per rank on CPU) and every running buffer are then the same as in one process, and DDP must reproduce the
    one-process parameters exactly."""
    from kspbench.model import distributed as DIST

    if world > 1:
        os.environ.update(
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
        )
    ctx = DIST.context_from_env("cpu")
    trainer = Trainer(_card(cycle), store, Path(out) / f"rank{rank}", profile="tiny", threads=1, dist=ctx)
    with deterministic(1, "cpu"):
        trainer._build()
        trainer._apply_init()
        trainer._load_data()
        for loss in cycle:
            half = trainer._batch(loss)
            trainer.train_step(loss, {k: torch.cat([v] * world) for k, v in half.items()})
    if ctx.is_main:
        torch.save(
            {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, Path(out) / f"world{world}.pt"
        )
    DIST.shutdown(ctx)


def test_two_processes_equal_one_process_on_the_same_global_batches(store, tmp_path):
    import torch.multiprocessing as mp

    _train_on_doubled_batches(0, 1, 0, str(store), str(tmp_path))
    mp.spawn(_train_on_doubled_batches, args=(2, _free_port(), str(store), str(tmp_path)), nprocs=2, join=True)
    one, two = torch.load(tmp_path / "world1.pt"), torch.load(tmp_path / "world2.pt")
    init = Trainer(_card(), store, tmp_path / "init", profile="tiny", threads=1)
    init._build()
    start = init.model.state_dict()
    moved = 0
    for k in one:
        assert torch.equal(one[k], two[k]), k  # averaging N equal gradients is exact in floating point
        moved += int(not torch.equal(start[k], one[k]))
    assert moved > len(one) // 2  # the comparison is not of untouched parameters


def _torchrun(store: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
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
        str(out),
        "--quiet",
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_torchrun_two_processes_train_deterministically_with_one_writer(store, tmp_path):
    a = _torchrun(store, tmp_path / "a")
    assert a.returncode == 0, a.stderr[-2000:]
    b = _torchrun(store, tmp_path / "b")
    assert b.returncode == 0, b.stderr[-2000:]
    ck = load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME)
    assert ck["world_size"] == 2 and ck["step"] == ck["total_steps"]
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["world_size"] == 2
    log = (tmp_path / "a" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + ck["total_steps"]  # one writer: no duplicated rows
    assert a.stdout.count("wrote") == 1
    assert (tmp_path / "a" / CHECKPOINT_NAME).read_bytes() == (tmp_path / "b" / CHECKPOINT_NAME).read_bytes()
    assert (tmp_path / "a" / "log.csv").read_bytes() == (tmp_path / "b" / "log.csv").read_bytes()
    # Resuming a two-process run with one process is refused: the global batch would split differently.
    from kspbench.cli import main

    assert (
        main(
            [
                "train",
                "--card",
                "unsup",
                "--profile",
                "tiny",
                "--store",
                str(store),
                "--out",
                str(tmp_path / "a"),
                "--resume",
                "--quiet",
            ]
        )
        == 2
    )
