"""The speed options of training: seeds in parallel processes (``--jobs``) and the opt-in ``torch.compile`` with its
eager fallback; both leave the default mode's bytes alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from kspbench.cli import main
from kspbench.infra.provenance import file_sha256
from kspbench.model.cards import load_card
from kspbench.model.compiled import compile_networks
from kspbench.model.train import CHECKPOINT_NAME, Trainer

REPO = Path(__file__).resolve().parents[2]


def test_parallel_seeds_give_each_seed_the_bytes_of_a_sequential_run(store, tmp_path, capsys, monkeypatch):
    """--seeds 2 --jobs 2 --threads 2: one process per seed with one thread each; every checkpoint and log equals
    the sequential one-thread run's, also for a card that starts from another card's seeds."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the seeds' processes import this checkout
    common = ["--store", str(store), "--profile", "tiny", "--seeds", "2", "--quiet"]
    runs, seq = tmp_path / "runs", tmp_path / "seq"

    def train_both(*extra: str) -> None:
        for card in ("unsup", "weakly"):
            assert main(["train", "--card", card, "--out", str(runs / card), *extra, *common]) == 0

    train_both("--threads", "1")
    runs.rename(seq)  # the same run paths for both (weakly's checkpoints record their init checkpoint's path)
    train_both("--threads", "2", "--jobs", "2")
    assert "2 processes at a time, 1 thread(s) each" in capsys.readouterr().out
    for card in ("unsup", "weakly"):
        for seed in ("s0", "s1"):
            a, b = seq / card / seed, runs / card / seed
            assert file_sha256(a / CHECKPOINT_NAME) == file_sha256(b / CHECKPOINT_NAME), (card, seed)
            assert (a / "log.csv").read_bytes() == (b / "log.csv").read_bytes()


def test_parallel_seeds_report_progress_as_plain_lines_naming_each_seed(store, tmp_path, capfd, monkeypatch):
    """Without --quiet the seeds share the parent's stream: plain lines (bars would collide), one run each."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("KSPBENCH_PROGRESS_EVERY", "0")
    args = ["train", "--card", "unsup", "--store", str(store), "--profile", "tiny", "--seeds", "2", "--jobs", "2"]
    assert main([*args, "--threads", "2", "--out", str(tmp_path / "runs")]) == 0
    err = capfd.readouterr().err
    assert "train unsup seed 0" in err and "train unsup seed 1" in err
    assert "\r" not in err


def test_jobs_below_one_is_refused_in_one_line(store, tmp_path, capsys):
    args = ["train", "--card", "unsup", "--store", str(store), "--profile", "tiny", "--seeds", "2", "--jobs", "0"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--jobs" in err


def _failing_at_call(fn, **_kwargs):
    def compiled(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\nsecond line of the report")

    return compiled


def _failing_at_wrap(fn, **_kwargs):
    raise RuntimeError("torch.compile is not supported on this Python")


@pytest.mark.parametrize("compile_fn", [_failing_at_call, _failing_at_wrap])
def test_compile_fallback_warns_once_and_runs_eager(compile_fn):
    lines: list[str] = []
    a, b = nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    keys = list(a.state_dict()) + list(b.state_dict())
    compile_networks([a, b], warn=lines.append, compile_fn=compile_fn)
    x = torch.ones(4, 3)
    y = b(a(x))
    b(a(x))
    assert len(lines) == 1 and "training continues eager" in lines[0] and "\n" not in lines[0]
    assert "forward" not in vars(a) and "forward" not in vars(b)  # the class's forward again
    assert torch.equal(y, b.forward(a.forward(x)))
    assert list(a.state_dict()) + list(b.state_dict()) == keys


def test_compile_wraps_forward_without_touching_state_dict():
    calls: list[str] = []

    def counting(fn, **kwargs):
        assert kwargs == {"dynamic": False}

        def compiled(*args, **kw):
            calls.append("compiled")
            return fn(*args, **kw)

        return compiled

    net = nn.Linear(3, 2)
    keys = list(net.state_dict())
    compile_networks([net], warn=lambda line: pytest.fail(line), compile_fn=counting)
    net(torch.ones(1, 3))
    assert calls == ["compiled"] and list(net.state_dict()) == keys


def test_a_run_whose_compile_fails_equals_the_eager_run(store, tmp_path, monkeypatch, capsys):
    """--compile where compiling fails: one warning line, then exactly the default eager run's bytes."""

    def broken_compile(fn, **_kwargs):
        return _failing_at_call(fn)

    monkeypatch.setattr(torch, "compile", broken_compile)
    card = load_card("unsup")
    eager = Trainer(card, store, tmp_path / "eager", profile="tiny")
    eager.run(progress=False)
    fallback = Trainer(card, store, tmp_path / "fallback", profile="tiny", compile=True)
    fallback.run(progress=False)
    err = [line for line in capsys.readouterr().err.splitlines() if "torch.compile" in line]
    assert len(err) == 1, err
    a, b = tmp_path / "eager", tmp_path / "fallback"
    assert file_sha256(a / CHECKPOINT_NAME) == file_sha256(b / CHECKPOINT_NAME)
    assert (a / "log.csv").read_bytes() == (b / "log.csv").read_bytes()
