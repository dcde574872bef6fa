"""The model block: who made a set of predictions, carried from the predictions file into every result.

A model block is a small JSON object::

    {"name": "VideoPose3D (T=243)", "supervision": "Full-3D", "trainset": "H36M",
     "citation": "Pavllo et al., CVPR 2019", "url": "https://github.com/facebookresearch/VideoPose3D"}

``name`` is required and names the row of every table and leaderboard (never the file name); the other fields are
optional text printed beside it (``supervision`` and ``trainset`` fill Table 2's and Table 3's columns). A
predictions file holds it as the attribute ``model`` (a JSON string); a result JSON holds it as the top-level key
``model``. ``kspbench import-predictions --name ... --meta key=value,...`` and ``kspbench eval --name`` write it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kspbench.errors import KspbenchError

__all__ = ["MODEL_FIELDS", "ModelError", "check_model", "parse_meta", "model_block", "decode_model"]

MODEL_FIELDS = ("name", "supervision", "trainset", "citation", "url")
# A row label is printed in tables, file names of figures and one-line messages: keep it one short line.
_MAX_NAME = 80
_MAX_VALUE = 500
# Split --meta on the commas that start a new known key only: citations hold commas ("Pavllo et al., CVPR 2019").
_META_SPLIT = re.compile(r",\s*(?=(?:%s)\s*=)" % "|".join(MODEL_FIELDS))


class ModelError(KspbenchError):
    """A model block or a --meta/--name value is malformed; the message says what and how to fix it."""


def check_model(block: Any, where: str = "model") -> dict[str, str]:
    """Validate a model block; returns it with its keys in :data:`MODEL_FIELDS` order, empty values dropped.

    Raises:
        ModelError: not an object, an unknown key, a value that is not one line of text, no ``name``.
    """
    if not isinstance(block, dict):
        raise ModelError(f"{where}: the model block must be a JSON object with keys {', '.join(MODEL_FIELDS)}")
    unknown = sorted(str(k) for k in block if k not in MODEL_FIELDS)
    if unknown:
        raise ModelError(f"{where}: unknown model field(s) {', '.join(unknown)}; use {', '.join(MODEL_FIELDS)}")
    out: dict[str, str] = {}
    for key in MODEL_FIELDS:
        value = block.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ModelError(f"{where}: model {key} must be text, got {type(value).__name__}")
        value = value.strip()
        limit = _MAX_NAME if key == "name" else _MAX_VALUE
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(value) > limit:  # one printable line
            raise ModelError(f"{where}: model {key} must be one line of at most {limit} characters")
        if value:
            out[key] = value
    if "name" not in out:
        raise ModelError(f"{where}: the model block has no name; give one with --name")
    return out


def parse_meta(text: str | None) -> dict[str, str]:
    """``"supervision=Full-3D,trainset=H36M,citation=Pavllo et al., CVPR 2019"`` -> a dict (not yet checked).

    A comma splits fields only where a known key follows it, so values may hold commas.

    Raises:
        ModelError: a part that is not ``key=value``, a key given twice.
    """
    out: dict[str, str] = {}
    if not text:
        return out
    for part in _META_SPLIT.split(text.strip()):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ModelError(f"--meta: {part!r} is not key=value (keys: {', '.join(MODEL_FIELDS[1:])})")
        if key not in MODEL_FIELDS:
            raise ModelError(f"--meta: unknown key {key!r}; use {', '.join(MODEL_FIELDS[1:])}")
        if key in out:
            raise ModelError(f"--meta: {key} given twice")
        out[key] = value.strip()
    return out


def model_block(
    base: dict[str, str] | None, *, name: str | None = None, meta: str | None = None, where: str = "model"
) -> dict[str, str] | None:
    """``base`` (a file's block, or None) updated with ``--meta`` fields and ``--name``; None if nothing names it."""
    block = dict(base or {})
    block.update(parse_meta(meta))
    if name is not None:
        block["name"] = name
    if not block:
        return None
    return check_model(block, where)


def decode_model(raw: Any, where: str) -> dict[str, str]:
    """The model block as a predictions file stores it (a JSON string attribute, or already an object)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            raise ModelError(f"{where}: attribute 'model' is not a JSON object") from None
    return check_model(raw, where)
