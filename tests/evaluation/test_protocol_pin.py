"""The protocol pin at run time: an edited protocol file scores as `custom:<name>`, and compare, table and
leaderboard refuse to pair or merge results whose protocol sha256 differ."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from factories import EVAL, REPO, make_sequence, truth_predictions
from kspbench.cli import main
from kspbench.data.predictions import write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.evaluate import integrity_digest
from kspbench.evaluation.protocol import REGISTERED
from kspbench.evaluation.results import load_result

SOURCE = REPO / "protocols" / "h36m-p2.yaml"
CAMS = ("54138969",)


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pin")
    store = tmp / "h36m.h5"
    rng = np.random.default_rng(0)
    with StoreWriter(store, dataset="unit-h36m", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=120, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 2", n=100, cameras=CAMS))
    protos = tmp / "protocols"
    protos.mkdir()
    text = SOURCE.read_text()
    files = {
        "copy": text,
        "aligned": text.replace("alignment: procrustes", "alignment: scale"),
        "commented": text + "\n# edited\n",
    }
    for name, body in files.items():
        (protos / f"{name}.yaml").write_text(body)
    out = {"store": store, "protos": protos, "dir": tmp / "results", "stderr": {}}
    for row, proto, noise in (
        ("genuine", "h36m-p2", 10.0),
        ("copy", str(protos / "copy.yaml"), 12.0),
        ("aligned", str(protos / "aligned.yaml"), 10.0),
        ("commented", str(protos / "commented.yaml"), 10.0),
    ):
        p = truth_predictions(store, "h36m-test", "camera_3d")
        p.poses_3d = p.poses_3d + np.random.default_rng(1).normal(scale=noise, size=p.poses_3d.shape)
        p.attrs = {"card": f"row_{row}", "seed": 0}
        pred = tmp / "preds" / f"{row}.npz"
        pred.parent.mkdir(exist_ok=True)
        write_predictions(pred, p)
        out[row] = tmp / "results" / f"{row}.json"
        out[row + "_pred"] = pred
        out[row + "_proto"] = proto
    return out


def _eval(scored, row, capsys, out=None):
    rc = main(
        [
            *EVAL,
            "--protocol",
            scored[row + "_proto"],
            "--predictions",
            str(scored[row + "_pred"]),
            "--store",
            str(scored["store"]),
            "--out",
            str(out or scored[row]),
        ]
    )
    assert rc == 0
    return capsys.readouterr().err


def test_genuine_and_unmodified_copy_are_the_registered_protocol(scored, capsys):
    for row in ("genuine", "copy"):
        assert _eval(scored, row, capsys) == ""
        proto = json.loads(scored[row].read_text())["protocol"]
        assert (proto["name"], proto["version"], proto["sha256"]) == ("h36m-p2", *REGISTERED["h36m-p2"])
        assert load_result(scored[row]).protocol == "h36m-p2"


@pytest.mark.parametrize("row", ["aligned", "commented"])
def test_modified_file_scores_as_custom_with_a_warning(scored, capsys, row):
    err = _eval(scored, row, capsys)
    line = _error_line(err)
    assert line.startswith("kspbench: warning:") and "custom:h36m-p2" in line and f"{row}.yaml" in line
    proto = json.loads(scored[row].read_text())["protocol"]
    assert proto["name"] == "custom:h36m-p2"
    assert proto["sha256"] == hashlib.sha256((scored["protos"] / f"{row}.yaml").read_bytes()).hexdigest()
    assert load_result(scored[row]).protocol == "custom:h36m-p2"


def test_environment_protocols_folder_is_checked_too(scored, capsys, monkeypatch, tmp_path):
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "h36m-p2.yaml").write_bytes((scored["protos"] / "aligned.yaml").read_bytes())
    monkeypatch.setenv("KSPBENCH_PROTOCOLS", str(folder))
    scored = dict(scored, aligned_proto="h36m-p2")
    assert "custom:h36m-p2" in _eval(scored, "aligned", capsys, out=tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["protocol"]["name"] == "custom:h36m-p2"


def _results_dir(scored, tmp_path, rows):
    d = tmp_path / "results"
    d.mkdir()
    for row in rows:
        data = json.loads(scored[row].read_text())
        frames = scored[row].parent / data["per_frame_file"]
        (d / frames.name).write_bytes(frames.read_bytes())
        (d / scored[row].name).write_bytes(scored[row].read_bytes())
    return d


def _relabel(path: Path, name: str) -> None:
    """What an older kspbench wrote for an edited file: the registered name, another sha256."""
    data = json.loads(path.read_text())
    data["protocol"]["name"] = name
    data["integrity"] = integrity_digest(data)
    path.write_text(json.dumps(data))


def _refused_compare(scored, capsys, tmp_path, first: str, second: str) -> tuple[Path, Path, str]:
    """Score two rows, compare them; the comparison must be refused. Returns both result paths and the error line."""
    for row in (first, second):
        _eval(scored, row, capsys)
    d = _results_dir(scored, tmp_path, [first, second])
    a, b = d / f"{first}.json", d / f"{second}.json"
    assert main(["compare", str(a), str(b)]) == 2
    return a, b, _error_line(capsys.readouterr().err)


def test_compare_refuses_different_definitions(scored, capsys, tmp_path):
    a, b, line = _refused_compare(scored, capsys, tmp_path, "genuine", "aligned")
    v = REGISTERED["h36m-p2"][0]
    assert f"different protocols (h36m-p2 v{v} vs custom:h36m-p2 v{v})" in line and str(a) in line and str(b) in line
    _relabel(b, "h36m-p2")  # a result that claims the registered name with another sha256
    assert load_result(b).protocol == "custom:h36m-p2"
    assert main(["compare", str(a), str(b)]) == 2
    assert str(b) in _error_line(capsys.readouterr().err)


def test_compare_refuses_two_custom_definitions(scored, capsys, tmp_path):
    a, b, line = _refused_compare(scored, capsys, tmp_path, "aligned", "commented")
    assert "sha256" in line and str(a) in line and str(b) in line


def test_table_and_leaderboard_refuse_to_merge_two_definitions(scored, capsys, tmp_path):
    for row in ("genuine", "aligned", "commented"):
        _eval(scored, row, capsys)
    d = _results_dir(scored, tmp_path, ["genuine", "aligned", "commented"])
    for argv in (["table", "--results", str(d)], ["leaderboard", "--results", str(d)]):
        assert main(argv) == 2
        line = _error_line(capsys.readouterr().err)
        assert str(d / "aligned.json") in line and str(d / "commented.json") in line and "sha256" in line


def test_custom_results_never_appear_under_the_registered_name(scored, capsys, tmp_path):
    for row in ("genuine", "aligned"):
        _eval(scored, row, capsys)
    d = _results_dir(scored, tmp_path, ["genuine", "aligned"])
    assert main(["leaderboard", "--results", str(d), "--protocol", "h36m-p2", "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert [e["row"] for t in board["leaderboards"] for e in t["rows"]] == ["row_genuine"]
    assert main(["table", "--results", str(d), "--format", "md"]) == 0
    text = capsys.readouterr().out
    assert "row_genuine" in text and "row_aligned" not in text
    _relabel(d / "aligned.json", "h36m-p2")
    assert main(["leaderboard", "--results", str(d), "--protocol", "h36m-p2", "--format", "json"]) == 0
    assert [e["row"] for t in json.loads(capsys.readouterr().out)["leaderboards"] for e in t["rows"]] == ["row_genuine"]
    assert main(["table", "--results", str(d), "--format", "md"]) == 0
    assert "row_aligned" not in capsys.readouterr().out
