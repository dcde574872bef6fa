"""kspbench.infra.config: one typed loader; every problem is one ConfigError line naming the key path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pytest

from kspbench.errors import ConfigError, KspbenchError
from kspbench.infra.config import load_named, names_in, parse, read_yaml, setting


@dataclass(frozen=True)
class Inner:
    size: int = setting(minimum=2)
    rate: float = setting(minimum=0.0, strict=True)


@dataclass(frozen=True)
class Ranged:
    fps: float = setting(default=5.0, minimum=0.5, maximum=200)
    scale: float = setting(default=1.0, minimum=0.0, strict=True, maximum=2)
    takes: int = setting(default=1, maximum=9)
    jitter: tuple[float, float] = setting(default=(0.0, 0.0), minimum=0, maximum=0.5)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"fps": 0.1}, "clip r.fps: must be a number in [0.5, 200], got 0.1"),
        ({"fps": 201}, "clip r.fps: must be a number in [0.5, 200], got 201"),
        ({"scale": 0}, "clip r.scale: must be a number in (0.0, 2], got 0"),
        ({"takes": 10}, "clip r.takes: must be an integer <= 9, got 10"),
        ({"jitter": [0.1, 0.6]}, "clip r.jitter[1]: must be a number in [0, 0.5], got 0.6"),
    ],
)
def test_maximum_bounds_every_value(raw, message):
    assert parse(Ranged, {"fps": 200, "scale": 2, "takes": 9, "jitter": [0, 0.5]}, "r", kind="clip") == Ranged(
        200.0, 2.0, 9, (0.0, 0.5)
    )
    with pytest.raises(ConfigError) as err:
        parse(Ranged, raw, "r", kind="clip")
    assert str(err.value) == message


@dataclass(frozen=True)
class Outer:
    name: str
    mode: Literal["a", "b"]
    inner: Inner
    blocks: tuple[int, int, int]
    widths: tuple[int, ...] = ()
    batch: int | None = None
    extra: Any = None
    flag: bool = False
    pool: str = setting(default="avg", choices=("avg", "flatten"))
    weights: dict[str, float] = setting(default=None)


GOOD = {"name": "x", "mode": "a", "inner": {"size": 4, "rate": 0.5}, "blocks": [1, 2, 3]}


def test_parse_builds_typed_frozen_objects_with_defaults():
    out = parse(Outer, dict(GOOD, widths=[8, 16], weights={"w": 1}), "p", kind="profile")
    assert out == Outer("x", "a", Inner(4, 0.5), (1, 2, 3), (8, 16), None, None, False, "avg", {"w": 1.0})
    assert isinstance(out.weights["w"], float)
    with pytest.raises(AttributeError):
        out.name = "y"  # frozen


@pytest.mark.parametrize(
    "change, message",
    [
        ({"colour": 1}, "profile p: unknown key 'colour' (known: name, mode,"),
        ({"mode": "c"}, "profile p.mode: must be one of a, b, got 'c'"),
        ({"inner": {"size": 1, "rate": 0.5}}, "profile p.inner.size: must be an integer >= 2, got 1"),
        ({"inner": {"size": 4, "rate": 0}}, "profile p.inner.rate: must be a number > 0.0, got 0"),
        ({"inner": {"size": True, "rate": 1}}, "profile p.inner.size: must be an integer, got True"),
        ({"inner": {"size": 4}}, "profile p.inner: missing key 'rate'"),
        ({"blocks": [1, 2]}, "profile p.blocks: must be a list of 3 values, got [1, 2]"),
        ({"blocks": [1, 2, "x"]}, "profile p.blocks[2]: must be an integer, got 'x'"),
        ({"flag": "yes"}, "profile p.flag: must be true or false, got 'yes'"),
        ({"pool": "max"}, "profile p.pool: must be one of avg, flatten, got 'max'"),
        ({"inner": [1]}, "profile p.inner: expected a mapping, got list"),
        ({"batch": 1.5}, "profile p.batch: must be an integer, got 1.5"),
    ],
)
def test_every_problem_is_one_config_error_naming_the_key(change, message):
    with pytest.raises(ConfigError) as err:
        parse(Outer, dict(GOOD, **change), "p", kind="profile")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, KspbenchError) and isinstance(err.value, ValueError)


def test_given_fields_come_from_the_caller_not_the_file():
    raw = dict(GOOD)
    del raw["name"]
    assert parse(Outer, raw, "p", kind="profile", given={"name": "cpu"}).name == "cpu"
    with pytest.raises(ConfigError, match=r"^profile p: unknown key 'name' \(known: mode, inner,"):
        parse(Outer, GOOD, "p", kind="profile", given={"name": "cpu"})


def test_missing_required_key():
    raw = dict(GOOD)
    del raw["mode"]
    with pytest.raises(ConfigError, match=r"^card p: missing key 'mode'$"):
        parse(Outer, raw, "p", kind="card")


def test_load_named_from_a_folder_a_catalogue_file_and_a_path(tmp_path):
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "one.yaml").write_text("a: 1\n")
    (folder / "two.yaml").write_text("a: 2\n")
    assert load_named("two", folder, "protocol")[:2] == ("two", {"a": 2})
    assert names_in(folder, "protocol") == ("one", "two")
    catalogue = tmp_path / "profiles.yaml"
    catalogue.write_text("cpu: {a: 3}\ntiny: {a: 4}\n")
    assert load_named("tiny", catalogue, "profile")[:2] == ("tiny", {"a": 4})
    assert load_named(str(folder / "one.yaml"), catalogue, "profile")[:2] == ("one", {"a": 1})
    with pytest.raises(ConfigError, match=r"unknown profile 'gpu'; use one of cpu, tiny or the path"):
        load_named("gpu", catalogue, "profile")
    with pytest.raises(ConfigError, match=r"unknown protocol 'three'; use one of one, two"):
        load_named("three", folder, "protocol")
    for empty in (tmp_path / "none", tmp_path / "empty"):  # a missing or empty folder offers no names
        (tmp_path / "empty").mkdir(exist_ok=True)
        assert names_in(empty, "protocol") == ()
        with pytest.raises(
            ConfigError,
            match=rf"^unknown protocol 'one'; there is none in .*{empty.name}; give the "
            "path of a YAML file$",
        ):
            load_named("one", empty, "protocol")


def test_load_named_hashes_the_bytes_it_parsed(tmp_path):
    # Protocol pins hash the file: the hash must be of the very bytes parsed, from one read.
    import hashlib

    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "one.yaml").write_bytes(b"a: 1\r\nb: [2, 3]\n")
    found = load_named("one", folder, "protocol")
    assert found.raw == {"a": 1, "b": [2, 3]} and found.path == folder / "one.yaml"
    assert found.sha256 == hashlib.sha256(b"a: 1\r\nb: [2, 3]\n").hexdigest()


def test_read_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no such card file"):
        read_yaml(tmp_path / "nope.yaml", "card")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        read_yaml(bad, "card")


@dataclass(frozen=True)
class Share:
    part: float = setting(default=0.5, minimum=0.0, maximum=1.0)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_maximum_bounds_a_number_inclusively(value):
    assert parse(Share, {"part": 1}, "s", kind="card").part == 1.0
    with pytest.raises(ConfigError, match=rf"^card s.part: must be a number in \[0.0, 1.0\], got {value}$"):
        parse(Share, {"part": value}, "s", kind="card")
