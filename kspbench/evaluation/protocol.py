"""Protocol definitions: versioned YAML files in ``protocols/``, read once into frozen records.

A protocol names the split (role, subjects, cameras, frame stride), the ground truth array, the joint order and
joint set, the root joint, the metrics with their alignment, and the aggregation. Nothing about a protocol lives in
code: the evaluator only interprets these records.

A protocol is identified by (name, version, sha256 of the file's bytes). :data:`REGISTERED` pins the sha256 of each
registered name and version (a change to a file in ``protocols/`` must bump its ``version`` and this pin;
tests/test_protocol.py checks it). A file whose (name, version, sha256) is not registered -- an edited copy passed
by path or through ``$KSPBENCH_PROTOCOLS``, or a new file -- still loads, but as a *custom* protocol: its ``name``
becomes ``custom:<name>`` (:data:`CUSTOM_PREFIX`), so its results say so (``protocol.name`` in the result JSON, next
to the recorded ``protocol.sha256``) and never appear under the registered name; ``kspbench eval`` warns on stderr.
An unmodified copy of a registered file, wherever it lives, is the registered protocol. Readers of results
(``kspbench compare``, ``table``, ``leaderboard``) refuse to pair or merge results of one protocol name whose
recorded sha256 differ.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kspbench.core import skeleton
from kspbench.evaluation import metrics
from kspbench.infra.resources import shipped
from kspbench.errors import KspbenchError

ALIGNMENTS = tuple(metrics.ALIGNMENTS)  # the names of the one table, kspbench.evaluation.metrics.ALIGNMENTS
STATISTICS = ("mean_error", "pck", "auc")
OVERALL = ("mean_of_groups", "pooled")
BREAKDOWNS = ("action", "sequence", "subject", "activity")
# MPI-INF-3DHP activity labels 1..7 (official test_util mpii_get_activity_name.m).
ACTIVITY_NAMES = {1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
                  5: "On The Floor", 6: "Sports", 7: "Miscellaneous"}


# name -> (version, sha256 of protocols/<name>.yaml): the registered protocol definitions.
REGISTERED: dict[str, tuple[int, str]] = {
    "h36m-p1": (2, "8d60d89046e99536aa749cebba379bf763698e1af12706e036526c9290f7e8b2"),
    "h36m-p2": (2, "c20f464fee29ab0e1167d132f583669d0f6863a6073d7b814646064d45c77f53"),
    "3dhp": (1, "8b51abf74de681d0007900e8fa51e9ed9795fd7494978a7d3af96d2d0c5e6edc"),
    "3dhp-14": (1, "ef63a4e17c60f81dd202d22e7815e345593d84df671d9f9305ead68db4b9635a"),
    "3dhp-pa": (1, "ba55a40cc59d39352d4df51ae06fe9cf64b0724565eae4a936c919c018a938b2"),
}
CUSTOM_PREFIX = "custom:"


def is_registered(name: str, version: Any, sha256: Any) -> bool:
    """Whether (name, version, sha256) is a registered protocol definition."""
    return REGISTERED.get(name) == (version, sha256)


def is_custom(name: str) -> bool:
    return name.startswith(CUSTOM_PREFIX)


class ProtocolError(KspbenchError):
    """A protocol is unknown or its definition is malformed."""


@dataclass(frozen=True)
class MetricSpec:
    name: str
    alignment: str
    statistic: str
    threshold_mm: float | None = None
    thresholds_mm: tuple[float, ...] | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.statistic in ("pck", "auc")


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol (see ``protocols/*.yaml`` for the meaning of each field and its sources)."""

    name: str
    version: int
    title: str
    role: str
    subjects: tuple[str, ...]
    cameras: tuple[str, ...]
    frame_stride: int
    exclude_sequences: tuple[str, ...]
    actions: tuple[str, ...]       # actions a complete result covers (empty: the protocol names none)
    ground_truth: str
    joint_order: str
    joints: tuple[int, ...]
    root_joint: int
    metrics: tuple[MetricSpec, ...]
    primary: str
    overall: str
    group_by: str | None
    breakdowns: tuple[str, ...]
    joint_groups: tuple[tuple[str, tuple[int, ...]], ...]
    block_frames: int
    resamples: int
    bootstrap_seed: int
    path: str
    sha256: str
    overrides: tuple[tuple[str, Any], ...] = ()
    # What the file itself requires (subjects, cameras, actions), kept when overrides narrow the split.
    declared: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def with_overrides(self, *, subjects: list[str] | None = None, cameras: list[str] | None = None,
                       frame_stride: int | None = None) -> "Protocol":
        """The same protocol on another frame selection; the overrides are recorded in every result."""
        changes: dict[str, Any] = {}
        if subjects:
            changes["subjects"] = tuple(subjects)
        if cameras:
            changes["cameras"] = tuple(cameras)
        if frame_stride is not None:
            if frame_stride < 1:
                raise ProtocolError(f"--stride must be a positive integer, got {frame_stride}")
            changes["frame_stride"] = int(frame_stride)
        if not changes:
            return self
        recorded = dict(self.overrides)
        recorded.update({k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()})
        declared = self.declared or tuple(self.required().items())
        return dataclasses.replace(self, overrides=tuple(sorted(recorded.items())), declared=declared, **changes)

    @property
    def custom(self) -> bool:
        """Not a registered (name, version, sha256): its results are labelled ``custom:<name>``."""
        return is_custom(self.name)

    def metric(self, name: str) -> MetricSpec:
        return next(m for m in self.metrics if m.name == name)

    def split_dict(self) -> dict[str, Any]:
        return {"role": self.role, "subjects": list(self.subjects), "cameras": list(self.cameras),
                "frame_stride": self.frame_stride, "exclude_sequences": list(self.exclude_sequences),
                **({"actions": list(self.actions)} if self.actions else {})}

    def required(self, *, declared: bool = False) -> dict[str, tuple[str, ...]]:
        """What a complete result covers: subjects, cameras and (where the protocol names them) actions; after
        the overrides, or (``declared``) as the file declares them."""
        if declared and self.declared:
            return dict(self.declared)
        out = {"subjects": self.subjects, "cameras": self.cameras}
        if self.actions:
            out["actions"] = self.actions
        return out


def protocols_dir() -> Path:
    """Where protocol files live: ``$KSPBENCH_PROTOCOLS``, else the ones shipped in the package.

    The package's ``protocols`` folder is a link to the checkout's top-level ``protocols/`` (one copy; a wheel holds
    real files), so an installed kspbench and a checkout read the same bytes.
    """
    env = os.environ.get("KSPBENCH_PROTOCOLS")
    return Path(env) if env else shipped("protocols")


def available() -> list[str]:
    return sorted(p.stem for p in protocols_dir().glob("*.yaml"))


def _need(raw: dict, key: str, where: str) -> Any:
    if key not in raw:
        raise ProtocolError(f"{where}: missing field {key!r}")
    return raw[key]


def _parse(raw: dict, path: Path, sha: str) -> Protocol:
    where = str(path)
    split = _need(raw, "split", where)
    order = _need(raw, "joint_order", where)
    if order not in ("h36m", "3dhp"):
        raise ProtocolError(f"{where}: joint_order must be h36m or 3dhp, got {order!r}")
    joints = _need(raw, "joints", where)
    joints = tuple(range(skeleton.NUM_JOINTS)) if joints == "all" else tuple(int(j) for j in joints)
    if not joints or any(not 0 <= j < skeleton.NUM_JOINTS for j in joints):
        raise ProtocolError(f"{where}: joints must be 'all' or indices in 0..16, got {raw['joints']!r}")
    metrics = []
    for name, spec in _need(raw, "metrics", where).items():
        if spec.get("alignment") not in ALIGNMENTS or spec.get("statistic") not in STATISTICS:
            raise ProtocolError(f"{where}: metric {name!r} needs alignment in {ALIGNMENTS} and statistic in "
                                f"{STATISTICS}, got {spec!r}")
        grid = spec.get("thresholds_mm")
        thresholds = None
        if grid is not None:
            thresholds = tuple(float(t) for t in np.arange(grid["start"], grid["stop"] + grid["step"] / 2,
                                                           grid["step"]))
        metrics.append(MetricSpec(name=name, alignment=spec["alignment"], statistic=spec["statistic"],
                                  threshold_mm=spec.get("threshold_mm"), thresholds_mm=thresholds))
    primary = _need(raw, "primary", where)
    if primary not in {m.name for m in metrics}:
        raise ProtocolError(f"{where}: primary metric {primary!r} is not among its metrics")
    agg = _need(raw, "aggregation", where)
    if agg.get("overall") not in OVERALL or (agg["overall"] == "mean_of_groups" and agg.get("by") not in BREAKDOWNS):
        raise ProtocolError(f"{where}: aggregation must be pooled, or mean_of_groups by one of {BREAKDOWNS}")
    breakdowns = tuple(raw.get("breakdowns", []))
    if any(b not in BREAKDOWNS for b in breakdowns):
        raise ProtocolError(f"{where}: breakdowns must be among {BREAKDOWNS}, got {list(breakdowns)}")
    boot = raw.get("bootstrap", {})
    return Protocol(
        name=str(_need(raw, "name", where)), version=int(_need(raw, "version", where)),
        title=str(raw.get("title", "")), role=str(_need(split, "role", where)),
        subjects=tuple(str(s) for s in _need(split, "subjects", where)),
        cameras=tuple(str(c) for c in _need(split, "cameras", where)),
        frame_stride=int(split.get("frame_stride", 1)),
        exclude_sequences=tuple(str(s) for s in split.get("exclude_sequences", [])),
        actions=tuple(str(a) for a in split.get("actions", [])), ground_truth=str(_need(raw, "ground_truth", where)),
        joint_order=order, joints=joints, root_joint=int(_need(raw, "root_joint", where)), metrics=tuple(metrics),
        primary=primary, overall=agg["overall"], group_by=agg.get("by"), breakdowns=breakdowns,
        joint_groups=tuple((str(k), tuple(int(i) for i in v)) for k, v in raw.get("joint_groups", {}).items()),
        block_frames=int(boot.get("block_frames", 100)), resamples=int(boot.get("resamples", 1000)),
        bootstrap_seed=int(boot.get("seed", 0)), path=str(path), sha256=sha)


def load_protocol(name_or_path: str) -> Protocol:
    """Load a protocol by name (``h36m-p2``) or from a YAML file path.

    A file that is not a registered (name, version, sha256) loads as ``custom:<name>`` (see the module docstring).

    Raises:
        ProtocolError: unknown name (the message lists the known ones) or a malformed file.
    """
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = protocols_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(available()) or f"none found in {protocols_dir()}"
            raise ProtocolError(f"unknown protocol {name_or_path!r}; known protocols: {known}")
    data = path.read_bytes()
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as err:
        raise ProtocolError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"{path}: a protocol file must hold a mapping")
    proto = _parse(raw, path, hashlib.sha256(data).hexdigest())
    if not proto.custom and not is_registered(proto.name, proto.version, proto.sha256):
        proto = dataclasses.replace(proto, name=CUSTOM_PREFIX + proto.name)
    return proto


def all_protocols() -> list[Protocol]:
    """Every protocol in :func:`protocols_dir`.

    Raises:
        ProtocolError: there is none (a broken install, or ``$KSPBENCH_PROTOCOLS`` naming an empty folder).
    """
    names = available()
    if not names:
        raise ProtocolError(f"no protocol files (*.yaml) in {protocols_dir()}: the install is incomplete, or "
                            "$KSPBENCH_PROTOCOLS names the wrong folder")
    return [load_protocol(name) for name in names]
