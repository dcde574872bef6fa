"""A training run's folder: its layout, checkpoints, CSV logs and JSON records.

========================  ==========================================================================================
``checkpoint.pt``         model, every optimiser, the numpy generator's state, step; replaced atomically
``log.csv``               every step's losses (:data:`LOG_COLUMNS`), appended step by step (DVC plots)
``val.csv``               validation MPJPE / P-MPJPE in mm (:data:`VAL_COLUMNS`), appended at each validation
``run.json``              the resolved card, profile and stages
``summary.json``          timings, throughput, provenance (the only file that differs between two identical runs)
========================  ==========================================================================================

Whole files are written through :mod:`kspbench.infra.atomic`; the two logs grow by appended rows, and a resumed run
first cuts them back to its checkpoint's step (:meth:`RunFolder.start_logs`), so a crash never leaves rows past it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator

import torch

from kspbench.errors import KspbenchError
from kspbench.infra.atomic import write_bytes, write_text
from kspbench.model import losses as L
from kspbench.model.cards import LOSSES

__all__ = [
    "TrainingError",
    "RunFolder",
    "StepLog",
    "load_checkpoint",
    "CHECKPOINT_NAME",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "LOG_COLUMNS",
    "VAL_COLUMNS",
]

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "kspbench-ksp-checkpoint"
CHECKPOINT_VERSION = 1
LOG_COLUMNS = ("step", "stage", "loss", "value") + tuple(t for loss in LOSSES for t in L.TERMS[loss])
VAL_COLUMNS = ("step", "frames", "mpjpe_mm", "p_mpjpe_mm")


class TrainingError(KspbenchError):
    """A run cannot start or continue (bad card, store, checkpoint, or a non-finite loss); one line."""


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint (``weights_only``: no code runs) and check its format."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for unreadable files
        raise TrainingError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a kspbench KSP checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise TrainingError(
            f"{path}: checkpoint version {ckpt.get('version')} (this kspbench reads {CHECKPOINT_VERSION})"
        )
    return ckpt


def _cell(value: Any) -> str:
    """A CSV cell: floats by ``repr`` (every bit kept), None empty."""
    return "" if value is None else (repr(value) if isinstance(value, float) else str(value))


def _truncate_csv(path: Path, columns: tuple[str, ...], last_step: int) -> None:
    """Keep the header and the complete rows up to ``last_step`` (an interrupted run may have left more)."""
    rows = []
    if path.is_file():
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header == list(columns):
                for r in reader:
                    if len(r) == len(columns) and r[0].isdigit() and int(r[0]) <= last_step:
                        rows.append(r)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    write_text(path, buf.getvalue())


class StepLog:
    """``log.csv`` open for appending, one row per step (a no-op log on ranks that write no files)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self._writer = csv.writer(f, lineterminator="\n") if f is not None else None

    def write(self, row: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.writerow([_cell(row.get(c)) for c in LOG_COLUMNS])

    def sync(self) -> None:
        """Flush the rows to disk: a checkpoint written next never runs ahead of its log."""
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())


class RunFolder:
    """The files of one run in ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.log = self.path / "log.csv"
        self.val = self.path / "val.csv"
        self.run_record = self.path / "run.json"
        self.summary = self.path / "summary.json"

    def has_checkpoint(self) -> bool:
        return self.checkpoint.exists()

    def read_checkpoint(self) -> dict[str, Any]:
        return load_checkpoint(self.checkpoint)

    def create(self, *, resume: bool) -> None:
        """Make the folder; a fresh run refuses one that holds a checkpoint already."""
        if not resume and self.has_checkpoint():
            raise TrainingError(f"{self.checkpoint} exists: pass --resume to continue that run, or use a new --out")
        self.path.mkdir(parents=True, exist_ok=True)

    def write_checkpoint(self, state: dict[str, Any]) -> Path:
        buf = io.BytesIO()
        torch.save(state, buf)
        return write_bytes(self.checkpoint, buf.getvalue())

    def start_logs(self, step: int, *, val: bool) -> None:
        """Cut ``log.csv`` (and ``val.csv`` when the run validates) back to the rows up to ``step``."""
        _truncate_csv(self.log, LOG_COLUMNS, step)
        if val:
            _truncate_csv(self.val, VAL_COLUMNS, step)

    @contextlib.contextmanager
    def step_log(self, *, enabled: bool) -> Iterator[StepLog]:
        """Append rows to ``log.csv`` inside the block (``enabled=False``: write nothing)."""
        if not enabled:
            yield StepLog(None)
            return
        with open(self.log, "a", newline="") as f:
            yield StepLog(f)

    def append_val(self, row: dict[str, Any]) -> None:
        with open(self.val, "a", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow([_cell(row[c]) for c in VAL_COLUMNS])

    def write_run_record(self, record: dict[str, Any]) -> None:
        _write_json(self.run_record, record)

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_json(self.summary, summary)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
