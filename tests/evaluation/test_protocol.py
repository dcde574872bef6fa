"""protocol.py and protocols/*.yaml: every definition loads, and none changes without a version bump."""

from __future__ import annotations

import hashlib

import pytest

from factories import REPO, config_error
from kspbench.errors import ConfigError
from kspbench.evaluation.protocol import REGISTERED, all_protocols, available, load_protocol, protocols_dir

# REGISTERED: name -> (version, sha256 of the file). A change to a protocol file must bump its `version` and then
# update the pin in kspbench/evaluation/protocol.py: results carry (name, version, sha256), so two results with the same
# version are comparable.
PINS = REGISTERED


def test_every_protocol_is_pinned():
    assert sorted(PINS) == available()


@pytest.mark.parametrize("name", sorted(PINS))
def test_protocol_content_is_pinned_to_its_version(name):
    p = load_protocol(name)
    sha = hashlib.sha256((protocols_dir() / f"{name}.yaml").read_bytes()).hexdigest()
    version, pinned = PINS[name]
    assert p.version == version, f"{name}: version {p.version} but the pin says {version}; update the pin"
    assert sha == pinned, (
        f"{name}.yaml changed without a version bump: bump `version` in the file, then "
        f"update REGISTERED[{name!r}] in kspbench/evaluation/protocol.py to ({p.version + 1}, {sha!r})"
    )
    assert p.name == name and p.sha256 == sha


def test_definitions_are_consistent():
    for p in all_protocols():
        assert p.primary in {m.name for m in p.metrics}
        assert 0 <= p.root_joint < 17
        covered = sorted(j for _, idx in p.joint_groups for j in idx)
        if p.joint_groups:  # 3DHP joint groups cover exactly the scored joints
            assert covered == sorted(p.joints)
    p2 = load_protocol("h36m-p2")
    assert (p2.subjects, p2.frame_stride, p2.overall, p2.group_by) == (("S9", "S11"), 1, "mean_of_groups", "action")
    assert load_protocol("3dhp").metric("auc").thresholds_mm == tuple(float(t) for t in range(0, 151, 5))
    assert len(load_protocol("3dhp-14").joints) == 14


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown protocol 'h36m-p9'; use one of 3dhp, 3dhp-14"):
        load_protocol("h36m-p9")


def test_overrides_are_recorded():
    p = load_protocol("h36m-p2").with_overrides(cameras=["60457274"], frame_stride=5)
    assert p.cameras == ("60457274",) and p.frame_stride == 5
    assert dict(p.overrides) == {"cameras": ["60457274"], "frame_stride": 5}
    assert load_protocol("h36m-p2").with_overrides() == load_protocol("h36m-p2")
    with pytest.raises(ConfigError, match="positive"):
        load_protocol("h36m-p2").with_overrides(frame_stride=0)


def test_malformed_protocol_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nversion: 1\n")
    with pytest.raises(ConfigError, match="missing key 'split'"):
        load_protocol(str(bad))


SOURCE = REPO / "protocols"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t + "colour: red\n", r"^protocol .*p\.yaml: unknown key 'colour' \(known: name, version,"),
        (lambda t: t.replace("ground_truth: camera_3d\n", ""), r"^protocol .*p\.yaml: missing key 'ground_truth'$"),
        (
            lambda t: t.replace("frame_stride: 1", "frame_stride: 0"),
            r"^protocol .*p\.yaml\.split\.frame_stride: must be an integer >= 1, got 0$",
        ),
        (
            lambda t: t.replace("alignment: procrustes", "alignment: affine"),
            r"^protocol .*p\.yaml\.metrics\.p_mpjpe_mm\.alignment: "
            r"must be one of root, scale, procrustes, got 'affine'$",
        ),
        (
            lambda t: t.replace("joints: all", "joints: [0, 17]"),
            r"^protocol .*p\.yaml\.joints: must be 'all' or indices in 0\.\.16, got \[0, 17\]$",
        ),
        (
            lambda t: t.replace("primary: p_mpjpe_mm", "primary: auc"),
            r"^protocol .*p\.yaml\.primary: 'auc' is not among its metrics$",
        ),
        (
            lambda t: t.replace("{overall: mean_of_groups, by: action}", "{overall: mean_of_groups}"),
            r"^protocol .*p\.yaml\.aggregation: mean_of_groups needs by: one of action, sequence",
        ),
    ],
    ids=["unknown-key", "missing-key", "out-of-range", "choice", "joints", "primary", "aggregation"],
)
def test_malformed_definitions_are_one_config_error_line(tmp_path, edit, message):
    config_error(load_protocol, tmp_path / "p.yaml", edit((SOURCE / "h36m-p2.yaml").read_text()), message)


def _copy(tmp_path, name, edit=lambda text: text, filename=None):
    path = tmp_path / (filename or f"{name}.yaml")
    path.write_text(edit((SOURCE / f"{name}.yaml").read_text()))
    return path


def test_unmodified_copy_is_the_registered_protocol(tmp_path, monkeypatch):
    p = load_protocol(str(_copy(tmp_path, "h36m-p2", filename="elsewhere.yaml")))
    assert p.name == "h36m-p2" and not p.custom and p.sha256 == REGISTERED["h36m-p2"][1]
    monkeypatch.setenv("KSPBENCH_PROTOCOLS", str(tmp_path))
    _copy(tmp_path, "h36m-p1")
    assert load_protocol("h36m-p1").name == "h36m-p1"


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("frame_stride: 1", "frame_stride: 5"),
        lambda t: t.replace("alignment: procrustes", "alignment: scale"),
        lambda t: t + "\n# a comment is a change too\n",
    ],
    ids=["stride", "alignment", "comment"],
)
def test_modified_file_is_a_custom_protocol(tmp_path, monkeypatch, edit):
    path = _copy(tmp_path, "h36m-p2", edit)
    assert path.read_text() != (SOURCE / "h36m-p2.yaml").read_text()
    p = load_protocol(str(path))
    assert p.custom and p.name == "custom:h36m-p2" and p.version == REGISTERED["h36m-p2"][0]
    assert p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != REGISTERED["h36m-p2"][1]
    monkeypatch.setenv("KSPBENCH_PROTOCOLS", str(tmp_path))
    assert load_protocol("h36m-p2").name == "custom:h36m-p2"


def test_unregistered_name_or_version_is_custom(tmp_path):
    new = _copy(tmp_path, "h36m-p2", lambda t: t.replace("name: h36m-p2", "name: mine"), filename="mine.yaml")
    assert load_protocol(str(new)).name == "custom:mine"
    bumped = _copy(tmp_path, "h36m-p2", lambda t: t.replace("version: 2", "version: 3"), filename="v3.yaml")
    assert load_protocol(str(bumped)).name == "custom:h36m-p2"
