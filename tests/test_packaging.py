"""Protocols and model cards ship inside the package: one set of files, read the same from a checkout or a wheel.

(.ci/wheel-check installs the built wheel in a fresh venv and runs kspbench from outside the checkout.)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from kspbench.cli import main
from kspbench.evaluation.protocol import load_protocol, protocols_dir
from kspbench.infra.resources import SHIPPED, shipped
from kspbench.model.cards import CARDS_DIR, load_card

REPO = Path(__file__).resolve().parents[1]


def _yaml_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(".yaml")}


@pytest.mark.parametrize("name", SHIPPED)
def test_package_copy_is_the_top_level_folder_byte_for_byte(name):
    top = _yaml_files(REPO / name)
    packaged = _yaml_files(resources.files("kspbench") / name)  # what a wheel carries
    assert top, f"{name}/ holds no YAML file"
    assert sorted(packaged) == sorted(top)
    for file, data in top.items():
        assert packaged[file] == data, f"kspbench/{name}/{file} differs from {name}/{file}"


def test_lookups_read_the_shipped_folders_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KSPBENCH_PROTOCOLS", raising=False)
    assert protocols_dir() == shipped("protocols") == (REPO / "protocols").resolve()
    assert CARDS_DIR == (REPO / "models").resolve()
    # A recorded path names the file a user edits in a checkout, not the link inside the package.
    assert Path(load_protocol("h36m-p2").path) == (REPO / "protocols" / "h36m-p2.yaml").resolve()
    assert load_card("unsup").name == "unsup"


def test_unknown_shipped_folder_is_a_bug_not_a_path():
    with pytest.raises(ValueError, match="not a shipped folder"):
        shipped("data")


def test_protocols_command_with_none_found_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KSPBENCH_PROTOCOLS", str(tmp_path))
    assert main(["protocols"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("kspbench: error: no protocol files (*.yaml) in ")
    assert str(tmp_path) in captured.err


def test_protocols_command_lists_every_shipped_protocol(monkeypatch, capsys):
    monkeypatch.delenv("KSPBENCH_PROTOCOLS", raising=False)
    assert main(["protocols"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert listed == {p.stem for p in (REPO / "protocols").glob("*.yaml")}
