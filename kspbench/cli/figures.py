"""``kspbench figures``: the benchmark's figures (PNG, PDF, SVG) and the CSV tables behind ``dvc plots``."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STORE = "data/world.h5"


def register(sub: argparse._SubParsersAction) -> None:
    fg = sub.add_parser(
        "figures",
        help="draw the figures: PCK curves, per-action errors, learning curves, Fig. 3 and Fig. 4",
        description="Draw, from the result JSONs under --results, the training runs under --runs and a trained "
        "checkpoint: pck_curves.png (PCK vs threshold of every row per 3DHP protocol, with AUC), "
        "per_action.png (P-MPJPE per Human3.6M action under h36m-p2), learning_curves.png (validation "
        "P-MPJPE vs step: a thin line per seed, the mean per card in bold), fig3_swap.png (the paper's "
        "Fig. 3: pose, appearance and background swapped between 4 fixed test frames through the "
        "trained decoder) and fig4_skeletons.png (the paper's Fig. 4: 6 fixed test frames, predicted "
        "vs true 3D skeleton after Procrustes alignment). Also writes, into --plots for `dvc plots`, "
        "val_curves.csv (a column per card; header only when there is no run) and pck_<protocol>.csv "
        "(a column per row), one line per column in `dvc plots show`. A figure "
        "whose inputs are absent is skipped with a line saying why. Every file is written atomically.",
        epilog="Examples:\n"
        "  kspbench figures --results results --runs runs --store data/world.h5 --out reports/figures\n"
        "  kspbench figures --out reports/figures --plots reports/plots\n"
        "  kspbench figures --format png,pdf,svg --out paper/figures   # vector copies for a paper\n"
        "  kspbench figures --card weakly --role h36m-test          # Fig. 3/4 from runs/weakly/s<lowest>/\n"
        "  kspbench figures --checkpoint runs/unsup/s1/checkpoint.pt --out /tmp/figs\n"
        "  kspbench figures --predictions preds_3dhp.h5 --store data/3dhp_test.h5 --out figs_3dhp"
        "   # fig4_real.png only",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fg.add_argument(
        "--results", default="results", help="folder of result JSONs (`kspbench eval --out`; default: results)"
    )
    fg.add_argument("--runs", default="runs", help="folder of training runs, any depth (default: runs)")
    fg.add_argument(
        "--store", default=DEFAULT_STORE, help=f"pose store the Fig. 3/4 frames come from (default: {DEFAULT_STORE})"
    )
    fg.add_argument("--out", default="reports/figures", help="folder for the figures (default: reports/figures)")
    fg.add_argument(
        "--format",
        default="png",
        metavar="FORMATS",
        help="figure formats, comma-separated: png (default), pdf, svg; e.g. png,pdf,svg writes each "
        "figure three times (pck_curves.png, .pdf, .svg)",
    )
    fg.add_argument(
        "--plots",
        default="reports/plots",
        help="folder for val_curves.csv and pck_<protocol>.csv (default: reports/plots)",
    )
    model = fg.add_argument_group("Fig. 3 and Fig. 4")
    model.add_argument(
        "--card", default="unsup", help="card whose checkpoint to draw, lowest seed first (default: unsup)"
    )
    model.add_argument("--checkpoint", help="a checkpoint to draw instead of --card's")
    model.add_argument(
        "--role",
        help="role of the fixed frames (default: h36m-test; with --predictions: every "
        "sequence of the store that the file predicts)",
    )
    model.add_argument(
        "--predictions",
        metavar="FILE",
        help="draw only fig4_real.png: the skeletons of this `kspbench predict` file over the "
        "--store's crops (a store imported from images), true pose and prediction (at the true "
        "root) projected with the store camera; no results, runs or checkpoint needed",
    )
    fg.set_defaults(func=_figures)


def _figures(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.reporting.figures import figure_formats, make_all

    formats = figure_formats(args.format)

    if args.predictions is not None:
        return _overlay(args, formats)
    if not Path(args.results).is_dir():
        raise UserError(
            f"{args.results}: no such results folder; run `dvc repro` or `kspbench eval --out` first, or pass --results"
        )
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise UserError(f"{args.checkpoint}: no such checkpoint (--checkpoint)")
    from kspbench.infra.atomic import check_output_dir

    check_output_dir(args.out)
    check_output_dir(args.plots, option="--plots")
    written = make_all(
        args.results,
        args.runs,
        args.store,
        args.out,
        args.plots,
        card=args.card,
        checkpoint=args.checkpoint,
        role=args.role or "h36m-test",
        log=print,
        formats=formats,
    )
    figures = [p for p in written if p.suffix[1:] in formats]
    print(f"{len(figures) // len(formats)} figure(s) in {args.out} ({', '.join(formats)}), tables in {args.plots}")
    return 0


def _overlay(args: argparse.Namespace, formats: tuple[str, ...]) -> int:
    """``--predictions``: Fig. 4 on the real frames of --store (fig4_real.png) and nothing else."""
    from kspbench.cli import UserError
    from kspbench.infra.atomic import check_output_dir
    from kspbench.reporting.figures import OVERLAY_FIGURE, plot_overlay

    for path, option in ((args.predictions, "--predictions"), (args.store, "--store")):
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file ({option})")
    check_output_dir(args.out)
    first = plot_overlay(args.store, args.predictions, Path(args.out) / OVERLAY_FIGURE, role=args.role, formats=formats)
    for fmt in formats:
        print(f"wrote {first.with_suffix('.' + fmt)}")
    return 0
