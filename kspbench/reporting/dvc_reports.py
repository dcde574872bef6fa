"""The files ``dvc metrics`` and ``dvc plots`` read, in the shapes DVC compares and draws.

* Metrics: one small JSON per row and protocol, ``<folder>/<row>/<protocol>.json`` = ``{metric: value}``.
  ``dvc metrics show`` prints one line per file (a row under a protocol) with a column per metric, and
  ``dvc metrics diff A B`` compares every number between two commits (the folder is committed, not git-ignored).
* Plots: wide CSV tables, the x column then one column per series (a row of the tables, or a card's validation
  curve); DVC draws each column named in dvc.yaml's top-level ``plots`` as its own line. A series without a value at
  some x leaves that cell empty.

Row and protocol names become path parts through :func:`path_name`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Mapping

from kspbench.errors import KspbenchError
from kspbench.infra.atomic import write_text

__all__ = ["path_name", "write_metrics", "wide_csv", "write_wide_csv"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def path_name(name: str) -> str:
    """``name`` as one safe path part: runs of other characters than letters, digits and ``._+-`` become ``_``
    (``custom:h36m-p2`` -> ``custom_h36m-p2``); never empty, never a dot-file."""
    safe = _UNSAFE.sub("_", name).strip("_")
    return safe if safe and not safe.startswith(".") else "_" + safe


def write_metrics(summary: Mapping[str, Mapping[str, Mapping[str, float]]], folder: str | os.PathLike) -> list[Path]:
    """Write ``summary`` (row -> protocol -> metric -> value) as ``folder/<row>/<protocol>.json``.

    Every file is written atomically. Nothing is deleted: the folder may hold other files, and ``dvc repro`` empties
    a stage's outputs before it runs, so a row that left the results leaves no file behind there.

    Returns:
        The written paths, sorted.

    Raises:
        KspbenchError: two rows (or two protocols of a row) whose names map to the same path part.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)  # present even when empty: DVC declares the folder as an output
    planned: dict[Path, Mapping[str, float]] = {}
    for row, protocols in summary.items():
        for protocol, metrics in protocols.items():
            path = folder / path_name(row) / f"{path_name(protocol)}.json"
            if path in planned:
                raise KspbenchError(f"two metrics files map to {path} (row {row!r}, protocol {protocol!r}); rename one")
            planned[path] = metrics
    for path, metrics in sorted(planned.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps({k: metrics[k] for k in sorted(metrics)}, indent=1) + "\n")
    return sorted(planned)


def wide_csv(x_name: str, series: Mapping[str, Mapping[float, float]]) -> str:
    """The CSV text: header ``x_name, <series names in the given order>``, one line per x (ascending) of any series.

    Numbers are written with ``repr`` (round-trips exactly); a series without a value at an x leaves the cell empty.
    """
    xs = sorted({x for values in series.values() for x in values})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([x_name, *series])
    for x in xs:
        cells = [repr(float(v[x])) if x in v else "" for v in series.values()]
        w.writerow([int(x) if float(x).is_integer() else repr(float(x)), *cells])
    return buf.getvalue()


def write_wide_csv(path: str | os.PathLike, x_name: str, series: Mapping[str, Mapping[float, float]]) -> Path:
    """:func:`wide_csv` written atomically to ``path``."""
    return write_text(Path(path), wide_csv(x_name, series))
