"""Result files (``kspbench eval --out``) read back: validation, identity of the row they score, grouping by seed.

A result JSON names what it scored: its top-level ``model`` block (:mod:`kspbench.data.identity`; an outside model, or
any predictions given ``--name``) names the row; otherwise its ``predictions.model`` attributes do, a trained card
(``card``, ``seed``, ``profile``) or a world baseline (``baseline``). Only results written before model blocks
existed, with neither, are named after their file. A result whose ``coverage.partial`` is true misses a subject,
camera or action of its protocol (``coverage.missing``): :func:`partial_note` says what, for every table. Every
reader of ``results/`` (tables, leaderboard, compare, check, figures) goes through :func:`load_result`, which
refuses a file that is not valid JSON, lacks a key, or no longer matches its own integrity digest (edited by hand),
naming the file — never skipping it silently.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from kspbench.errors import KspbenchError
from kspbench.evaluation.evaluate import RESULT_SCHEMA_VERSION, SPREAD_METRIC, integrity_digest
from kspbench.evaluation.protocol import CUSTOM_PREFIX, REGISTERED
from kspbench.infra.provenance import file_sha256

__all__ = [
    "Result",
    "ResultError",
    "load_result",
    "discover",
    "by_row",
    "RowStats",
    "row_stats",
    "per_frame",
    "BASELINE_LABELS",
    "frames_path",
    "COLLAPSE_SPREAD_RATIO",
    "COLLAPSE_NOTE",
    "collapsed",
    "check_same_protocols",
    "protocol_mismatch",
    "partial_note",
    "PARTIAL_NOTE",
]

REQUIRED = (
    "schema_version",
    "protocol",
    "dataset",
    "predictions",
    "n_frames",
    "metrics",
    "ci95",
    "per_group",
    "per_frame_file",
    "integrity",
)
BASELINE_LABELS = {
    "mean": "mean pose (h36m-train)",
    "const": "constant pose (Procrustes mean of training poses)",
    "nn2d": "nearest 2D neighbour (h36m-train)",
}
# A measured row whose spread ratio (kspbench.evaluation.metrics.spread_ratio: shape variation of the predictions over
# that of the truth) is below this predicts nearly one pose whatever the input: tables and leaderboards mark it.
COLLAPSE_SPREAD_RATIO = 0.3
COLLAPSE_NOTE = (
    f"collapsed: predictions barely vary with the input (spread ratio < {COLLAPSE_SPREAD_RATIO}); not a result"
)
OUT_OF_DOMAIN_LABEL = "adapted on 3DHP: out of domain here"
OUT_OF_DOMAIN_NOTE = (
    f"A row marked '{OUT_OF_DOMAIN_LABEL}' is a model adapted on MPI-INF-3DHP's training set (+3DHP in Table 3); "
    "on Human3.6M it is scored outside its training domain, so its numbers here are not its result."
)
PARTIAL_NOTE = (
    "partial: the row's result misses subjects, cameras or actions its protocol names (scored with "
    "--allow-partial); its numbers are not the protocol's."
)


class ResultError(KspbenchError):
    """A result file is unreadable, incomplete or edited by hand; the message names the file."""


@dataclass(frozen=True)
class Result:
    """One result file: what it scored (row, seed) and under which protocol, on which dataset."""

    path: Path
    data: dict[str, Any]
    row: str  # model block name, card name, baseline kind or (older files) file stem
    kind: str  # "model" | "baseline" | "external"
    seed: int | None
    protocol: str
    dataset: str

    @property
    def metrics(self) -> dict[str, float]:
        return self.data["metrics"]

    @property
    def ci95(self) -> dict[str, list[float]]:
        return self.data["ci95"]

    @property
    def profile(self) -> str | None:
        return self.data["predictions"]["model"].get("profile")

    @property
    def label(self) -> str:
        return BASELINE_LABELS.get(self.row, self.row) if self.kind == "baseline" else self.row

    @property
    def model(self) -> dict[str, str]:
        """The model block (name, supervision, trainset, citation, url); empty for cards and baselines."""
        return self.data.get("model") or {}

    @property
    def missing(self) -> dict[str, list[str]]:
        """What the result misses of its protocol's subjects, cameras and actions (empty lists: complete)."""
        cov = self.data.get("coverage") or {}
        return cov.get("missing") or {} if cov.get("partial") else {}

    def __repr__(self) -> str:
        p = self.data["protocol"]
        part = ", partial" if self.missing else ""
        return (
            f"Result({self.label!r}, {self.protocol} v{p['version']}, {p['primary']}="
            f"{self.metrics.get(p['primary'], float('nan')):.4g}, {self.dataset}{part}, {str(self.path)!r})"
        )

    def higher_is_better(self, metric: str) -> bool:
        return bool(self.data["protocol"]["metrics"][metric]["higher_is_better"])

    @property
    def primary(self) -> str:
        return self.data["protocol"]["primary"]


def load_result(path: str | os.PathLike, *, check_frames: bool = True) -> Result:
    """Read and validate one result JSON.

    Raises:
        ResultError: not JSON, a missing key, an unknown schema version, a non-finite metric, a digest that does
            not match (the file was edited), or a per-frame file that is missing or changed.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultError(
            f"{path}: not a readable result JSON ({err}); re-run `kspbench eval` (or `dvc repro`) to rewrite it"
        ) from None
    if not isinstance(data, dict):
        raise ResultError(f"{path}: not a result JSON (top level is not an object)")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ResultError(f"{path}: not a kspbench result (missing {', '.join(missing)}); re-run `kspbench eval`")
    if data["schema_version"] != RESULT_SCHEMA_VERSION:
        raise ResultError(
            f"{path}: result schema {data['schema_version']}, this kspbench reads "
            f"{RESULT_SCHEMA_VERSION}; re-run `kspbench eval`"
        )
    _check_types(path, data)
    if integrity_digest(data) != data["integrity"]:
        raise ResultError(
            f"{path}: its content does not match its integrity digest: the file was edited after "
            "`kspbench eval` wrote it; re-run `kspbench eval` (or `dvc repro`) instead of editing"
        )
    for name, value in data["metrics"].items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ResultError(f"{path}: metric {name} is {value!r}, not a finite number")
    if check_frames:
        frames = frames_path(path, data)
        if not frames.is_file():
            raise ResultError(f"{path}: its per-frame file {frames} is missing; re-run `kspbench eval`")
        if file_sha256(frames) != data.get("per_frame_sha256"):
            raise ResultError(
                f"{path}: its per-frame file {frames} changed after it was written; re-run `kspbench eval`"
            )
    model = data["predictions"].get("model") or {}
    seed = None if model.get("seed") is None else int(model["seed"])
    if data.get("model"):
        row, kind = str(data["model"]["name"]), "model" if "card" in model else "external"
    elif "card" in model:
        row, kind = str(model["card"]), "model"
    elif "baseline" in model:
        row, kind, seed = str(model["baseline"]), "baseline", None
    else:
        row, kind, seed = path.stem, "external", None
    return Result(
        path=path,
        data=data,
        row=row,
        kind=kind,
        seed=seed,
        protocol=_protocol_label(data["protocol"]),
        dataset=data["dataset"]["name"],
    )


def _protocol_label(proto: dict[str, Any]) -> str:
    """The protocol's name, as ``custom:<name>`` when the result claims a registered name and version but records
    another sha256 (scored under an edited file by a kspbench that did not check): never under the registered name."""
    name = proto["name"]
    registered = REGISTERED.get(name)
    if registered and registered[0] == proto["version"] and registered[1] != proto.get("sha256"):
        return CUSTOM_PREFIX + name
    return name


def check_same_protocols(results: Iterable[Result]) -> None:
    """Refuse to merge results of one protocol name whose protocol definitions (recorded sha256) differ.

    Raises:
        ResultError: naming one file of each definition.
    """
    first: dict[tuple[str, Any], Result] = {}
    for r in results:
        key = (r.protocol, r.data["protocol"]["version"])
        seen = first.setdefault(key, r)
        sa, sb = seen.data["protocol"].get("sha256"), r.data["protocol"].get("sha256")
        if sa != sb:
            raise ResultError(protocol_mismatch(seen, r))


def protocol_mismatch(a: Result, b: Result) -> str:
    sa, sb = str(a.data["protocol"].get("sha256"))[:12], str(b.data["protocol"].get("sha256"))[:12]
    return (
        f"cannot pair or merge {a.path} with {b.path}: protocol {a.protocol} v{a.data['protocol']['version']} "
        f"was scored from different definitions (sha256 {sa} vs {sb}); score both under the same protocol file"
    )


def _result_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if ".partial" not in p.name)


def discover(root: str | os.PathLike, protocol: str | None = None) -> list[Result]:
    """Every result JSON under ``root`` (optionally of one protocol), validated; raises on the first bad file."""
    root = Path(root)
    if not root.is_dir():
        raise ResultError(f"{root}: no such results folder; run `dvc repro` or `kspbench eval --out` first")
    out = [load_result(p) for p in _result_files(root)]
    return [r for r in out if protocol is None or r.protocol == protocol]


def by_row(results: Iterable[Result]) -> dict[tuple[str, str], list[Result]]:
    """(row, protocol) -> its results, one per seed, sorted by seed."""
    results = list(results)
    check_same_protocols(results)
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.row, r.protocol), []).append(r)
    for key, rs in groups.items():
        rs.sort(key=lambda r: -1 if r.seed is None else r.seed)
        seeds = [r.seed for r in rs]
        if len(set(seeds)) != len(seeds):
            raise ResultError(
                f"row {key[0]} under {key[1]} has two results for seed {seeds}: "
                + ", ".join(str(r.path) for r in rs)
                + "; remove the stale one"
            )
        kinds = {r.kind for r in rs}
        if len(kinds) > 1:
            raise ResultError(
                f"row {key[0]} under {key[1]} names results of different kinds "
                f"({', '.join(sorted(kinds))}): "
                + ", ".join(str(r.path) for r in rs)
                + "; give the outside model another --name"
            )
        datasets = {r.dataset for r in rs}
        if len(datasets) > 1:
            raise ResultError(
                f"row {key[0]} under {key[1]} mixes datasets {sorted(datasets)}: " + ", ".join(str(r.path) for r in rs)
            )
    return groups


@dataclass(frozen=True)
class RowStats:
    """A row's metric over its seeds: mean, sd (None for one seed), per-seed values, and seed 0's interval."""

    mean: float
    sd: float | None
    values: tuple[float, ...]
    ci95: tuple[float, float] | None


def row_stats(results: list[Result], metric: str, group: tuple[str, str] | None = None) -> RowStats | None:
    """Statistics of ``metric`` over a row's seeds; ``group`` = (breakdown, name) reads ``per_group`` instead."""
    vals = []
    for r in results:
        if group is None:
            v = r.metrics.get(metric)
        else:
            v = r.data["per_group"].get(group[0], {}).get(group[1], {}).get(metric)
        if v is None:
            return None
        vals.append(float(v))
    arr = np.array(vals)
    ci = None
    if group is None and len(results) == 1 and metric in results[0].ci95:
        lo, hi = results[0].ci95[metric]
        ci = (float(lo), float(hi))
    return RowStats(
        mean=float(arr.mean()), sd=float(arr.std(ddof=1)) if arr.size > 1 else None, values=tuple(vals), ci95=ci
    )


def collapsed(results: list[Result]) -> bool:
    """Whether a row (its results, one per seed) is collapsed: a non-baseline row whose spread ratio, averaged over
    seeds, is below :data:`COLLAPSE_SPREAD_RATIO`. Baselines are constant (or not) by design and never marked;
    results without a spread ratio (older files) are not marked either."""
    if not results or results[0].kind == "baseline":
        return False
    st = row_stats(results, SPREAD_METRIC)
    return st is not None and st.mean < COLLAPSE_SPREAD_RATIO


def trainset(result: Result) -> str:
    """Table 3's Trainset of a result's row: the model block's if it names one; for a card "+3DHP" when it is an
    X-3dhp card (adapted on 3dhp-train), else "-3DHP"; "" for an outside model that does not say."""
    given = result.model.get("trainset")
    if given:
        return given
    if result.kind == "external":
        return ""
    return "+3DHP" if result.row.endswith("-3dhp") else "-3DHP"


def out_of_domain(results: list[Result]) -> bool:
    """Whether a row adapted on MPI-INF-3DHP (:func:`trainset` "+3DHP") is scored on a Human3.6M role, where its
    numbers are not its result (tables and leaderboards mark it with :data:`OUT_OF_DOMAIN_LABEL`)."""
    if not results or trainset(results[0]) != "+3DHP":
        return False
    return str(results[0].data["protocol"]["split"]["role"]).startswith("h36m")


def partial_note(results: list[Result]) -> str | None:
    """ "partial: no subject S11; no camera 60457274" for a row whose results miss part of the protocol, else None
    (the union over the row's seeds)."""
    from kspbench.evaluation.evaluate import describe_missing

    merged: dict[str, list[str]] = {}
    for r in results:
        for key, names in r.missing.items():
            merged.setdefault(key, [])
            merged[key] += [n for n in names if n not in merged[key]]
    return f"partial: {describe_missing(merged)}" if any(merged.values()) else None


def per_frame(result: Result) -> dict[str, np.ndarray]:
    """The per-frame file of a result: keys subject, sequence, camera, frame, ``metric:*`` and ``label:*``."""
    path = frames_path(result.path, result.data)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as err:
        raise ResultError(
            f"{result.path}: its per-frame file {path} is unreadable ({type(err).__name__}); re-run `kspbench eval`"
        ) from None


def frames_path(path: Path, data: dict[str, Any]) -> Path:
    """The per-frame file a result names: a plain file name in the result's own folder, never a path elsewhere
    (``<stem>.frames-<sha256[:16]>.npz``; results written before the content-addressed names use
    ``<stem>.frames.npz``)."""
    name = data.get("per_frame_file")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", "..") or "\\" in name:
        raise ResultError(
            f"{path}: per_frame_file {name!r} is not a file name in the result's folder; re-run `kspbench eval`"
        )
    return path.with_name(name)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_types(path: Path, data: dict[str, Any]) -> None:
    """The types every reader relies on (a hand-made file with a recomputed digest must fail here, in one line)."""

    def bad(what: str) -> ResultError:
        return ResultError(f"{path}: {what}; not a result written by `kspbench eval` (re-run it)")

    for key in ("protocol", "dataset", "predictions", "metrics", "ci95", "per_group"):
        if not isinstance(data[key], dict):
            raise bad(f"{key} is {type(data[key]).__name__}, expected an object")
    if not isinstance(data["integrity"], str):
        raise bad("integrity is not a string")
    if not _is_number(data["n_frames"]) or data["n_frames"] < 0:
        raise bad(f"n_frames is {data['n_frames']!r}, expected a count")
    proto = data["protocol"]
    if not isinstance(proto.get("name"), str) or not _is_number(proto.get("version")):
        raise bad("protocol needs a name (string) and a version (number)")
    metrics = proto.get("metrics")
    if not isinstance(metrics, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("higher_is_better"), bool) for v in metrics.values()
    ):
        raise bad("protocol.metrics must map each metric to {higher_is_better: true|false, ...}")
    if proto.get("primary") not in metrics:
        raise bad(f"protocol.primary {proto.get('primary')!r} is not one of its metrics")
    agg = proto.get("aggregation")
    if not isinstance(agg, dict) or not isinstance(agg.get("overall"), str):
        raise bad("protocol.aggregation must be an object with 'overall'")
    if not isinstance(data["dataset"].get("name"), str):
        raise bad("dataset.name is not a string")
    if not isinstance(data["predictions"].get("model", {}), (dict, type(None))):
        raise bad("predictions.model is not an object")
    if "model" in data:
        from kspbench.data.identity import ModelError, check_model

        try:
            check_model(data["model"], "model")
        except ModelError as err:
            raise bad(str(err)) from None
    cov = data.get("coverage")
    if cov is not None and not (
        isinstance(cov, dict)
        and isinstance(cov.get("missing", {}), dict)
        and all(isinstance(v, list) for v in cov.get("missing", {}).values())
    ):
        raise bad("coverage.missing must map subjects/cameras/actions to lists")
    for name, value in data["metrics"].items():
        if not _is_number(value):
            raise bad(f"metric {name} is {value!r}, not a number")
    for name, ci in data["ci95"].items():
        if not (isinstance(ci, list) and len(ci) == 2 and all(_is_number(v) for v in ci)):
            raise bad(f"ci95.{name} is {ci!r}, expected [low, high]")
    for breakdown, groups in data["per_group"].items():
        if not isinstance(groups, dict) or not all(
            isinstance(g, dict) and all(_is_number(v) for v in g.values()) for g in groups.values()
        ):
            raise bad(f"per_group.{breakdown} must map groups to objects of numbers")
    per_joint = data.get("per_joint", {})  # absent from results written before per-joint numbers
    if not isinstance(per_joint, dict) or not all(
        isinstance(js, dict) and all(_is_number(v) for v in js.values()) for js in per_joint.values()
    ):
        raise bad("per_joint must map metrics to objects of numbers (joint -> value)")
    if "ci_method" in data and not isinstance(data["ci_method"], dict):
        raise bad("ci_method is not an object")
    model = data["predictions"].get("model") or {}
    if model.get("seed") is not None:
        try:
            int(model["seed"])
        except (TypeError, ValueError, OverflowError):
            raise bad(f"predictions.model.seed is {model['seed']!r}, expected an integer") from None
