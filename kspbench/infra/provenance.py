"""Provenance recorded with every result: versions, git commit, hashes of inputs and configs, time."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kspbench import __version__

_HASH_BLOCK = 1 << 20


# Files at least this large have their digest remembered (below it, hashing is as quick as the lookup).
_REMEMBER_BYTES = 8 << 20
_HEX = frozenset("0123456789abcdef")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks.

    The digest of a large file is remembered for that very version of the file (device, inode, size, modification
    and status-change times: kspbench/infra/passed_checks.py), because every result of a pipeline records the
    store's digest: 0.23 s of hashing per result on the cpu world, 56 results in the default ``dvc repro``.
    """
    from kspbench.infra.passed_checks import check_key, record_pass, recorded_text

    key = check_key("sha256", "1", path) if os.path.getsize(path) >= _REMEMBER_BYTES else None
    known = recorded_text(key)
    if known is not None and len(known) == 64 and set(known) <= _HEX:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_HASH_BLOCK), b""):
            h.update(block)
    digest = h.hexdigest()
    record_pass(key, digest)
    return digest


def config_sha256(config: Any) -> str:
    """Hex sha256 of a JSON-serialisable config, independent of key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def git_state(start: str | os.PathLike | None = None) -> dict[str, Any]:
    """{'commit': sha or None, 'dirty': bool or None} of the git checkout holding ``start`` (default: this package)."""
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):  # not a checkout (an installed wheel) or no git
        return {"commit": None, "dirty": None}


def environment() -> dict[str, Any]:
    """Versions of the interpreter and the libraries that change numbers."""
    import numpy

    versions: dict[str, Any] = {
        "kspbench": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch"] = torch.__version__
        versions["torch_threads"] = torch.get_num_threads()
    else:
        # The evaluator does not use torch: its version from the package metadata, without the import (about 2 s
        # of every eval stage on this machine).
        try:
            versions["torch"] = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            versions["torch"] = None
    return versions


def provenance(**extra: Any) -> dict[str, Any]:
    """Everything a result file records about how it was made; ``extra`` adds seeds, hashes, configs."""
    return {
        "kspbench": {**environment(), "git": git_state()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
