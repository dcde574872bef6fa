"""Progress: tqdm's bar on a terminal, plain timed lines (no carriage returns) anywhere else."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from kspbench.infra import progress as P
from kspbench.infra.progress import EVERY_ENV, EVERY_S, Progress, every_s, format_seconds


class _Clock:
    """A hand-driven time.monotonic."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(P.time, "monotonic", c)
    return c


def test_format_seconds():
    assert format_seconds(0) == "0:00"
    assert format_seconds(61.4) == "1:01"
    assert format_seconds(3725) == "1:02:05"
    assert format_seconds(-3) == "0:00"


def test_plain_lines_every_interval_then_done_without_carriage_returns(clock):
    out = io.StringIO()
    with Progress("train unsup seed 3", 100, stream=out, every=30.0) as bar:
        for _ in range(10):  # 10 steps in 10 s: no line before the interval has passed
            clock.now += 1.0
            bar.update()
        assert out.getvalue() == ""
        clock.now += 25.0  # 35 s since the start
        bar.note(stage="pose", prior=0.123456)
        bar.update()
        clock.now += 5.0
        bar.update()  # 5 s after that line: none
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # 11 steps in 35 s: 89 to go at 35/11 s each.
    assert lines[0] == (
        "kspbench: train unsup seed 3: step 11/100 (11%), 0:35 elapsed, ETA 4:43 (stage pose, prior 0.1235)"
    )
    assert lines[1].startswith("kspbench: train unsup seed 3: done, step 12/100 (12%), 0:40 elapsed")
    assert len(lines) == 2


def test_work_shorter_than_the_interval_writes_nothing(clock):
    out = io.StringIO()
    with Progress("predict unsup seed 0 h36m-test", 4, unit="track", stream=out, every=20.0) as bar:
        for _ in range(4):
            clock.now += 1.0
            bar.update()
    assert out.getvalue() == ""


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.delenv(EVERY_ENV, raising=False)
    assert every_s() == EVERY_S <= 30.0
    for value, want in (("5", 5.0), ("0", 0.0), ("-1", EVERY_S), ("soon", EVERY_S)):
        monkeypatch.setenv(EVERY_ENV, value)
        assert every_s() == want
        assert Progress("x", 1, stream=io.StringIO()).every == want


def test_resumed_run_estimates_from_this_sessions_rate(clock):
    out = io.StringIO()
    bar = Progress("train semi seed 0", 200, initial=100, stream=out, every=0.0)
    clock.now += 10.0
    bar.update(50)  # 50 steps in 10 s this session; 50 left
    assert out.getvalue().splitlines()[-1].endswith("step 150/200 (75%), 0:10 elapsed, ETA 0:10")


def test_unknown_total_then_set(clock):
    out = io.StringIO()
    bar = Progress("world build tiny seed 0", unit="sequence", stream=out, every=0.0)
    clock.now += 1.0
    bar.update()
    assert out.getvalue().splitlines()[0].endswith(": sequence 1, 0:01 elapsed")
    bar.set_total(4)
    clock.now += 2.0
    bar.update(2)
    assert out.getvalue().splitlines()[-1].endswith("sequence 3/4 (75%), 0:03 elapsed, ETA 0:01")


def test_work_that_raises_ends_with_stopped_not_done(clock):
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with Progress("predict unsup seed 0 h36m-test", 8, unit="track", stream=out, every=0.0) as bar:
            bar.update(3)
            raise KeyboardInterrupt
    assert out.getvalue().splitlines()[-1].startswith("kspbench: predict unsup seed 0 h36m-test: stopped, track 3/8")


def test_heartbeat_writes_lines_without_updates_until_closed(monkeypatch):
    """A last phase that counts nothing (the world's datasheet) still shows it is alive."""
    out = io.StringIO()
    bar = Progress("world build cpu seed 0", 3, unit="sequence", stream=out, every=0.0)
    bar.note(phase="datasheet")
    bar.update(3)
    monkeypatch.setattr(bar, "every", 0.0)  # the heartbeat waits at least 1 s between lines
    bar.heartbeat()
    bar.heartbeat()  # a second call starts no second thread
    threads = [t for t in threading.enumerate() if t.name == "kspbench-progress"]
    assert len(threads) == 1
    deadline = time.monotonic() + 10
    while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    bar.close()
    assert not threads[0].is_alive()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all(ln.endswith("(phase datasheet)") for ln in lines)
    assert lines[1].startswith("kspbench: world build cpu seed 0: sequence 3/3 (100%)")  # a beat, no update
    assert lines[-1].startswith("kspbench: world build cpu seed 0: done, sequence 3/3")


def test_heartbeat_on_a_terminal_or_disabled_starts_nothing():
    for kwargs in ({"tty": True}, {"enabled": False}):
        bar = Progress("x", 1, stream=io.StringIO(), **kwargs)
        bar.heartbeat()
        assert bar._beat is None
        bar.close()


def test_disabled_writes_nothing():
    out = io.StringIO()
    with Progress("x", 3, stream=out, enabled=False, every=0.0) as bar:
        bar.update(3)
    assert out.getvalue() == ""


def test_terminal_gets_the_tqdm_bar_not_plain_lines():
    out = io.StringIO()
    with Progress("train unsup seed 0", 5, stream=out, tty=True, every=0.0) as bar:
        for _ in range(5):
            bar.update()
    text = out.getvalue()
    assert "\r" in text and "5/5" in text
    assert "kspbench:" not in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shared_by_parallel_seeds_gets_plain_lines_naming_the_run(monkeypatch):
    with Progress("train unsup seed 1", 2, stream=_Terminal(), every=0.0) as bar:
        assert bar._bar is not None  # a terminal: the bar
    monkeypatch.setenv(P.LINES_ENV, "1")
    out = _Terminal()
    with Progress("train unsup seed 1", 2, stream=out, every=0.0) as bar:
        bar.update(2)
    assert "\r" not in out.getvalue() and "train unsup seed 1" in out.getvalue()


def test_world_build_into_a_pipe_prints_plain_lines(tmp_path):
    """What `dvc repro` sees: stderr is a pipe, so lines, not a bar (a line per sequence here: interval 0)."""
    env = {**os.environ, EVERY_ENV: "0"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kspbench",
            "world",
            "build",
            "--profile",
            "tiny",
            "--seed",
            "0",
            "--out",
            str(tmp_path / "w.h5"),
            "--jobs",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("kspbench: world build tiny seed 0:")]
    assert re.fullmatch(
        r"kspbench: world build tiny seed 0: sequence 1/(\d+) \(\d+%\), \d+:\d\d elapsed, ETA .*", lines[0]
    ), lines
    assert len(lines) >= int(re.search(r"/(\d+)", lines[0]).group(1)) + 1  # each sequence (+ beats), then done
    # The last sequence's line and the end name the phase that followed: the datasheet.
    assert re.fullmatch(
        r"kspbench: world build tiny seed 0: done, sequence (\d+)/\1 \(100%\), \d+:\d\d elapsed "
        r"\(phase datasheet\)",
        lines[-1],
    ), lines
