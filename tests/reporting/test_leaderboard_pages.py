"""`kspbench leaderboard` beside the paper: published rows, every metric, per-action and per-joint breakdowns, LaTeX,
and the self-contained HTML page (rendered in headless Chromium: sorting and a screenshot)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from kspbench.cli import main as run_cli
from kspbench.core import skeleton
from kspbench.reporting.published import published_rows
from kspbench.reporting.table import reference
from leaderboard_fixtures import h36m_store, scored_result

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)"
)


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lbpages")
    store = h36m_store(tmp / "h36m.h5")
    files = {
        "good": scored_result(tmp, store, "h36m-p2", "good", "good", 0, 10.0, 1),
        "good_s1": scored_result(tmp, store, "h36m-p2", "good_s1", "good", 1, 10.0, 2),
        "worse": scored_result(tmp, store, "h36m-p2", "worse", "worse", 0, 25.0, 3),
    }
    return {
        "dir": tmp / "results",
        "tmp": tmp,
        **{k: json.loads(v.read_text()) for k, v in files.items()},
        "paths": files,
    }


def _md(lb, capsys, *extra) -> str:
    capsys.readouterr()
    assert run_cli(["leaderboard", "--results", str(lb["dir"]), *extra]) == 0
    return capsys.readouterr().out


def _md_rows(md: str, header_start: str, after: str = "") -> list[dict[str, str]]:
    """The rows of the first GitHub table whose header starts with ``header_start`` (after ``| ``), below the first
    line that contains ``after``."""
    lines = md.splitlines()
    start = next(k for k, s in enumerate(lines) if after in s)
    i = next(k for k, s in enumerate(lines) if k > start and s.startswith(f"| {header_start}"))
    head = [c.strip() for c in lines[i].strip("|").split("|")]
    rows = []
    for s in lines[i + 2 :]:
        if not s.startswith("|"):
            break
        rows.append(dict(zip(head, (c.strip() for c in s.strip("|").split("|")))))
    return rows


def _table2_averages() -> dict[str, float]:
    return {
        r["method"]: r["values"]["average"]
        for r in reference()["tables"]["table2"]["rows"]
        if r["values"].get("average") is not None
    }


# --- published rows and metrics -----------------------------------------------------------------------------------


def test_published_rows_sit_beside_measured_rows_marked_and_unranked(lb, capsys):
    rows = _md_rows(_md(lb, capsys), "rank")
    pub = [r for r in rows if r["kind"] == "published"]
    want = _table2_averages()
    assert len(pub) == len(want) and all(r["row"].endswith(" [published]") and r["rank"] == "–" for r in pub)
    for r in pub:
        assert float(r["p_mpjpe_mm"]) == pytest.approx(want[r["row"][: -len(" [published]")]])
        assert r["dataset"] == "Human3.6M (as published)" and r["seeds"] == ""
    measured = [r for r in rows if r["kind"] != "published"]
    assert [r["rank"] for r in measured] == ["1", "2"] and {r["dataset"] for r in measured} == {"unit-h36m"}
    assert not [r for r in _md_rows(_md(lb, capsys, "--no-published"), "rank") if r["kind"] == "published"]


def test_published_rows_of_3dhp_and_none_for_other_protocols():
    ref = reference()
    t3 = [r for r in ref["tables"]["table3"]["rows"] if r["values"].get("auc") is not None]
    got = published_rows(ref, "3dhp", "auc")
    assert [g["score"] for g in got] == [r["values"]["auc"] for r in t3]
    assert all(g["metrics"].get("pck150") == r["values"]["pck"] for g, r in zip(got, t3))
    # The paper prints no MPJPE for some rows: they are left out of an MPJPE board, never guessed.
    assert len(published_rows(ref, "3dhp", "mpjpe_mm")) == sum(r["values"]["mpjpe"] is not None for r in t3) < len(t3)
    assert published_rows(ref, "h36m-p1", "mpjpe_mm") == [] and published_rows(ref, "3dhp-pa", "pck150") == []


def test_every_metric_of_the_protocol_is_a_column(lb, capsys):
    rows = {r["row"].split(" (")[0]: r for r in _md_rows(_md(lb, capsys), "rank")}
    for m in ("n_mpjpe_mm", "mpjpe_mm"):
        want = np.mean([lb["good"]["metrics"][m], lb["good_s1"]["metrics"][m]])
        assert float(rows["good"][m]) == pytest.approx(want, abs=0.006)
        assert float(rows["worse"][m]) == pytest.approx(lb["worse"]["metrics"][m], abs=0.006)


# --- breakdowns ---------------------------------------------------------------------------------------------------


def test_result_per_joint_numbers_average_to_the_overall_metric(lb):
    for key in ("good", "worse"):
        data = lb[key]
        assert set(data["per_joint"]) == set(data["protocol"]["metrics"])
        for m, joints in data["per_joint"].items():
            assert list(joints) == list(skeleton.JOINT_NAMES)
            # Mean errors are linear: the joints' numbers average to the overall number (same action weighting).
            assert np.mean(list(joints.values())) == pytest.approx(data["metrics"][m], rel=1e-9)


def test_per_joint_and_per_action_tables(lb, capsys):
    md = _md(lb, capsys, "--per-joint", "--per-action")
    joints = {r["row"].split(" (")[0]: r for r in _md_rows(md, "row ", "per joint")}
    assert set(joints) == {"good", "worse"}
    for name in skeleton.JOINT_NAMES:
        want = np.mean([lb["good"]["per_joint"]["p_mpjpe_mm"][name], lb["good_s1"]["per_joint"]["p_mpjpe_mm"][name]])
        assert float(joints["good"][name]) == pytest.approx(want, abs=0.006)
    actions = {
        r["row"].split(" (")[0] if "[published]" not in r["row"] else r["row"]: r
        for r in _md_rows(md, "row ", "per action")
    }
    assert float(actions["worse"]["Walking"]) == pytest.approx(
        lb["worse"]["per_group"]["action"]["Walking"]["p_mpjpe_mm"], abs=0.006
    )
    assert actions["worse"]["Directions"] == "–"  # not in this store: a blank, not a guess
    martinez = next(r for r in reference()["tables"]["table2"]["rows"] if r["method"] == "(Martinez et al. 2017)")
    pub = actions["(Martinez et al. 2017) [published]"]
    assert all(float(pub[a]) == pytest.approx(v) for a, v in martinez["values"].items() if a in pub)
    assert "per joint" in md and "per action" in md and "per joint" not in _md(lb, capsys)


def test_3dhp_board_per_activity_and_per_joint_pck(mpi, capsys):
    capsys.readouterr()
    assert (
        run_cli(["leaderboard", "--results", str(mpi["dir"]), "--protocol", "3dhp", "--per-action", "--per-joint"]) == 0
    )
    md = capsys.readouterr().out
    pub = [r for r in _md_rows(md, "rank") if r["kind"] == "published"]
    t3 = [r for r in reference()["tables"]["table3"]["rows"] if r["values"]["pck"] is not None]
    assert sorted(float(r["pck150"]) for r in pub) == sorted(r["values"]["pck"] for r in t3)  # best first: higher
    assert [float(r["pck150"]) for r in pub] == sorted((float(r["pck150"]) for r in pub), reverse=True)
    assert "pck150 per activity" in md and "pck150 per joint" in md
    joints = _md_rows(md, "row ", "per joint")
    assert [k for k in joints[0] if k not in ("row", "source")] == list(skeleton.MPI3DHP_JOINT_NAMES)
    data = json.loads(mpi["sharp"].read_text())
    for m, per in data["per_joint"].items():  # PCK, AUC and errors are all means over joints
        assert np.mean(list(per.values())) == pytest.approx(data["metrics"][m], rel=1e-9), m


def test_json_carries_published_rows_metrics_and_breakdowns(lb, capsys):
    data = json.loads(_md(lb, capsys, "--format", "json", "--per-joint"))["leaderboards"][0]
    assert len(data["published"]) == len(_table2_averages()) and all(p["published"] for p in data["published"])
    assert data["metrics"]["worse"]["mpjpe_mm"]["score"] == pytest.approx(lb["worse"]["metrics"]["mpjpe_mm"])
    assert data["metrics"]["worse"]["mpjpe_mm"]["ci95"] == lb["worse"]["ci95"]["mpjpe_mm"]
    assert set(data["breakdowns"]["joint"]) >= {"good", "worse"}


def test_latex_leaderboard_is_an_ascii_table_float_with_the_best_bold(lb, tmp_path, capsys):
    out = tmp_path / "lb.tex"
    assert run_cli(["leaderboard", "--results", str(lb["dir"]), "--out", str(out)]) == 0  # format from suffix
    tex = out.read_text()
    assert tex.isascii() and "\\begin{table}" in tex and "\\caption{h36m-p2" in tex
    assert "\\label{tab:leaderboard-h36m-p2}" in tex and "\\toprule" in tex and "\\bottomrule" in tex
    assert re.search(r"\\begin\{tabular\}\{rllrrrr\}", tex)
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0].strip().splitlines()
    bold_rows = [line for line in body if "\\textbf" in line]
    # The measured best (about 15 mm) beats every published P-MPJPE; only it is bold in that column.
    assert len(bold_rows) == 1 and bold_rows[0].startswith("1 & good")
    assert (
        f"\\textbf{{{np.mean([lb['good']['metrics']['p_mpjpe_mm'], lb['good_s1']['metrics']['p_mpjpe_mm']]):.2f}}}"
        in bold_rows[0]
        and "$\\pm$" in bold_rows[0]
    )


# --- the HTML page ------------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Tables (rows of (class, [cell text], [cell data-v])), links and every src/href of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.refs, self.tags, self._cell = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.refs += [a[k] for k in ("src", "href") if k in a]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append((a.get("class") or "", [], []))
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1][1].append("")
            self.tables[-1][-1][2].append(a.get("data-v"))
            self._cell = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell and self.tables and self.tables[-1]:
            self.tables[-1][-1][1][-1] += data


def _parse(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


@pytest.fixture(scope="module")
def page(lb):
    out = lb["tmp"] / "site" / "leaderboard.html"
    assert (
        run_cli(
            [
                "leaderboard",
                "--results",
                str(lb["dir"]),
                "--format",
                "html",
                "--per-action",
                "--per-joint",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_html_page_is_self_contained_and_marks_published_rows(page, lb):
    text = page.read_text()
    p = _parse(text)
    assert "link" not in p.tags and not re.search(r"<script[^>]*\bsrc=", text) and "url(" not in text
    assert "@import" not in text and not [r for r in p.refs if re.match(r"[a-z]+:", r)]  # no http:, file:, data:
    board = p.tables[0]
    pub = [r for r in board if r[0] == "published"]
    assert len(pub) == len(_table2_averages()) and all("published" in r[1][1] for r in pub)
    measured = [r for r in board if "measured" in r[0]]
    assert [r[1][0] for r in measured] == ["1", "2"] and "best" in measured[0][0]
    # Intervals: the one-seed row prints its bootstrap interval, the two-seed row its sd and t interval.
    lo, hi = lb["worse"]["ci95"]["p_mpjpe_mm"]
    assert f"[{lo:.2f}, {hi:.2f}]" in measured[1][1][5] and "sd" in measured[0][1][5]
    # Links are relative to the page and lead to the result files.
    links = [r for r in p.refs if r.endswith(".json")]
    assert len(links) == 3 and all(not Path(r).is_absolute() for r in links)
    assert {(page.parent / r).resolve() for r in links} == {v.resolve() for v in lb["paths"].values()}
    assert len(p.tables) == 3  # the board, per action, per joint


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={cwd / 'chromium-profile'}",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_chromium
def test_html_columns_sort_in_a_headless_browser(page, tmp_path):
    # Click headers as a user would: the row column once (ascending), then the metric column twice (descending).
    clicks = (
        "var th=document.querySelectorAll('table')[0].querySelectorAll('th');"
        "th[1].click();var a=Array.prototype.map.call(document.querySelectorAll('table')[0].tBodies[0].rows,"
        "function(r){return r.cells[1].getAttribute('data-v')});document.body.setAttribute('data-by-row',"
        "JSON.stringify(a));th[5].click();th[5].click();"
    )
    copy = tmp_path / "clicked.html"
    copy.write_text(page.read_text().replace("</body>", f"<script>{clicks}</script></body>"))
    done = _chromium("--dump-dom", copy.as_uri(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    by_row = json.loads(re.search(r'data-by-row="([^"]*)"', done.stdout).group(1).replace("&quot;", '"'))
    assert by_row == sorted(by_row, key=lambda s: (s.lower(), s)) or by_row == sorted(by_row)
    assert len(by_row) == 2 + len(_table2_averages())
    board = _parse(done.stdout).tables[0]
    values = [float(v[5]) for _, _, v in board[1:]]
    assert values == sorted(values, reverse=True) and values[-1] < 20  # the measured best is now last


@needs_chromium
def test_html_screenshot_is_a_rendered_page(page, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape == (1000, 1400, 3)
    assert img.std() > 20  # text and rules, not a blank page
    # The published rows' shade and the measured badge are on screen: the two kinds of row look different.
    for colour in ((0xFB, 0xF7, 0xE9), (0xB6, 0xE3, 0xC0)):
        assert (np.abs(img - colour).sum(axis=2) <= 3).sum() > 500, colour
