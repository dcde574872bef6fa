"""``kspbench bench``: measure the speed of kspbench's own code on this machine."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "bench",
        help="measure kspbench's speed on this machine",
        description="Time the differentiable kinematic core (Tfk -> Tc -> Tm, forward and backward) per sample and "
        "write the figures, with the machine's provenance, as JSON. Figures only: nothing is asserted.",
        epilog="Examples:\n  kspbench bench\n  kspbench bench --batch 64 --sizes 16,56 --out results/bench.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    b.add_argument("--sizes", default="16,56", help="comma-separated map sizes (default 16,56)")
    b.add_argument("--min-seconds", type=float, default=1.0, help="time spent per measurement (default 1.0)")
    b.add_argument("--out", help="JSON file to write (atomically)")
    b.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from kspbench.cli import UserError
    from kspbench.infra.provenance import provenance
    from kspbench.tools.bench import bench_kinematic_core

    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        raise UserError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    if args.batch < 1 or any(s < 1 for s in sizes) or args.min_seconds <= 0:
        raise UserError("--batch, --sizes and --min-seconds must be positive")
    rows = bench_kinematic_core(args.batch, sizes, min_seconds=args.min_seconds)
    print(
        tabulate(
            [
                [r["benchmark"], r["batch"], r["map_size"], f"{r['per_batch_ms']:.2f}", f"{r['per_sample_us']:.1f}"]
                for r in rows
            ],
            headers=["benchmark", "batch", "map size", "ms / batch", "us / sample"],
        )
    )
    if args.out:
        from kspbench.infra.atomic import write_text

        out = write_text(args.out, json.dumps({"kinematic_core": rows, **provenance()}, indent=2) + "\n")
        print(f"wrote {out}")
    return 0
