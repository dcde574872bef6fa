"""Progress of long commands (world build, train, predict): a bar on a terminal, plain lines in a log.

On a terminal this is tqdm's bar. When stderr is not a terminal (``dvc repro``, CI, ``2> log``) a bar's carriage
returns would fill the log with one overwritten line, so :class:`Progress` writes a plain line instead, every
:data:`EVERY_S` seconds (``$KSPBENCH_PROGRESS_EVERY`` to change it; checked at each update, so a line follows within
that time plus one unit of work), and a last one (``done``, or ``stopped`` when the work raised) if it wrote any::

    kspbench: train unsup seed 0: step 120/400 (30%), 0:41 elapsed, ETA 1:35 (stage base, prior 0.1234)

Work shorter than the interval writes nothing, so a quick command's output (and a one-line error) stays as it was.
A last phase that counts no units (the world's datasheet) keeps the lines coming through :meth:`Progress.heartbeat`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["EVERY_S", "EVERY_ENV", "LINES_ENV", "QUIET_HELP", "Progress", "every_s", "format_seconds"]

# Seconds between plain lines: "at least every 30 s" with room for a slow unit of work between two updates.
EVERY_S = 20.0
EVERY_ENV = "KSPBENCH_PROGRESS_EVERY"
# Set (to 1) by a parent whose children share its terminal (parallel seeds): plain lines, since bars would collide.
LINES_ENV = "KSPBENCH_PROGRESS_LINES"
# --quiet of every command that reports progress.
QUIET_HELP = "no progress (default: a bar on a terminal, else a plain line at least every 30 s)"


def every_s() -> float:
    """Seconds between plain lines: ``$KSPBENCH_PROGRESS_EVERY`` when it is a number >= 0, else :data:`EVERY_S`."""
    try:
        value = float(os.environ.get(EVERY_ENV, ""))
    except ValueError:
        return EVERY_S
    return value if value >= 0 else EVERY_S


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour) for a non-negative duration."""
    s = int(round(max(seconds, 0.0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Count ``unit``s of ``total`` under ``label``; a tqdm bar on a terminal, plain lines elsewhere.

    Args:
        label: what runs, e.g. ``"train unsup seed 0"``.
        total: units to do (``None`` until known: :meth:`set_total`).
        unit: the unit's name in plain lines (``step``, ``sequence``).
        initial: units already done (a resumed run); the rate and ETA count only this session's.
        enabled: False shows nothing (``--quiet``, or a rank other than 0).
        stream: where to write (default stderr).
        tty: force the terminal decision (default: ``stream.isatty()``, and never when ``$KSPBENCH_PROGRESS_LINES``
            is 1).
        every: seconds between plain lines (default: :func:`every_s`).
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "step",
        initial: int = 0,
        enabled: bool = True,
        stream: TextIO | None = None,
        tty: bool | None = None,
        every: float | None = None,
    ) -> None:
        self.label, self.total, self.unit, self.n = label, total, unit, initial
        self.stream = stream if stream is not None else sys.stderr
        self.enabled, self.every = enabled, every_s() if every is None else every
        self._initial, self._notes, self._closed, self._wrote = initial, "", False, False
        self._started = self._last = time.monotonic()
        if tty is None:
            tty = os.environ.get(LINES_ENV) != "1" and bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        self._beat: threading.Thread | None = None
        self._stop = threading.Event()
        if enabled and tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=label, unit=unit, file=self.stream, dynamic_ncols=True)

    # --- counting -------------------------------------------------------------------------------------------------
    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and time.monotonic() - self._last >= self.every:
            self._line()

    def note(self, **values: Any) -> None:
        """Values shown beside the count (the current stage, running losses); floats with 4 decimals."""
        self._notes = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
        if self._bar is not None:
            self._bar.set_postfix_str(self._notes, refresh=False)

    def heartbeat(self) -> None:
        """From now until :meth:`close`, write the plain line every interval (at least 1 s) without updates.

        For a last phase that counts no units. A thread writes the lines, so call this only once the work forks no
        more processes (a child forked while the thread holds the stream's lock could block on its first write).
        """
        if self._bar is not None or not self.enabled or self._beat is not None or self._closed:
            return

        def beat() -> None:
            while not self._stop.wait(max(self.every, 1.0)):
                self._line()

        self._beat = threading.Thread(target=beat, name="kspbench-progress", daemon=True)
        self._beat.start()

    def close(self, event: str = "done") -> None:
        """End the bar, or write the last plain line (``done``; ``stopped`` when the work raised)."""
        if self._closed:
            return
        self._closed = True
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
        if self._bar is not None:
            self._bar.close()
        elif self._wrote:
            self._line(event)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        self.close("done" if exc_type is None else "stopped")

    # --- plain lines ----------------------------------------------------------------------------------------------
    def status(self) -> str:
        """The count, elapsed time and ETA (from this session's rate), without the label."""
        elapsed = time.monotonic() - self._started
        count = f"{self.unit} {self.n}" + (f"/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else "")
        text = f"{count}, {format_seconds(elapsed)} elapsed"
        done_here = self.n - self._initial
        if self.total and 0 < done_here and self.n < self.total:
            text += f", ETA {format_seconds(elapsed / done_here * (self.total - self.n))}"
        return text + (f" ({self._notes})" if self._notes else "")

    def _line(self, event: str = "") -> None:
        self._last, self._wrote = time.monotonic(), True
        prefix = f"kspbench: {self.label}: " + (f"{event}, " if event else "")
        # One write per line, flushed: a log reader (dvc repro, CI) sees each line as it happens.
        self.stream.write(prefix + self.status() + "\n")
        self.stream.flush()
