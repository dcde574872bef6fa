"""The files DVC reads: a metrics JSON per row and protocol, wide plot tables (a column per series)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kspbench.reporting.dvc_reports import path_name, wide_csv, write_metrics, write_wide_csv


def test_path_name_keeps_safe_names_and_replaces_the_rest():
    assert path_name("unsup-3dhp") == "unsup-3dhp"
    assert path_name("h36m-p2") == "h36m-p2"
    assert path_name("custom:h36m-p2") == "custom_h36m-p2"
    assert path_name("My model (v2)/ft") == "My_model_v2_ft"
    assert path_name("..") == "_.."
    assert path_name("///") == "_"


def test_write_metrics_one_small_json_per_row_and_protocol(tmp_path):
    summary = {
        "unsup": {"h36m-p2": {"p_mpjpe_mm": 101.5, "mpjpe_mm": 150.25}, "3dhp": {"pck150": 50.1, "auc": 20.2}},
        "custom:x": {"custom:h36m-p2": {"p_mpjpe_mm": 99.0}},
    }
    folder = tmp_path / "reports" / "metrics"
    written = write_metrics(summary, folder)
    assert [p.relative_to(folder).as_posix() for p in written] == [
        "custom_x/custom_h36m-p2.json",
        "unsup/3dhp.json",
        "unsup/h36m-p2.json",
    ]
    text = (folder / "unsup" / "h36m-p2.json").read_text()
    assert json.loads(text) == {"mpjpe_mm": 150.25, "p_mpjpe_mm": 101.5}
    assert list(json.loads(text)) == ["mpjpe_mm", "p_mpjpe_mm"]  # sorted keys: stable diffs
    assert json.loads((folder / "unsup" / "3dhp.json").read_text()) == {"auc": 20.2, "pck150": 50.1}
    # No temporary file is left beside them.
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [
        "3dhp.json",
        "custom_h36m-p2.json",
        "h36m-p2.json",
    ]


def test_write_metrics_with_nothing_still_makes_the_folder(tmp_path):
    assert write_metrics({}, tmp_path / "m") == []
    assert (tmp_path / "m").is_dir()


def test_two_names_on_one_path_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="two metrics files map to"):
        write_metrics({"a:b": {"p": {"m": 1.0}}, "a_b": {"p": {"m": 2.0}}}, tmp_path / "m")
    assert not list((tmp_path / "m").rglob("*.json"))


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_wide_csv_has_an_x_column_then_one_column_per_series():
    series = {"unsup": {0.0: 1.5, 5.0: 20.25, 10.0: 60.0}, "const": {0.0: 0.0, 5.0: 10.0}}
    rows = _parse(wide_csv("threshold_mm", series))
    assert rows[0] == ["threshold_mm", "unsup", "const"]  # the series in the order given
    assert rows[1:] == [["0", "1.5", "0.0"], ["5", "20.25", "10.0"], ["10", "60.0", ""]]  # missing: empty cell


def test_wide_csv_numbers_round_trip_and_fractional_x_is_kept():
    value = 1 / 3
    rows = _parse(wide_csv("x", {"a": {2.5: value, 1.0: 2.0}}))
    assert rows[1:] == [["1", "2.0"], ["2.5", repr(value)]]
    assert float(rows[2][1]) == value


def test_wide_csv_without_series_is_the_header():
    assert wide_csv("step", {}) == "step\n"


def test_write_wide_csv_writes_the_text(tmp_path):
    path = write_wide_csv(tmp_path / "plots" / "v.csv", "step", {"unsup": {10: 80.0, 20: 70.0}})
    assert path.read_text() == "step,unsup\n10,80.0\n20,70.0\n"
