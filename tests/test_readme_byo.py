"""README, "Score your own model": its commands, run exactly as written, take a VideoPose3D-format file and an
MMPose-format results file to named leaderboard rows in at most three commands each."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from factories import full_h36m_test_store, truth_predictions
from kspbench.cli import main
from kspbench.data.formats.vp3d_npz import predictions_to_vp3d

README = Path(__file__).resolve().parents[1] / "README.md"
RELEASE_SPELLING = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog"}  # how the release (and MMPose) name them


def _blocks() -> list[list[str]]:
    """The command blocks of the README's "Score your own model" section: one list of lines per fenced block."""
    text = README.read_text()
    section = text[text.index("## Score your own model") :]
    section = section[: section.index("\n## ", 1)]
    return [[ln for ln in b.strip().splitlines() if ln.strip()] for b in re.findall(r"```\n(.*?)```", section, re.S)]


def _run(lines: list[str], capsys) -> str:
    out = ""
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "kspbench", line
        assert main(argv[1:]) == 0, (line, capsys.readouterr().err)
        out += capsys.readouterr().out
    return out


def _noisy_truth(store, seed):
    p = truth_predictions(store)
    p.poses_3d = p.poses_3d + np.random.default_rng(seed).normal(scale=15.0, size=p.poses_3d.shape)
    return p


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """h36m.h5 (the README's store: S9, S11, 15 actions, 4 cameras) and an outside model's files in both layouts."""
    tmp = tmp_path_factory.mktemp("byo")
    store = full_h36m_test_store(tmp / "h36m.h5", n=6)
    positions, _ = predictions_to_vp3d(_noisy_truth(store, 1))  # metres, Human3.6M camera order
    np.savez(tmp / "my_model.npz", positions_3d=np.array(positions, dtype=object))
    p = _noisy_truth(store, 2)
    keep = p.frame % 5 == 0  # MMPose's default: every 5th frame
    records = []
    for s, q, c, f, pose in zip(p.subject[keep], p.sequence[keep], p.camera[keep], p.frame[keep], p.poses_3d[keep]):
        action, take = q.split(" ")
        name = f"{s}_{RELEASE_SPELLING.get(action, action)}_{take}.{c}_{f + 1:06d}.jpg"
        records.append({"image_name": f"{s}/{name[:-11]}/{name}", "keypoints_3d": (pose / 1000).tolist()})
    (tmp / "results.json").write_text(json.dumps(records))
    return tmp


def test_the_section_has_two_blocks_of_at_most_three_commands():
    blocks = _blocks()
    assert len(blocks) == 2
    assert all(1 <= len(b) <= 3 and all(ln.startswith("kspbench ") for ln in b) for b in blocks), blocks


def test_videopose3d_file_to_a_named_leaderboard_row(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    printed = _run(_blocks()[0], capsys)
    board = printed[printed.index("### h36m-p2") :]
    row = next(ln for ln in board.splitlines() if "| My model " in ln)
    assert "partial" not in row and "| 1 " in row
    assert sorted(p.name for p in (workdir / "results" / "my-model").glob("*.json")) == ["h36m-p1.json", "h36m-p2.json"]
    model = json.loads((workdir / "results" / "my-model" / "h36m-p2.json").read_text())["model"]
    assert model == {"name": "My model", "supervision": "Full-3D", "trainset": "H36M", "citation": "Me et al., 2025"}
    assert main(["table"]) == 0  # and Table 2 has the row, beside the published ones
    table2 = capsys.readouterr().out.split("## Table 3")[0]
    assert re.search(r"^\| My model +\| Full-3D +\| measured: unit-h36m", table2, re.M)


def test_mmpose_results_to_a_named_leaderboard_row(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    lines = _blocks()[1]
    first = _run(lines[:1], capsys)
    assert "kspbench eval --stride 5" in first  # the hint the eval line follows
    printed = _run(lines[1:], capsys)
    row = next(ln for ln in printed.splitlines() if "| SimpleBaseline3D (MMPose) " in ln)
    assert "partial" not in row
    result = json.loads((workdir / "results" / "mmpose" / "h36m-p2.json").read_text())
    assert result["protocol"]["overrides"] == {"frame_stride": 5}
    assert result["n_frames"] == 2 * 15 * 4 * 2  # frames 0 and 5 of every track


def test_both_outside_rows_on_the_html_page(workdir, monkeypatch, capsys):
    """After both blocks (the tests above, in file order): the page names both rows, measured, beside the paper's."""
    from html.parser import HTMLParser

    monkeypatch.chdir(workdir)
    if not (workdir / "results" / "mmpose").is_dir():
        pytest.skip("needs the two tests above to have run (they build the results)")
    assert main(["leaderboard", "--protocol", "h36m-p2", "--out", "site/leaderboard.html"]) == 0
    rows: list[list[str]] = []

    class Rows(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                rows.append([dict(attrs).get("class") or ""])

        def handle_data(self, data):
            if rows and data.strip():
                rows[-1].append(data.strip())

    Rows().feed((workdir / "site" / "leaderboard.html").read_text())
    measured = {r[2]: r for r in rows if "measured" in r[0]}  # [class, rank, row name, ...]
    assert {"My model", "SimpleBaseline3D (MMPose)"} <= set(measured)
    assert "my-model/h36m-p2.json" in measured["My model"] and any("published" in r[0] for r in rows)
