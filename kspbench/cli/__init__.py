"""The ``kspbench`` command line: one module per subcommand, heavy imports deferred so ``--help`` is fast.

Every user error (bad input, missing file, wrong shape, an output that is an input or cannot be written, any
OSError from the file system) prints one line to stderr and exits with status 2; a traceback (exit 1) means a bug
in kspbench.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from kspbench import __version__
from kspbench.errors import KspbenchError

EXIT_USAGE = 2


class UserError(KspbenchError):
    """An error in what the user asked for or gave us; shown as one line, exit status 2."""


def comma_list(text: str | None) -> list[str]:
    """A comma-separated option value as its items, blanks dropped: ``"S9, S11,"`` -> ``["S9", "S11"]``; ``None``
    or an empty string -> ``[]``."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


# Each subcommand module exposes ``register(subparsers) -> None``; its parser sets ``func``.
_SUBCOMMANDS = (
    "data",
    "evaluate",
    "import_predictions",
    "world",
    "train",
    "table",
    "leaderboard",
    "figures",
    "diagnose",
    "check",
    "bench",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other user error (sub-parsers inherit the class)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    try:
        return int(func(args) or 0)
    except KspbenchError as err:
        # Every domain error (store, protocol, output, model card, ...) derives from it: caught here, once.
        print(f"kspbench: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        # The file system said no (permissions, disk full, a path that is a folder): the user's environment, not a
        # kspbench bug, so one line naming the file.
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"kspbench: error: {_one_line(where + (err.strerror or str(err)))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kspbench: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    # A message quoting user data (a file name, a key) could hold a newline; the contract is one line.
    return " ".join(message.split("\n"))
