"""``kspbench data``: inspect and validate pose stores."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser(
        "data",
        help="inspect and validate pose stores",
        description="Inspect and validate kspbench pose stores (HDF5, layout v1).",
    )
    dsub = data.add_subparsers(title="data commands", metavar="COMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    from kspbench.cli.data_import import register_export, register_import

    register_import(dsub)
    register_export(dsub)

    val = dsub.add_parser(
        "validate",
        help="check a store against layout v1",
        description="Check a pose store against layout v1: attributes, shapes, finite values "
        "in valid frames, orthonormal rotations. Exit 0 if valid, 2 if not.",
        epilog="Example:\n  kspbench data validate data/world.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    val.add_argument("store", help="path of the .h5 store")
    val.add_argument(
        "--deep",
        action="store_true",
        help="also read every chunk of every array (images included): finds bit rot and truncation",
    )
    val.set_defaults(func=_validate)

    info = dsub.add_parser(
        "info",
        help="summarise a store: dataset, roles, frames",
        description="Print what a store holds: dataset, source, sequences and frames per role.",
        epilog="Example:\n  kspbench data info data/world.h5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("store", help="path of the .h5 store")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=_info)


def _validate(args: argparse.Namespace) -> int:
    from kspbench.data.store import validate

    problems = validate(args.store, deep=args.deep)
    if problems:
        from kspbench.cli import UserError

        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        raise UserError(f"{args.store} is not a valid store: {shown}")
    print(f"{args.store}: valid (layout v1)")
    return 0


def _info(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from kspbench.data.store import check_store, summary

    check_store(args.store)
    s = summary(args.store)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"{s['path']}: dataset {s['dataset']}, layout v{s['layout_version']}, subjects {', '.join(s['subjects'])}")
    print(f"source: {s['source']}")
    rows = [(role, r["sequences"], r["frames"], r["camera_frames"]) for role, r in sorted(s["roles"].items())]
    print(tabulate(rows, headers=["role", "sequences", "frames", "camera-frames"]))
    for line in _import_checks(s["source"]):
        print(f"check: {line}")
    return 0


def _import_checks(source: str) -> list[str]:
    """The importer's check lines (camera fits, reprojection, cameras-file comparisons) of a store's source JSON."""
    try:
        parsed = json.loads(source)
    except (json.JSONDecodeError, TypeError):
        return []  # a store written by something else than an importer: free text
    checks = parsed.get("checks", []) if isinstance(parsed, dict) else []
    return [str(c) for c in checks] if isinstance(checks, list) else []
