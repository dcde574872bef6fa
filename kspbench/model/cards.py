"""Model cards (``models/*.yaml``): one per table row, a frozen :class:`Card` validated once on load.

A card says which table row it produces and how: profile, seed, the model variant, the data roles, the losses with
their weights and optimisers, the schedule (stages of steps, each cycling through losses one per iteration) and the
card it starts from (``init_from``). Cards are written for the ``cpu`` profile; a profile scales the steps and sets
the batch (:mod:`kspbench.model.profiles`).

:func:`load_card` reads a card through the one config loader (:mod:`kspbench.infra.config`) and returns a
:class:`Card` with every default filled in; an unknown key anywhere, a missing required key or a wrong value raises
:class:`~kspbench.errors.ConfigError` naming the key (one line). :meth:`Card.to_dict` is the plain form recorded in
checkpoints and run records, and hashed into ``card_sha256``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from kspbench.core import skeleton
from kspbench.errors import ConfigError
from kspbench.infra.config import load_named, names_in, parse, setting
from kspbench.infra.resources import shipped
from kspbench.model.profiles import OPTIMISERS, profile_names

__all__ = [
    "Card",
    "ModelVariant",
    "DataRoles",
    "SupervisedSubset",
    "Optimiser",
    "PriorLoss",
    "PairedLoss",
    "UnpairedLoss",
    "Sup2dLoss",
    "Sup3dLoss",
    "Losses",
    "ScheduleStage",
    "Schedule",
    "LOSSES",
    "load_card",
    "card_names",
    "CARDS_DIR",
]

# The shipped cards: the top-level models/ of a checkout, or the copy inside an installed wheel.
CARDS_DIR = shipped("models")
LossName = Literal["prior", "paired", "unpaired", "sup2d", "sup3d"]
Ablation = Literal["none", "no-tfk", "no-tm"]
SubsetUnit = Literal["time-block", "frame"]
FkFrame = Literal["canonical", "local"]
LOSSES: tuple[str, ...] = typing.get_args(LossName)
DEFAULT_BONE_RATIOS = "h36m-s1"


def _weight(default: float) -> Any:
    return setting(default=default, minimum=0.0)


def _share(default: float) -> Any:
    """A probability or a jitter amplitude: in [0, 1]."""
    return setting(default=default, minimum=0.0, maximum=1.0)


def _degrees(default: float) -> Any:
    return setting(default=default, minimum=0.0, maximum=180.0)


@dataclass(frozen=True)
class Optimiser:
    """A loss's own optimiser, overriding the profile's."""

    name: str = setting(choices=OPTIMISERS)
    lr: float = setting(minimum=1e-12, maximum=10.0)


@dataclass(frozen=True)
class PriorLoss:
    """Lprior on the labelled prior samples, with their augmentation.

    ``wkp``: L1 between EP's soft-argmax keypoints (profile ``ep_head.pool: keypoints``) and the labelled 2D pose;
    ``wcan``: L1 between Tfk's pose in C and the label's pose in its own canonical frame (view-free).
    """

    w3d: float = _weight(1.0)
    w2d: float = _weight(1.0)
    wkp: float = _weight(0.0)
    wcan: float = _weight(0.0)
    optimiser: Optimiser | None = None
    mirror: float = _share(0.5)
    rotation_degrees: float = _degrees(30.0)
    colour_jitter: float = _share(0.2)


@dataclass(frozen=True)
class PairedLoss:
    """LP. ``detach_cycle``: the cycle terms' targets (p2D and fa of the real frames) are constants, so the cycle
    teaches EP and EA to read generated images, not to make their real-image outputs agree with them."""

    lambda1: float = _weight(1.0)
    lambda2: float = _weight(0.1)
    detach_cycle: bool = False
    optimiser: Optimiser | None = None


@dataclass(frozen=True)
class UnpairedLoss:
    """LUNP, with the flip and rotation of its transform T."""

    lambda2: float = _weight(0.1)
    detach_cycle: bool = False
    optimiser: Optimiser | None = None
    flip: float = _share(0.5)
    rotation_degrees: float = _degrees(30.0)


@dataclass(frozen=True)
class Sup2dLoss:
    """Weakly-supervised 2D; it may augment its frames as Lprior does (default: off)."""

    weight: float = _weight(1.0)
    wkp: float = _weight(0.0)
    optimiser: Optimiser | None = None
    mirror: float = _share(0.0)
    rotation_degrees: float = _degrees(0.0)
    colour_jitter: float = _share(0.0)


@dataclass(frozen=True)
class Sup3dLoss(PriorLoss):
    """Semi-supervised / ceiling 3D (+ 2D): Lprior's terms on labelled frames, not augmented by default."""

    mirror: float = _share(0.0)
    rotation_degrees: float = _degrees(0.0)
    colour_jitter: float = _share(0.0)


LossSettings = PriorLoss | PairedLoss | UnpairedLoss | Sup2dLoss | Sup3dLoss


@dataclass(frozen=True)
class Losses:
    """The losses a card trains with (None: not configured), always in the order of :data:`LOSSES`."""

    prior: PriorLoss | None = None
    paired: PairedLoss | None = None
    unpaired: UnpairedLoss | None = None
    sup2d: Sup2dLoss | None = None
    sup3d: Sup3dLoss | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name in LOSSES if getattr(self, name) is not None)

    def items(self) -> Iterator[tuple[str, LossSettings]]:
        for name in self.names:
            yield name, getattr(self, name)

    def __getitem__(self, name: str) -> LossSettings:
        settings = getattr(self, name, None) if name in LOSSES else None
        if settings is None:
            raise KeyError(name)
        return settings


@dataclass(frozen=True)
class ModelVariant:
    """The KSP variant: the table's ablations, Tfk's bone ratios (``h36m-s1`` or 17 lengths in trunk units) and the
    frame its forward kinematics works in."""

    ablation: Ablation = "none"
    bone_ratios: str | tuple[float, ...] = setting(default=DEFAULT_BONE_RATIOS, minimum=0.0, maximum=10.0)
    fk_frame: FkFrame = "canonical"


@dataclass(frozen=True)
class SupervisedSubset:
    """A seeded subset of the supervised frames (:func:`kspbench.model.data.supervision_subset`)."""

    fraction: float = setting(minimum=1e-6, maximum=1.0)
    unit: SubsetUnit = "time-block"
    block_seconds: float = setting(default=1.0, minimum=1e-3, maximum=1e6)
    seed: int = setting(default=0, minimum=0)


@dataclass(frozen=True)
class DataRoles:
    """The store roles each loss reads, and the validation role."""

    paired: tuple[str, ...] = ()
    unpaired: tuple[str, ...] = ()
    prior: tuple[str, ...] = ("prior",)
    supervised: tuple[str, ...] = ()
    supervised_subset: SupervisedSubset | None = None
    val: str | None = None
    min_gap_seconds: float = setting(default=1.0, minimum=0.0, maximum=1e6)


@dataclass(frozen=True)
class ScheduleStage:
    name: str
    steps: int = setting(minimum=1)
    cycle: tuple[LossName, ...]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    batch: int = setting(default=16, minimum=1)
    stages: tuple[ScheduleStage, ...]


@dataclass(frozen=True, kw_only=True)
class Card:
    """One model card; field order is the order of :meth:`to_dict` (and of the checkpoints written so far)."""

    name: str
    table_row: str
    also_reported_in: tuple[str, ...] = ()
    description: str
    deviations: tuple[str, ...] = ()
    profile: str = "cpu"
    seed: int = setting(default=0, minimum=0)
    init_from: str | None = None
    model: ModelVariant = ModelVariant()
    data: DataRoles
    losses: Losses
    schedule: Schedule

    def to_dict(self) -> dict[str, Any]:
        """The plain form (lists, not tuples; only the configured losses) that checkpoints and run records hold and
        ``card_sha256`` hashes."""
        raw = dataclasses.asdict(self, dict_factory=_plain)
        # Loss names as fresh strings, as read from a card file: the pickle of a checkpoint then shares strings
        # exactly as it did when this record was a parsed YAML mapping (the same card gives the same bytes).
        raw["losses"] = {name.encode().decode(): raw["losses"][name] for name in self.losses.names}
        return raw

    @classmethod
    def from_dict(cls, raw: Any) -> "Card":
        """Inverse of :meth:`to_dict` (a checkpoint's record; validated, but not against a card file)."""
        where = str(raw.get("name")) if isinstance(raw, dict) else "record"
        return parse(cls, _loss_defaults(raw), where, kind="card")


def _plain(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in items}


# What each loss needs from data.
_LOSS_DATA = {
    "prior": ("prior",),
    "paired": ("paired",),
    "unpaired": ("unpaired", "paired"),
    "sup2d": ("supervised",),
    "sup3d": ("supervised",),
}


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(f"card {where}: {problem}")


def _loss_defaults(raw: Any) -> Any:
    """A loss listed without settings (``sup2d:``) is configured with its defaults."""
    if isinstance(raw, dict) and isinstance(raw.get("losses"), dict):
        return {**raw, "losses": {k: {} if v is None else v for k, v in raw["losses"].items()}}
    return raw


def _check_values(card: Card, where: str) -> None:
    """What a field's type cannot say: non-empty text and roles, the bone ratios' length, non-empty losses, stages
    and cycles, distinct stage names."""
    texts = [
        ("name", card.name),
        ("table_row", card.table_row),
        ("description", card.description),
        ("profile", card.profile),
        ("init_from", card.init_from),
        ("data.val", card.data.val),
    ]
    texts += [
        (f"{key}[{i}]", text) for key in ("also_reported_in", "deviations") for i, text in enumerate(getattr(card, key))
    ]
    texts += [(f"schedule.stages[{i}].name", s.name) for i, s in enumerate(card.schedule.stages)]
    for key, text in texts:
        if text is not None and not text.strip():
            raise _fail(f"{where}.{key}", f"must be non-empty text, got {text!r}")
    for key in ("paired", "unpaired", "prior", "supervised"):
        if not all(getattr(card.data, key)):
            raise _fail(f"{where}.data.{key}", f"must be a list of role names, got {list(getattr(card.data, key))!r}")
    ratios = card.model.bone_ratios
    if ratios != DEFAULT_BONE_RATIOS and (isinstance(ratios, str) or len(ratios) != skeleton.NUM_JOINTS):
        raise _fail(
            f"{where}.model.bone_ratios",
            f"must be {DEFAULT_BONE_RATIOS!r} or a list of {skeleton.NUM_JOINTS} bone lengths in trunk units",
        )
    if not card.losses.names:
        raise _fail(f"{where}.losses", "must be a non-empty mapping of loss name -> settings")
    stages = card.schedule.stages
    if not stages:
        raise _fail(f"{where}.schedule.stages", "must be a non-empty list of stages")
    for i, s in enumerate(stages):
        if not s.cycle:
            raise _fail(
                f"{where}.schedule.stages[{i}].cycle", f"must be a non-empty list of losses from {', '.join(LOSSES)}"
            )
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise _fail(f"{where}.schedule.stages", f"stage names must be distinct, got {names}")


def _cross_checks(card: Card, where: str) -> None:
    scheduled = {loss for stage in card.schedule.stages for loss in stage.cycle}
    for loss in sorted(scheduled):
        if loss not in card.losses.names:
            raise _fail(f"{where}.losses.{loss}", "scheduled in a stage's cycle but not configured under losses")
        for key in _LOSS_DATA[loss]:
            if not getattr(card.data, key):
                raise _fail(f"{where}.data.{key}", f"loss {loss!r} needs at least one role here")
    for loss in card.losses.names:
        if loss not in scheduled:
            raise _fail(f"{where}.losses.{loss}", "configured but never scheduled in schedule.stages")
    if card.profile not in profile_names() and not card.profile.endswith((".yaml", ".yml")):
        raise _fail(f"{where}.profile", f"unknown profile {card.profile!r} (known: {', '.join(profile_names())})")


def card_names(directory: str | Path = CARDS_DIR) -> list[str]:
    return list(names_in(Path(directory), "card"))


def load_card(name_or_path: str | Path, *, check_init: bool = True) -> Card:
    """Read and validate a card; returns it with every default filled in.

    Args:
        name_or_path: a card file, or a card name looked up in ``models/``.
        check_init: also require ``init_from`` to name a card file beside this one.

    Raises:
        ConfigError: unreadable file, unknown or missing key, wrong value; the message names the key.
    """
    name, raw, path, _ = load_named(str(name_or_path), CARDS_DIR, "card")
    card = parse(Card, _loss_defaults(raw), name, kind="card")
    _check_values(card, name)
    if card.name != path.stem:
        raise _fail(f"{name}.name", f"{card.name!r} must equal the file name {path.stem!r}")
    _cross_checks(card, name)
    if check_init and card.init_from is not None:
        init = path.with_name(f"{card.init_from}.yaml")
        if not init.is_file():
            raise _fail(f"{name}.init_from", f"no card {card.init_from!r} ({init} does not exist)")
    return card
