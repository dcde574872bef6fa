"""table.py and `kspbench table`: published rows beside measured rows, intervals, dataset notes, formats, refusals."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil

import numpy as np
import pytest
import yaml

from factories import EVAL, make_sequence, truth_predictions
from kspbench.cli import main
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.results import discover
from kspbench.reporting.table import build_tables, metrics_summary, reference, render

CAMS = ("54138969", "60457274")
ACTIONS = ("Walking", "Eating", "Sitting")  # Human3.6M action names: per_group "action" keys match Table 2
SYNTHETIC = "kspbench-synthetic-world"
NOT_COMPARABLE = "not comparable with the paper"
H36M = ("h36m-test", "camera_3d")
MPI = ("3dhp-test", "extras/univ_annot3")
PROTO_ROLE = {"h36m-p2": H36M, "3dhp": MPI, "3dhp-pa": MPI}
N_VALUE_COLUMNS = {"table2": 18, "table3": 4, "table4": 4}  # 15 actions + Avg. + N-MPJPE + Spread; 3 + 1; 3 + 1
TITLES = {"table2": "## Table 2:", "table3": "## Table 3:", "table4": "## Table 4:"}


def _world(path, dataset):
    """A store with both test roles: Human3.6M-like sequences (S9/S11, action names) and 3DHP-like ones (TS1/TS2)."""
    rng = np.random.default_rng(0)
    with StoreWriter(path, dataset=dataset, source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=50, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S11", sequence="Eating 1", n=40, cameras=CAMS))
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Sitting 2", n=30, cameras=CAMS))
        for k, n in ((1, 40), (2, 30)):
            seq = make_sequence(rng, subject=f"TS{k}", sequence=f"TS{k}", role="3dhp-test", n=n, cameras=("0",))
            cam = seq.cameras["0"]
            cam.valid[::4] = False
            cam.extras = {"univ_annot3": cam.camera_3d * 0.9, "activity": (np.arange(n) // 5) % 7 + 1}
            w.add_sequence(seq)
    return path


def _truth(store_path, role="h36m-test", key="camera_3d") -> Predictions:
    return truth_predictions(store_path, role, key)


def _score(tmp, store, row, protocol, attrs, noise, noise_seed, constant=False):
    """Truth + noise as the predictions of ``row``, scored by `kspbench eval` into results/<row>/s<seed>/;
    ``constant``: the first (noisy) pose for every frame instead."""
    role, key = PROTO_ROLE[protocol]
    p = _truth(store, role, key)
    p.poses_3d = p.poses_3d + np.random.default_rng(noise_seed).normal(scale=noise, size=p.poses_3d.shape)
    if constant:
        p.poses_3d = np.broadcast_to(p.poses_3d[:1], p.poses_3d.shape).copy()
    p.attrs = dict(attrs)
    seed = attrs.get("seed")
    sub = f"s{seed}" if seed is not None else "s-"
    pred = tmp / "predictions" / row / sub / f"{role}.h5"
    pred.parent.mkdir(parents=True, exist_ok=True)
    if not pred.exists():
        write_predictions(pred, p)
    out = tmp / "results" / row / sub / f"{protocol}.json"
    assert (
        main([*EVAL, "--protocol", protocol, "--predictions", str(pred), "--store", str(store), "--out", str(out)]) == 0
    )
    return out


def _card(name, seed):
    return {"card": name, "seed": seed, "profile": "cpu"}


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    """unsup (2 seeds), weakly, no-tfk, mean and prior-only on a store named unit-h36m."""
    tmp = tmp_path_factory.mktemp("table")
    store = _world(tmp / "world.h5", "unit-h36m")
    files = {}
    all_protocols = ("h36m-p2", "3dhp", "3dhp-pa")
    jobs = [
        ("unsup", _card("unsup", 0), 20.0, all_protocols),
        ("unsup", _card("unsup", 1), 30.0, all_protocols),
        ("weakly", _card("weakly", 0), 15.0, ("h36m-p2",)),
        ("no-tfk", _card("no-tfk", 0), 35.0, ("h36m-p2",)),
        ("mean", {"baseline": "mean"}, 60.0, all_protocols),
        ("prior-only", _card("prior-only", 0), 45.0, all_protocols),
    ]
    for k, (row, attrs, noise, protos) in enumerate(jobs):
        for proto in protos:
            files[(row, attrs.get("seed"), proto)] = _score(tmp, store, row, proto, attrs, noise, 10 + k)
    return {"tmp": tmp, "dir": tmp / "results", "files": files}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table_synth")
    store = _world(tmp / "world.h5", SYNTHETIC)
    for k, (row, attrs, noise) in enumerate(
        [
            ("unsup", _card("unsup", 0), 20.0),
            ("mean", {"baseline": "mean"}, 60.0),
            ("prior-only", _card("prior-only", 0), 45.0),
        ]
    ):
        for proto in ("h36m-p2", "3dhp", "3dhp-pa"):
            _score(tmp, store, row, proto, attrs, noise, 10 + k)
    return {"tmp": tmp, "dir": tmp / "results"}


@pytest.fixture(scope="module")
def collapse(tmp_path_factory):
    """unsup predicting one pose for every frame (collapsed), the const baseline (one pose by design), mean."""
    tmp = tmp_path_factory.mktemp("table_collapse")
    store = _world(tmp / "world.h5", SYNTHETIC)
    for k, (row, attrs, noise, constant) in enumerate(
        [
            ("unsup", _card("unsup", 0), 20.0, True),
            ("no-tfk", _card("no-tfk", 0), 20.0, False),
            ("const", {"baseline": "const"}, 0.0, True),
            ("mean", {"baseline": "mean"}, 60.0, False),
        ]
    ):
        for proto in ("h36m-p2", "3dhp", "3dhp-pa"):
            _score(tmp, store, row, proto, attrs, noise, 10 + k, constant=constant)
    return {"tmp": tmp, "dir": tmp / "results", "md": _table_md(tmp / "results", tmp / "tables.md")}


def _table_md(results_dir, out, capsys=None):
    assert main(["table", "--results", str(results_dir), "--out", str(out)]) == 0
    return out.read_text()


@pytest.fixture(scope="module")
def unit_md(unit):
    return _table_md(unit["dir"], unit["tmp"] / "tables.md")


@pytest.fixture(scope="module")
def synthetic_md(synthetic):
    return _table_md(synthetic["dir"], synthetic["tmp"] / "tables.md")


def _sections(md: str) -> dict[str, str]:
    """table key -> the Markdown from its heading to the next table's heading."""
    starts = {k: md.index(title) for k, title in TITLES.items()}
    order = sorted(starts, key=starts.get)
    return {k: md[starts[k] : starts[order[i + 1]] if i + 1 < len(order) else len(md)] for i, k in enumerate(order)}


def _rows(section: str) -> list[dict[str, str]]:
    """The GitHub-Markdown table of a section as dicts (header -> cell text)."""
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    assert set(lines[1].replace("|", "").replace("-", "").replace(":", "").strip()) == set()  # separator
    rows = []
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        assert len(cells) == len(header), ln
        row = dict(zip(header, cells))
        # The test stores cover a few actions and cameras: measured rows end in "(partial: ...)", kept apart here.
        if " (partial: " in row.get("Method", ""):
            row["Method"], _, rest = row["Method"].partition(" (partial: ")
            row["partial"] = rest[:-1]
        rows.append(row)
    return rows


def _metric(path, metric, group=None):
    data = json.loads(path.read_text())
    return data["metrics"][metric] if group is None else data["per_group"]["action"][group][metric]


def _mean_sd(values):
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _measured(rows):
    return [r for r in rows if r["Source"].startswith("measured")]


def _by_label(rows, needle, source_has=None):
    hits = [
        r
        for r in rows
        if needle in r["Method"]
        and (source_has is None or source_has in r["Source"] or source_has in r.get("Alignment", ""))
    ]
    assert len(hits) == 1, (needle, [r["Method"] for r in rows])
    return hits[0]


# --- published rows -----------------------------------------------------------------------------------------------


def test_every_published_row_appears_in_its_table(unit_md):
    ref = reference()["tables"]
    sections = _sections(unit_md)
    for key in ("table2", "table3", "table4"):
        published = [r for r in _rows(sections[key]) if r["Source"] == "published"]
        assert [r["Method"] for r in published] == [r["method"] for r in ref[key]["rows"]], key
        assert len(published) == len(ref[key]["rows"])
    assert len(ref["table2"]["rows"]) == 13 and len(ref["table3"]["rows"]) == 11 and len(ref["table4"]["rows"]) == 4
    # A published cell is the reference number, to one decimal.
    akhter = _rows(sections["table2"])[0]
    assert akhter["Direct."] == "199.2" and akhter["Avg."].startswith("181.1")


def test_published_rows_without_results_still_render(tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    assert main(["table", "--results", str(empty), "--out", str(tmp_path / "t.md")]) == 0
    md = (tmp_path / "t.md").read_text()
    sections = _sections(md)
    for key, n in (("table2", 13), ("table3", 11), ("table4", 4)):
        rows = _rows(sections[key])
        assert len(rows) == n and not _measured(rows)
    assert NOT_COMPARABLE not in md and "Measured rows name" not in md


# --- measured rows --------------------------------------------------------------------------------------------------


def test_measured_rows_name_card_and_dataset(unit_md):
    sections = _sections(unit_md)
    t2 = _measured(_rows(sections["table2"]))
    assert [r["Method"] for r in t2] == [
        "Ours (weakly-sup.) → card weakly",
        "Ours (unsup.) → card unsup",
        "no-tfk",
        "Lprior only (20 labelled samples)",
        "mean pose (h36m-train)",
    ]
    for key in ("table2", "table3", "table4"):
        rows = _measured(_rows(sections[key]))
        assert rows, key
        for r in rows:
            assert "measured: unit-h36m" in r["Source"], r
    unsup = _by_label(t2, "card unsup")
    assert unsup["Source"] == "measured: unit-h36m, cpu, 2 seeds"
    # 3 of the 15 actions, 2 of the 4 cameras: every measured row says what it misses; published rows never do.
    assert all(r.get("partial", "").startswith("no cameras 55011271, 58860488; no actions Directions") for r in t2)
    assert not any("partial" in r for r in _rows(sections["table2"]) if r["Source"] == "published")
    assert _by_label(t2, "card weakly")["Source"] == "measured: unit-h36m, cpu, 1 seed"
    assert _by_label(t2, "mean pose")["Source"] == "measured: unit-h36m"
    t4 = _measured(_rows(sections["table4"]))
    assert [r["Method"] for r in t4] == [
        "Ours w/o Tfk → card no-tfk",
        "Ours(unsup.) → card unsup",
        "Lprior only (20 labelled samples)",
        "mean pose (h36m-train)",
    ]
    t3 = _measured(_rows(sections["table3"]))
    assert _by_label(t3, "card unsup", "(3dhp)")["Alignment"] == "root (none) (3dhp)"
    assert _by_label(t3, "card unsup", "(3dhp-pa)")["Alignment"] == "Procrustes (3dhp-pa)"
    assert "Measured rows name the dataset they were measured on (unit-h36m)." in unit_md


def test_two_seed_row_shows_mean_and_sd_of_the_seeds(unit, unit_md):
    f = unit["files"]
    sections = _sections(unit_md)
    unsup = _by_label(_measured(_rows(sections["table2"])), "card unsup")
    m, sd = _mean_sd([_metric(f[("unsup", s, "h36m-p2")], "p_mpjpe_mm") for s in (0, 1)])
    assert sd > 0.05
    assert unsup["Avg."] == f"{m:.1f} ± {sd:.1f}"
    m, sd = _mean_sd([_metric(f[("unsup", s, "h36m-p2")], "n_mpjpe_mm") for s in (0, 1)])
    assert unsup["N-MPJPE"] == f"{m:.1f} ± {sd:.1f}"
    for action, col in (("Walking", "Walk"), ("Eating", "Eat"), ("Sitting", "Sit")):
        m, sd = _mean_sd([_metric(f[("unsup", s, "h36m-p2")], "p_mpjpe_mm", action) for s in (0, 1)])
        assert unsup[col] == f"{m:.1f} ± {sd:.1f}", col
    for col in ("Direct.", "Disc.", "Greet", "WalkD", "WalkT"):  # actions the store does not have
        assert unsup[col] == "–"
    # Table 4's H36M column is the same P-MPJPE average; Table 3 takes PCK from 3dhp and 3dhp-pa.
    t4 = _by_label(_measured(_rows(sections["table4"])), "card unsup")
    m, sd = _mean_sd([_metric(f[("unsup", s, "h36m-p2")], "p_mpjpe_mm") for s in (0, 1)])
    assert t4["MPJPE on H36M ¹"] == f"{m:.1f} ± {sd:.1f}"
    for proto, col in (("3dhp", "3DPCK on 3DHP"), ("3dhp-pa", "3DPCK on 3DHP (Procrustes)")):
        m, sd = _mean_sd([_metric(f[("unsup", s, proto)], "pck150") for s in (0, 1)])
        assert t4[col] == f"{m:.1f} ± {sd:.1f}"
    t3 = _by_label(_measured(_rows(sections["table3"])), "card unsup", "(3dhp-pa)")
    m, sd = _mean_sd([_metric(f[("unsup", s, "3dhp-pa")], "mpjpe_mm") for s in (0, 1)])
    assert t3["MPJPE"] == f"{m:.1f} ± {sd:.1f}"


def test_single_seed_row_shows_its_interval(unit, unit_md):
    f = unit["files"]
    t2 = _measured(_rows(_sections(unit_md)["table2"]))
    for label, key in (("card weakly", ("weakly", 0, "h36m-p2")), ("mean pose", ("mean", None, "h36m-p2"))):
        data = json.loads(f[key].read_text())
        v, (lo, hi) = data["metrics"]["p_mpjpe_mm"], data["ci95"]["p_mpjpe_mm"]
        assert _by_label(t2, label)["Avg."] == f"{v:.1f} [{lo:.1f}, {hi:.1f}]"
        # Per-action cells have no interval of their own: the value alone.
        walk = data["per_group"]["action"]["Walking"]["p_mpjpe_mm"]
        assert _by_label(t2, label)["Walk"] == f"{walk:.1f}"


def test_mean_pose_and_prior_only_in_every_table_with_measured_rows(unit_md, synthetic_md):
    for md in (unit_md, synthetic_md):
        for key, section in _sections(md).items():
            rows = _measured(_rows(section))
            assert rows, key
            labels = [r["Method"] for r in rows]
            n = 2 if key == "table3" else 1  # Table 3: one block per alignment (3dhp, 3dhp-pa)
            assert labels.count("mean pose (h36m-train)") == n, (key, labels)
            assert labels.count("Lprior only (20 labelled samples)") == n, (key, labels)


def test_synthetic_world_note_under_every_table_and_only_there(unit_md, synthetic_md):
    for key, section in _sections(synthetic_md).items():
        notes = [ln for ln in section.splitlines() if ln.startswith("- ")]
        hits = [ln for ln in notes if NOT_COMPARABLE in ln]
        assert len(hits) == 1 and SYNTHETIC in hits[0], key
        assert all("measured: " + SYNTHETIC in r["Source"] for r in _measured(_rows(section)))
    for key, section in _sections(unit_md).items():
        assert NOT_COMPARABLE not in section, key
        assert SYNTHETIC not in section


def test_table4_footnote_on_p_mpjpe(unit_md):
    t4 = _sections(unit_md)["table4"]
    assert "MPJPE on H36M ¹" in t4
    assert "- ¹ Labelled 'MPJPE on H36M' in the paper, but it is P-MPJPE (protocol II)" in t4
    assert "kspbench fills it from h36m-p2" in t4


def test_profile_note_and_cell_notes(unit_md):
    sections = _sections(unit_md)
    for key in ("table2", "table3", "table4"):
        assert "trained with the cpu profile(s)" in sections[key], key
    # Published cells with a note in the reference data carry a numbered marker that is explained below.
    akhter = _rows(sections["table2"])[0]
    assert akhter["Avg."] == "181.1 [1]" and "- [1] (Akhter et al. 2015), average: Inconsistent" in sections["table2"]


def test_spread_ratio_column_beside_the_errors(unit, unit_md):
    f = unit["files"]
    sections = _sections(unit_md)
    unsup = _by_label(_measured(_rows(sections["table2"])), "card unsup")
    m, sd = _mean_sd([_metric(f[("unsup", s, "h36m-p2")], "spread_ratio") for s in (0, 1)])
    assert unsup["Spread"] == f"{m:.2f} ± {sd:.2f}"  # two decimals; no interval (none is computed)
    weakly = _by_label(_measured(_rows(sections["table2"])), "card weakly")
    assert weakly["Spread"] == f"{_metric(f[('weakly', 0, 'h36m-p2')], 'spread_ratio'):.2f}"
    t4 = _by_label(_measured(_rows(sections["table4"])), "card unsup")
    assert t4["Spread"] == unsup["Spread"]  # Table 4: the h36m-p2 spread ratio
    t3 = _by_label(_measured(_rows(sections["table3"])), "card unsup", "(3dhp-pa)")
    m, sd = _mean_sd([_metric(f[("unsup", s, "3dhp-pa")], "spread_ratio") for s in (0, 1)])
    assert t3["Spread"] == f"{m:.2f} ± {sd:.2f}"
    for key in ("table2", "table3", "table4"):
        assert all(r["Spread"] == "–" for r in _rows(sections[key]) if r["Source"] == "published")
        assert "- Spread: the spread ratio" in sections[key]
        assert "(collapsed)" not in sections[key]  # truth + noise varies with the input


def test_collapsed_row_is_marked_with_a_note_in_every_table(collapse):
    from kspbench.evaluation.results import COLLAPSE_NOTE

    for key, section in _sections(collapse["md"]).items():
        rows = _measured(_rows(section))
        marked = [r for r in rows if "(collapsed)" in r["Method"]]
        n = 2 if key == "table3" else 1
        assert len(marked) == n and all("unsup" in r["Method"] for r in marked), (key, [r["Method"] for r in rows])
        assert all(r["Spread"] == "0.00" for r in marked)
        assert section.count(f"- {COLLAPSE_NOTE}") == 1, key
        # const: in every table, one pose by design, never marked; no-tfk varies with the input.
        const = [r for r in rows if r["Method"] == "constant pose (Procrustes mean of training poses)"]
        assert len(const) == n and all(r["Spread"] == "0.00" for r in const), key
        assert not any("(collapsed)" in r["Method"] for r in rows if "unsup" not in r["Method"])
    assert "collapsed: predictions barely vary with the input (spread ratio < 0.3); not a result" in collapse["md"]


def test_const_sits_with_the_other_baselines(collapse):
    t2 = [r["Method"] for r in _measured(_rows(_sections(collapse["md"])["table2"]))]
    assert t2[-2:] == ["constant pose (Procrustes mean of training poses)", "mean pose (h36m-train)"]
    assert (
        _by_label(_measured(_rows(_sections(collapse["md"])["table2"])), "constant pose")["Sup."]
        == "Full-3D (train Procrustes mean)"
    )


# --- formats --------------------------------------------------------------------------------------------------------


def test_csv_has_one_record_per_cell(unit, unit_md, tmp_path, capsys):
    out = tmp_path / "tables.csv"
    assert main(["table", "--results", str(unit["dir"]), "--out", str(out)]) == 0  # format from the suffix
    records = list(csv.DictReader(io.StringIO(out.read_text())))
    sections = _sections(unit_md)
    expected = sum(len(_rows(sections[k])) * N_VALUE_COLUMNS[k] for k in sections)
    assert len(records) == expected
    # Each record is one distinct cell: rows with the same label differ in their descriptive columns.
    cells = {
        (r["table"], r["row"], r["source"], r["trainset"], r["alignment"], r["training set"], r["column"])
        for r in records
    }
    assert len(cells) == len(records)
    f = unit["files"]
    avg = [
        r
        for r in records
        if r["table"] == "table2" and r["card"] == "unsup" and r["column"] == "Avg." and r["source"] == "unit-h36m"
    ]
    assert len(avg) == 1
    m, sd = _mean_sd([_metric(f[("unsup", s, "h36m-p2")], "p_mpjpe_mm") for s in (0, 1)])
    assert float(avg[0]["value"]) == pytest.approx(m, rel=1e-12) and float(avg[0]["sd"]) == pytest.approx(sd)
    assert avg[0]["n_seeds"] == "2" and avg[0]["ci95_low"] == ""
    capsys.readouterr()
    assert main(["table", "--results", str(unit["dir"]), "--format", "csv"]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_json_and_latex(unit, tmp_path, capsys):
    assert main(["table", "--results", str(unit["dir"]), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"tables", "notes", "cell_notes"} <= set(data)
    assert {r["table"] for r in data["tables"]} == {"table2", "table3", "table4"}
    weakly = [
        r for r in data["tables"] if r["card"] == "weakly" and r["column"] == "Avg." and r["source"] == "unit-h36m"
    ]
    v = json.loads(unit["files"][("weakly", 0, "h36m-p2")].read_text())
    assert len(weakly) == 1 and weakly[0]["value"] == v["metrics"]["p_mpjpe_mm"]
    assert [weakly[0]["ci95_low"], weakly[0]["ci95_high"]] == v["ci95"]["p_mpjpe_mm"]
    assert any("P-MPJPE" in n for n in data["notes"]["table4"])
    out = tmp_path / "tables.tex"
    assert main(["table", "--results", str(unit["dir"]), "--out", str(out)]) == 0
    tex = out.read_text()
    assert tex.count("\\toprule") == 3 and "\\bottomrule" in tex and "card unsup" in tex


def test_render_refuses_unknown_format(unit):
    with pytest.raises(ValueError, match="unknown format"):
        render(build_tables(discover(unit["dir"])), "html")


def test_metrics_file_has_row_protocol_metric_means(unit, tmp_path):
    m_path = tmp_path / "reports" / "m.json"
    m_path.parent.mkdir()
    assert (
        main(["table", "--results", str(unit["dir"]), "--out", str(tmp_path / "t.md"), "--metrics", str(m_path)]) == 0
    )
    got = json.loads(m_path.read_text())
    assert set(got) == {"unsup", "weakly", "no-tfk", "mean", "prior-only"}
    assert set(got["unsup"]) == {"h36m-p2", "3dhp", "3dhp-pa"} and set(got["weakly"]) == {"h36m-p2"}
    assert set(got["mean"]["3dhp"]) == {"pck150", "auc", "mpjpe_mm", "spread_ratio"}
    f = unit["files"]
    for (row, _seed, proto), path in f.items():
        seeds = [p for (r, s, q), p in f.items() if (r, q) == (row, proto)]
        for metric in json.loads(path.read_text())["metrics"]:
            want = sum(_metric(p, metric) for p in seeds) / len(seeds)
            assert got[row][proto][metric] == pytest.approx(want, abs=5e-4 + 1e-9), (row, proto, metric)
    assert got == metrics_summary(discover(unit["dir"]))


def test_metrics_folder_has_one_small_json_per_row_and_protocol(unit, tmp_path, capsys):
    """What `dvc metrics diff` compares: <folder>/<row>/<protocol>.json, each the row's {metric: seed mean}."""
    nested, folder = tmp_path / "m.json", tmp_path / "reports" / "metrics"
    assert main(["table", "--results", str(unit["dir"]), "--metrics", str(nested)]) == 0
    assert main(["table", "--results", str(unit["dir"]), "--metrics", str(folder)]) == 0
    want = json.loads(nested.read_text())
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == sorted(f"{row}/{proto}.json" for row, protos in want.items() for proto in protos)
    for row, protos in want.items():
        for proto, metrics in protos.items():
            assert json.loads((folder / row / f"{proto}.json").read_text()) == metrics, (row, proto)
    assert f"wrote {len(files)} metrics files under {folder}" in capsys.readouterr().out
    # Inside the results folder its JSONs would be read back as results: refused before any work.
    inside = unit["dir"] / "metrics"
    assert main(["table", "--results", str(unit["dir"]), "--metrics", str(inside)]) == 2
    assert "inside or around --results" in capsys.readouterr().err
    assert not inside.exists()


# --- refusals -------------------------------------------------------------------------------------------------------


def test_hand_edited_result_stops_the_table(unit, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(unit["dir"], folder)
    edited = folder / "weakly" / "s0" / "h36m-p2.json"
    data = json.loads(edited.read_text())
    data["metrics"]["p_mpjpe_mm"] -= 0.001
    edited.write_text(json.dumps(data, indent=2))
    out = tmp_path / "tables.md"
    capsys.readouterr()
    assert main(["table", "--results", str(folder), "--out", str(out), "--metrics", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(edited) in err and "edited" in err
    assert not out.exists() and not (tmp_path / "m.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tables")]


def test_missing_results_folder_exits_2(tmp_path, capsys):
    out = tmp_path / "tables.md"
    assert main(["table", "--results", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err and not out.exists()


def test_reference_yaml_is_what_the_table_reads():
    from importlib import resources

    text = resources.files("kspbench.reporting.reference").joinpath("ksp_aaai2020.yaml").read_text(encoding="utf-8")
    assert reference() == yaml.safe_load(text)


def _tex_floats(tex: str) -> list[dict]:
    """Each LaTeX table float: caption, label, column spec and cells (rows of cell strings)."""
    out = []
    for block in tex.split("\\begin{table}")[1:]:
        body = block.split("\\midrule")[1].split("\\bottomrule")[0]
        out.append(
            {
                "caption": block.split("\\caption{")[1].split("}\n")[0],
                "label": block.split("\\label{")[1].split("}")[0],
                "spec": block.split("\\begin{tabular}{")[1].split("}")[0],
                "rows": [line.rstrip(" \\").split(" & ") for line in body.strip().splitlines()],
                "end": "\\end{table}" in block,
            }
        )
    return out


def _tex_value(cell: str) -> float | None:
    m = re.match(r"(?:\\textbf\{)?(-?\d+(?:\.\d+)?)", cell)
    return float(m.group(1)) if m else None


def test_latex_is_table_floats_ascii_right_aligned_best_bold(unit, tmp_path):
    out = tmp_path / "tables.tex"
    assert main(["table", "--results", str(unit["dir"]), "--out", str(out)]) == 0
    tex = out.read_text()
    assert tex.isascii() and "±" not in tex and "$\\pm$" in tex and "--" in tex  # sd of unsup's 2 seeds; blanks
    floats = _tex_floats(tex)
    assert [f["label"] for f in floats] == ["tab:ksp-table2", "tab:ksp-table3", "tab:ksp-table4"]
    tables = {t.key: t for t in build_tables(discover(unit["dir"]))}
    for f, key in zip(floats, ("table2", "table3", "table4")):
        t = tables[key]
        n_info = len(t.info_columns)
        assert f["end"] and f["caption"].startswith(t.title.split(":")[0])
        assert f["spec"] == "l" * n_info + "r" * N_VALUE_COLUMNS[key]
        assert all(len(r) == n_info + N_VALUE_COLUMNS[key] for r in f["rows"]) and len(f["rows"]) == len(t.rows)
        for k, (col, _) in enumerate(t.columns):
            cells = [r[n_info + k] for r in f["rows"]]
            bold = {i for i, c in enumerate(cells) if c.startswith("\\textbf{")}
            values = [_tex_value(c) for c in cells]
            higher = t.higher_is_better.get(col)
            if higher is None:
                assert not bold, (key, col)  # the spread ratio is not a score: never bold
                continue
            known = [v for v in values if v is not None]
            best = max(known) if higher else min(known)
            assert bold == {i for i, v in enumerate(values) if v == best}, (key, col)


def test_latex_escape_leaves_ascii_only():
    from kspbench.reporting.latex import escape

    text = escape("a ± b – c × 2 µm → Dp ∪ Dunp 5%_x & {y} é ↓ ¹ #1 $ ~ ^ \\ ≤")
    assert text.isascii()
    for want in (
        "$\\pm$",
        "--",
        "$\\times$",
        "$\\mu$",
        "$\\to$",
        "$\\cup$",
        "5\\%\\_x",
        "\\&",
        "\\{y\\}",
        " e ",
        "$\\downarrow$",
        "\\#1",
        "\\$",
        "\\textbackslash{}",
        "$\\leq$",
    ):
        assert want in text, want


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on PATH")
def test_latex_compiles_with_pdflatex(unit, tmp_path):
    import subprocess

    tex = render(build_tables(discover(unit["dir"])), "latex")
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage[margin=5mm,landscape]{geometry}"
        "\\begin{document}\n" + tex + "\n\\end{document}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "doc.pdf").read_bytes()[:5] == b"%PDF-"


def test_a_3dhp_adapted_card_is_marked_out_of_domain_on_human36m_only(tmp_path):
    store = _world(tmp_path / "world.h5", SYNTHETIC)
    for k, row in enumerate(("unsup", "unsup-3dhp")):
        for proto in ("h36m-p2", "3dhp"):
            _score(tmp_path, store, row, proto, _card(row, 0), 20.0, 10 + k)
    sections = _sections(_table_md(tmp_path / "results", tmp_path / "tables.md"))
    t2 = _rows(sections["table2"])
    marked = [r["Method"] for r in t2 if "out of domain" in r["Method"]]
    assert marked == [_by_label(t2, "unsup-3dhp")["Method"]]
    assert marked[0].startswith("unsup-3dhp (adapted on 3DHP: out of domain here)")
    assert "adapted on MPI-INF-3DHP's training set" in sections["table2"]
    assert "out of domain" not in sections["table3"]  # on 3DHP it is in its domain (+3DHP)
