"""The kspbench CLI end to end: help, version, and `data validate` / `data info` on real and broken stores."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from factories import make_sequence
from kspbench import __version__
from kspbench.cli import main
from kspbench.data.store import StoreWriter
from kspbench.errors import KspbenchError


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "s.h5"
    with StoreWriter(path, dataset="unit-test", source="tests") as w:
        w.add_sequence(make_sequence(np.random.default_rng(0)))
    return path


def test_console_script_help_and_version():
    out = subprocess.run([sys.executable, "-m", "kspbench.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"kspbench {__version__}"
    out = subprocess.run([sys.executable, "-m", "kspbench.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "data" in out.stdout


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: kspbench" in capsys.readouterr().out


def test_data_validate_ok(store, capsys):
    assert main(["data", "validate", str(store)]) == 0
    assert "valid" in capsys.readouterr().out


def test_data_validate_broken_store_exits_2_with_one_line(store, capsys):
    with h5py.File(store, "a") as h5:
        del h5["sequences/S9/Walking 1/cameras/54138969/valid"]
    assert main(["data", "validate", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing array 'valid'" in err


def test_data_validate_missing_file(tmp_path, capsys):
    assert main(["data", "validate", str(tmp_path / "nope.h5")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_data_info(store, capsys):
    assert main(["data", "info", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["roles"] == {"h36m-test": {"sequences": 1, "frames": 12, "camera_frames": 24}}
    assert main(["data", "info", str(store)]) == 0
    assert "h36m-test" in capsys.readouterr().out


class _DeepError(KspbenchError):
    """A domain error no subcommand knows by name: main must still catch it through the base."""


def test_a_domain_error_raised_deep_inside_is_one_line_exit_2(store, monkeypatch, capsys):
    def deep(path):
        raise _DeepError(f"{path}: broken\nsecond line")

    monkeypatch.setattr("kspbench.data.store.summary", deep)
    assert main(["data", "info", str(store)]) == 2
    err = capsys.readouterr().err
    assert err == f"kspbench: error: {store}: broken second line\n"


# A bug (here a TypeError) in the code behind a subcommand: the interpreter's traceback and exit status 1.
_BUG = """
import sys
import kspbench.data.store
from kspbench.cli import main
from kspbench.errors import KspbenchError

def buggy(path):
    return len(None)

kspbench.data.store.summary = buggy
sys.exit(main(["data", "info", sys.argv[1]]))
"""


def test_a_bug_keeps_its_traceback_and_exits_1(store):
    out = subprocess.run([sys.executable, "-c", _BUG, str(store)], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.startswith("Traceback (most recent call last):")
    assert "TypeError" in out.stderr.splitlines()[-1] and "kspbench: error" not in out.stderr
