"""``kspbench world``: build, preview, describe the synthetic benchmark world, and write its baselines."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kspbench.infra.progress import QUIET_HELP, Progress

DEFAULT_STORE = "data/world.h5"


def register(sub: argparse._SubParsersAction) -> None:
    world = sub.add_parser(
        "world",
        help="build and inspect the synthetic benchmark world",
        description="The synthetic world kspbench trains and evaluates on when Human3.6M and "
        "MPI-INF-3DHP are absent: people, motion, cameras and ground truth generated "
        "deterministically from a seed, written as a pose store.",
    )
    wsub = world.add_subparsers(title="world commands", metavar="COMMAND")
    world.set_defaults(func=lambda args: (world.print_help(), 2)[1])

    b = wsub.add_parser(
        "build",
        help="generate the world into a pose store (+ its datasheet)",
        description="Generate the world deterministically from (profile, seed[, motion file]) and "
        "write it atomically as a pose store; the datasheet goes beside it "
        "(data/world.h5 -> data/world.md).",
        epilog="Examples:\n  kspbench world build --profile cpu --out data/world.h5\n"
        "  kspbench world build --profile tiny --seed 3 --out /tmp/tiny.h5\n"
        "  kspbench world build --profile cpu --motion mocap/cmu17.npz --out data/world_cmu.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("--profile", default="cpu", help="tiny | smoke | cpu | paper, or a profile YAML file (default: cpu)")
    b.add_argument("--seed", type=int, default=0, help="world seed (default: 0)")
    b.add_argument("--out", default=DEFAULT_STORE, help=f"store to write (default: {DEFAULT_STORE})")
    b.add_argument(
        "--motion",
        help="pose-track .npz (key positions (N, 17, 3) mm, z up) to retarget onto the "
        "world's people instead of the procedural motion",
    )
    b.add_argument(
        "--reference-motion",
        help="real-motion .npz (e.g. cmu17.npz) for the datasheet's reference figures (never needed)",
    )
    b.add_argument("--crop-size", type=int, help="override the profile's crop size (px)")
    b.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (default: min(2, CPUs)); the store is identical for any value",
    )
    b.add_argument("--no-datasheet", action="store_true", help="skip the datasheet")
    b.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    b.set_defaults(func=_build)

    p = wsub.add_parser(
        "preview",
        help="a contact sheet (PNG) of a world store",
        description="Write a PNG contact sheet: per role, crops with their 2D joints and the "
        "background estimates; full frames of a few sequences with their person boxes.",
        epilog="Example:\n  kspbench world preview --store data/world.h5 --out world.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--store", default=DEFAULT_STORE, help=f"world store (default: {DEFAULT_STORE})")
    p.add_argument("--out", default="world.png", help="PNG to write (default: world.png)")
    p.add_argument("--per-role", type=int, default=10, help="crops per role row (default: 10)")
    p.add_argument("--no-full-frames", action="store_true", help="skip the re-rendered full frames")
    p.set_defaults(func=_preview)

    d = wsub.add_parser(
        "describe",
        help="print the world's datasheet",
        description="Print the datasheet of a world store: counts, occlusion, invalid frames, pose "
        "overlap, the kinematic ceiling and the baselines. Reads <store>.md when the "
        "build wrote one, otherwise (or with --recompute) computes it from the store.",
        epilog="Example:\n  kspbench world describe --store data/world.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--store", default=DEFAULT_STORE, help=f"world store (default: {DEFAULT_STORE})")
    d.add_argument("--reference-motion", help="real-motion .npz for the reference figures (implies --recompute)")
    d.add_argument("--recompute", action="store_true", help="compute from the store even if <store>.md exists")
    d.set_defaults(func=_describe)

    bl = wsub.add_parser(
        "baseline",
        help="write a baseline's predictions (mean pose, constant Procrustes-mean pose, nearest 2D neighbour)",
        description="Predictions of a difficulty baseline in the interchange format: 'mean' (the "
        "training mean root-relative camera-frame pose), 'const' (one pose for every "
        "frame: the generalized-Procrustes mean of the training poses) or 'nn2d' (the "
        "training pose whose normalised true 2D is nearest). Score with `kspbench eval`.",
        epilog="Examples:\n"
        "  kspbench world baseline --store data/world.h5 --kind const --out const.h5\n"
        "  kspbench world baseline --kind nn2d --role h36m-test,3dhp-test --out predictions/nn2d\n"
        "  kspbench eval --protocol h36m-p2 --predictions const.h5 --store data/world.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bl.add_argument("--store", default=DEFAULT_STORE, help=f"world store (default: {DEFAULT_STORE})")
    bl.add_argument("--kind", required=True, choices=("mean", "const", "nn2d"), help="which baseline")
    bl.add_argument(
        "--role",
        default="h36m-test",
        help="role to predict (default: h36m-test); or several, comma-separated, learnt once: --out is then a "
        "folder, OUT/<role>.h5",
    )
    bl.add_argument("--train-role", default="h36m-train", help="role the baseline learns from (default: h36m-train)")
    bl.add_argument(
        "--out", required=True, help="predictions file to write (.h5 or .npz); with several roles, a folder"
    )
    bl.set_defaults(func=_baseline)


def _store_exists(path: str) -> None:
    from kspbench.cli import UserError

    if not Path(path).is_file():
        raise UserError(f"{path}: no such store; build one with `kspbench world build --out {path}`")


def _build(args: argparse.Namespace) -> int:
    import time

    from kspbench.cli import UserError
    from kspbench.world.build import build_world
    from kspbench.world.datasheet import datasheet_path
    from kspbench.world.motion import load_motion_file
    from kspbench.world.profiles import load_profile

    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name such as {out / 'world.h5'}")
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise UserError(f"--out {out}: a pose store is an HDF5 file; use a .h5 name")
    if not 0 <= args.seed < 2**63:
        raise UserError(f"--seed must be in [0, 2^63), got {args.seed}")
    if args.jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {args.jobs}")
    from kspbench.infra.atomic import check_output, refuse_inputs

    check_output(out)
    refuse_inputs(
        [out, datasheet_path(out)],
        [args.motion, args.reference_motion, args.profile if Path(args.profile).is_file() else None],
    )
    profile = load_profile(args.profile)
    if args.crop_size is not None:
        profile = profile.with_crop_size(args.crop_size)
    for path in (args.motion, args.reference_motion):
        if path:
            load_motion_file(path)  # fail before any work, with one line
    bar = Progress(f"world build {profile.name} seed {args.seed}", unit="sequence", enabled=not args.quiet)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.set_total(total)
        if done == total and not args.no_datasheet:
            bar.note(phase="datasheet")  # the datasheet follows, counting no units: lines keep coming meanwhile
        bar.update(done - bar.n)
        if done == total and not args.no_datasheet:
            bar.heartbeat()  # the worker pool has delivered its last result: no fork follows

    t0 = time.time()
    with bar:
        man = build_world(
            out,
            profile,
            args.seed,
            motion_file=args.motion,
            jobs=args.jobs,
            progress=progress,
            datasheet=not args.no_datasheet,
            reference_motion=args.reference_motion,
        )
    size = out.stat().st_size / 1e6
    frames = sum(r["frames"] for r in man["role_stats"].values())
    print(
        f"{out}: world profile {profile.name}, seed {args.seed}: {frames} camera-frames, {size:.1f} MB, "
        f"{time.time() - t0:.0f} s" + ("" if args.no_datasheet else f"; datasheet {datasheet_path(out)}")
    )
    return 0


def _preview(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.data.store import check_store
    from kspbench.infra.atomic import check_output, refuse_inputs
    from kspbench.world.preview import write_preview

    _store_exists(args.store)
    check_output(args.out)
    refuse_inputs([args.out], [args.store])
    check_store(args.store)
    if args.per_role < 1:
        raise UserError(f"--per-role must be >= 1, got {args.per_role}")
    legend = write_preview(args.store, args.out, per_role=args.per_role, full_frames=not args.no_full_frames)
    print(f"{args.out}: contact sheet of {args.store}; rows, top to bottom:")
    for line in legend:
        print(f"  {line}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    from kspbench.data.store import check_store
    from kspbench.world.datasheet import datasheet, datasheet_path

    _store_exists(args.store)
    check_store(args.store)
    sheet = datasheet_path(args.store)
    if (
        sheet.is_file()
        and not args.recompute
        and not args.reference_motion
        and sheet.stat().st_mtime >= Path(args.store).stat().st_mtime
    ):
        print(sheet.read_text())
        return 0
    print(datasheet(args.store, reference_motion=args.reference_motion))
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError, comma_list
    from kspbench.data.predictions import write_predictions
    from kspbench.data.store import check_store
    from kspbench.infra.atomic import check_output, refuse_inputs
    from kspbench.world.baselines import baselines

    _store_exists(args.store)
    roles = comma_list(args.role)
    if not roles:
        raise UserError("--role: name a role to predict, e.g. h36m-test")
    if len(roles) == 1:
        outs = [Path(args.out)]
    elif Path(args.out).suffix.lower() in (".h5", ".npz"):
        raise UserError(f"--out {args.out}: with several roles --out is a folder (OUT/<role>.h5)")
    else:
        outs = [Path(args.out) / f"{role}.h5" for role in roles]
    for out in outs:
        check_output(out)
    refuse_inputs(outs, [args.store])
    check_store(args.store)
    for role, out, preds in zip(roles, outs, baselines(args.store, args.kind, roles, train_role=args.train_role)):
        write_predictions(out, preds)
        print(
            f"{out}: {args.kind} baseline, {len(preds)} predictions for role {role} "
            f"(score: kspbench eval --protocol h36m-p2 --predictions {out} --store {args.store})"
        )
    return 0
