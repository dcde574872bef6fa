"""``kspbench train --seeds N --jobs J``: the seeds of a card trained in up to J processes at once.

On a machine with few cores a run gains less from a second torch thread than a second run gains from a core of its
own (docs/model.md, "Throughput"), so the seeds of a card run side by side, each with its share of the threads. Each
process is a plain ``kspbench train --seed S`` of one seed, so its checkpoint is byte-identical to a run of that
seed alone with the same thread count (which the checkpoint records).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from kspbench.infra.progress import LINES_ENV


def _command(args: argparse.Namespace, seed: int, out: Path, init: Path | None, threads: int) -> list[str]:
    cmd = [sys.executable, "-m", "kspbench", "train", "--card", args.card, "--store", args.store, "--out", str(out)]
    cmd += ["--seed", str(seed), "--threads", str(threads), "--device", args.device, "--amp", args.amp]
    if args.profile:
        cmd += ["--profile", args.profile]
    if init is not None:
        cmd += ["--init-checkpoint", str(init)]
    if args.init_weights:
        cmd += ["--init-weights", args.init_weights]
    for flag in ("resume", "compile", "quiet"):
        if getattr(args, flag):
            cmd.append(f"--{flag}")
    return cmd


def run_seed_jobs(args: argparse.Namespace, jobs: list[tuple[int, Path, Path | None]], threads: int) -> int:
    """Train each ``(seed, out, init checkpoint)`` in its own process, ``args.jobs`` at a time, ``threads`` each.

    Raises:
        kspbench.cli.UserError: a seed's process failed (its own message is printed above).
    """
    from kspbench.cli import UserError

    print(f"training {len(jobs)} seeds, {args.jobs} processes at a time, {threads} thread(s) each", flush=True)
    # The seeds report progress side by side on one stream: plain lines, each naming its seed, not colliding bars.
    env = {**os.environ, LINES_ENV: "1"}
    pending, running, failed = list(jobs), [], []
    while pending or running:
        while pending and len(running) < args.jobs:
            seed, out, init = pending.pop(0)
            running.append((seed, subprocess.Popen(_command(args, seed, out, init, threads), env=env)))
        time.sleep(0.2)  # a finished process frees its slot for the next seed
        for seed, proc in [job for job in running if job[1].poll() is not None]:
            running.remove((seed, proc))
            if proc.returncode != 0:
                failed.append(f"seed {seed} (exit {proc.returncode})")
    if failed:
        raise UserError(f"training failed for {', '.join(failed)}; see the messages above")
    return 0
