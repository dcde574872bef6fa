"""Predictions as CSV, in one of two documented layouts (chosen by the header).

Wide -- one line per frame, 4 key columns then 51 coordinates, joints in the Human3.6M-17 order
(``--joint-order 3dhp`` for MPI-INF-3DHP's test order)::

    subject,sequence,camera,frame,x0,y0,z0,x1,y1,z1,...,x16,y16,z16
    S9,Directions 1,54138969,0,-0.12,0.31,5.2,...

Long -- one line per joint, ``joint`` an index 0..16 or a Human3.6M joint name (``Pelvis``, ``RHip``, ... as in
:data:`kspbench.core.skeleton.JOINT_NAMES`); every frame needs its 17 joints exactly once::

    subject,sequence,camera,frame,joint,x,y,z
    S9,Directions 1,54138969,0,0,-0.12,0.31,5.2

Both: camera frame; metres or millimetres (detected from bone lengths, or ``--units``, checked); ``frame`` 0-based
unless ``--frame-base 1``; sequence names as the store has them (``Directions 1``; the release's ``TakingPhoto 1``
and ``Directions_1`` are renamed as for the other readers). Extra columns are refused (a typo would otherwise be
silently ignored).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from kspbench.core import skeleton
from kspbench.data.outside import CSV_LAYOUTS
from kspbench.data.outside.common import Imported, OutsideError, assemble, sequence_name, stride_hint

KEY_COLUMNS = ("subject", "sequence", "camera", "frame")
WIDE_COLUMNS = KEY_COLUMNS + tuple(f"{a}{j}" for j in range(skeleton.NUM_JOINTS) for a in "xyz")
LONG_COLUMNS = KEY_COLUMNS + ("joint", "x", "y", "z")


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise OutsideError(f"{path}: not a readable CSV file ({type(err).__name__})") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise OutsideError(f"{path}: expected a header line and at least one line of predictions")
    return [c.strip() for c in rows[0]], rows[1:]


def _layout(header: list[str], layout: str, path: Path) -> str:
    found = "wide" if tuple(header) == WIDE_COLUMNS else "long" if tuple(header) == LONG_COLUMNS else None
    if layout == "auto" and found:
        return found
    if layout != "auto" and found == layout:
        return layout
    want = {"wide": WIDE_COLUMNS, "long": LONG_COLUMNS}
    expected = " or ".join(f"{k}: {','.join(v[:6])}..." for k, v in want.items() if layout in ("auto", k))
    raise OutsideError(
        f"{path}: header {','.join(header[:8])}{'...' if len(header) > 8 else ''} is not the "
        f"{'wide or long' if layout == 'auto' else layout} layout ({expected}); see "
        "`kspbench import-predictions csv --help`"
    )


def _numbers(cells: np.ndarray, path: Path, what: str) -> np.ndarray:
    try:
        return cells.astype(np.float64)
    except ValueError:
        raise OutsideError(f"{path}: the {what} columns must hold numbers") from None


def read_csv(
    path: str | os.PathLike,
    *,
    layout: str = "auto",
    frame_base: int = 0,
    units: str = "auto",
    joint_order: str = "h36m",
) -> Imported:
    """Read predictions from a CSV in the wide or long layout (module docstring).

    Raises:
        OutsideError: an unknown header, a ragged line, a cell that is not a number, a frame below
            ``frame_base``, a long-layout frame without exactly its 17 joints, units that contradict ``units``.
    """
    path = Path(path)
    if layout not in CSV_LAYOUTS or frame_base not in (0, 1):
        raise OutsideError(f"--layout must be one of {', '.join(CSV_LAYOUTS)} and --frame-base 0 or 1")
    header, rows = _rows(path)
    layout = _layout(header, layout, path)
    ragged = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if ragged is not None:
        raise OutsideError(f"{path}: line {ragged + 2} has {len(rows[ragged])} cells, the header {len(header)}")
    table = np.array(rows, dtype=str)
    keys = np.char.strip(table[:, :3])
    frame = _numbers(np.char.strip(table[:, 3]), path, "frame")
    if (frame != np.round(frame)).any() or (frame < frame_base).any():
        raise OutsideError(f"{path}: frame must hold integers from {frame_base} (--frame-base {frame_base})")
    frame = frame.astype(np.int64) - frame_base
    if layout == "wide":
        poses = _numbers(table[:, 4:], path, "coordinate").reshape(-1, skeleton.NUM_JOINTS, 3)
    else:
        keys, frame, poses = _gather_long(path, keys, frame, table)
    seq = np.array([sequence_name(s) for s in keys[:, 1]], dtype=str)
    # One track per (subject, sequence, camera), in file order of first appearance.
    track = _join(keys[:, 0], seq, keys[:, 2])
    uniq, first, inv = np.unique(track, return_index=True, return_inverse=True)
    order = np.argsort(first)
    parts = [np.flatnonzero(inv == t) for t in order]
    preds, found = assemble(
        [poses[p] for p in parts],
        [keys[p[0], 0] for p in parts],
        [seq[p[0]] for p in parts],
        [keys[p[0], 2] for p in parts],
        [frame[p] for p in parts],
        units=units,
        joint_order=joint_order,
        where=str(path),
    )
    notes = [f"{layout} layout, frames {frame_base}-based"]
    hint = stride_hint(preds)
    if hint:
        notes.append(hint)
    return Imported(preds, found, notes)


def _join(*columns: np.ndarray) -> np.ndarray:
    """(N,) string keys joining the columns with a separator no name holds."""
    out = columns[0].astype(str)
    for col in columns[1:]:
        out = np.char.add(np.char.add(out, "\x1f"), col.astype(str))
    return out


def _gather_long(
    path: Path,
    keys: np.ndarray,
    frame: np.ndarray,
    table: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long rows -> (F, 3) keys, (F,) frames, (F, 17, 3) poses: one entry per frame, its 17 joints gathered."""
    names = {n.lower(): i for i, n in enumerate(skeleton.JOINT_NAMES)}
    names.update({str(i): i for i in range(skeleton.NUM_JOINTS)})
    joint_cells = np.char.lower(np.char.strip(table[:, 4]))
    unknown = sorted(set(joint_cells.tolist()) - set(names))
    if unknown:
        raise OutsideError(
            f"{path}: unknown joint(s) {', '.join(unknown[:4])}; use 0..16 or {', '.join(skeleton.JOINT_NAMES)}"
        )
    joint = np.array([names[c] for c in joint_cells], np.int64)
    xyz = _numbers(table[:, 5:8], path, "x, y, z")
    frame_key = _join(keys[:, 0], keys[:, 1], keys[:, 2], frame.astype(str))
    uniq, first, inv = np.unique(frame_key, return_index=True, return_inverse=True)
    counts = np.zeros((uniq.size, skeleton.NUM_JOINTS), np.int64)
    np.add.at(counts, (inv, joint), 1)
    bad = np.flatnonzero((counts != 1).any(axis=1))
    if bad.size:
        s, q, c, f = uniq[bad[0]].split("\x1f")
        raise OutsideError(
            f"{path}: {bad.size} frame(s) do not have each of the 17 joints exactly once, e.g. "
            f"({s}, {q}, camera {c}, frame {f})"
        )
    poses = np.empty((uniq.size, skeleton.NUM_JOINTS, 3))
    poses[inv, joint] = xyz
    return keys[first], frame[first], poses
