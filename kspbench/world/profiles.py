"""World profiles: the sizes and counts of a synthetic world, read from ``profiles.yaml`` (the only place they live).

A profile is a frozen :class:`WorldProfile`. :func:`load_profile` takes a profile name from ``profiles.yaml`` or the
path of a YAML file with the same keys, and raises :class:`~kspbench.errors.ConfigError` (one line naming the key
path) on anything impossible: the dataclasses below are the schema :func:`kspbench.infra.config.parse` checks (ranges
included), and :func:`_check` the rules that involve several fields.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kspbench.core import skeleton
from kspbench.errors import ConfigError
from kspbench.infra.config import load_named, names_in, parse, setting

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
H36M_CAMERAS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
TS_SEQUENCES: tuple[str, ...] = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
FRAME_FAMILIES: tuple[str, ...] = ("h36m", "mpi3dhp", "dunp")
# Bt of static clips: the rendered empty scene (an oracle, like the oracle boxes) or the temporal median of frames.
BACKGROUNDS: tuple[str, ...] = ("clean", "median")
# Native camera sizes (width, height) per family, px; full frames are rendered at native x frame_scale.
NATIVE_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "h36m": ((1000, 1002), (1000, 1000)),
    "mpi3dhp": ((2048, 2048), (1920, 1080)),
    "dunp": ((1280, 720),),
}
MIN_FRAME_SIDE = 16
MIN_CROP, MAX_CROP = 8, 1024
MAX_FRAMES_PER_CLIP = 100_000


def _scale() -> Any:
    return setting(minimum=0.0, strict=True, maximum=2)


def _seconds() -> Any:
    return setting(minimum=0.0, strict=True)


@dataclass(frozen=True)
class FrameScale:
    """Native camera size x this = the rendered full-frame size, per camera family (:data:`FRAME_FAMILIES`)."""

    h36m: float = _scale()
    mpi3dhp: float = _scale()
    dunp: float = _scale()


@dataclass(frozen=True)
class H36MRoles:
    train_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    actions: tuple[str, ...] = setting(choices=skeleton.H36M_ACTIONS)  # a file may say `all`
    takes: int = setting(minimum=1, maximum=9)
    seconds: float = _seconds()
    cameras: tuple[str, ...] = setting(choices=H36M_CAMERAS)


@dataclass(frozen=True)
class DunpRole:
    clips: int = setting(minimum=0, maximum=100_000)
    seconds: float = _seconds()


@dataclass(frozen=True)
class Mpi3dhpTrain:
    subjects: int = setting(minimum=0, maximum=99)
    sequences: int = setting(minimum=1, maximum=9)
    cameras: int = setting(minimum=1, maximum=14)
    seconds: float = _seconds()


@dataclass(frozen=True)
class Mpi3dhpTest:
    sequences: tuple[str, ...] = setting(choices=TS_SEQUENCES)
    seconds: float = _seconds()


@dataclass(frozen=True, kw_only=True)
class WorldProfile:
    """Everything that sizes a world; see ``profiles.yaml`` for the meaning of each field."""

    name: str
    description: str = ""
    fps: float = setting(minimum=0.5, maximum=200)
    crop_size: int = setting(minimum=MIN_CROP, maximum=MAX_CROP)
    frame_scale: FrameScale
    median_frames: int = setting(minimum=1)
    noise_sd: float = setting(minimum=0, maximum=50)  # grey levels
    # Older profile files have no `background`: they get the default (the clean scene).
    background: str = setting(default="clean", choices=BACKGROUNDS)
    box_jitter: tuple[float, float] = setting(minimum=0, maximum=0.5)
    h36m: H36MRoles
    dunp: DunpRole
    mpi3dhp_train: Mpi3dhpTrain
    mpi3dhp_test: Mpi3dhpTest

    def scale(self, family: str) -> float:
        return getattr(self.frame_scale, family)

    def frames(self, seconds: float) -> int:
        """Frames in a clip of ``seconds`` at this profile's fps."""
        return max(2, int(round(seconds * self.fps)))

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable), as recorded in the store's manifest and the datasheet."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def with_crop_size(self, crop_size: int) -> "WorldProfile":
        raw = {k: v for k, v in self.as_dict().items() if k != "name"}
        return _parse(self.name, {**raw, "crop_size": crop_size}, self.name)


def available_profiles() -> list[str]:
    return list(names_in(PROFILES_FILE, "profile"))


def load_profile(name_or_path: str) -> WorldProfile:
    """A profile by name (``tiny``, ``smoke``, ``cpu``, ``paper``) or from a YAML file holding one profile's keys."""
    name, raw, _, _ = load_named(name_or_path, PROFILES_FILE, "profile")
    # A file may hold a single profile, or several keyed by name (then it must hold exactly one).
    if isinstance(raw, dict) and "fps" not in raw and len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        name, raw = next(iter(raw.items()))
    return _parse(str(name), raw, name_or_path)


def profile_from_dict(d: dict) -> WorldProfile:
    """A profile from :meth:`WorldProfile.as_dict` output (e.g. a store's manifest)."""
    raw = dict(d)
    name = str(raw.pop("name", "custom"))
    return _parse(name, raw, f"{name} (recorded)")


def _parse(name: str, raw: Any, where: str) -> WorldProfile:
    h36m = raw.get("h36m") if isinstance(raw, dict) else None
    if isinstance(h36m, dict) and h36m.get("actions") == "all":  # the one shorthand a file may use
        raw = {**raw, "h36m": {**h36m, "actions": list(skeleton.H36M_ACTIONS)}}
    prof = parse(WorldProfile, raw, where, kind="profile", given={"name": name})
    _check(prof, where)
    return prof


def _check(p: WorldProfile, where: str) -> None:
    """Reject what the schema cannot: rules that involve several fields, distinct names."""

    def bad(msg: str) -> None:
        raise ConfigError(f"profile {where}: {msg}")

    for fam in FRAME_FAMILIES:
        scale = p.scale(fam)
        for w, h in NATIVE_SIZES[fam]:
            if min(w, h) * scale < MIN_FRAME_SIDE:
                bad(f"frame_scale.{fam} = {scale} makes {w}x{h} frames smaller than {MIN_FRAME_SIDE} px")
    h = p.h36m
    subjects = h.train_subjects + h.val_subjects + h.test_subjects
    if not h.train_subjects or not h.test_subjects:
        bad("h36m needs at least one train and one test subject")
    if len(set(subjects)) != len(subjects):
        bad("h36m subjects must be distinct across train/val/test")
    for s in subjects:
        if not s or "/" in s:
            bad(f"subject name {s!r} is not usable")
    for label, names, least in (
        ("h36m.actions", h.actions, 1),
        ("h36m.cameras", h.cameras, 1),
        ("mpi3dhp_test.sequences", p.mpi3dhp_test.sequences, 0),
    ):
        if len(set(names)) != len(names) or len(names) < least:
            bad(f"{label} must be {'at least one, ' if least else ''}distinct, got {list(names)}")
    for label, seconds in (
        ("h36m", h.seconds),
        ("dunp", p.dunp.seconds),
        ("mpi3dhp_train", p.mpi3dhp_train.seconds),
        ("mpi3dhp_test", p.mpi3dhp_test.seconds),
    ):
        if seconds * p.fps < 2 or seconds * p.fps > MAX_FRAMES_PER_CLIP:
            bad(f"{label} seconds must give 2..{MAX_FRAMES_PER_CLIP} frames at {p.fps} fps, got {seconds}")
