"""Training and predict report progress as plain lines when stderr is not a terminal (pytest's capture is not)."""

from __future__ import annotations

import re

from kspbench.cli import main
from kspbench.infra.progress import EVERY_ENV
from kspbench.model.train import CHECKPOINT_NAME


def test_train_and_predict_print_plain_progress_lines(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(EVERY_ENV, "0")  # a line per step: the tiny run is shorter than the default interval
    run = tmp_path / "unsup"
    assert main(["train", "--card", "unsup", "--store", str(store), "--out", str(run), "--profile", "tiny"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("kspbench: train unsup seed 0: ")]
    assert lines[0].startswith("kspbench: train unsup seed 0: step 1/")
    total = lines[0].split("step 1/")[1].split(" ")[0]
    assert len(lines) == int(total) + 1 and ", ETA " in lines[0]
    assert lines[-1].startswith(f"kspbench: train unsup seed 0: done, step {total}/{total} (100%)")
    assert "(stage " in lines[-1]  # the schedule stage and running losses ride along

    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(run / CHECKPOINT_NAME),
                "--store",
                str(store),
                "--role",
                "h36m-test",
                "--out",
                str(tmp_path / "p.h5"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("kspbench: predict unsup seed 0 h36m-test: ")]
    assert lines[0].startswith("kspbench: predict unsup seed 0 h36m-test: track 1/")
    assert re.match(r"kspbench: predict unsup seed 0 h36m-test: done, track (\d+)/\1 \(100%\)", lines[-1]), lines

    # --quiet: nothing but the result line.
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(run / CHECKPOINT_NAME),
                "--store",
                str(store),
                "--role",
                "h36m-test",
                "--out",
                str(tmp_path / "q.h5"),
                "--quiet",
            ]
        )
        == 0
    )
    assert capsys.readouterr().err == ""
