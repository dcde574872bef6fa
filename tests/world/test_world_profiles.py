"""World profiles through the one config loader: every problem is one ConfigError line naming the profile and the
key path; the recorded profile of a store loads back to the same profile."""

from __future__ import annotations

import pytest
import yaml

from factories import config_error
from kspbench.core import skeleton
from kspbench.errors import ConfigError
from kspbench.world.profiles import PROFILES_FILE, load_profile, profile_from_dict


def _tiny() -> dict:
    return yaml.safe_load(PROFILES_FILE.read_text())["tiny"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(colour=1), r"^profile .*p\.yaml: unknown key 'colour' \(known: description, fps,"),
        (lambda r: r["dunp"].pop("clips"), r"^profile .*p\.yaml\.dunp: missing key 'clips'$"),
        (lambda r: r.update(fps=500), r"^profile .*p\.yaml\.fps: must be a number in \[0\.5, 200\], got 500$"),
        (
            lambda r: r["h36m"].update(takes=0),
            r"^profile .*p\.yaml\.h36m\.takes: must be an integer in \[1, 9\], got 0$",
        ),
        (lambda r: r.update(box_jitter=[0.1]), r"^profile .*p\.yaml\.box_jitter: must be a list of 2 values"),
        (lambda r: r["h36m"].update(cameras=["123"]), r"^profile .*p\.yaml\.h36m\.cameras\[0\]: must be one of 5413"),
        (lambda r: r["h36m"].update(actions=["Dancing"]), r"^profile .*p\.yaml\.h36m\.actions\[0\]: must be one of"),
        (lambda r: r.update(background="noise"), r"^profile .*p\.yaml\.background: must be one of clean, median"),
        (lambda r: r["h36m"].update(val_subjects=["S1"]), r"^profile .*p\.yaml: h36m subjects must be distinct"),
        (
            lambda r: r.update(frame_scale={"h36m": 0.01, "mpi3dhp": 0.1, "dunp": 0.1}),
            r"^profile .*p\.yaml: frame_scale\.h36m = 0\.01 makes 1000x1002 frames smaller than 16 px$",
        ),
        (lambda r: r["dunp"].update(seconds=0.1), r"^profile .*p\.yaml: dunp seconds must give 2\.\.100000 frames"),
    ],
    ids=[
        "unknown-key",
        "missing-key",
        "out-of-range",
        "takes",
        "jitter",
        "camera",
        "action",
        "background",
        "subjects",
        "frame-size",
        "clip-length",
    ],
)
def test_impossible_profiles_are_one_config_error_line(tmp_path, edit, message):
    raw = _tiny()
    edit(raw)
    config_error(load_profile, tmp_path / "p.yaml", yaml.safe_dump(raw), message)


def test_files_by_path_defaults_and_recorded_profiles(tmp_path):
    tiny = load_profile("tiny")
    raw = _tiny()
    del raw["background"], raw["description"]  # older files: the clean scene, no description
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"keyed": raw}))  # one profile keyed by its name
    mine = load_profile(str(tmp_path / "mine.yaml"))
    assert (mine.name, mine.background, mine.description) == ("keyed", "clean", "")
    assert load_profile("smoke").h36m.actions == skeleton.H36M_ACTIONS  # `actions: all`
    assert profile_from_dict(tiny.as_dict()) == tiny
    assert tiny.as_dict()["frame_scale"] == {"h36m": 0.125, "mpi3dhp": 0.0625, "dunp": 0.125}
    assert tiny.scale("mpi3dhp") == 0.0625 and tiny.with_crop_size(48).crop_size == 48
    with pytest.raises(ConfigError, match=r"^profile tiny\.crop_size: must be an integer in \[8, 1024\], got 4$"):
        tiny.with_crop_size(4)
