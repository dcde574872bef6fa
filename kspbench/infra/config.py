"""The one configuration loader: YAML by name or path, validated once into frozen dataclasses.

Every configuration kspbench reads (protocols, model profiles, world profiles, model cards) is a frozen dataclass
whose fields say what a file may hold; :func:`parse` checks a mapping against it once, at the edge, and the rest of
the code passes the typed object down. What it checks, from the field's type hint:

* exact keys: an unknown key or a missing required one (a field without a default) is an error;
* ``int`` (not a bool), ``float`` (an int or float, finite), ``bool``, ``str``, ``Literal[...]`` (one of the values),
  ``X | None``, ``tuple[T, ...]`` and ``tuple[T1, T2]`` (from a YAML list), ``dict[str, T]``, ``Any`` (anything),
  and nested dataclasses (recursively, with the key path in the message);
* bounds and choices from the field's metadata (:func:`setting`): ``minimum``, ``strict`` (``>`` instead of
  ``>=``), ``maximum`` (inclusive), ``choices``; on a tuple or a dict they apply to every value.

Every problem raises :class:`~kspbench.errors.ConfigError` with one line: ``<kind> <name>.<key path>: <problem>``.
Checks that involve several fields (a decoder's mask prior needs the mask composite) stay with the dataclass that
owns them, after :func:`parse`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, Union

import yaml

from kspbench.errors import ConfigError

__all__ = ["setting", "parse", "read_yaml", "load_named", "names_in", "Loaded"]

C = TypeVar("C")
_NO_DEFAULT = dataclasses.MISSING


def setting(
    *,
    default: Any = _NO_DEFAULT,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A dataclass field with validation metadata (``minimum``, ``strict``, ``maximum``, ``choices``) and an
    optional default.

    A mutable default (list, dict) is not allowed in a frozen config: use a tuple.
    """
    meta = {"minimum": minimum, "strict": strict, "maximum": maximum, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


def _fail(kind: str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{kind} {where}: {problem}")


def _bounded(value: float, meta: typing.Mapping[str, Any], kind: str, where: str, what: str) -> None:
    low, high, strict = meta.get("minimum"), meta.get("maximum"), meta.get("strict")
    too_low = low is not None and (value < low or (strict and value == low))
    if not too_low and (high is None or value <= high):
        return
    if low is not None and high is not None:
        bounds = f"in {'(' if strict else '['}{low}, {high}]"
    else:
        bounds = f"{'>' if strict else '>='} {low}" if too_low else f"<= {high}"
    raise _fail(kind, where, f"must be {what} {bounds}, got {value!r}")


def _value(hint: Any, raw: Any, meta: typing.Mapping[str, Any], kind: str, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return raw
    if origin in (Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _value(rest[0], raw, meta, kind, where)
        for option in rest:  # a union of several types: the first that accepts the value
            try:
                return _value(option, raw, meta, kind, where)
            except ConfigError:
                continue
        raise _fail(
            kind,
            where,
            f"must be one of the types {', '.join(getattr(a, '__name__', str(a)) for a in rest)}, got {raw!r}",
        )
    if origin is Literal:
        if raw not in args:
            raise _fail(kind, where, f"must be one of {', '.join(map(str, args))}, got {raw!r}")
        return raw
    if dataclasses.is_dataclass(hint):
        return parse(hint, raw, where, kind=kind)
    if origin is tuple:
        if not isinstance(raw, (list, tuple)):
            raise _fail(kind, where, f"must be a list, got {raw!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], v, meta, kind, f"{where}[{i}]") for i, v in enumerate(raw))
        if len(raw) != len(args):
            raise _fail(kind, where, f"must be a list of {len(args)} values, got {raw!r}")
        return tuple(_value(a, v, meta, kind, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, raw)))
    if origin is dict:
        if not isinstance(raw, dict):
            raise _fail(kind, where, f"must be a mapping, got {raw!r}")
        return {str(k): _value(args[1], v, meta, kind, f"{where}.{k}") for k, v in raw.items()}
    if hint is bool:
        if not isinstance(raw, bool):
            raise _fail(kind, where, f"must be true or false, got {raw!r}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _fail(kind, where, f"must be an integer, got {raw!r}")
        _bounded(raw, meta, kind, where, "an integer")
        value = raw
    elif hint is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise _fail(kind, where, f"must be a number, got {raw!r}")
        _bounded(raw, meta, kind, where, "a number")
        value = float(raw)
    elif hint is str:
        if not isinstance(raw, str):
            raise _fail(kind, where, f"must be text, got {raw!r}")
        value = raw
    else:
        raise TypeError(f"config field {where}: unsupported type {hint!r}")  # a kspbench bug, not the user's
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise _fail(kind, where, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def parse(cls: type[C], raw: Any, where: str, *, kind: str, given: typing.Mapping[str, Any] | None = None) -> C:
    """Validate the mapping ``raw`` against the frozen dataclass ``cls``; ``where`` names it in messages
    (``h36m-p2``, ``cpu.decoder``) and ``kind`` says what it is (``protocol``, ``profile``, ``card``).

    ``given`` holds fields the caller supplies and the file may not (a profile's ``name`` is its catalogue key).
    """
    if not isinstance(raw, dict):
        raise _fail(kind, where, f"expected a mapping, got {type(raw).__name__}")
    given = given or {}
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in given]
    known = [f.name for f in fields]
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise _fail(kind, where, f"unknown key {unknown[0]!r} (known: {', '.join(known)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields:
        if f.name not in raw:
            if f.default is _NO_DEFAULT and f.default_factory is _NO_DEFAULT:
                raise _fail(kind, where, f"missing key {f.name!r}")
            continue
        values[f.name] = _value(hints[f.name], raw[f.name], f.metadata, kind, f"{where}.{f.name}")
    return cls(**values, **given)


class Loaded(NamedTuple):
    """A config found by :func:`load_named`: its name, the raw mapping, the file, and the sha256 of the bytes that
    were parsed (so a pin over the file needs no second read, which could see other bytes)."""

    name: str
    raw: Any
    path: Path
    sha256: str


def _read(path: Path, kind: str) -> tuple[Any, str]:
    """The YAML document in ``path`` and the sha256 of exactly the bytes it was parsed from (one read)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such {kind} file")
    data = path.read_bytes()
    try:
        return yaml.safe_load(data.decode("utf-8")), hashlib.sha256(data).hexdigest()
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None


def read_yaml(path: str | Path, kind: str) -> Any:
    """The YAML document in ``path``; a missing file or invalid YAML is a :class:`ConfigError` naming the file."""
    return _read(Path(path), kind)[0]


def _is_path(name_or_path: str) -> bool:
    return name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path or "\\" in name_or_path


def names_in(catalogue: Path, kind: str) -> tuple[str, ...]:
    """The names a catalogue offers: the top-level keys of one YAML file, or the ``*.yaml`` stems of a folder (none
    when the folder does not exist: ``$KSPBENCH_PROTOCOLS`` may name the wrong one)."""
    if catalogue.is_dir() or not catalogue.exists():
        return tuple(sorted(p.stem for p in catalogue.glob("*.yaml")))
    raw = read_yaml(catalogue, kind)
    return tuple(raw) if isinstance(raw, dict) else ()


def load_named(name_or_path: str, catalogue: Path, kind: str) -> Loaded:
    """One YAML-by-name lookup for every kind of config: a :class:`Loaded` (name, raw mapping, file, sha256).

    ``name_or_path`` is a path (ends in .yaml/.yml or holds a slash: the file's stem is the name) or a name in the
    ``catalogue``: a folder of ``<name>.yaml`` files (protocols, model cards) or one YAML file whose top-level keys
    are the names (profiles). An unknown name lists the known ones.
    """
    if _is_path(name_or_path):
        path = Path(name_or_path)
        raw, sha = _read(path, kind)
        return Loaded(path.stem, raw, path, sha)
    if catalogue.is_dir():
        path = catalogue / f"{name_or_path}.yaml"
        if path.is_file():
            raw, sha = _read(path, kind)
            return Loaded(name_or_path, raw, path, sha)
    elif catalogue.exists():
        raw, sha = _read(catalogue, kind)
        if isinstance(raw, dict) and name_or_path in raw:
            return Loaded(name_or_path, raw[name_or_path], catalogue, sha)
    names = names_in(catalogue, kind)
    offer = f"use one of {', '.join(names)} or" if names else f"there is none in {catalogue}; give"
    raise ConfigError(f"unknown {kind} {name_or_path!r}; {offer} the path of a YAML file")
