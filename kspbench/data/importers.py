"""Drive a format reader into a pose store: progress, skip what is there, resume what was interrupted.

``run_import(out, jobs, ...)`` writes the sequences of ``jobs`` (from a ``kspbench.data.formats`` reader's ``scan``)
with ``StoreWriter(out, resume=True)``:

* An interrupted import leaves ``<out>.partial`` holding the sequences completed so far; the next run with the same
  options reopens it and skips them.
* Re-running on a finished store copies it to ``<out>.partial``, skips the sequences it holds and adds the new ones
  (a run that would add nothing leaves the store untouched). ``force=True`` starts from nothing instead.
* The store is renamed to ``out`` only once every sequence is written and the file validates, so a failure never
  leaves a half-written store under the final name.

The store's ``source`` attribute is a JSON object: importer, inputs, options (the settings that change the stored
arrays; a partial or existing store written with other options is refused unless ``force``), facts relied on,
notes (truncations, known defects) and checks (how well each camera reproduces the 2D annotations, how a
user's camera file compares with the published one) accumulated over runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import h5py

from kspbench.data.formats import FormatError, SequenceJob
from kspbench.data.store import PoseStore, StoreError, StoreWriter, partial_path


class ImportConflict(FormatError):
    """The output (or its partial file) was written by an import with other settings."""


@dataclass
class ImportReport:
    """What a run did."""

    path: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    unchanged: bool = False


def _read_source(path: Path) -> tuple[str | None, dict | None]:
    """(dataset, parsed source JSON) of an existing store or partial; (None, None) if unreadable."""
    try:
        with h5py.File(path, "r") as h5:
            dataset, source = h5.attrs.get("dataset"), h5.attrs.get("source")
    except OSError:
        return None, None
    dataset = dataset.decode() if isinstance(dataset, bytes) else dataset
    try:
        parsed = json.loads(source.decode() if isinstance(source, bytes) else str(source))
    except (json.JSONDecodeError, TypeError):
        parsed = None
    return (str(dataset) if dataset is not None else None), (parsed if isinstance(parsed, dict) else None)


def _check_compatible(path: Path, what: str, dataset: str, options: dict) -> dict | None:
    got_dataset, got = _read_source(path)
    if got_dataset is None and got is None:
        return None  # unreadable partial: StoreWriter starts it over
    if got_dataset != dataset or got is None or got.get("options") != options:
        theirs = got.get("options") if got else None
        raise ImportConflict(
            f"{path}: {what} was written by another import (dataset {got_dataset!r}, options "
            f"{json.dumps(theirs, sort_keys=True)}; now {dataset!r}, "
            f"{json.dumps(options, sort_keys=True)}); rerun with the same options or pass --force"
        )
    return got


def _merge(old: Sequence[str], new: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*old, *new]))


def run_import(
    out: str | os.PathLike,
    jobs: Sequence[SequenceJob],
    *,
    dataset: str,
    source: dict[str, Any],
    force: bool = False,
    progress: bool = True,
) -> ImportReport:
    """Write ``jobs`` into the store ``out`` (module docstring).

    Args:
        out: final store path.
        jobs: sequences to write, from a reader's ``scan``.
        dataset: the store's ``dataset`` attribute (e.g. "h36m").
        source: JSON-serialisable description; its ``options`` entry decides whether an existing partial or store
            may be resumed/extended. ``notes`` of the jobs are appended to ``source["notes"]``.
        force: discard any partial file and existing store content.
        progress: show a tqdm progress bar (on stderr).

    Raises:
        ImportConflict: an existing store/partial was written with other options (and not ``force``).
        FormatError: from the readers; the partial file keeps the sequences completed so far.
    """
    from kspbench.infra.atomic import exclusive_lock

    # The whole import (discarding, copying and resuming <out>.partial) is one writer's: a second import or world
    # build onto the same OUT is refused at once instead of sharing the partial file.
    with exclusive_lock(out, what="importing into"):
        return _run_import(Path(out), jobs, dataset=dataset, source=source, force=force, progress=progress)


def _run_import(
    out: Path, jobs: Sequence[SequenceJob], *, dataset: str, source: dict[str, Any], force: bool, progress: bool
) -> ImportReport:
    from tqdm import tqdm

    partial = partial_path(out)
    options = source.get("options", {})
    report = ImportReport(path=out)
    old_source: dict | None = None
    if force:
        if partial.exists():
            partial.unlink()
    elif partial.exists():
        old_source = _check_compatible(partial, "the partial file of an interrupted import", dataset, options)
    elif out.exists():
        old_source = _check_compatible(out, "the existing store", dataset, options)
        if old_source is None:
            raise ImportConflict(f"{out}: exists and is not a readable pose store; pass --force to replace it")
        with PoseStore(out) as store:
            present = {(i.subject, i.sequence) for i in store.sequences()}
        if all((j.subject, j.sequence) in present for j in jobs):
            report.unchanged = True
            report.skipped = [f"{j.subject}/{j.sequence}" for j in jobs]
            report.notes = list(old_source.get("notes", []))
            report.checks = list(old_source.get("checks", []))
            return report
        from kspbench.infra.atomic import temporary_path

        with temporary_path(partial) as tmp:  # a unique name: a crash mid-copy leaves no half partial file
            shutil.copyfile(out, tmp)

    notes = [n for j in jobs for n in j.notes]
    src = dict(source)
    if old_source is not None:
        src["inputs"] = _merge(old_source.get("inputs", []), source.get("inputs", []))
        notes = _merge(old_source.get("notes", []), notes)
    src["notes"] = notes
    report.notes = notes
    old_checks = list(old_source.get("checks", [])) if old_source is not None else []

    def source_now() -> str:
        # Checks are results of loading (reprojection of a camera), so the source is rewritten after each sequence:
        # an interrupted import keeps the checks of the sequences it completed.
        src["checks"] = report.checks = _merge(old_checks, [c for j in jobs for c in j.checks])
        return json.dumps(src, sort_keys=True)

    with StoreWriter(out, dataset=dataset, source=source_now(), resume=True) as writer:
        # disable=None: no bar when stderr is not a terminal (logs, CI).
        bar = tqdm(jobs, desc=f"import {dataset}", unit="seq", disable=None if progress else True, file=sys.stderr)
        for job in bar:
            bar.set_postfix_str(job.label, refresh=False)
            if writer.has_sequence(job.subject, job.sequence):
                report.skipped.append(f"{job.subject}/{job.sequence}")
                continue
            seq = job.load()
            if (seq.subject, seq.sequence) != (job.subject, job.sequence):  # a reader bug, not a user error
                raise RuntimeError(f"job {job.label} produced {seq.subject}/{seq.sequence}")
            try:
                writer.add_sequence(seq)
            except StoreError as err:
                raise FormatError(f"{job.label}: {err}") from None
            writer.set_attr("source", source_now())
            report.written.append(f"{job.subject}/{job.sequence}")
        bar.close()
    return report


def warn_to_stderr(message: str) -> None:
    """One-line warning on stderr that does not break a running tqdm bar."""
    from tqdm import tqdm

    tqdm.write(f"kspbench: warning: {message}", file=sys.stderr)
