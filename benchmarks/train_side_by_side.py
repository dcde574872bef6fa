"""Training speed, old and new code side by side in one run: samples/s per loss, the share of each part, peak RSS.

The candidate (default: this checkout's working tree) and a baseline commit (default ``HEAD``, checked out once
into a temporary ``git worktree``) each run in their own worker process, with that tree first on ``PYTHONPATH``.
A worker builds the card's trainer on a store (the real trainer: data preparation, loss, backward, optimiser),
loads the data once, and then answers the parent's requests; the parent alternates them, A B A B, so that a
machine whose speed drifts (other jobs on the cores) moves both sides alike. Per loss and side it prints the
median and the minimum of the rounds' samples/s, the new/old ratio per round (median, min, max), and the share of
each part of a step from a separate profiled pass (:mod:`torch.profiler`): EP, EA, DI, the pose-map convolutions,
Tfk, Tc (camera rotation + projection), Tm, data preparation and the optimiser, each forward plus the backward of
the operations it ran (matched by autograd sequence number); "other" is the rest (loss terms, autograd
bookkeeping). Run it as a script::

    python benchmarks/train_side_by_side.py --baseline HEAD~3 --store data/world.h5 --steps 20 --rounds 5

``--candidate COMMIT`` measures a commit instead of the working tree (uncommitted edits then stay out of both
sides). Samples are batch elements, as in ``summary.json``: one image for Lprior, one tuple for LP and LUNP.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("EP", "EA", "DI", "f2D convs", "Tfk", "Tc", "Tm", "data", "optimiser")
BACKWARD_PREFIX = "autograd::engine::evaluate_function: "


# --- worker: runs inside the tree being measured ------------------------------------------------------------------
class Worker:
    """One trainer of one code tree, data loaded once; ``steps`` times a loss, ``profile`` splits it into parts."""

    def __init__(self, card: str, store: str, profile: str, threads: int) -> None:
        import torch

        from kspbench.model.cards import load_card
        from kspbench.model.train import Trainer, deterministic

        self.torch = torch
        self.out = tempfile.TemporaryDirectory(prefix="kspbench-bench-")
        self.trainer = Trainer(load_card(card), store, self.out.name, profile=profile, threads=threads)
        self._det = deterministic(threads, "cpu")
        self._det.__enter__()  # as the trainer's run does: fixed threads, deterministic algorithms
        t = self.trainer
        t._build()
        t._apply_init()
        t._load_data()
        self.rss_after_load = _peak_rss_mib()

    def steps(self, loss: str, n: int) -> dict[str, Any]:
        """``n`` iterations of ``loss`` (batch drawn in the step, as in training); wall and CPU seconds in all."""
        t = self.trainer
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            t.train_step(loss)
        return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "batch": t.batch}

    def profile(self, loss: str, n: int) -> dict[str, float]:
        """Seconds per step of each part over ``n`` profiled iterations of ``loss`` (one warm-up first)."""
        from torch.profiler import ProfilerActivity, profile, record_function

        t = self.trainer
        t.train_step(loss)
        with _labelled(t), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(n):
                with record_function("bench::step"):
                    with record_function("bench::data"):
                        batch = t._batch(loss)
                    t.train_step(loss, batch)
        return {k: v / n for k, v in _split(prof.events()).items()}


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wrap(fn: Callable, label: str) -> Callable:
    from torch.profiler import record_function

    def labelled(*args: Any, **kwargs: Any) -> Any:
        with record_function(f"bench::{label}"):
            return fn(*args, **kwargs)

    return labelled


@contextlib.contextmanager
def _labelled(trainer: Any) -> Iterator[None]:
    """Label the parts' forward calls for the profiler (instance and module attributes, restored afterwards)."""
    try:
        from kspbench.core import kinematics
    except ImportError:  # a tree from before the layout in floors (issue 17): kspbench.kinematics
        from kspbench import kinematics  # type: ignore[no-redef]
    from kspbench.model import ksp

    m = trainer.model
    saved: list[tuple[Any, str, Any, bool]] = []

    def patch(obj: Any, attr: str, label: str) -> None:
        own = attr in vars(obj)
        saved.append((obj, attr, vars(obj).get(attr), own))
        setattr(obj, attr, _wrap(getattr(obj, attr), label))

    for obj, label in ((m.ep, "EP"), (m.ea, "EA"), (m.di, "DI"), (m.pose_maps.convs, "f2D convs")):
        patch(obj, "forward", label)
    patch(kinematics, "forward_kinematics", "Tfk")
    patch(kinematics, "camera_rotation", "Tc")
    patch(kinematics, "project", "Tc")
    patch(ksp, "spatial_maps", "Tm")
    for _name, opt in trainer.optimisers.items():
        patch(opt, "step", "optimiser")
    try:
        yield
    finally:
        for obj, attr, old, own in reversed(saved):
            if own:
                setattr(obj, attr, old)
            else:
                delattr(obj, attr)


def _split(events: Any) -> dict[str, float]:
    """Seconds of each part (forward + matched backward), ``step`` in all and ``other``, from profiler events."""
    ranges = {p: [] for p in PARTS}
    steps = []
    for e in events:
        if e.name == "bench::step":
            steps.append(e)
        elif e.name.startswith("bench::") and e.name[7:] in ranges:
            ranges[e.name[7:]].append(e)
    seconds = {p: sum(e.cpu_time_total for e in ranges[p]) * 1e-6 for p in PARTS}
    spans = sorted((e.time_range.start, e.time_range.end, p) for p in PARTS for e in ranges[p])
    owner: dict[int, str] = {}
    import bisect

    starts = [s[0] for s in spans]
    backward = []
    for e in events:
        if e.name.startswith(BACKWARD_PREFIX):
            backward.append(e)
        elif e.sequence_nr >= 0 and not e.name.startswith("bench::"):
            i = bisect.bisect_right(starts, e.time_range.start) - 1
            if i >= 0 and spans[i][1] >= e.time_range.end:  # the labels do not nest: the latest start holds it
                owner.setdefault(e.sequence_nr, spans[i][2])
    for e in backward:
        part = owner.get(e.sequence_nr)
        if part is not None:
            seconds[part] += e.cpu_time_total * 1e-6
    total = sum(e.cpu_time_total for e in steps) * 1e-6
    return {**seconds, "other": total - sum(seconds.values()), "step": total}


def worker_main(argv: list[str]) -> int:
    """Line protocol on stdin/stdout: one JSON request per line, one JSON answer per line."""
    p = argparse.ArgumentParser()
    p.add_argument("--card", required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--threads", type=int, required=True)
    args = p.parse_args(argv)
    import kspbench

    w = Worker(args.card, args.store, args.profile, args.threads)
    print(
        json.dumps({"ready": True, "kspbench": kspbench.__file__, "rss_after_load_mib": w.rss_after_load}), flush=True
    )
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "steps":
            ans = w.steps(req["loss"], req["n"])
        elif req["cmd"] == "profile":
            ans = w.profile(req["loss"], req["n"])
        else:
            break
        ans["peak_rss_mib"] = _peak_rss_mib()
        print(json.dumps(ans), flush=True)
    return 0


# --- parent: trees, workers, alternation, report ------------------------------------------------------------------
class Side:
    """A worker process of one code tree."""

    def __init__(self, name: str, tree: Path, args: argparse.Namespace) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(args.threads)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--card",
                args.card,
                "--store",
                str(Path(args.store).resolve()),
                "--profile",
                args.profile,
                "--threads",
                str(args.threads),
            ],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        if not str(hello["kspbench"]).startswith(str(tree)):
            raise SystemExit(f"{name}: imported kspbench from {hello['kspbench']}, not from {tree}")
        self.rss_after_load = hello["rss_after_load_mib"]
        self.peak_rss = hello["rss_after_load_mib"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name}: the worker stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def ask(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ans = self._read()
        self.peak_rss = max(self.peak_rss, ans.pop("peak_rss_mib"))
        return ans

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def _worktree(commit: str, keep: contextlib.ExitStack) -> Path:
    """A detached worktree of ``commit`` in a temporary folder (removed at exit)."""
    folder = Path(keep.enter_context(tempfile.TemporaryDirectory(prefix="kspbench-tree-"))) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(folder), commit], check=True)
    keep.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False)
    return folder


def _fmt_shares(parts: dict[str, float]) -> str:
    step = parts["step"]
    return " ".join(f"{k} {100 * parts[k] / step:.0f}%" for k in (*PARTS, "other") if abs(parts[k]) >= 0.005 * step)


def run(args: argparse.Namespace) -> dict[str, Any]:
    losses = args.losses.split(",")
    with contextlib.ExitStack() as keep:
        trees = {
            "old": _worktree(args.baseline, keep),
            "new": ROOT if args.candidate is None else _worktree(args.candidate, keep),
        }
        sides = {}
        for name, tree in trees.items():
            sides[name] = Side(name, tree, args)
            keep.callback(sides[name].close)
        # Samples per wall second, and per CPU second of the worker (less moved by other jobs on the cores).
        rates: dict[str, dict[str, list[float]]] = {n: {loss: [] for loss in losses} for n in sides}
        cpu_rates: dict[str, dict[str, list[float]]] = {n: {loss: [] for loss in losses} for n in sides}
        for loss in losses:  # warm-up, not counted
            for s in sides.values():
                s.ask(cmd="steps", loss=loss, n=2)
        order = list(sides)
        for r in range(args.rounds):
            for loss in losses:
                for name in order if r % 2 == 0 else order[::-1]:
                    ans = sides[name].ask(cmd="steps", loss=loss, n=args.steps)
                    rates[name][loss].append(args.steps * ans["batch"] / ans["seconds"])
                    cpu_rates[name][loss].append(args.steps * ans["batch"] / ans["cpu_seconds"])
                    batch = ans["batch"]
        shares = (
            {
                n: {loss: s.ask(cmd="profile", loss=loss, n=args.profile_steps) for loss in losses}
                for n, s in sides.items()
            }
            if args.profile_steps
            else {}
        )
        return {
            "baseline": args.baseline,
            "candidate": args.candidate or "working tree",
            "threads": args.threads,
            "batch": batch,
            "rates": rates,
            "cpu_rates": cpu_rates,
            "shares": shares,
            "rss_after_load_mib": {n: s.rss_after_load for n, s in sides.items()},
            "peak_rss_mib": {n: s.peak_rss for n, s in sides.items()},
        }


def _rate_lines(rates: dict[str, dict[str, list[float]]], batch: int, unit: str) -> list[str]:
    """Per loss and for the whole cycle: each side's median (min) over rounds and the per-round new/old ratio."""

    def row(name: str, old: list[float], new: list[float]) -> str:
        ratio = sorted(n / o for n, o in zip(new, old))
        return (
            f"  {name:9s} old {statistics.median(old):6.1f} ({min(old):6.1f})  new {statistics.median(new):6.1f}"
            f" ({min(new):6.1f})  new/old {statistics.median(ratio):.2f} [{ratio[0]:.2f}, {ratio[-1]:.2f}]"
        )

    lines = [f"  samples per {unit} second:"]
    lines += [row(loss, rates["old"][loss], rates["new"][loss]) for loss in rates["old"]]
    # The cycle's rate: samples over the time of one step of each loss, per round.
    rounds = len(next(iter(rates["old"].values())))
    cyc = {
        n: [len(rates[n]) * batch / sum(batch / r[i] for r in rates[n].values()) for i in range(rounds)] for n in rates
    }
    return lines + [row("cycle", cyc["old"], cyc["new"])]


def report(res: dict[str, Any]) -> str:
    lines = [
        f"old = {res['baseline']}, new = {res['candidate']}; {res['threads']} torch thread(s); samples/s as "
        "median (min) over rounds; new/old per round as median [min, max]"
    ]
    lines += _rate_lines(res["rates"], res["batch"], "wall")
    lines += _rate_lines(res["cpu_rates"], res["batch"], "CPU")
    for name, per_loss in res["shares"].items():
        for loss, parts in per_loss.items():
            lines.append(f"  {name} {loss:9s} {1e3 * parts['step']:6.0f} ms/step (profiled): {_fmt_shares(parts)}")
    lines.append(
        "  peak RSS MiB (after loading the data -> end): "
        + ", ".join(
            f"{n} {res['rss_after_load_mib'][n]:.0f} -> {res['peak_rss_mib'][n]:.0f}" for n in res["peak_rss_mib"]
        )
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="HEAD", help="commit of the old side (default HEAD)")
    p.add_argument("--candidate", default=None, help="commit of the new side (default: the working tree)")
    p.add_argument("--store", default=str(ROOT / "data" / "world.h5"))
    p.add_argument("--card", default="unsup")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--losses", default="prior,paired,unpaired")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10, help="steps per loss per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile-steps", type=int, default=5, help="profiled steps per loss and side (0: none)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    res = run(args)
    print(report(res))
    if args.json:
        from kspbench.infra.atomic import write_text

        write_text(Path(args.json), json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
