"""The ``kspbench`` command line: one module per subcommand, heavy imports deferred so ``--help`` is fast.

Every user error (bad input, missing file, wrong shape) prints one line to stderr and exits with status 2; a
traceback means a bug in kspbench.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from kspbench import __version__

EXIT_USAGE = 2


class UserError(Exception):
    """An error in what the user asked for or gave us; shown as one line, exit status 2."""


# Each subcommand module exposes ``register(subparsers) -> None``; its parser sets ``func``.
_SUBCOMMANDS = ("data", "evaluate", "world", "train", "table", "leaderboard", "figures", "diagnose", "check",
                "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kspbench",
        description="Benchmark and evaluation harness for unsupervised monocular 3D human pose estimation "
                    "(KSP, Kundu et al., AAAI 2020).",
        epilog="Examples:\n  kspbench data validate data/world.h5\n  kspbench data info data/world.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kspbench {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        module = __import__(f"kspbench.cli.{name}", fromlist=["register"])
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    from kspbench.store import StoreError

    try:
        return int(func(args) or 0)
    except (UserError, StoreError) as err:
        print(f"kspbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kspbench: interrupted", file=sys.stderr)
        return 130


