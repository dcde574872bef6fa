"""``kspbench check``: the regression gate CI runs after the tests (golden evaluation, smoke metrics, losses)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "check",
        help="regression gate: golden evaluation, smoke-pipeline metrics and losses vs baselines/",
        description="(a) Recompute the committed golden results (baselines/golden/) exactly; (b) run the pipeline "
        "(dvc.yaml) end to end in a scratch copy of the checkout with the smoke profiles and compare "
        "every metric with baselines/smoke.json within its recorded tolerance; (c) check that the smoke "
        "losses fall; (d) check that no trained card collapsed onto one pose (spread ratio above its "
        "recorded bound) or fell behind the constant-pose baseline it beat when recorded. Prints a "
        "table of what moved; exit 1 when a check fails, 2 when it cannot run. Run it from a kspbench "
        "checkout.",
        epilog="Examples:\n"
        "  kspbench check                      # all four (about 3 minutes on 2 cores)\n"
        "  kspbench check --golden-only        # seconds\n"
        "  kspbench check --record --seeds 3   # re-measure baselines/smoke.json after an intended change",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--repo", default=".", help="the kspbench checkout (default: .)")
    c.add_argument("--baselines", help="baselines folder (default: REPO/baselines)")
    c.add_argument("--golden-only", action="store_true", help="only (a), the golden evaluation")
    c.add_argument("--workdir", help="run the smoke pipeline here and keep it (default: a temporary folder, removed)")
    c.add_argument(
        "--record",
        action="store_true",
        help="run the smoke pipeline with --seeds seeds and write baselines/smoke.json from it",
    )
    c.add_argument("--seeds", type=int, default=3, help="seeds for --record (default: 3, at least 3)")
    c.add_argument("--show-all", action="store_true", help="print every compared number, not only what moved")
    c.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from kspbench.cli import UserError
    from kspbench.tools.check import golden_findings, record, run_smoke, scratch_dir, smoke_findings

    repo = Path(args.repo).resolve()
    base = Path(args.baselines) if args.baselines else repo / "baselines"
    findings = []
    if args.record:
        if args.seeds < 3:
            raise UserError("--record needs --seeds 3 or more: tolerances come from the spread over seeds")
        work = scratch_dir(args.workdir)
        run_smoke(repo, work, seeds=args.seeds)
        data = record(work, args.seeds)
        from kspbench.infra.atomic import write_text

        out = write_text(base / "smoke.json", json.dumps(data, indent=1, sort_keys=True) + "\n")
        n = sum(len(ms) for p in data["metrics"].values() for ms in p.values())
        print(
            f"wrote {out}: {n} metrics, falling losses of {len(data['falling_losses'])} cards, spread bounds "
            f"of {len(data['spread_bounds'])} cards, {len(data['beats_const'])} cards beat const"
        )
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    findings += golden_findings(base / "golden")
    if not args.golden_only:
        smoke = base / "smoke.json"
        if not smoke.is_file():
            raise UserError(f"{smoke}: no smoke baselines; record them with `kspbench check --record`")
        baseline = json.loads(smoke.read_text())
        work = scratch_dir(args.workdir)
        try:
            run_smoke(repo, work, seeds=1)
            findings += smoke_findings(work, baseline)
        finally:
            if not args.workdir:
                shutil.rmtree(work, ignore_errors=True)
    failed = [f for f in findings if not f.ok]
    # collapse/floor deltas are margins to a bound, not movements: shown only when they fail (or with --show-all).
    moved = [f for f in findings if args.show_all or not f.ok or _moved(f)]
    if moved:
        print(
            tabulate(
                [
                    [
                        f.check,
                        f.what,
                        f.expected,
                        f.got,
                        "" if f.delta is None else f"{f.delta:+.4g}",
                        "" if f.tolerance is None else f"{f.tolerance:.3g}",
                        "ok" if f.ok else "FAIL",
                    ]
                    for f in moved
                ],
                headers=["check", "what", "baseline", "now", "delta", "tolerance", ""],
                tablefmt="github",
            )
        )
    by = {k: [f for f in findings if f.check == k] for k in ("golden", "metric", "loss", "collapse", "floor")}
    print(
        "; ".join(f"{k}: {sum(f.ok for f in v)}/{len(v)} ok" for k, v in by.items() if v)
        + (" -- nothing moved" if not moved else "")
    )
    return 1 if failed else 0


# A relative difference this small is rounding (e.g. AVX2 against AVX-512 sums in numpy), not a movement.
FLOAT_NOISE = 1e-12


def _moved(f) -> bool:
    """A golden or metric finding whose value differs from the baseline by more than rounding."""
    if f.delta is None or f.check not in ("golden", "metric"):
        return False
    try:
        scale = max(1.0, abs(float(f.got)))
    except (TypeError, ValueError):
        scale = 1.0
    return abs(f.delta) > FLOAT_NOISE * scale
