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
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kspbench.core import skeleton
from kspbench.errors import ConfigError
from kspbench.evaluation import metrics
from kspbench.infra.config import load_named, names_in, parse, setting
from kspbench.infra.resources import shipped

ALIGNMENTS = tuple(metrics.ALIGNMENTS)  # the names of the one table, kspbench.evaluation.metrics.ALIGNMENTS
STATISTICS = ("mean_error", "pck", "auc")
OVERALL = ("mean_of_groups", "pooled")
BREAKDOWNS = ("action", "sequence", "subject", "activity")
# MPI-INF-3DHP activity labels 1..7 (official test_util mpii_get_activity_name.m).
ACTIVITY_NAMES = {
    1: "Standing/Walking",
    2: "Exercising",
    3: "Sitting",
    4: "Reaching/Crouching",
    5: "On The Floor",
    6: "Sports",
    7: "Miscellaneous",
}


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
    actions: tuple[str, ...]  # actions a complete result covers (empty: the protocol names none)
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

    def with_overrides(
        self, *, subjects: list[str] | None = None, cameras: list[str] | None = None, frame_stride: int | None = None
    ) -> "Protocol":
        """The same protocol on another frame selection; the overrides are recorded in every result."""
        changes: dict[str, Any] = {}
        if subjects:
            changes["subjects"] = tuple(subjects)
        if cameras:
            changes["cameras"] = tuple(cameras)
        if frame_stride is not None:
            if frame_stride < 1:
                raise ConfigError(f"--stride must be a positive integer, got {frame_stride}")
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
        return {
            "role": self.role,
            "subjects": list(self.subjects),
            "cameras": list(self.cameras),
            "frame_stride": self.frame_stride,
            "exclude_sequences": list(self.exclude_sequences),
            **({"actions": list(self.actions)} if self.actions else {}),
        }

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
    return list(names_in(protocols_dir(), "protocol"))


@dataclass(frozen=True)
class _Split:
    role: str
    subjects: tuple[str, ...]
    cameras: tuple[str, ...]
    frame_stride: int = setting(default=1, minimum=1)
    exclude_sequences: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Grid:
    """Thresholds ``start``, ``start + step``, ... up to ``stop`` included (mm)."""

    start: float
    stop: float
    step: float = setting(minimum=0.0, strict=True)


@dataclass(frozen=True)
class _Metric:
    alignment: str = setting(choices=ALIGNMENTS)
    statistic: str = setting(choices=STATISTICS)
    threshold_mm: float | None = None
    thresholds_mm: _Grid | None = None


@dataclass(frozen=True)
class _Aggregation:
    overall: str = setting(choices=OVERALL)
    by: str | None = setting(default=None, choices=BREAKDOWNS)


@dataclass(frozen=True)
class _Bootstrap:
    block_frames: int = setting(default=100, minimum=1)
    resamples: int = setting(default=1000, minimum=1)
    seed: int = setting(default=0, minimum=0)


@dataclass(frozen=True)
class _ProtocolFile:
    """What a protocol file holds (``protocols/*.yaml``); :func:`_record` turns it into a :class:`Protocol`."""

    name: str
    version: int = setting(minimum=1)
    split: _Split
    ground_truth: str
    joint_order: str = setting(choices=("h36m", "3dhp"))
    joints: Literal["all"] | tuple[int, ...] = setting(minimum=0)
    root_joint: int = setting(minimum=0)
    metrics: dict[str, _Metric]
    primary: str
    aggregation: _Aggregation
    title: str = ""
    breakdowns: tuple[str, ...] = setting(default=(), choices=BREAKDOWNS)
    joint_groups: dict[str, tuple[int, ...]] | None = setting(default=None, minimum=0)
    bootstrap: _Bootstrap = _Bootstrap()


def _record(f: _ProtocolFile, where: str, path: Path, sha: str) -> Protocol:
    """The :class:`Protocol` a parsed file defines, after the checks that involve several of its fields."""
    joints = tuple(range(skeleton.NUM_JOINTS)) if f.joints == "all" else f.joints
    if not joints or any(j >= skeleton.NUM_JOINTS for j in joints):
        raise ConfigError(f"protocol {where}.joints: must be 'all' or indices in 0..16, got {list(joints)}")
    if f.primary not in f.metrics:
        raise ConfigError(f"protocol {where}.primary: {f.primary!r} is not among its metrics")
    if f.aggregation.overall == "mean_of_groups" and f.aggregation.by is None:
        raise ConfigError(f"protocol {where}.aggregation: mean_of_groups needs by: one of {', '.join(BREAKDOWNS)}")
    metrics = tuple(
        MetricSpec(
            name=name,
            alignment=m.alignment,
            statistic=m.statistic,
            threshold_mm=m.threshold_mm,
            thresholds_mm=None if m.thresholds_mm is None else _grid(m.thresholds_mm),
        )
        for name, m in f.metrics.items()
    )
    s, b = f.split, f.bootstrap
    return Protocol(
        name=f.name,
        version=f.version,
        title=f.title,
        role=s.role,
        subjects=s.subjects,
        cameras=s.cameras,
        frame_stride=s.frame_stride,
        exclude_sequences=s.exclude_sequences,
        actions=s.actions,
        ground_truth=f.ground_truth,
        joint_order=f.joint_order,
        joints=joints,
        root_joint=f.root_joint,
        metrics=metrics,
        primary=f.primary,
        overall=f.aggregation.overall,
        group_by=f.aggregation.by,
        breakdowns=f.breakdowns,
        joint_groups=tuple((f.joint_groups or {}).items()),
        block_frames=b.block_frames,
        resamples=b.resamples,
        bootstrap_seed=b.seed,
        path=str(path),
        sha256=sha,
    )


def _grid(g: _Grid) -> tuple[float, ...]:
    return tuple(float(t) for t in np.arange(g.start, g.stop + g.step / 2, g.step))


def load_protocol(name_or_path: str) -> Protocol:
    """Load a protocol by name (``h36m-p2``) or from a YAML file path.

    A file that is not a registered (name, version, sha256) loads as ``custom:<name>`` (see the module docstring).

    Raises:
        ConfigError: unknown name (the message lists the known ones) or a malformed file.
    """
    found = load_named(name_or_path, protocols_dir(), "protocol")
    # The pin is over the bytes that were parsed (found.sha256), not a second read of the file.
    proto = _record(
        parse(_ProtocolFile, found.raw, name_or_path, kind="protocol"), name_or_path, found.path, found.sha256
    )
    if not proto.custom and not is_registered(proto.name, proto.version, proto.sha256):
        proto = dataclasses.replace(proto, name=CUSTOM_PREFIX + proto.name)
    return proto


def all_protocols() -> list[Protocol]:
    """Every protocol in :func:`protocols_dir`.

    Raises:
        ConfigError: there is none (a broken install, or ``$KSPBENCH_PROTOCOLS`` naming an empty folder).
    """
    names = available()
    if not names:
        raise ConfigError(
            f"no protocol files (*.yaml) in {protocols_dir()}: the install is incomplete, or "
            "$KSPBENCH_PROTOCOLS names the wrong folder"
        )
    return [load_protocol(name) for name in names]
