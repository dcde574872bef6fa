"""Model profiles: the sizes of the KSP networks and of a training run, read from ``profiles.yaml`` (the only place).

A profile is a frozen :class:`ModelProfile`; :func:`load_profile` takes a name from ``profiles.yaml`` (``tiny``,
``smoke``, ``cpu``, ``paper``) or the path of a YAML file holding one profile with the same keys. Unknown or missing
keys and impossible values raise :class:`~kspbench.errors.ConfigError` (one line naming the key path): the
dataclasses below are the schema :func:`kspbench.infra.config.parse` checks, and :func:`_check` the rules that
involve several fields.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kspbench.errors import ConfigError
from kspbench.infra.config import load_named, names_in, parse, setting

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
DEFAULT_PROFILE = "cpu"
OPTIMISERS = ("adagrad", "adam")
DECAYS = ("constant", "cosine")


@dataclass(frozen=True)
class ResNetSpec:
    width: int = setting(minimum=1)
    blocks: tuple[int, int, int] = setting(minimum=1)
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
    channels: int = setting(minimum=1)
    hidden: int = setting(minimum=1)
    pool: str = setting(choices=("avg", "flatten", "keypoints"))
    # "avg": global average pool (a channel vector); "flatten": keep the head's spatial layout;
    # "keypoints": the average pool plus 17 soft-argmax points read from trunk heatmaps


@dataclass(frozen=True)
class MapSpec:
    size: int = setting(minimum=2)
    sigma: float = setting(minimum=0.0, strict=True)
    alpha: float = setting(minimum=0.0, strict=True)
    min_sigma_px: float = setting(minimum=0.0)
    channels: int = setting(minimum=2)
    occlusion: float = setting(minimum=0.0)  # softness (trunk units) of the limb maps' depth order; 0: none


@dataclass(frozen=True)
class DecoderSpec:
    width: int = setting(minimum=1)
    min_width: int = setting(minimum=1)
    bg_channels: int = setting(minimum=0)
    mask_composite: bool
    mask_prior: float = setting(
        minimum=0.0
    )  # gain of the pose silhouette on the mask logit (0: none); needs mask_composite
    map_skips: bool  # Tm's 33 maps, drawn at each stage's resolution, concatenated into every stage and the output


@dataclass(frozen=True)
class OptimiserSpec:
    name: str = setting(choices=OPTIMISERS)
    lr: float = setting(minimum=0.0, strict=True)
    per_loss: bool  # one optimiser per loss (the paper) or one shared by every loss
    decay: str = setting(choices=DECAYS)  # learning rate over the run: constant, or cosine from lr to 0


@dataclass(frozen=True)
class ModelProfile:
    """Everything that sizes the networks and a run; see ``profiles.yaml`` for the meaning of each field."""

    name: str
    description: str
    input_size: int = setting(minimum=8)
    resnet: ResNetSpec
    ep_head: HeadSpec
    ea_width: int = setting(minimum=1)
    ea_pool: bool
    ea_stem_stride: int = setting(choices=(1, 2))  # 2: EA's 7x7 first conv is one of its downsamplings
    maps: MapSpec
    decoder: DecoderSpec
    ablation_hidden: int = setting(minimum=1)
    batch: int | None = setting(minimum=1)
    steps_scale: float = setting(minimum=0.0, strict=True)
    min_stage_steps: int = setting(minimum=1)
    optimiser: OptimiserSpec
    checkpoint_every: int = setting(minimum=1)
    val_every: int = setting(minimum=0)
    val_frames: int = setting(minimum=1)
    threads: int = setting(minimum=1)

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
    (("ea_pool",), False),
    (("ea_stem_stride",), 1),
    (("ep_head", "pool"), "avg"),
    (("decoder", "mask_prior"), 0.0),
    (("decoder", "map_skips"), False),
    (("maps", "occlusion"), 0.0),
    (("optimiser", "per_loss"), True),
    (("optimiser", "decay"), "constant"),
)


def _parse(name: str, raw: Any) -> ModelProfile:
    prof = parse(ModelProfile, raw, name, kind="profile", given={"name": name})
    _check(prof)
    return prof


def _is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def _check(p: ModelProfile) -> None:
    """The rules that involve several fields: the decoder's options, the networks' geometry."""
    if p.decoder.mask_prior and not p.decoder.mask_composite:
        raise ConfigError(f"profile {p.name}.decoder.mask_prior: needs mask_composite: true (or set it to 0)")
    stride = p.resnet.stride
    if p.input_size % stride or p.input_size < 2 * stride:
        raise ConfigError(
            f"profile {p.name}: input_size {p.input_size} must be a multiple of the trunk's stride "
            f"{stride} and at least {2 * stride}"
        )
    ratio = p.maps.size / p.feature_size
    if p.maps.size % p.feature_size or not _is_power_of_two(int(ratio)) or ratio > 4:
        raise ConfigError(
            f"profile {p.name}: maps.size {p.maps.size} must be the feature size {p.feature_size} "
            "times 1, 2 or 4 (two convs reach the feature size)"
        )
    if not _is_power_of_two(stride):
        raise ConfigError(f"profile {p.name}: stride must be a power of two")
    if p.ea_stem_stride == 2 and stride < 2:
        raise ConfigError(f"profile {p.name}: ea_stem_stride 2 needs a trunk stride of at least 2 (or set it to 1)")


def profile_names() -> tuple[str, ...]:
    return names_in(PROFILES_FILE, "model profile")


def load_profile(name_or_path: str) -> ModelProfile:
    """A profile by name (``profiles.yaml``) or from a YAML file holding one profile.

    Raises:
        ConfigError: unknown name, unreadable file, unknown/missing key or impossible value.
    """
    name, raw, _, _ = load_named(name_or_path, PROFILES_FILE, "model profile")
    return _parse(name, raw)
