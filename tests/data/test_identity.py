"""identity.py: the model block that names a row (--name, --meta), validated wherever it enters."""

from __future__ import annotations

import pytest

from kspbench.data.identity import ModelError, check_model, decode_model, model_block, parse_meta


def test_meta_splits_only_before_known_keys():
    assert parse_meta(
        "supervision=Full-3D, trainset=H36M,citation=Pavllo, Feichtenhofer et al., CVPR 2019,url=https://x.org/a,b"
    ) == {
        "supervision": "Full-3D",
        "trainset": "H36M",
        "citation": "Pavllo, Feichtenhofer et al., CVPR 2019",
        "url": "https://x.org/a,b",
    }
    assert parse_meta("") == {} and parse_meta(None) == {}


@pytest.mark.parametrize(
    "text, needle",
    [
        ("venue=CVPR", "unknown key 'venue'"),
        ("trainset", "not key=value"),
        ("trainset=a,trainset=b", "trainset given twice"),
    ],
)
def test_meta_refusals(text, needle):
    with pytest.raises(ModelError, match=needle):
        parse_meta(text)


def test_block_is_ordered_trimmed_and_named():
    assert list(check_model({"url": " u ", "name": " M ", "citation": ""})) == ["name", "url"]
    assert model_block({"name": "file", "trainset": "H36M"}, name="cli", meta="supervision=none") == {
        "name": "cli",
        "supervision": "none",
        "trainset": "H36M",
    }
    assert model_block(None) is None


@pytest.mark.parametrize(
    "block, needle",
    [
        ({"supervision": "x"}, "has no name"),
        ({"name": "a", "venue": "b"}, "unknown model field"),
        ({"name": "two\nlines"}, "one line"),
        ({"name": "tab\there"}, "one line"),
        ({"name": "x" * 81}, "at most 80"),
        ({"name": 3}, "must be text"),
        (["name"], "must be a JSON object"),
    ],
)
def test_bad_blocks_are_refused(block, needle):
    with pytest.raises(ModelError, match=needle):
        check_model(block)


def test_decode_reads_the_json_attribute():
    assert decode_model('{"name": "M"}', "f.h5") == {"name": "M"}
    with pytest.raises(ModelError, match="f.h5: attribute 'model' is not a JSON object"):
        decode_model("{oops", "f.h5")
