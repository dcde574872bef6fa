"""World profiles: the sizes and counts of a synthetic world, read from ``profiles.yaml`` (the only place they live).

A profile is a frozen :class:`WorldProfile`. :func:`load_profile` takes a profile name from ``profiles.yaml`` or the
path of a YAML file with the same keys, and raises :class:`ProfileError` (one line) on anything impossible.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kspbench.core import skeleton
from kspbench.errors import KspbenchError

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


class ProfileError(KspbenchError):
    """A profile is unknown or impossible; the message is one line."""


@dataclass(frozen=True)
class H36MRoles:
    train_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    actions: tuple[str, ...]
    takes: int
    seconds: float
    cameras: tuple[str, ...]


@dataclass(frozen=True)
class DunpRole:
    clips: int
    seconds: float


@dataclass(frozen=True)
class Mpi3dhpTrain:
    subjects: int
    sequences: int
    cameras: int
    seconds: float


@dataclass(frozen=True)
class Mpi3dhpTest:
    sequences: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class WorldProfile:
    """Everything that sizes a world; see ``profiles.yaml`` for the meaning of each field."""

    name: str
    description: str
    fps: float
    crop_size: int
    frame_scale: tuple[tuple[str, float], ...]
    median_frames: int
    noise_sd: float
    background: str
    box_jitter: tuple[float, float]
    h36m: H36MRoles
    dunp: DunpRole
    mpi3dhp_train: Mpi3dhpTrain
    mpi3dhp_test: Mpi3dhpTest

    def scale(self, family: str) -> float:
        return dict(self.frame_scale)[family]

    def frames(self, seconds: float) -> int:
        """Frames in a clip of ``seconds`` at this profile's fps."""
        return max(2, int(round(seconds * self.fps)))

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable), as recorded in the store's manifest and the datasheet."""
        d = dataclasses.asdict(self)
        d["frame_scale"] = dict(self.frame_scale)
        return _lists(d)

    def with_crop_size(self, crop_size: int) -> "WorldProfile":
        prof = dataclasses.replace(self, crop_size=int(crop_size))
        _check(prof)
        return prof


def _lists(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    return x


def available_profiles() -> list[str]:
    return list(_read_yaml(PROFILES_FILE))


def _read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"{path}: cannot read the profile file ({err.__class__.__name__})") from None
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile file must be a YAML mapping")
    return raw


def load_profile(name_or_path: str) -> WorldProfile:
    """A profile by name (``tiny``, ``smoke``, ``cpu``, ``paper``) or from a YAML file holding one profile's keys."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        raw = _read_yaml(path)
        # A file may hold a single profile, or several keyed by name (then it must hold exactly one).
        if "fps" not in raw and len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
            name, raw = next(iter(raw.items()))
        else:
            name = path.stem
        return _parse(str(name), raw, str(path))
    profiles = _read_yaml(PROFILES_FILE)
    if name_or_path not in profiles:
        raise ProfileError(f"unknown profile {name_or_path!r}; choose one of {', '.join(profiles)} or pass a YAML file")
    return _parse(name_or_path, profiles[name_or_path], f"{PROFILES_FILE.name}:{name_or_path}")


def profile_from_dict(d: dict) -> WorldProfile:
    """A profile from :meth:`WorldProfile.as_dict` output (e.g. a store's manifest)."""
    return _parse(str(d.get("name", "custom")), d, f"{d.get('name', 'custom')} (recorded)")


def _need(raw: dict, key: str, where: str) -> Any:
    if not isinstance(raw, dict) or key not in raw:
        raise ProfileError(f"profile {where}: missing key {key!r}")
    return raw[key]


def _num(raw: dict, key: str, where: str, kind=float) -> Any:
    value = _need(raw, key, where)
    try:
        if isinstance(value, bool):
            raise TypeError
        out = kind(value)
        if kind is int and out != value:
            raise TypeError
    except (TypeError, ValueError):
        raise ProfileError(f"profile {where}: {key} must be a{'n integer' if kind is int else ' number'}, "
                           f"got {value!r}") from None
    if not math.isfinite(out):
        raise ProfileError(f"profile {where}: {key} must be finite, got {value!r}")
    return out


def _names(raw: dict, key: str, where: str) -> tuple[str, ...]:
    value = _need(raw, key, where)
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise ProfileError(f"profile {where}: {key} must be a list of names, got {value!r}")
    return tuple(str(v) for v in value)


def _parse(name: str, raw: dict, where: str) -> WorldProfile:
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {where}: must be a mapping of settings")
    fs = _need(raw, "frame_scale", where)
    if not isinstance(fs, dict) or set(fs) != set(FRAME_FAMILIES):
        raise ProfileError(f"profile {where}: frame_scale must map exactly {', '.join(FRAME_FAMILIES)} to numbers")
    jitter = _need(raw, "box_jitter", where)
    if not isinstance(jitter, list) or len(jitter) != 2:
        raise ProfileError(f"profile {where}: box_jitter must be [centre_sd, scale_sd]")
    h = _need(raw, "h36m", where)
    actions = _need(h, "actions", where + " h36m")
    actions = skeleton.H36M_ACTIONS if actions == "all" else _names(h, "actions", where + " h36m")
    d, t3, s3 = _need(raw, "dunp", where), _need(raw, "mpi3dhp_train", where), _need(raw, "mpi3dhp_test", where)
    prof = WorldProfile(
        name=name, description=str(raw.get("description", "")),
        fps=_num(raw, "fps", where), crop_size=_num(raw, "crop_size", where, int),
        frame_scale=tuple((k, _num(fs, k, where + " frame_scale")) for k in FRAME_FAMILIES),
        median_frames=_num(raw, "median_frames", where, int), noise_sd=_num(raw, "noise_sd", where),
        # Older profile files have no `background`: they get the default (the clean scene).
        background=str(raw.get("background", "clean")),
        box_jitter=(_num({"centre_sd": jitter[0]}, "centre_sd", where + " box_jitter"),
                    _num({"scale_sd": jitter[1]}, "scale_sd", where + " box_jitter")),
        h36m=H36MRoles(train_subjects=_names(h, "train_subjects", where + " h36m"),
                       val_subjects=_names(h, "val_subjects", where + " h36m"),
                       test_subjects=_names(h, "test_subjects", where + " h36m"), actions=tuple(actions),
                       takes=_num(h, "takes", where + " h36m", int), seconds=_num(h, "seconds", where + " h36m"),
                       cameras=_names(h, "cameras", where + " h36m")),
        dunp=DunpRole(clips=_num(d, "clips", where + " dunp", int), seconds=_num(d, "seconds", where + " dunp")),
        mpi3dhp_train=Mpi3dhpTrain(subjects=_num(t3, "subjects", where + " mpi3dhp_train", int),
                                   sequences=_num(t3, "sequences", where + " mpi3dhp_train", int),
                                   cameras=_num(t3, "cameras", where + " mpi3dhp_train", int),
                                   seconds=_num(t3, "seconds", where + " mpi3dhp_train")),
        mpi3dhp_test=Mpi3dhpTest(sequences=_names(s3, "sequences", where + " mpi3dhp_test"),
                                 seconds=_num(s3, "seconds", where + " mpi3dhp_test")),
    )
    _check(prof, where)
    return prof


def _check(p: WorldProfile, where: str | None = None) -> None:
    """Reject impossible profiles with one line saying what is wrong."""
    where = where or p.name

    def bad(msg: str) -> None:
        raise ProfileError(f"profile {where}: {msg}")

    if not 0.5 <= p.fps <= 200:
        bad(f"fps must be in [0.5, 200], got {p.fps}")
    if not MIN_CROP <= p.crop_size <= MAX_CROP:
        bad(f"crop_size must be in [{MIN_CROP}, {MAX_CROP}] px, got {p.crop_size}")
    for fam, scale in p.frame_scale:
        if not 0 < scale <= 2:
            bad(f"frame_scale.{fam} must be in (0, 2], got {scale}")
        for w, h in NATIVE_SIZES[fam]:
            if min(w, h) * scale < MIN_FRAME_SIDE:
                bad(f"frame_scale.{fam} = {scale} makes {w}x{h} frames smaller than {MIN_FRAME_SIDE} px")
    if p.background not in BACKGROUNDS:
        bad(f"background must be one of {', '.join(BACKGROUNDS)}, got {p.background!r}")
    if p.median_frames < 1:
        bad(f"median_frames must be >= 1, got {p.median_frames}")
    if not 0 <= p.noise_sd <= 50:
        bad(f"noise_sd must be in [0, 50] grey levels, got {p.noise_sd}")
    if not all(0 <= j <= 0.5 for j in p.box_jitter):
        bad(f"box_jitter values must be in [0, 0.5], got {list(p.box_jitter)}")
    h = p.h36m
    subjects = h.train_subjects + h.val_subjects + h.test_subjects
    if not h.train_subjects or not h.test_subjects:
        bad("h36m needs at least one train and one test subject")
    if len(set(subjects)) != len(subjects):
        bad("h36m subjects must be distinct across train/val/test")
    for s in subjects:
        if not s or "/" in s:
            bad(f"subject name {s!r} is not usable")
    unknown = [a for a in h.actions if a not in skeleton.H36M_ACTIONS]
    if unknown or not h.actions or len(set(h.actions)) != len(h.actions):
        bad(f"h36m actions must be distinct Human3.6M actions ({', '.join(skeleton.H36M_ACTIONS)}) or 'all'"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    cams = [c for c in h.cameras if c not in H36M_CAMERAS]
    if cams or not h.cameras or len(set(h.cameras)) != len(h.cameras):
        bad(f"h36m cameras must be distinct ids among {', '.join(H36M_CAMERAS)}")
    if not 1 <= h.takes <= 9:
        bad(f"h36m takes must be in 1..9, got {h.takes}")
    if not 0 <= p.dunp.clips <= 100_000:
        bad(f"dunp clips must be in 0..100000, got {p.dunp.clips}")
    t = p.mpi3dhp_train
    if not (0 <= t.subjects <= 99 and 1 <= t.sequences <= 9 and 1 <= t.cameras <= 14):
        bad("mpi3dhp_train needs subjects in 0..99, sequences in 1..9 and cameras in 1..14")
    ts = p.mpi3dhp_test.sequences
    if any(s not in TS_SEQUENCES for s in ts) or len(set(ts)) != len(ts):
        bad(f"mpi3dhp_test sequences must be distinct names among {', '.join(TS_SEQUENCES)}")
    for label, seconds in (("h36m", h.seconds), ("dunp", p.dunp.seconds), ("mpi3dhp_train", t.seconds),
                           ("mpi3dhp_test", p.mpi3dhp_test.seconds)):
        if not seconds > 0 or seconds * p.fps < 2 or seconds * p.fps > MAX_FRAMES_PER_CLIP:
            bad(f"{label} seconds must give 2..{MAX_FRAMES_PER_CLIP} frames at {p.fps} fps, got {seconds}")
