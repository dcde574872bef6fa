"""A per-user record of the files a check has passed, so that the next process opening the same file skips it.

The pipeline opens one store in some fifty processes (train, predict, eval, baselines), and each ran the store's
structure check (about a second on the smoke store). A pass is recorded as an empty marker file whose name hashes
the check's name and version and the file's identity: device, inode, size, modification and status-change times in
nanoseconds. Any write to the file, a copy or a replacement changes the status-change time (which no user call can
set back), so a changed file is checked again; so is every file after the checking code changes (its version is the
caller's hash of that code). Only passes are recorded. The folder is ``$KSPBENCH_CACHE_DIR`` or
``$XDG_CACHE_HOME/kspbench`` (default ``~/.cache/kspbench``), under ``passed-checks/``; ``KSPBENCH_CACHE_DIR=off``
turns the record off, and a folder that cannot be written only costs the time it would have saved.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kspbench.infra.atomic import write_bytes

__all__ = ["cache_dir", "check_key", "has_passed", "record_pass", "recorded_text"]


def cache_dir() -> Path | None:
    """The folder of the markers, or None when ``KSPBENCH_CACHE_DIR=off``."""
    chosen = os.environ.get("KSPBENCH_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen) / "passed-checks"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kspbench" / "passed-checks"


def check_key(check: str, version: str, path: str | os.PathLike) -> Path | None:
    """The marker of ``check`` at ``version`` for ``path`` as it is now; None when the record is off or the file
    cannot be stat'ed. Take it BEFORE checking: a file that changes during the check then gets another key."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    identity = f"{check}\0{version}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    return folder / hashlib.sha256(identity.encode()).hexdigest()


def has_passed(key: Path | None) -> bool:
    """Whether the check and file version of ``key`` (:func:`check_key`) have passed before."""
    return key is not None and key.is_file()


def recorded_text(key: Path | None) -> str | None:
    """What :func:`record_pass` wrote under ``key`` (e.g. a digest of the file), or None when nothing was."""
    if key is None:
        return None
    try:
        return key.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def record_pass(key: Path | None, text: str = "") -> None:
    """Record a pass under ``key`` (:func:`check_key`), with ``text`` as the marker's content (empty for a plain
    pass); skipped silently where the folder cannot be written."""
    if key is None:
        return
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(key, text.encode())
    except OSError:  # a read-only home or cache: the check simply runs again next time
        pass
