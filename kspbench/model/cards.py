"""Model cards (``models/*.yaml``): one per table row, validated on load.

A card says which table row it produces and how: profile, seed, the model variant, the data roles, the losses with
their weights and optimisers, the schedule (stages of steps, each cycling through losses one per iteration) and the
card it starts from (``init_from``). Cards are written for the ``cpu`` profile; a profile scales the steps and sets
the batch (:mod:`kspbench.model.profiles`).

:func:`load_card` returns a plain dict with every default filled in; an unknown key anywhere, a missing required key
or a wrong value raises :class:`CardError` naming the key (one line).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable

import yaml

from kspbench.core import skeleton
from kspbench.model.profiles import OPTIMISERS, profile_names
from kspbench.infra.resources import shipped
from kspbench.errors import KspbenchError

__all__ = ["CardError", "LOSSES", "load_card", "card_names", "CARDS_DIR", "resolve_card_path"]

# The shipped cards: the top-level models/ of a checkout, or the copy inside an installed wheel.
CARDS_DIR = shipped("models")
LOSSES = ("prior", "paired", "unpaired", "sup2d", "sup3d")
ABLATIONS = ("none", "no-tfk", "no-tm")
SUBSET_UNITS = ("time-block", "frame")
FK_FRAMES = ("canonical", "local")
_REQUIRED = object()


class CardError(KspbenchError):
    """A card is malformed; the message names the key."""


# --- a tiny schema: {key: (default or _REQUIRED, checker)} ---------------------------------------------------------

def _fail(where: str, msg: str) -> None:
    raise CardError(f"{where}: {msg}")


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        _fail(where, f"must be non-empty text, got {v!r}")
    return v


def _opt_text(v: Any, where: str) -> str | None:
    return None if v is None else _text(v, where)


def _int(minimum: int) -> Callable[[Any, str], int]:
    def check(v: Any, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            _fail(where, f"must be an integer >= {minimum}, got {v!r}")
        return v
    return check


def _num(minimum: float = 0.0, maximum: float = math.inf) -> Callable[[Any, str], float]:
    def check(v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or not minimum <= v <= maximum:
            _fail(where, f"must be a number in [{minimum}, {maximum}], got {v!r}")
        return float(v)
    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any, str], str]:
    def check(v: Any, where: str) -> str:
        if v not in options:
            _fail(where, f"must be one of {', '.join(options)}, got {v!r}")
        return v
    return check


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        _fail(where, f"must be true or false, got {v!r}")
    return v


def _roles(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(r, str) and r for r in v):
        _fail(where, f"must be a list of role names, got {v!r}")
    return list(v)


def _text_list(v: Any, where: str) -> list[str]:
    if not isinstance(v, list):
        _fail(where, f"must be a list of text, got {v!r}")
    return [_text(x, f"{where}[{i}]") for i, x in enumerate(v)]


def _mapping(schema: dict, v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        _fail(where, f"must be a mapping, got {type(v).__name__}")
    unknown = [k for k in v if k not in schema]
    if unknown:
        _fail(f"{where}.{unknown[0]}" if where else str(unknown[0]),
              f"unknown key (known here: {', '.join(schema)})")
    out = {}
    for key, (default, check) in schema.items():
        sub = f"{where}.{key}" if where else key
        if key not in v:
            if default is _REQUIRED:
                _fail(sub, "missing required key")
            out[key] = copy.deepcopy(default)
        else:
            out[key] = check(v[key], sub)
    return out


def _nested(schema: dict) -> Callable[[Any, str], dict]:
    return lambda v, where: _mapping(schema, v, where)


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    return lambda v, where: None if v is None else check(v, where)


_OPTIMISER = {"name": (_REQUIRED, _choice(OPTIMISERS)), "lr": (_REQUIRED, _num(1e-12, 10.0))}


def _bone_ratios(v: Any, where: str) -> str | list[float]:
    if v == "h36m-s1":
        return v
    if not isinstance(v, list) or len(v) != skeleton.NUM_JOINTS:
        _fail(where, f"must be 'h36m-s1' or a list of {skeleton.NUM_JOINTS} bone lengths in trunk units")
    return [_num(0.0, 10.0)(x, f"{where}[{i}]") for i, x in enumerate(v)]


_LOSS_SCHEMAS: dict[str, dict] = {
    # wkp: L1 between EP's soft-argmax keypoints (profile ep_head.pool: keypoints) and the labelled 2D pose.
    # wcan: L1 between Tfk's pose in C and the label's pose in its own canonical frame (view-free).
    "prior": {"w3d": (1.0, _num()), "w2d": (1.0, _num()), "wkp": (0.0, _num()), "wcan": (0.0, _num()), "optimiser": (None, _optional(_nested(_OPTIMISER))),
              "mirror": (0.5, _num(0.0, 1.0)), "rotation_degrees": (30.0, _num(0.0, 180.0)),
              "colour_jitter": (0.2, _num(0.0, 1.0))},
    # detach_cycle: the cycle terms' targets (p2D and fa of the real frames) are constants, so the cycle teaches EP
    # and EA to read generated images, not to make their real-image outputs agree with them.
    "paired": {"lambda1": (1.0, _num()), "lambda2": (0.1, _num()), "detach_cycle": (False, _bool),
               "optimiser": (None, _optional(_nested(_OPTIMISER)))},
    "unpaired": {"lambda2": (0.1, _num()), "detach_cycle": (False, _bool),
                 "optimiser": (None, _optional(_nested(_OPTIMISER))),
                 "flip": (0.5, _num(0.0, 1.0)), "rotation_degrees": (30.0, _num(0.0, 180.0))},
    # Supervised losses may augment their frames as Lprior does (default: off, as before).
    "sup2d": {"weight": (1.0, _num()), "wkp": (0.0, _num()), "optimiser": (None, _optional(_nested(_OPTIMISER))),
              "mirror": (0.0, _num(0.0, 1.0)), "rotation_degrees": (0.0, _num(0.0, 180.0)),
              "colour_jitter": (0.0, _num(0.0, 1.0))},
    "sup3d": {"w3d": (1.0, _num()), "w2d": (1.0, _num()), "wkp": (0.0, _num()), "wcan": (0.0, _num()),
              "optimiser": (None, _optional(_nested(_OPTIMISER))),
              "mirror": (0.0, _num(0.0, 1.0)), "rotation_degrees": (0.0, _num(0.0, 180.0)),
              "colour_jitter": (0.0, _num(0.0, 1.0))},
}


def _losses(v: Any, where: str) -> dict:
    if not isinstance(v, dict) or not v:
        _fail(where, "must be a non-empty mapping of loss name -> settings")
    out = {}
    for name, cfg in v.items():
        if name not in _LOSS_SCHEMAS:
            _fail(f"{where}.{name}", f"unknown loss (known: {', '.join(LOSSES)})")
        out[name] = _mapping(_LOSS_SCHEMAS[name], {} if cfg is None else cfg, f"{where}.{name}")
    return out


def _cycle(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not v or any(x not in LOSSES for x in v):
        _fail(where, f"must be a non-empty list of losses from {', '.join(LOSSES)}, got {v!r}")
    return list(v)


_STAGE = {"name": (_REQUIRED, _text), "steps": (_REQUIRED, _int(1)), "cycle": (_REQUIRED, _cycle)}


def _stages(v: Any, where: str) -> list[dict]:
    if not isinstance(v, list) or not v:
        _fail(where, "must be a non-empty list of stages")
    stages = [_mapping(_STAGE, s, f"{where}[{i}]") for i, s in enumerate(v)]
    names = [s["name"] for s in stages]
    if len(set(names)) != len(names):
        _fail(where, f"stage names must be distinct, got {names}")
    return stages


_SUBSET = {"fraction": (_REQUIRED, _num(1e-6, 1.0)), "unit": ("time-block", _choice(SUBSET_UNITS)),
           "block_seconds": (1.0, _num(1e-3, 1e6)), "seed": (0, _int(0))}

CARD_SCHEMA: dict = {
    "name": (_REQUIRED, _text),
    "table_row": (_REQUIRED, _text),
    "also_reported_in": ([], _text_list),
    "description": (_REQUIRED, _text),
    "deviations": ([], _text_list),
    "profile": ("cpu", _text),
    "seed": (0, _int(0)),
    "init_from": (None, _opt_text),
    "model": ({"ablation": "none", "bone_ratios": "h36m-s1", "fk_frame": "canonical"}, _nested({
        "ablation": ("none", _choice(ABLATIONS)), "bone_ratios": ("h36m-s1", _bone_ratios),
        "fk_frame": ("canonical", _choice(FK_FRAMES))})),
    "data": (_REQUIRED, _nested({
        "paired": ([], _roles), "unpaired": ([], _roles), "prior": (["prior"], _roles), "supervised": ([], _roles),
        "supervised_subset": (None, _optional(_nested(_SUBSET))), "val": (None, _opt_text),
        "min_gap_seconds": (1.0, _num(0.0, 1e6))})),
    "losses": (_REQUIRED, _losses),
    "schedule": (_REQUIRED, _nested({"batch": (16, _int(1)), "stages": (_REQUIRED, _stages)})),
}

# What each loss needs from data.
_LOSS_DATA = {"prior": ("prior",), "paired": ("paired",), "unpaired": ("unpaired", "paired"),
              "sup2d": ("supervised",), "sup3d": ("supervised",)}


def _cross_checks(card: dict, where: str) -> None:
    scheduled = {loss for stage in card["schedule"]["stages"] for loss in stage["cycle"]}
    for loss in sorted(scheduled):
        if loss not in card["losses"]:
            _fail(f"{where}: losses.{loss}", "scheduled in a stage's cycle but not configured under losses")
        for key in _LOSS_DATA[loss]:
            if not card["data"][key]:
                _fail(f"{where}: data.{key}", f"loss {loss!r} needs at least one role here")
    for loss in card["losses"]:
        if loss not in scheduled:
            _fail(f"{where}: losses.{loss}", "configured but never scheduled in schedule.stages")
    if card["profile"] not in profile_names() and not card["profile"].endswith((".yaml", ".yml")):
        _fail(f"{where}: profile", f"unknown profile {card['profile']!r} (known: {', '.join(profile_names())})")


def card_names(directory: str | Path = CARDS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(directory).glob("*.yaml"))


def resolve_card_path(name_or_path: str | Path, directory: str | Path = CARDS_DIR) -> Path:
    """A card path from a path or a bare name (``unsup`` -> ``models/unsup.yaml``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return Path(directory) / f"{name_or_path}.yaml"


def load_card(name_or_path: str | Path, *, check_init: bool = True) -> dict:
    """Read and validate a card; returns it with every default filled in.

    Args:
        name_or_path: a card file, or a card name looked up in ``models/``.
        check_init: also require ``init_from`` to name a card file beside this one.

    Raises:
        CardError: unreadable file, unknown or missing key, wrong value; the message names the key.
    """
    path = resolve_card_path(name_or_path)
    if not path.is_file():
        raise CardError(f"{path}: no such card")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CardError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    where = str(path)
    try:
        card = _mapping(CARD_SCHEMA, raw, "")
    except CardError as err:
        raise CardError(f"{where}: {err}") from None
    if card["name"] != path.stem:
        raise CardError(f"{where}: name: {card['name']!r} must equal the file name {path.stem!r}")
    _cross_checks(card, where)
    if check_init and card["init_from"] is not None:
        init = path.with_name(f"{card['init_from']}.yaml")
        if not init.is_file():
            raise CardError(f"{where}: init_from: no card {card['init_from']!r} ({init} does not exist)")
    return card
