"""The benchmark's figures and DVC plot tables, drawn from result JSONs, training runs and a trained checkpoint.

Figures (PNG, and with ``formats`` also PDF and SVG beside it: ``pck_curves.pdf``...; each file written atomically
by :func:`kspbench.infra.atomic.write_with`):

* ``pck_curves.png``: 3DPCK (%) against the threshold (mm) of every row under each PCK protocol (3dhp, 3dhp-pa:
  the ``curves["pck_vs_threshold:<alignment>"]`` of the result JSONs), mean over seeds; AUC in the legend.
* ``per_action.png``: P-MPJPE per Human3.6M action (protocol h36m-p2) of every row, mean over seeds.
* ``learning_curves.png``: validation P-MPJPE against the training step of every run (``val.csv``), a thin line
  per seed and the mean over seeds of each card in bold.
* ``fig3_swap.png`` (the paper's Fig. 3): four fixed test frames through the trained decoder, pose from the row's
  sample, appearance from the column's sample and background from a third sample of the four. The four are the most
  different true poses among ``SWAP_CANDIDATES`` evenly spaced frames (chosen from the labels, not the model), and
  each pose is decoded twice: from EP's pose (the paper's figure) and teacher-forced from its true 2D pose, so the
  figure separates "the decoder ignores the pose" from "EP gets the pose wrong". The title carries the
  checkpoint's pose-conditioning index PCI (:mod:`kspbench.model.diagnose`, ``SWAP_PCI_TUPLES`` tuples of the role)
  when the store's backgrounds are clean, and a note saying why not otherwise.
* ``fig4_skeletons.png`` (the paper's Fig. 4): six fixed test frames, the crop and the predicted (Procrustes-aligned)
  against the true 3D skeleton, seen from the front and from the side, with each frame's P-MPJPE.
* ``fig4_real.png`` (Fig. 4 on real frames, :func:`plot_overlay`): the skeletons of a ``kspbench predict`` file drawn
  over the stored crops of the store it was made on (a store imported from images): the true 3D pose and the
  prediction placed at the true root, both projected with the store camera into the crop.

``kspbench diagnose --figure`` draws :func:`plot_diagnosis` (a few tuples of the PCI measurement) with the same
helpers.

Tables for ``dvc plots``, wide so that DVC draws a line per column (:mod:`kspbench.reporting.dvc_reports`):
``val_curves.csv`` (``step``, then a column per card: its validation P-MPJPE, mean over seeds; written even when empty,
header only) and one ``pck_<protocol>.csv`` per 3DHP protocol (``threshold_mm``, then a column per row: its PCK in
percent).

Fixed frames are ``k`` usable frames evenly spaced over the role (store order), or for Fig. 3 the most different
poses among more of them, so figures are reproducible.
matplotlib is imported lazily and always draws with its Agg canvas (no display, no global backend switch).
"""

from __future__ import annotations

import csv
import json
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from kspbench.core import skeleton
from kspbench.errors import KspbenchError
from kspbench.infra.atomic import write_with
from kspbench.reporting.dvc_reports import path_name, write_wide_csv

if TYPE_CHECKING:  # pragma: no cover
    from kspbench.evaluation.results import Result

__all__ = [
    "FigureError",
    "MissingInput",
    "FIGURES",
    "FIGURE_FORMATS",
    "figure_formats",
    "VAL_CSV",
    "pck_csv_name",
    "PckCurve",
    "ActionRow",
    "ValCurve",
    "SelectedFrames",
    "pck_curve_data",
    "per_action_data",
    "read_val_curves",
    "find_checkpoint",
    "evenly_spaced",
    "diverse_poses",
    "SWAP_CANDIDATES",
    "swap_background",
    "select_frames",
    "swap_images",
    "skeleton_data",
    "write_val_curves_csv",
    "write_pck_curves_csv",
    "plot_pck_curves",
    "plot_per_action",
    "plot_learning_curves",
    "plot_swap",
    "plot_skeletons",
    "make_all",
    "dataset_title",
    "swap_pci_text",
    "plot_diagnosis",
    "OVERLAY_FIGURE",
    "OverlayFrames",
    "overlay_frames",
    "plot_overlay",
]

FIGURES = ("pck_curves.png", "per_action.png", "learning_curves.png", "fig3_swap.png", "fig4_skeletons.png")
FIGURE_FORMATS = ("png", "pdf", "svg")  # raster for pages, vector for papers
OVERLAY_FIGURE = "fig4_real.png"
# Panel and caption band of fig4_real in pixels: multiples of DPI / 2 so that figure inches * DPI are whole pixels.
OVERLAY_PANEL_PX = 220
OVERLAY_BAND_PX = 55
VAL_CSV = "val_curves.csv"
VAL_X, PCK_X = "step", "threshold_mm"
DEFAULT_CARD = "unsup"
DEFAULT_ROLE = "h36m-test"
ACTION_PROTOCOL = "h36m-p2"
ACTION_METRIC = "p_mpjpe_mm"
SWAP_SAMPLES = 4
# Fig. 3's rows are the most different true poses among this many evenly spaced frames: evenly spaced frames of
# Human3.6M-like actions are mostly standing, and a grid of four standing poses cannot show whether the decoder
# follows the pose.
SWAP_CANDIDATES = 256
SKELETON_SAMPLES = 6
SWAP_PCI_TUPLES = 64
DPI = 110
TRUTH_COLOUR = "#1f4e9c"
PRED_COLOUR = "#d1495b"


class FigureError(KspbenchError):
    """Inputs that exist but cannot be drawn (unreadable checkpoint, inconsistent results); one line."""


class MissingInput(FigureError):
    """A figure's inputs are absent (no result of its protocol, no run, no checkpoint): the figure is skipped."""


# --- small helpers ------------------------------------------------------------------------------------------------


def dataset_title(names: Iterable[str]) -> str:
    """The datasets named in a title; kspbench's synthetic world is flagged as not comparable with the paper."""
    parts = []
    for name in sorted(set(names)):
        parts.append(f"{name}: not comparable with the paper" if name.startswith("kspbench-synthetic") else name)
    return "; ".join(parts) if parts else "unknown dataset"


def _new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (matplotlib imported here, not at module import)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# Metadata left out so the same inputs give the same bytes (no dates; SVG ids from a fixed salt).
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Creator": None, "Date": None},
}


def figure_formats(spec: str) -> tuple[str, ...]:
    """ "png,pdf,svg" -> ("png", "pdf", "svg"): the formats every figure is written in (first = the main file).

    Raises:
        FigureError: an unknown or empty format list.
    """
    formats = tuple(dict.fromkeys(f.strip().lower() for f in spec.split(",") if f.strip()))
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise FigureError(f"--format {spec!r}: choose one or more of {', '.join(FIGURE_FORMATS)}, comma-separated")
    return formats


def _save(fig, out: Path, formats: Sequence[str] | None = None) -> Path:
    """Write ``fig`` as ``out`` and, for each further format, beside it with that suffix (each file atomically);
    ``formats`` None: the format of ``out``'s suffix (png for any other). Returns the first file."""
    import matplotlib

    formats = formats or (out.suffix[1:].lower() if out.suffix[1:].lower() in FIGURE_FORMATS else "png",)
    paths = [out.with_suffix(f".{fmt}") for fmt in formats]
    with matplotlib.rc_context({"svg.hashsalt": "kspbench", "pdf.compression": 6}):
        for fmt, path in zip(formats, paths):
            write_with(path, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=DPI, metadata=_METADATA[fmt]))
    return paths[0]


def _colours(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _row_label(label: str, seeds: int) -> str:
    return label if seeds <= 1 else f"{label} ({seeds} seeds)"


# --- results: PCK curves and per-action errors --------------------------------------------------------------------


@dataclass(frozen=True)
class PckCurve:
    """One row's PCK-versus-threshold curve under one protocol (mean over its seeds)."""

    row: str
    label: str
    protocol: str  # the protocol name, or "<protocol> (<alignment>)" when a protocol has several curves
    alignment: str
    dataset: str
    seeds: int
    thresholds_mm: tuple[float, ...]
    pck: tuple[float, ...]  # percent

    @property
    def auc(self) -> float:
        """Area under the curve in percent: the mean PCK over the thresholds (as the AUC metric)."""
        return float(np.mean(self.pck))


def pck_curve_data(results: Iterable["Result"]) -> list[PckCurve]:
    """Every (row, protocol) curve of the results that have one, sorted by protocol then row.

    Raises:
        FigureError: seeds of one row whose curves differ in thresholds or in which curves they have.
    """
    from kspbench.evaluation.results import by_row

    with_curves = [r for r in results if any(k.startswith("pck_vs_threshold:") for k in (r.data.get("curves") or {}))]
    out = []
    for (row, protocol), rs in by_row(with_curves).items():
        keys = sorted(k for k in rs[0].data["curves"] if k.startswith("pck_vs_threshold:"))
        for key in keys:
            curves = []
            for r in rs:
                c = r.data["curves"].get(key)
                if c is None:
                    raise FigureError(f"{r.path}: no curve {key!r}, unlike {rs[0].path}; re-run `kspbench eval`")
                curves.append(c)
            thresholds = [float(t) for t in curves[0]["thresholds_mm"]]
            for r, c in zip(rs, curves):
                if [float(t) for t in c["thresholds_mm"]] != thresholds or len(c["pck"]) != len(thresholds):
                    raise FigureError(f"{r.path}: curve {key!r} has other thresholds than {rs[0].path}")
            pck = np.mean(np.array([c["pck"] for c in curves], np.float64), axis=0)
            alignment = str(curves[0].get("alignment", key.split(":", 1)[1]))
            panel = protocol if len(keys) == 1 else f"{protocol} ({alignment})"
            out.append(
                PckCurve(
                    row=row,
                    label=rs[0].label,
                    protocol=panel,
                    alignment=alignment,
                    dataset=rs[0].dataset,
                    seeds=len(rs),
                    thresholds_mm=tuple(thresholds),
                    pck=tuple(float(v) for v in pck),
                )
            )
    out.sort(key=lambda c: (c.protocol, c.label, c.row))
    return out


@dataclass(frozen=True)
class ActionRow:
    """One row's error per Human3.6M action under a protocol (mean over its seeds)."""

    row: str
    label: str
    dataset: str
    seeds: int
    overall: float | None
    per_action: dict[str, float]


def _action_order(actions: Iterable[str]) -> list[str]:
    known = [a for a in skeleton.H36M_ACTIONS if a in set(actions)]
    return known + sorted(set(actions) - set(known))


def per_action_data(
    results: Iterable["Result"], protocol: str = ACTION_PROTOCOL, metric: str = ACTION_METRIC
) -> list[ActionRow]:
    """Rows with a per-action breakdown of ``metric`` under ``protocol``, sorted by label."""
    from kspbench.evaluation.results import by_row, row_stats

    out = []
    for (row, _), rs in by_row([r for r in results if r.protocol == protocol]).items():
        actions = sorted(set.intersection(*(set(r.data["per_group"].get("action", {})) for r in rs)))
        values = {}
        for a in actions:
            st = row_stats(rs, metric, group=("action", a))
            if st is not None:
                values[a] = st.mean
        if not values:
            continue
        overall = row_stats(rs, metric)
        out.append(
            ActionRow(
                row=row,
                label=rs[0].label,
                dataset=rs[0].dataset,
                seeds=len(rs),
                overall=None if overall is None else overall.mean,
                per_action=values,
            )
        )
    out.sort(key=lambda r: (r.label, r.row))
    return out


# --- training runs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValCurve:
    """The validation errors of one training run (one card, one seed)."""

    card: str
    seed: int
    folder: Path
    val_role: str | None
    steps: np.ndarray
    p_mpjpe_mm: np.ndarray
    mpjpe_mm: np.ndarray


def _run_record(folder: Path) -> dict[str, Any] | None:
    path = folder / "run.json"
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
        card = rec["card"]
        return {"card": str(card["name"]), "seed": int(card["seed"]), "val_role": (card.get("data") or {}).get("val")}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise FigureError(f"{path}: not a readable run record of `kspbench train` (no card name and seed)") from None


def read_val_curves(runs_dir: str | os.PathLike, log: Callable[[str], None] | None = None) -> list[ValCurve]:
    """Every run under ``runs_dir`` (any depth) with a ``val.csv`` and a ``run.json``, sorted by card and seed.

    A second run of the same (card, seed) elsewhere under ``runs_dir`` is ignored (the first in path order wins),
    with a note to ``log``.

    Raises:
        FigureError: a ``val.csv`` without the trainer's columns, or with a value that is not a number.
    """
    say = log or (lambda _msg: None)
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    seen: dict[tuple[str, int], Path] = {}
    out = []
    for val in sorted(runs_dir.rglob("val.csv")):
        rec = _run_record(val.parent)
        if rec is None:
            say(f"note: {val} has no run.json beside it; ignored")
            continue
        key = (rec["card"], rec["seed"])
        if key in seen:
            say(f"note: {val.parent} is a second run of {key[0]} seed {key[1]} (first: {seen[key]}); ignored")
            continue
        try:
            with open(val, newline="") as f:
                reader = csv.DictReader(f)
                missing = {"step", "p_mpjpe_mm", "mpjpe_mm"} - set(reader.fieldnames or ())
                if missing:
                    raise FigureError(
                        f"{val}: no column {', '.join(sorted(missing))}; not a val.csv of `kspbench train`"
                    )
                rows = [(int(r["step"]), float(r["p_mpjpe_mm"]), float(r["mpjpe_mm"])) for r in reader]
        except (ValueError, TypeError) as err:
            if isinstance(err, FigureError):
                raise
            raise FigureError(
                f"{val}: a row is not numbers ({err}); a torn write? re-run or --resume the training"
            ) from None
        seen[key] = val.parent
        if not rows:
            continue
        arr = np.array(rows, np.float64)
        order = np.argsort(arr[:, 0], kind="stable")
        out.append(
            ValCurve(
                card=key[0],
                seed=key[1],
                folder=val.parent,
                val_role=rec["val_role"],
                steps=arr[order, 0].astype(np.int64),
                p_mpjpe_mm=arr[order, 1],
                mpjpe_mm=arr[order, 2],
            )
        )
    out.sort(key=lambda c: (c.card, c.seed))
    return out


def find_checkpoint(runs_dir: str | os.PathLike, card: str = DEFAULT_CARD) -> Path | None:
    """The checkpoint of ``card`` with the lowest seed under ``runs_dir`` (the pipeline's ``runs/<card>/s<seed>/``
    layout first, then any folder whose ``run.json`` names the card), or None."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    found = []
    for ck in sorted(runs_dir.rglob("checkpoint.pt")):
        rec = _run_record(ck.parent)
        if rec is None or rec["card"] != card:
            continue
        layout = ck.parent.parent.name == card or ck.parent.name == card
        found.append((rec["seed"], 0 if layout else 1, str(ck), ck))
    return min(found)[3] if found else None


# --- a trained model on fixed frames ------------------------------------------------------------------------------


def evenly_spaced(usable: np.ndarray, k: int) -> np.ndarray:
    """``k`` (or fewer) indices of usable frames, evenly spaced over them, first and last included."""
    idx = np.flatnonzero(np.asarray(usable, bool))
    k = min(int(k), idx.size)
    if k <= 0:
        return idx[:0]
    return idx[np.unique(np.linspace(0, idx.size - 1, k).round().astype(int))]


def diverse_poses(poses: np.ndarray, k: int) -> np.ndarray:
    """``k`` (or fewer) indices of ``poses`` that differ most from each other: the medoid first, then each time the
    pose farthest from those already taken (farthest-point sampling).

    The distance between two poses is their P-MPJPE, averaged over both directions (the similarity alignment of
    protocol II is not symmetric in scale), so two views of one pose, or one pose at two sizes, count as the same.
    Deterministic; ties go to the lower index.

    Args:
        poses: (N, J, 3) root-relative poses in any one unit.
        k: how many to take.

    Returns:
        (min(k, N),) int indices into ``poses``, in the order taken.
    """
    from kspbench.evaluation.metrics import p_mpjpe

    poses = np.asarray(poses, np.float64)
    n = poses.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, int)
    a, b = np.triu_indices(n, 1)
    d = np.zeros((n, n))
    if a.size:
        d[a, b] = 0.5 * (p_mpjpe(poses[a], poses[b]).mean(1) + p_mpjpe(poses[b], poses[a]).mean(1))
    d = d + d.T
    taken = [int(np.argmin(d.sum(1)))]
    nearest = d[taken[0]].copy()
    while len(taken) < k:
        nxt = int(np.argmax(nearest))
        taken.append(nxt)
        nearest = np.minimum(nearest, d[nxt])
    return np.asarray(taken, int)


def swap_background(pose: int, appearance: int, n: int) -> int:
    """The sample whose background a swap cell uses: the first of ``n`` that is neither the pose nor the appearance
    source (``n >= 3``)."""
    return min(set(range(n)) - {pose, appearance})


@dataclass
class SelectedFrames:
    """Fixed frames of a role, ready for the model."""

    images: Any  # (k, 3, S, S) uint8 torch tensor
    backgrounds: Any | None  # (k, 3, S, S) uint8 torch tensor, or None (the role has no background estimates)
    p3d: np.ndarray  # (k, 17, 3) root-relative, trunk units, crop (virtual) camera frame
    p2d: np.ndarray  # (k, 17, 2) true 2D pose, crop coordinates in [-1, 1] (the model's p2d units)
    trunk_mm: np.ndarray  # (k,)
    names: list[str]  # "subject sequence camera #frame"
    dataset: str


def _cropped_tracks(store, role: str | None) -> list[tuple[Any, str]]:
    """(sequence info, camera) of ``role``'s sequences (all with None), store order, that have crops and boxes.

    Raises:
        FigureError: the store has no such role.
    """
    infos = store.sequences(role=role)
    if not infos:
        raise FigureError(
            f"{store.path}: no sequence has role {role!r} (roles here: "
            f"{', '.join(sorted(store.roles())) or 'none'}); pass --role"
        )
    return [
        (info, cam)
        for info in infos
        for cam in info.cameras
        if store.has(info.subject, info.sequence, "images", camera=cam)
        and store.has(info.subject, info.sequence, "boxes", camera=cam)
    ]


def select_frames(
    store_path: str | os.PathLike, role: str, size: int, k: int, *, diverse_from: int = 0
) -> SelectedFrames:
    """``k`` usable frames evenly spaced over ``role`` (sequences and cameras in store order), read one by one.

    With ``diverse_from`` > 0 the ``k`` frames are instead the most different true poses
    (:func:`diverse_poses`) among ``diverse_from`` usable frames evenly spaced over the role: chosen from the
    labels alone, never from a model's output, so a figure drawn on them shows no model at its best.

    Labels are those of the trainer (:mod:`kspbench.model.data`); only the chosen crops are read.

    Raises:
        MissingInput: the role has no usable frame with an image.
        FigureError: the store has no such role.
    """
    from kspbench.data.store import PoseStore
    from kspbench.model import data as D
    from kspbench.model.train import deterministic

    # One thread: resizing crops is many small operations, which torch's default (every core) only slows down on a
    # busy machine; the crops do not depend on it.
    with deterministic(1, "cpu"), PoseStore(store_path) as store:
        tracks = []
        for info, cam in _cropped_tracks(store, role):
            boxes = store.read(info.subject, info.sequence, "boxes", camera=cam).astype(np.float64)
            p2d, p3d, _, usable, trunk = D._labels(store, info.subject, info.sequence, cam, boxes)
            tracks.append((info, cam, p3d, usable, trunk, p2d))
        if not tracks:
            raise MissingInput(f"no sequence of role {role!r} in {store.path} has crops")
        usable = np.concatenate([t[3] for t in tracks])
        if diverse_from > 0:
            candidates = evenly_spaced(usable, max(int(diverse_from), k))
            all_p3d = np.concatenate([t[2] for t in tracks])
            chosen = candidates[diverse_poses(all_p3d[candidates], k)]
        else:
            chosen = evenly_spaced(usable, k)
        if chosen.size == 0:
            raise MissingInput(f"role {role!r} in {store.path} has no usable frame")
        starts = np.cumsum([0] + [t[3].size for t in tracks])
        images, backgrounds, p3d, p2d, trunk, names = [], [], [], [], [], []
        has_bg = True
        for g in chosen:
            t = int(np.searchsorted(starts, g, side="right") - 1)
            info, cam, t_p3d, _, t_trunk, t_p2d = tracks[t]
            f = int(g - starts[t])
            images.append(store.read(info.subject, info.sequence, "images", camera=cam, frames=slice(f, f + 1)))
            if has_bg and store.has(info.subject, info.sequence, "backgrounds", camera=cam):
                backgrounds.append(
                    store.read(info.subject, info.sequence, "backgrounds", camera=cam, frames=slice(f, f + 1))
                )
            else:
                has_bg = False
            p3d.append(t_p3d[f])
            p2d.append(t_p2d[f])
            trunk.append(t_trunk[f])
            names.append(f"{info.subject} {info.sequence} {cam} #{f}")
        dataset = str(store.attrs.get("dataset"))
    return SelectedFrames(
        images=D.resize_images(np.concatenate(images), size),
        backgrounds=D.resize_images(np.concatenate(backgrounds), size) if has_bg else None,
        p3d=np.stack(p3d).astype(np.float64),
        p2d=np.stack(p2d).astype(np.float64),
        trunk_mm=np.asarray(trunk, np.float64),
        names=names,
        dataset=dataset,
    )


def _load_model(checkpoint: str | os.PathLike):
    from kspbench.model.predict import load_model
    from kspbench.model.train import TrainingError

    if not Path(checkpoint).is_file():
        raise FigureError(f"{checkpoint}: no such checkpoint; train one with `kspbench train` or pass --checkpoint")
    try:
        return load_model(checkpoint)
    except TrainingError as err:
        raise FigureError(str(err)) from None
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FigureError(f"{checkpoint}: cannot rebuild its model ({first})") from None


def _describe(ckpt: dict[str, Any]) -> str:
    return f"{ckpt['card']['name']} seed {ckpt['seed']} ({ckpt['profile']['name']} profile, step {ckpt['step']})"


def swap_images(model, frames: SelectedFrames, threads: int = 1) -> dict[str, np.ndarray]:
    """Decode every (pose i, appearance j) pair of the frames over the background of ``swap_background(i, j)``,
    once with EP's pose of frame i (the paper's Fig. 3) and once teacher-forced, with frame i's true 2D pose (and
    EP's limb-width scale and the true joint depths, as ``kspbench diagnose`` decodes it).

    Returns:
        ``grid`` (n, n, S, S, 3) in [0, 1] (rows: pose source, columns: appearance source), ``grid_true`` the same
        teacher-forced, ``background`` (n, n) int, ``inputs`` and ``backgrounds`` (n, S, S, 3), ``p2d`` (n, 17, 2)
        predicted and ``p2d_true`` true crop coordinates.

    Raises:
        MissingInput: fewer than 3 frames.
    """
    import torch

    from kspbench.model import data as D
    from kspbench.model.train import deterministic

    n = frames.images.shape[0]
    if n < 3:
        raise MissingInput(f"a swap needs at least 3 usable frames, the role has {n}")
    x = D.to_float(frames.images)
    if frames.backgrounds is not None:
        bg = D.to_float(frames.backgrounds)
    else:  # a role without background estimates: a flat grey background
        bg = torch.full_like(x, 0.5)
    pose_src, app_src = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pose_src, app_src = pose_src.ravel(), app_src.ravel()
    bg_src = np.array([swap_background(i, j, n) for i, j in zip(pose_src, app_src)])
    with deterministic(threads, "cpu"), torch.no_grad():
        pose = model.pose(x)
        fa = model.appearance(x)
        depth = pose["p3d_cam"][..., 2][pose_src]
        scale = pose["scale"][pose_src]
        out = model.render(pose["p2d"][pose_src], scale, fa[app_src], bg[bg_src], depth)["image"]
        true_p2d = torch.as_tensor(frames.p2d, dtype=x.dtype)
        true_depth = torch.as_tensor(frames.p3d[..., 2], dtype=x.dtype)
        out_true = model.render(true_p2d[pose_src], scale, fa[app_src], bg[bg_src], true_depth[pose_src])["image"]
    to_np = lambda t: t.clamp(0.0, 1.0).permute(0, 2, 3, 1).double().cpu().numpy()  # noqa: E731
    grid = to_np(out).reshape(n, n, *out.shape[2:], 3)
    return {
        "grid": grid,
        "grid_true": to_np(out_true).reshape(n, n, *out_true.shape[2:], 3),
        "background": bg_src.reshape(n, n),
        "inputs": to_np(x),
        "backgrounds": to_np(bg),
        "p2d": pose["p2d"].double().cpu().numpy(),
        "p2d_true": np.asarray(frames.p2d, np.float64),
    }


def skeleton_data(model, frames: SelectedFrames, threads: int = 1) -> dict[str, np.ndarray]:
    """Predicted and true 3D poses (mm, crop camera frame, root-relative) of the frames.

    The prediction is scaled by ``skeleton.TRUNK_MM`` (as ``kspbench predict`` and validation), the truth by the
    frame's own trunk length; ``aligned`` is the prediction after the per-frame Procrustes similarity transform
    onto the truth (:func:`kspbench.evaluation.metrics.procrustes_align`) and ``p_mpjpe_mm`` (per frame) its mean joint
    error.
    """
    import torch

    from kspbench.evaluation.metrics import p_mpjpe, procrustes_align
    from kspbench.model import data as D
    from kspbench.model.train import deterministic

    with deterministic(threads, "cpu"), torch.no_grad():
        p3d = model.pose(D.to_float(frames.images))["p3d_cam"].double().cpu().numpy()
    pred = p3d * skeleton.TRUNK_MM
    gt = frames.p3d * frames.trunk_mm[:, None, None]
    return {
        "pred": pred,
        "gt": gt,
        "aligned": procrustes_align(pred, gt),
        "p_mpjpe_mm": p_mpjpe(pred, gt).mean(1),
        "inputs": D.to_float(frames.images).permute(0, 2, 3, 1).double().numpy(),
    }


# --- CSV tables for DVC plots -------------------------------------------------------------------------------------


def pck_csv_name(protocol: str) -> str:
    """The plot table of one protocol's PCK curves: ``pck_<protocol>.csv``."""
    return f"pck_{path_name(protocol)}.csv"


def write_val_curves_csv(curves: list[ValCurve], path: str | os.PathLike) -> Path:
    """``step``, then a column per card (in ``curves``' order): validation P-MPJPE (mm) at that step, the mean over
    the card's seeds that have it; a cell is empty past a card's last step (header only when there is no curve)."""
    passes: dict[str, dict[int, list[float]]] = {}
    for c in curves:
        for step, value in zip(c.steps, c.p_mpjpe_mm):
            passes.setdefault(c.card, {}).setdefault(int(step), []).append(float(value))
    series = {card: {s: float(np.mean(v)) for s, v in by_step.items()} for card, by_step in passes.items()}
    return write_wide_csv(path, VAL_X, series)


def write_pck_curves_csv(curves: list[PckCurve], folder: str | os.PathLike) -> list[Path]:
    """One :func:`pck_csv_name` table per protocol: ``threshold_mm``, then a column per row (in ``curves``' order)
    with its PCK (percent, mean over seeds). Returns the written paths (none without curves)."""
    by_protocol: dict[str, dict[str, dict[float, float]]] = {}
    for c in curves:
        by_protocol.setdefault(c.protocol, {})[c.row] = dict(zip(c.thresholds_mm, c.pck))
    return [write_wide_csv(Path(folder) / pck_csv_name(p), PCK_X, series) for p, series in sorted(by_protocol.items())]


# --- figures ------------------------------------------------------------------------------------------------------


def plot_pck_curves(curves: list[PckCurve], out: str | os.PathLike, formats: Sequence[str] | None = None) -> Path:
    """PCK (%) against threshold (mm), one panel per protocol, a line per row; AUC in the legend."""
    if not curves:
        raise MissingInput(
            "no result has a PCK-versus-threshold curve (score 3DHP predictions with "
            "`kspbench eval --protocol 3dhp,3dhp-pa`)"
        )
    panels = sorted({c.protocol for c in curves})
    rows = sorted({c.row for c in curves})
    colour = dict(zip(rows, _colours(len(rows))))
    fig = _new_figure(5.2 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        for c in [c for c in curves if c.protocol == panel]:
            ax.plot(
                c.thresholds_mm,
                c.pck,
                color=colour[c.row],
                lw=1.8,
                label=f"{_row_label(c.label, c.seeds)}: AUC {c.auc:.1f}",
            )
        ax.set_title(panel)
        ax.set_xlabel("threshold (mm)")
        ax.set_ylabel("3DPCK (%)")
        ax.set_ylim(0, 100)
        ax.set_xlim(0, max(max(c.thresholds_mm) for c in curves if c.protocol == panel))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"PCK versus threshold. {dataset_title(c.dataset for c in curves)}", fontsize=10)
    return _save(fig, Path(out), formats)


def plot_per_action(
    rows: list[ActionRow], out: str | os.PathLike, protocol: str = ACTION_PROTOCOL, formats: Sequence[str] | None = None
) -> Path:
    """Grouped horizontal bars of P-MPJPE per action (mean over seeds), one colour per row."""
    if not rows:
        raise MissingInput(f"no result of protocol {protocol} with a per-action breakdown")
    actions = _action_order({a for r in rows for a in r.per_action})
    n = len(rows)
    height = 0.8 / n
    fig = _new_figure(7.5, max(3.2, 1.6 + len(actions) * max(0.35, 0.16 * n)))
    ax = fig.subplots()
    y = np.arange(len(actions))
    for k, (r, col) in enumerate(zip(rows, _colours(n))):
        vals = np.array([r.per_action.get(a, np.nan) for a in actions])
        overall = "" if r.overall is None else f": mean {r.overall:.1f} mm"
        ax.barh(
            y - 0.4 + (k + 0.5) * height,
            vals,
            height=height,
            color=col,
            label=f"{_row_label(r.label, r.seeds)}{overall}",
        )
    ax.set_yticks(y, actions)
    ax.invert_yaxis()
    ax.set_xlabel("P-MPJPE (mm), mean over seeds; lower is better")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"P-MPJPE per action ({protocol}). {dataset_title(r.dataset for r in rows)}", fontsize=10)
    return _save(fig, Path(out), formats)


def plot_learning_curves(curves: list[ValCurve], out: str | os.PathLike, formats: Sequence[str] | None = None) -> Path:
    """Validation P-MPJPE against step: a thin line per seed, the mean over seeds of each card in bold."""
    if not curves:
        raise MissingInput("no training run with validation rows (val.csv; the profile needs val_every > 0)")
    cards = sorted({c.card for c in curves})
    fig = _new_figure(7.5, 4.6)
    ax = fig.subplots()
    for card, col in zip(cards, _colours(len(cards))):
        mine = [c for c in curves if c.card == card]
        for c in mine:
            ax.plot(c.steps, c.p_mpjpe_mm, color=col, lw=0.8, alpha=0.55)
        common = sorted(set.intersection(*(set(c.steps.tolist()) for c in mine)))
        if common:
            mean = np.mean([[dict(zip(c.steps.tolist(), c.p_mpjpe_mm))[s] for s in common] for c in mine], axis=0)
            ax.plot(
                common,
                mean,
                color=col,
                lw=2.4,
                label=f"{card} (mean of {len(mine)} seed{'s' if len(mine) > 1 else ''})",
            )
    from matplotlib.ticker import MaxNLocator

    roles = sorted({c.val_role for c in curves if c.val_role})
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("validation P-MPJPE (mm)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(
        "Validation P-MPJPE during training" + (f" ({', '.join(roles)}, fixed frames)" if roles else ""), fontsize=10
    )
    return _save(fig, Path(out), formats)


def _show(ax, img: np.ndarray) -> None:
    ax.imshow(np.clip(img, 0.0, 1.0), extent=(-1, 1, 1, -1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def _bones_2d(ax, pts: np.ndarray, colour, lw: float = 1.2, **kw) -> None:
    for parent, child in skeleton.BONES:
        ax.plot(
            pts[[parent, child], 0],
            pts[[parent, child], 1],
            color=colour,
            lw=lw,
            alpha=0.6 if child in skeleton.LEFT_JOINTS else 1.0,
            solid_capstyle="round",
            **kw,
        )


def plot_swap(
    checkpoint: str | os.PathLike,
    store: str | os.PathLike,
    out: str | os.PathLike,
    *,
    role: str = DEFAULT_ROLE,
    k: int = SWAP_SAMPLES,
    formats: Sequence[str] | None = None,
) -> Path:
    """Fig. 3: rows = pose source, columns = appearance source, cells over the background of a third sample.

    The rows are the most different true poses of the role (:func:`select_frames` with ``diverse_from``), and each
    pose has two rows: decoded from EP's pose (the paper's figure: what the image loss sees) and teacher-forced from
    the true 2D pose (whether the decoder can draw that pose at all). The first row shows the appearance inputs, the
    first column the pose inputs with the 2D pose the row decodes; the last row each sample's background; each cell
    names the sample its background comes from.
    """
    model, ckpt = _load_model(checkpoint)
    frames = select_frames(store, role, int(ckpt["profile"]["input_size"]), k, diverse_from=SWAP_CANDIDATES)
    res = swap_images(model, frames, threads=int(ckpt.get("threads", 1)))
    n = res["grid"].shape[0]
    letters = string.ascii_uppercase
    fig = _new_figure(1.55 * (n + 1), 1.55 * (2 * n + 2) + 0.6)
    axes = fig.subplots(2 * n + 2, n + 1)
    corner = axes[0, 0]
    corner.axis("off")
    corner.text(
        0.5, 0.5, "pose: rows\nappearance:\ncolumns", ha="center", va="center", fontsize=7, transform=corner.transAxes
    )
    for j in range(n):
        _show(axes[0, j + 1], res["inputs"][j])
        axes[0, j + 1].set_title(f"appearance {letters[j]}", fontsize=7)
    sources = (("grid", "p2d", "#ffdd00", "EP's pose"), ("grid_true", "p2d_true", "#33ddff", "true 2D"))
    for i in range(n):
        for r, (grid, p2d, colour, label) in enumerate(sources):
            row = 1 + 2 * i + r
            ax = axes[row, 0]
            _show(ax, res["inputs"][i])
            _bones_2d(ax, res[p2d][i], colour, lw=0.9)
            ax.set_xlim(-1, 1)
            ax.set_ylim(1, -1)
            ax.set_ylabel(f"pose {letters[i]}\n{label}", fontsize=7)
            for j in range(n):
                cell = axes[row, j + 1]
                _show(cell, res[grid][i, j])
                cell.text(
                    0.03,
                    0.03,
                    f"bg {letters[res['background'][i, j]]}",
                    transform=cell.transAxes,
                    fontsize=6,
                    color="white",
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0},
                )
    last = 2 * n + 1
    axes[last, 0].axis("off")
    axes[last, 0].text(
        0.5,
        0.5,
        "backgrounds" if frames.backgrounds is not None else "no background\nestimates:\nflat grey",
        ha="center",
        va="center",
        fontsize=7,
        transform=axes[last, 0].transAxes,
    )
    for j in range(n):
        _show(axes[last, j + 1], res["backgrounds"][j])
        axes[last, j + 1].set_xlabel(f"background {letters[j]}", fontsize=7)
    names = "; ".join(f"{letters[i]}: {frames.names[i]}" for i in range(n))
    pci = swap_pci_text(model, checkpoint, store, role, threads=int(ckpt.get("threads", 1)))
    fig.suptitle(
        f"Fig. 3: pose, appearance and background swapped through the decoder. {_describe(ckpt)} on "
        f"{role}\n{pci}\nrows: the {n} most different true poses among {SWAP_CANDIDATES} evenly spaced frames,\n"
        f"each decoded from EP's pose (yellow: the paper's figure) and from its true 2D pose (cyan: teacher-forced)\n"
        f"{names}\n{dataset_title([frames.dataset])}",
        fontsize=8,
    )
    return _save(fig, Path(out), formats)


def swap_pci_text(
    model,
    checkpoint: str | os.PathLike,
    store: str | os.PathLike,
    role: str,
    *,
    threads: int = 1,
    n: int = SWAP_PCI_TUPLES,
    seed: int = 0,
) -> str:
    """The line of Fig. 3's title giving the checkpoint's PCI in both modes on ``n`` tuples of ``role``, or a note
    saying why it is not computed (backgrounds not clean, too few frames); never raises for those."""
    from kspbench.data.store import PoseStore
    from kspbench.model import diagnose as DG

    with PoseStore(store) as s:
        kind = DG.background_estimate(s.attrs)
    if kind != "clean":  # a median Bt holds part of the person: the PCI would be biased (kspbench diagnose)
        return (
            f"PCI not computed: the store's backgrounds are not clean "
            f"({'no background_estimate' if kind is None else f'background_estimate {kind}'})"
        )
    try:
        report, _ = DG.diagnose(
            checkpoint, store, role=role, n_tuples=n, seed=seed, threads=threads, model=model, hash_store=False
        )
    except DG.DiagnoseError as why:
        return f"PCI not computed: {why}"
    m = report["modes"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    text = (
        f"PCI on {report['n_tuples']} tuples of {role}: EP {fmt(m['ep']['pci'])}, teacher-forced "
        f"{fmt(m['teacher_forced']['pci'])} (0: the decoder ignores the pose)"
    )
    if m["ep"].get("aci") is not None:
        text += (
            f"\nACI on the same tuples (another subject's appearance code): EP {fmt(m['ep']['aci'])}, "
            f"teacher-forced {fmt(m['teacher_forced']['aci'])} (0: it ignores the appearance)"
        )
    return text


def plot_diagnosis(
    report: dict[str, Any],
    examples: dict[str, Any] | None,
    out: str | os.PathLike,
    formats: Sequence[str] | None = None,
) -> Path:
    """A few tuples of ``kspbench diagnose``: Is, It (true 2D of B), Bt, Î(B) and Î(B') teacher-forced, Î(B) from
    EP's pose, and the decoder mask of the teacher-forced Î(B) (true mask outlined); PCI values in the title.

    Raises:
        FigureError: no examples were decoded.
    """
    if not examples or len(examples["names"]) == 0:
        raise FigureError("no tuple was decoded for the figure")
    k = len(examples["names"])
    columns = (
        ("source", "Is (appearance A)"),
        ("target", "It = R(A, B, C)"),
        ("background", "Bt = C (clean)"),
        ("tf_b", "Î(B) teacher-forced"),
        ("tf_b_prime", "Î(B') teacher-forced"),
        ("ep_b", "Î(B) EP pose"),
        ("mask", "decoder mask, Î(B) TF"),
    )
    fig = _new_figure(1.45 * len(columns), 1.5 * k + 0.9)
    axes = fig.subplots(k, len(columns), squeeze=False)
    for r in range(k):
        for c, (key, title) in enumerate(columns):
            ax = axes[r, c]
            if key == "mask":
                shown = examples["mask"] if examples["mask"] is not None else examples["true_mask"].astype(float)
                _show(ax, np.repeat(shown[r][..., None], 3, axis=-1))
                centres = (2.0 * np.arange(shown.shape[-1]) + 1.0) / shown.shape[-1] - 1.0  # pixel centres
                ax.contour(
                    centres,
                    centres,
                    examples["true_mask"][r].astype(float),
                    levels=[0.5],
                    colors=[PRED_COLOUR],
                    linewidths=0.8,
                )
                if examples["mask"] is None:
                    title = "true mask (DI has no mask)"
            else:
                _show(ax, examples[key][r])
            if key == "target":
                _bones_2d(ax, examples["p2d_b"][r], "#ffdd00", lw=0.7)
                ax.set_xlim(-1, 1)
                ax.set_ylim(1, -1)
            if r == 0:
                ax.set_title(title, fontsize=6)
        axes[r, 0].set_ylabel(examples["names"][r], fontsize=5)
    ck, m = report["checkpoint"], report["modes"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    pci = "; ".join(
        f"{mode.replace('_', '-')} PCI {fmt(m[mode]['pci'])} [{fmt(m[mode]['pci_ci95'][0])}, "
        f"{fmt(m[mode]['pci_ci95'][1])}]"
        for mode in m
    )
    note = "" if not report.get("warnings") else "\nwarning: backgrounds not clean (--allow-median-background)"
    fig.suptitle(
        f"Is the decoder pose-conditioned? {ck['card']} seed {ck['seed']} ({ck['profile']} profile, step "
        f"{ck['step']}) on {report['role']}, {report['n_tuples']} tuples\n{pci}{note}",
        fontsize=7,
    )
    return _save(fig, Path(out), formats)


def plot_skeletons(
    checkpoint: str | os.PathLike,
    store: str | os.PathLike,
    out: str | os.PathLike,
    *,
    role: str = DEFAULT_ROLE,
    k: int = SKELETON_SAMPLES,
    formats: Sequence[str] | None = None,
) -> Path:
    """Fig. 4: for each fixed frame the crop, then the true and the Procrustes-aligned predicted 3D skeleton seen
    from the front (x, -y) and from the side (z, -y) of the crop camera; P-MPJPE per frame in the title."""
    model, ckpt = _load_model(checkpoint)
    frames = select_frames(store, role, int(ckpt["profile"]["input_size"]), k)
    res = skeleton_data(model, frames, threads=int(ckpt.get("threads", 1)))
    n = res["gt"].shape[0]
    fig = _new_figure(2.0 * n + 0.4, 6.9)
    axes = fig.subplots(3, n, squeeze=False)
    for f in range(n):
        _show(axes[0, f], res["inputs"][f])
        axes[0, f].set_title(f"{frames.names[f]}\nP-MPJPE {res['p_mpjpe_mm'][f]:.0f} mm", fontsize=7)
        gt, pr = res["gt"][f], res["aligned"][f]
        for row, (a, b, name) in enumerate(((0, 1, "front (x, up)"), (2, 1, "side (depth, up)")), start=1):
            ax = axes[row, f]
            pts_gt = np.stack([gt[:, a], -gt[:, b]], axis=1)
            pts_pr = np.stack([pr[:, a], -pr[:, b]], axis=1)
            _bones_2d(ax, pts_gt, TRUTH_COLOUR, lw=1.6)
            _bones_2d(ax, pts_pr, PRED_COLOUR, lw=1.6)
            both = np.concatenate([pts_gt, pts_pr])
            centre = 0.5 * (both.min(0) + both.max(0))
            half = 0.55 * float(np.max(both.max(0) - both.min(0))) + 1.0
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] - half, centre[1] + half)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(alpha=0.2)
            if f == 0:
                ax.set_ylabel(name, fontsize=7)
    from matplotlib.lines import Line2D

    fig.legend(
        handles=[
            Line2D([], [], color=TRUTH_COLOUR, lw=2, label="ground truth"),
            Line2D([], [], color=PRED_COLOUR, lw=2, label="prediction (Procrustes-aligned)"),
        ],
        loc="lower center",
        ncol=2,
        fontsize=7,
    )
    fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
    fig.suptitle(
        f"Fig. 4: predicted and true 3D pose. {_describe(ckpt)} on {role}, mean P-MPJPE "
        f"{float(np.mean(res['p_mpjpe_mm'])):.1f} mm\n{dataset_title([frames.dataset])}",
        fontsize=8,
    )
    return _save(fig, Path(out), formats)


# --- Fig. 4 on real frames: a predictions file over the stored crops -----------------------------------------------


@dataclass
class OverlayFrames:
    """Fixed frames of a store with their crops and both skeletons in crop pixels."""

    crops: np.ndarray  # (k, S, S, 3) uint8, the stored crops
    truth_px: np.ndarray  # (k, 17, 2) crop pixels (pixel centres at integers), the true 3D pose projected
    pred_px: np.ndarray  # (k, 17, 2) crop pixels, the prediction with its root at the true root, projected
    mpjpe_mm: np.ndarray  # (k,) root-relative joint error
    p_mpjpe_mm: np.ndarray  # (k,) after Procrustes alignment
    names: list[str]  # "subject sequence camera #frame"
    dataset: str
    attrs: dict[str, Any]  # the predictions file's attributes (card, seed, ...)


def _prediction_index(preds) -> dict[tuple[str, str, str], dict[int, int]]:
    """(subject, sequence, camera) -> {frame: row} of a predictions file."""
    index: dict[tuple[str, str, str], dict[int, int]] = {}
    for row, key in enumerate(zip(preds.subject.tolist(), preds.sequence.tolist(), preds.camera.tolist())):
        index.setdefault(key, {})[int(preds.frame[row])] = row
    return index


def overlay_frames(
    store_path: str | os.PathLike, predictions: str | os.PathLike, role: str | None = None, k: int = SKELETON_SAMPLES
) -> OverlayFrames:
    """``k`` frames evenly spaced over those with a stored crop, a finite true pose and a prediction.

    Tracks (a sequence seen by one camera) in store order, restricted to ``role`` if given. The prediction
    (``kspbench predict``: store camera frame, mm, pelvis at the origin) is moved to the true pelvis; both poses
    are projected with the stored camera (:func:`kspbench.data.formats.project`) and mapped into the crop with its box
    (:func:`kspbench.core.crops.to_crop`).

    Raises:
        MissingInput: no frame qualifies (no crops, no ground truth as for unlabelled clips, no matching rows).
        FigureError: the store has no such role, or the predictions file is unreadable.
    """
    from kspbench.core.crops import to_crop
    from kspbench.data.formats import project
    from kspbench.data.predictions import PredictionsError, read_predictions
    from kspbench.data.store import PoseStore
    from kspbench.evaluation.metrics import mpjpe, p_mpjpe

    try:
        preds = read_predictions(predictions)
    except PredictionsError as err:
        raise FigureError(str(err)) from None
    index = _prediction_index(preds)
    with PoseStore(store_path) as store:
        tracks = []
        for info, cam in _cropped_tracks(store, role):
            rows = index.get((info.subject, info.sequence, cam))
            if not rows:
                continue
            read = lambda key, s=info.subject, q=info.sequence, c=cam: store.read(s, q, key, camera=c)  # noqa: E731
            cam3d, boxes = read("camera_3d").astype(np.float64), read("boxes").astype(np.float64)
            row = np.full(cam3d.shape[0], -1)
            for f, r in rows.items():
                if 0 <= f < row.size:
                    row[f] = r
            usable = (
                read("valid").astype(bool) & (row >= 0) & np.isfinite(cam3d).all((1, 2)) & np.isfinite(boxes).all(1)
            )
            tracks.append((info, cam, cam3d, boxes, row, usable))
        if not tracks:
            raise MissingInput(
                f"no track of {store.path}{'' if role is None else f' (role {role!r})'} has both "
                f"crops and rows in {predictions}"
            )
        chosen = evenly_spaced(np.concatenate([t[5] for t in tracks]), k)
        if chosen.size == 0:
            raise MissingInput(
                f"no frame of {store.path} with a crop and a prediction has a true pose to draw "
                "(unlabelled clips have none)"
            )
        starts = np.cumsum([0] + [t[5].size for t in tracks])
        crops, truth, pred, gts, preds_mm, names = [], [], [], [], [], []
        for g in chosen:
            t = int(np.searchsorted(starts, g, side="right") - 1)
            info, cam, cam3d, boxes, row, _ = tracks[t]
            f = int(g - starts[t])
            img = store.read(info.subject, info.sequence, "images", camera=cam, frames=slice(f, f + 1))[0]
            intr = store.intrinsics(info.subject, info.sequence, cam)
            gt = cam3d[f]
            p = np.asarray(preds.poses_3d[row[f]], np.float64)
            p = p - p[skeleton.ROOT] + gt[skeleton.ROOT]  # depth and position of the person from the truth
            size = img.shape[0]
            truth.append(to_crop(project(gt, intr)[None], boxes[f : f + 1], size)[0])
            pred.append(to_crop(project(p, intr)[None], boxes[f : f + 1], size)[0])
            crops.append(img)
            gts.append(gt)
            preds_mm.append(p)
            names.append(f"{info.subject} {info.sequence} {cam} #{f}")
        dataset = str(store.attrs.get("dataset"))
    gt_all, pred_all = np.stack(gts), np.stack(preds_mm)
    return OverlayFrames(
        crops=np.stack(crops),
        truth_px=np.stack(truth),
        pred_px=np.stack(pred),
        mpjpe_mm=mpjpe(pred_all, gt_all).mean(1),
        p_mpjpe_mm=p_mpjpe(pred_all, gt_all).mean(1),
        names=names,
        dataset=dataset,
        attrs=preds.attrs,
    )


def plot_overlay(
    store: str | os.PathLike,
    predictions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    role: str | None = None,
    k: int = SKELETON_SAMPLES,
    formats: Sequence[str] | None = None,
) -> Path:
    """Fig. 4 on real frames: a row of the :func:`overlay_frames`, each crop with the true (blue) and predicted
    (red, on top) skeleton, and a caption band above.

    The PNG is exactly ``k * OVERLAY_PANEL_PX`` wide and ``OVERLAY_PANEL_PX + OVERLAY_BAND_PX`` high; panel ``i``
    fills columns ``[i P, (i + 1) P)`` below the band, so crop pixel ``(u, v)`` (centres at integers) lands at
    ``(i P + (u + 0.5) P / S, band + (v + 0.5) P / S)``.
    """
    frames = overlay_frames(store, predictions, role, k)
    attrs = frames.attrs
    n, size = frames.crops.shape[0], frames.crops.shape[1]
    panel, band = OVERLAY_PANEL_PX, OVERLAY_BAND_PX
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(n * panel / DPI, (panel + band) / DPI), dpi=DPI)  # no layout engine: exact pixels
    FigureCanvasAgg(fig)
    height = panel / (panel + band)
    lo, hi = -0.5, size - 0.5
    for i in range(n):
        ax = fig.add_axes((i / n, 0.0, 1.0 / n, height))
        ax.imshow(frames.crops[i], extent=(lo, hi, hi, lo), interpolation="nearest")
        for pts, colour in ((frames.truth_px[i], TRUTH_COLOUR), (frames.pred_px[i], PRED_COLOUR)):
            _bones_2d(ax, pts, colour, lw=1.6)
            ax.scatter(pts[:, 0], pts[:, 1], s=9, color=colour, linewidths=0, zorder=3)
        ax.set_xlim(lo, hi)
        ax.set_ylim(hi, lo)
        ax.set_axis_off()
        fig.text(
            (i + 0.5) / n,
            height + 0.02,
            f"{frames.names[i]}\nMPJPE {frames.mpjpe_mm[i]:.0f} mm, P-MPJPE {frames.p_mpjpe_mm[i]:.0f} mm",
            ha="center",
            va="bottom",
            fontsize=6,
        )
    who = f"{attrs['card']} seed {attrs['seed']}" if {"card", "seed"} <= set(attrs) else Path(predictions).name
    fig.text(
        0.005,
        0.99,
        f"Fig. 4 on real frames: {who}; ground truth (blue), prediction at the true root (red); "
        f"{dataset_title([frames.dataset])}",
        ha="left",
        va="top",
        fontsize=6,
    )
    return _save(fig, Path(out), formats)


# --- everything ---------------------------------------------------------------------------------------------------


def make_all(
    results_dir: str | os.PathLike,
    runs_dir: str | os.PathLike,
    store: str | os.PathLike,
    out_dir: str | os.PathLike,
    plots_dir: str | os.PathLike,
    *,
    card: str = DEFAULT_CARD,
    checkpoint: str | os.PathLike | None = None,
    role: str = DEFAULT_ROLE,
    log: Callable[[str], None] | None = None,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Write both CSV tables and every figure whose inputs exist; returns the written paths (tables first).

    A figure whose inputs are absent (no result of its protocol, no run with val.csv, no checkpoint of ``card``
    under ``runs_dir``, no store) is skipped with a line to ``log`` saying why, and a stale copy of it in
    ``out_dir`` is removed so the folder shows only what the current inputs support.

    Raises:
        kspbench.evaluation.results.ResultError: the results folder is missing or holds a bad result file.
        FigureError: inputs that exist but cannot be read (an unreadable checkpoint, a malformed val.csv, a
            store without ``role``).
    """
    from kspbench.evaluation.results import discover

    say = log or (lambda _msg: None)
    out_dir, plots_dir, runs_dir = Path(out_dir), Path(plots_dir), Path(runs_dir)
    results = discover(results_dir)
    curves = pck_curve_data(results)
    actions = per_action_data(results)
    if not runs_dir.is_dir():
        say(f"note: {runs_dir}: no runs folder; learning curves and Fig. 3/4 need trained runs")
    val = read_val_curves(runs_dir, log=say)

    written = []
    val_csv = write_val_curves_csv(val, plots_dir / VAL_CSV)
    say(f"wrote {val_csv} ({len({c.card for c in val})} cards)")
    pck_csvs = write_pck_curves_csv(curves, plots_dir)
    for path in pck_csvs:
        say(f"wrote {path}")
    for stale in sorted(set(plots_dir.glob("pck_*.csv")) - set(pck_csvs)):
        stale.unlink()  # a protocol (or the long table of older versions) no longer among the results
        say(f"removed {stale}: no curve of its protocol")
    written += [val_csv, *pck_csvs]

    def model_input() -> tuple[Path, Path]:
        if checkpoint is not None:
            ck = Path(checkpoint)
            if not ck.is_file():
                raise FigureError(f"{ck}: no such checkpoint (--checkpoint)")
        else:
            ck = find_checkpoint(runs_dir, card)
            if ck is None:
                raise MissingInput(
                    f"no checkpoint of card {card!r} under {runs_dir} (train it, or pass --card or --checkpoint)"
                )
        if not Path(store).is_file():
            raise MissingInput(f"{store}: no such store (the frames come from it; pass --store)")
        return ck, Path(store)

    jobs: list[tuple[str, Callable[[Path], Path]]] = [
        ("pck_curves.png", lambda p: plot_pck_curves(curves, p, formats=formats)),
        ("per_action.png", lambda p: plot_per_action(actions, p, formats=formats)),
        ("learning_curves.png", lambda p: plot_learning_curves(val, p, formats=formats)),
        ("fig3_swap.png", lambda p: plot_swap(*model_input(), p, role=role, formats=formats)),
        ("fig4_skeletons.png", lambda p: plot_skeletons(*model_input(), p, role=role, formats=formats)),
    ]
    for name, job in jobs:
        targets = [(out_dir / name).with_suffix(f".{fmt}") for fmt in formats]
        try:
            job(targets[0])
        except MissingInput as why:
            # Every format's copy goes: the folder shows only what the current inputs support.
            stale = [t for t in out_dir.glob(f"{Path(name).stem}.*") if t.suffix[1:] in FIGURE_FORMATS]
            for t in stale:
                t.unlink()
            say(f"skipped {name}: {why}{' (removed its stale copy)' if stale else ''}")
            continue
        for path in targets:
            say(f"wrote {path}")
        written += targets
    return written
