"""The one output policy of every kspbench writer.

* An output never resolves to an input of the same command (:func:`refuse_inputs`): writing a result over the
  predictions it scores, or a store over itself, would destroy the input before the write can fail.
* An output's place is checked before any work (:func:`check_output`): a directory, a parent that is a file or an
  unwritable folder is one line, not a traceback after minutes of work.
* A file is written under a unique temporary name in its target folder (``mkstemp``: ``.<name>.<random>.tmp``),
  flushed to disk, then renamed onto its name (:func:`write_with`, :func:`temporary_path`). Concurrent writers of
  the same output never share a temporary name, and a reader (or a crash) never sees half a file under the name.
* Long writers (stores: world builds, imports) hold an exclusive lock on ``<out>.lock`` (:func:`exclusive_lock`);
  a second writer of the same output is refused at once. The lock is ``flock``-based, so a killed process never
  leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from kspbench.errors import KspbenchError

__all__ = [
    "OutputError",
    "write_with",
    "write_addressed",
    "write_bytes",
    "write_text",
    "temporary_path",
    "refuse_inputs",
    "check_output",
    "check_output_dir",
    "exclusive_lock",
    "lock_path",
]

LOCK_SUFFIX = ".lock"


class OutputError(KspbenchError):
    """An output path cannot be written as asked (it is an input, a directory, not writable, locked); one line."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mkstemp(path: Path) -> tuple[int, Path]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp creates 0600; a finished output gets the permissions a plain open() would have given it.
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, Path(tmp)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def temporary_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path`` (the file exists, empty); on success it is synced and renamed
    onto ``path``, on an exception removed. For writers that need a file name (h5py)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_synced(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """``write`` into a unique temporary file beside ``path``, flushed and synced; returns its name (the caller
    renames it or removes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def write_with(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(binary file)`` on a unique temporary file beside ``path``, sync it, then rename it onto ``path``."""
    path = Path(path)
    tmp = _write_synced(path, write)
    try:
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def write_addressed(
    like: str | os.PathLike, write: Callable[[BinaryIO], object], name: Callable[[str], str]
) -> tuple[Path, str]:
    """Write a file whose name depends on its content: ``write`` goes to a unique temporary file beside ``like``,
    which is synced and renamed to ``name(sha256 hex of the bytes)`` in the same folder. Returns (path, sha256)."""
    import hashlib

    like = Path(like)
    tmp = _write_synced(like, write)
    try:
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        final = like.with_name(name(h.hexdigest()))
        os.replace(tmp, final)
        _fsync_dir(like.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return final, h.hexdigest()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_with(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def refuse_inputs(
    outputs: Iterable[str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None], *, option: str = "--out"
) -> None:
    """Raise :class:`OutputError` if any output is the same file as any input (symlinks, ``..``, hard links).

    Every file a command writes is an output here, including files written beside the named one (a result's
    per-frame file), so that no input is ever overwritten.
    """
    ins = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        if out is None:
            continue
        for inp in ins:
            if _same(Path(out), inp):
                raise OutputError(
                    f"{option} {out} is the input {inp}: writing it would destroy the input; choose another output path"
                )


def check_output(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """Refuse, before any work, an output path that cannot become a file: a directory, under a file, unwritable."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a directory; give a file name inside it")
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise OutputError(f"{option} {path}: {folder} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OutputError(f"{option} {path}: folder {folder} is not writable")
            break
    return path


def check_output_dir(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder that cannot be one: a file, under a file, unwritable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} is a file; give a folder")
    check_output(path / "_", option=option)
    return path


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


_held: dict[str, int] = {}  # lock files this process holds -> nesting depth (flock is per open file, not reentrant)


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: bool = False, what: str = "writing") -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` for the block.

    ``wait=False`` refuses at once with :class:`OutputError` when another process holds it (long writers: stores);
    ``wait=True`` blocks (short critical sections: committing a result). Reentrant within one process. The lock file
    is removed on release; a process killed while holding it releases the lock with its file descriptors.
    """
    lock = lock_path(path)
    key = os.path.realpath(lock)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(
                    f"{path}: another kspbench process is {what} it (lock {lock} is held); wait for "
                    "it to finish or choose another output"
                ) from None
            raise
        # The holder before us may have removed the lock file after we opened it: lock the file now on disk.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()  # before unlocking: a waiter re-checks that the file it locked is still the lock
        os.close(fd)
