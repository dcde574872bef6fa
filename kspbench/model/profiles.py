"""Model profiles: the sizes of the KSP networks and of a training run, read from ``profiles.yaml`` (the only place).

A profile is a frozen :class:`ModelProfile`; :func:`load_profile` takes a name from ``profiles.yaml`` (``tiny``,
``smoke``, ``cpu``, ``paper``) or the path of a YAML file holding one profile with the same keys. Unknown or missing
keys and impossible values raise :class:`ProfileError` (one line naming the key).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kspbench.errors import KspbenchError

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
DEFAULT_PROFILE = "cpu"
OPTIMISERS = ("adagrad", "adam")


class ProfileError(KspbenchError):
    """A profile is unknown or impossible; the message is one line."""


@dataclass(frozen=True)
class ResNetSpec:
    width: int
    blocks: tuple[int, int, int]
    maxpool: bool

    @property
    def stride(self) -> int:
        """Input pixels per pixel of layer3's output."""
        return 16 if self.maxpool else 8

    @property
    def out_channels(self) -> int:
        return 4 * 4 * self.width


@dataclass(frozen=True)
class HeadSpec:
    channels: int
    hidden: int
    pool: str   # "avg": global average pool (a channel vector); "flatten": keep the head's spatial layout;
    # "keypoints": the average pool plus 17 soft-argmax points read from trunk heatmaps


@dataclass(frozen=True)
class MapSpec:
    size: int
    sigma: float
    alpha: float
    min_sigma_px: float
    channels: int


@dataclass(frozen=True)
class DecoderSpec:
    width: int
    min_width: int
    bg_channels: int
    mask_composite: bool
    mask_prior: float   # gain of the pose silhouette on the mask logit (0: none); needs mask_composite


@dataclass(frozen=True)
class OptimiserSpec:
    name: str
    lr: float
    per_loss: bool      # one optimiser per loss (the paper) or one shared by every loss


@dataclass(frozen=True)
class ModelProfile:
    """Everything that sizes the networks and a run; see ``profiles.yaml`` for the meaning of each field."""

    name: str
    description: str
    input_size: int
    resnet: ResNetSpec
    ep_head: HeadSpec
    ea_width: int
    ea_pool: bool
    maps: MapSpec
    decoder: DecoderSpec
    ablation_hidden: int
    batch: int | None
    steps_scale: float
    min_stage_steps: int
    optimiser: OptimiserSpec
    checkpoint_every: int
    val_every: int
    val_frames: int
    threads: int

    @property
    def feature_size(self) -> int:
        """Side of the encoders' feature maps (EP's trunk output, fa, f2D, DI's input)."""
        return self.input_size // self.resnet.stride

    @property
    def fa_channels(self) -> int:
        return 8 * self.ea_width

    def heatmap_sigma(self) -> float:
        """Heatmap sigma in [-1, 1] units, at least ``min_sigma_px`` map pixels."""
        return max(self.maps.sigma, self.min_sigma())

    def min_sigma(self) -> float:
        """``min_sigma_px`` map pixels in [-1, 1] units (a map pixel is 2 / size wide)."""
        return self.maps.min_sigma_px * 2.0 / self.maps.size

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples), the same keys as ``profiles.yaml`` plus ``name``."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ModelProfile":
        """Inverse of :meth:`to_dict` (validated like a profile file)."""
        raw = json.loads(json.dumps(raw))
        # Keys added after a checkpoint was written take the value that reproduces the network it was trained with.
        for path, value in _LEGACY_DEFAULTS:
            node = raw
            for key in path[:-1]:
                node = node.get(key, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node.setdefault(path[-1], value)
        return _parse(str(raw.pop("name", "checkpoint")), raw)


# (key path, value) of every key added since profiles were first written, with the behaviour from before it existed.
_LEGACY_DEFAULTS: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("ea_pool",), False), (("ep_head", "pool"), "avg"), (("decoder", "mask_prior"), 0.0),
    (("optimiser", "per_loss"), True))


def _take(raw: dict, key: str, where: str) -> Any:
    if key not in raw:
        raise ProfileError(f"profile {where}: missing key {key!r}")
    return raw[key]


def _exact_keys(raw: Any, keys: tuple[str, ...], where: str) -> dict:
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {where}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise ProfileError(f"profile {where}: unknown key {unknown[0]!r} (known: {', '.join(keys)})")
    for key in keys:
        _take(raw, key, where)
    return raw


def _positive_int(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProfileError(f"profile {where}: must be an integer >= {minimum}, got {value!r}")
    return value


def _number(value: Any, where: str, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < minimum or (strict and value == minimum):
        raise ProfileError(f"profile {where}: must be a number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def _sub(raw: dict, key: str, keys: tuple[str, ...], where: str) -> dict:
    return _exact_keys(_take(raw, key, where), keys, f"{where}.{key}")


def _parse(name: str, raw: Any) -> ModelProfile:
    fields = tuple(f.name for f in dataclasses.fields(ModelProfile) if f.name != "name")
    raw = _exact_keys(raw, fields, name)
    r = _sub(raw, "resnet", ("width", "blocks", "maxpool"), name)
    blocks = r["blocks"]
    if not (isinstance(blocks, list) and len(blocks) == 3):
        raise ProfileError(f"profile {name}.resnet.blocks: must be a list of 3 block counts, got {blocks!r}")
    if not isinstance(r["maxpool"], bool):
        raise ProfileError(f"profile {name}.resnet.maxpool: must be true or false, got {r['maxpool']!r}")
    resnet = ResNetSpec(_positive_int(r["width"], f"{name}.resnet.width"),
                        tuple(_positive_int(b, f"{name}.resnet.blocks") for b in blocks), r["maxpool"])
    h = _sub(raw, "ep_head", ("channels", "hidden", "pool"), name)
    if h["pool"] not in ("avg", "flatten", "keypoints"):
        raise ProfileError(f"profile {name}.ep_head.pool: must be avg, flatten or keypoints, got {h['pool']!r}")
    m = _sub(raw, "maps", ("size", "sigma", "alpha", "min_sigma_px", "channels"), name)
    d = _sub(raw, "decoder", ("width", "min_width", "bg_channels", "mask_composite", "mask_prior"), name)
    o = _sub(raw, "optimiser", ("name", "lr", "per_loss"), name)
    for key, value in (("ea_pool", raw["ea_pool"]), ("optimiser.per_loss", o["per_loss"])):
        if not isinstance(value, bool):
            raise ProfileError(f"profile {name}.{key}: must be true or false, got {value!r}")
    if o["name"] not in OPTIMISERS:
        raise ProfileError(f"profile {name}.optimiser.name: must be one of {', '.join(OPTIMISERS)}, got {o['name']!r}")
    if not isinstance(d["mask_composite"], bool):
        raise ProfileError(f"profile {name}.decoder.mask_composite: must be true or false")
    if d["mask_prior"] and not d["mask_composite"]:
        raise ProfileError(f"profile {name}.decoder.mask_prior: needs mask_composite: true (or set it to 0)")
    description = raw["description"]
    if not isinstance(description, str):
        raise ProfileError(f"profile {name}.description: must be text")
    prof = ModelProfile(
        name=name, description=description,
        input_size=_positive_int(raw["input_size"], f"{name}.input_size", 8),
        resnet=resnet,
        ep_head=HeadSpec(_positive_int(h["channels"], f"{name}.ep_head.channels"),
                         _positive_int(h["hidden"], f"{name}.ep_head.hidden"), h["pool"]),
        ea_width=_positive_int(raw["ea_width"], f"{name}.ea_width"), ea_pool=raw["ea_pool"],
        maps=MapSpec(_positive_int(m["size"], f"{name}.maps.size", 2),
                     _number(m["sigma"], f"{name}.maps.sigma", strict=True),
                     _number(m["alpha"], f"{name}.maps.alpha", strict=True),
                     _number(m["min_sigma_px"], f"{name}.maps.min_sigma_px"),
                     _positive_int(m["channels"], f"{name}.maps.channels", 2)),
        decoder=DecoderSpec(_positive_int(d["width"], f"{name}.decoder.width"),
                            _positive_int(d["min_width"], f"{name}.decoder.min_width"),
                            _positive_int(d["bg_channels"], f"{name}.decoder.bg_channels", 0), d["mask_composite"],
                            _number(d["mask_prior"], f"{name}.decoder.mask_prior")),
        ablation_hidden=_positive_int(raw["ablation_hidden"], f"{name}.ablation_hidden"),
        batch=None if raw["batch"] is None else _positive_int(raw["batch"], f"{name}.batch"),
        steps_scale=_number(raw["steps_scale"], f"{name}.steps_scale", strict=True),
        min_stage_steps=_positive_int(raw["min_stage_steps"], f"{name}.min_stage_steps"),
        optimiser=OptimiserSpec(o["name"], _number(o["lr"], f"{name}.optimiser.lr", strict=True), o["per_loss"]),
        checkpoint_every=_positive_int(raw["checkpoint_every"], f"{name}.checkpoint_every"),
        val_every=_positive_int(raw["val_every"], f"{name}.val_every", 0),
        val_frames=_positive_int(raw["val_frames"], f"{name}.val_frames"),
        threads=_positive_int(raw["threads"], f"{name}.threads"),
    )
    _check_geometry(prof)
    return prof


def _is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def _check_geometry(p: ModelProfile) -> None:
    stride = p.resnet.stride
    if p.input_size % stride or p.input_size < 2 * stride:
        raise ProfileError(f"profile {p.name}: input_size {p.input_size} must be a multiple of the trunk's stride "
                           f"{stride} and at least {2 * stride}")
    ratio = p.maps.size / p.feature_size
    if p.maps.size % p.feature_size or not _is_power_of_two(int(ratio)) or ratio > 4:
        raise ProfileError(f"profile {p.name}: maps.size {p.maps.size} must be the feature size {p.feature_size} "
                           "times 1, 2 or 4 (two convs reach the feature size)")
    if not _is_power_of_two(stride):
        raise ProfileError(f"profile {p.name}: stride must be a power of two")


def profile_names() -> tuple[str, ...]:
    with open(PROFILES_FILE) as f:
        return tuple(yaml.safe_load(f))


def load_profile(name_or_path: str) -> ModelProfile:
    """A profile by name (``profiles.yaml``) or from a YAML file holding one profile.

    Raises:
        ProfileError: unknown name, unreadable file, unknown/missing key or impossible value.
    """
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file")
        with open(path) as f:
            try:
                raw = yaml.safe_load(f)
            except yaml.YAMLError as err:
                raise ProfileError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        return _parse(path.stem, raw)
    with open(PROFILES_FILE) as f:
        all_raw = yaml.safe_load(f)
    if name_or_path not in all_raw:
        raise ProfileError(f"unknown model profile {name_or_path!r}; use one of {', '.join(all_raw)} or a YAML path")
    return _parse(name_or_path, all_raw[name_or_path])
