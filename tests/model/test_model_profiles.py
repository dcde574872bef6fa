"""Model profiles through the one config loader: every problem is one ConfigError line naming the key path, and a
checkpoint's recorded profile (older ones without the newer keys) still loads."""

from __future__ import annotations

import pytest
import yaml

from factories import config_error
from kspbench.errors import ConfigError
from kspbench.model.profiles import ModelProfile, load_profile


def _tiny() -> dict:
    raw = load_profile("tiny").to_dict()
    raw.pop("name")
    return raw


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(colour=1), r"^profile p: unknown key 'colour' \(known: description, input_size,"),
        (lambda r: r["maps"].pop("alpha"), r"^profile p\.maps: missing key 'alpha'$"),
        (lambda r: r["maps"].update(size=1), r"^profile p\.maps\.size: must be an integer >= 2, got 1$"),
        (lambda r: r["optimiser"].update(lr=0), r"^profile p\.optimiser\.lr: must be a number > 0\.0, got 0$"),
        (lambda r: r["resnet"].update(blocks=[1, 1]), r"^profile p\.resnet\.blocks: must be a list of 3 values"),
        (
            lambda r: r["ep_head"].update(pool="max"),
            r"^profile p\.ep_head\.pool: must be one of avg, flatten, keypoints",
        ),
        (
            lambda r: r["decoder"].update(mask_composite=False, mask_prior=2.0),
            r"^profile p\.decoder\.mask_prior: needs mask_composite: true \(or set it to 0\)$",
        ),
        (lambda r: r.update(input_size=36), r"^profile p: input_size 36 must be a multiple of the trunk's stride 8"),
    ],
    ids=["unknown-key", "missing-key", "out-of-range", "not-positive", "blocks", "choice", "mask-prior", "geometry"],
)
def test_impossible_profiles_are_one_config_error_line(tmp_path, edit, message):
    raw = _tiny()
    edit(raw)
    config_error(load_profile, tmp_path / "p.yaml", yaml.safe_dump(raw), message)


def test_a_profile_file_may_not_name_itself(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({**_tiny(), "name": "other"}))
    with pytest.raises(ConfigError, match=r"^profile mine: unknown key 'name'"):
        load_profile(str(path))
    path.write_text(yaml.safe_dump(_tiny()))
    assert load_profile(str(path)) == ModelProfile.from_dict({**_tiny(), "name": "mine"})


def test_checkpoint_profiles_round_trip_and_old_ones_get_the_legacy_defaults():
    tiny = load_profile("tiny")
    assert ModelProfile.from_dict(tiny.to_dict()) == tiny
    old = tiny.to_dict()
    del old["ea_pool"], old["ep_head"]["pool"], old["decoder"]["mask_prior"], old["optimiser"]["per_loss"]
    legacy = ModelProfile.from_dict(old)
    assert (legacy.ea_pool, legacy.ep_head.pool, legacy.decoder.mask_prior, legacy.optimiser.per_loss) == (
        False,
        "avg",
        0.0,
        True,
    )
    assert (
        legacy.name == "tiny"
        and ModelProfile.from_dict({k: v for k, v in old.items() if k != "name"}).name == "checkpoint"
    )
