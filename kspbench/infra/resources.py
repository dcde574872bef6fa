"""Data files that ship inside the package: protocol definitions and model cards.

``kspbench/protocols`` and ``kspbench/models`` are links to the checkout's top-level ``protocols/`` and ``models/``
(the copies a user reads and edits; one set of files, so they cannot drift). Building a wheel follows the links and
stores real files, so a plain ``pip install .`` reads the same bytes from site-packages. Profiles and the paper's
reference numbers live in the package itself (``kspbench/*/profiles.yaml``, ``kspbench/reporting/reference``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["SHIPPED", "shipped"]

# The folders of YAML files the package carries (pyproject.toml's package-data takes every *.yaml under kspbench).
SHIPPED = ("protocols", "models")


def shipped(name: str) -> Path:
    """The installed folder ``name`` (one of :data:`SHIPPED`), links resolved.

    In a checkout this is the top-level folder itself, so recorded paths name the file a user edits; in an
    installed wheel it is the copy in site-packages. (kspbench is not importable from a zip, so this is a real path.)
    """
    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not a shipped folder ({', '.join(SHIPPED)})")
    return Path(str(resources.files("kspbench") / name)).resolve()
