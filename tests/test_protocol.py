"""protocol.py and protocols/*.yaml: every definition loads, and none changes without a version bump."""
from __future__ import annotations

import hashlib

import pytest

from kspbench.protocol import ProtocolError, all_protocols, available, load_protocol, protocols_dir

# (version, sha256 of the file). A change to a protocol file must bump its `version` and then update this pin:
# results carry (name, version, sha256), so two results with the same version are comparable.
PINS = {
    "h36m-p1": (1, "b526574ad2283339716a8eeb3a6cd0a3821a979f9d157b151a6de8e5fa5db920"),
    "h36m-p2": (1, "a1a71cd92ea96bc946b97c7258a14e3f2a8b2eb5a3f950abc097382ae5b2d0a6"),
    "3dhp": (1, "8b51abf74de681d0007900e8fa51e9ed9795fd7494978a7d3af96d2d0c5e6edc"),
    "3dhp-14": (1, "ef63a4e17c60f81dd202d22e7815e345593d84df671d9f9305ead68db4b9635a"),
    "3dhp-pa": (1, "ba55a40cc59d39352d4df51ae06fe9cf64b0724565eae4a936c919c018a938b2"),
}


def test_every_protocol_is_pinned():
    assert sorted(PINS) == available()


@pytest.mark.parametrize("name", sorted(PINS))
def test_protocol_content_is_pinned_to_its_version(name):
    p = load_protocol(name)
    sha = hashlib.sha256((protocols_dir() / f"{name}.yaml").read_bytes()).hexdigest()
    version, pinned = PINS[name]
    assert p.version == version, f"{name}: version {p.version} but the pin says {version}; update the pin"
    assert sha == pinned, (f"{name}.yaml changed without a version bump: bump `version` in the file, then "
                           f"update PINS[{name!r}] to ({p.version + 1}, {sha!r})")
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
    with pytest.raises(ProtocolError, match="unknown protocol 'h36m-p9'; known protocols: 3dhp, 3dhp-14"):
        load_protocol("h36m-p9")


def test_overrides_are_recorded():
    p = load_protocol("h36m-p2").with_overrides(cameras=["60457274"], frame_stride=5)
    assert p.cameras == ("60457274",) and p.frame_stride == 5
    assert dict(p.overrides) == {"cameras": ["60457274"], "frame_stride": 5}
    assert load_protocol("h36m-p2").with_overrides() == load_protocol("h36m-p2")
    with pytest.raises(ProtocolError, match="positive"):
        load_protocol("h36m-p2").with_overrides(frame_stride=0)


def test_malformed_protocol_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nversion: 1\n")
    with pytest.raises(ProtocolError, match="missing field 'split'"):
        load_protocol(str(bad))
