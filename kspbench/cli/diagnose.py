"""``kspbench diagnose``: is a checkpoint's image decoder conditioned on the pose (PCI, mask IoU, EP on Î) and on the
appearance code (ACI)?"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STORE = "data/world.h5"


def register(sub: argparse._SubParsersAction) -> None:
    dg = sub.add_parser(
        "diagnose",
        help="measure whether a checkpoint's decoder draws the pose (PCI) and the appearance (ACI) it is given",
        description="Decode seeded held-out tuples (Is, It, F' of one static-camera clip) with It's true pose B "
        "and with another frame's pose B', over It's clean background, and compare both with It in "
        "the true person region: PCI = 1 - e(B)/e(B') is 0 for a decoder that ignores the pose and 1 "
        "for one that draws exactly the true person. Two modes: teacher-forced (true 2D poses) and EP "
        "(the pose encoder's own 2D). Also the decoder mask's IoU with the true mask and EP's 2D PCK "
        "on the decoded image. On a role with two or more subjects (e.g. h36m-test) also the appearance-"
        "conditioning index ACI = 1 - e(B)/e_X(B), X's appearance code from another subject: 0 for a decoder "
        "that ignores the appearance code. Needs a store whose backgrounds are the clean empty scene "
        "(background_estimate = clean). Definitions: docs/model.md.",
        epilog="Examples:\n"
        "  kspbench diagnose --checkpoint runs/unsup/s0/checkpoint.pt --store data/world.h5\n"
        "  kspbench diagnose --checkpoint runs/unsup/s0/checkpoint.pt --out diag.json --figure diag.png\n"
        "  kspbench diagnose --checkpoint runs/unsup/s0/checkpoint.pt --role h36m-test   # with ACI",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dg.add_argument("--checkpoint", required=True, help="a checkpoint written by `kspbench train`")
    dg.add_argument(
        "--store", default=DEFAULT_STORE, help=f"pose store with clean backgrounds (default: {DEFAULT_STORE})"
    )
    dg.add_argument(
        "--role", default="h36m-val", help="role the tuples come from (default: h36m-val, a subject never trained on)"
    )
    dg.add_argument("--tuples", type=int, default=256, help="number of tuples (default: 256)")
    dg.add_argument("--seed", type=int, default=0, help="seed of the tuples and the bootstrap (default: 0)")
    dg.add_argument("--out", help="write the report as JSON here")
    dg.add_argument("--figure", help="write a PNG of a few tuples here")
    dg.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    dg.add_argument("--threads", type=int, help="torch CPU threads (default: the training run's)")
    dg.add_argument(
        "--allow-median-background",
        action="store_true",
        help="measure on a store whose backgrounds are not clean (a warning goes into the report)",
    )
    dg.set_defaults(func=_diagnose)


def _diagnose(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.cli.train import _check_device
    from kspbench.model.diagnose import diagnose, summary_lines, write_report
    from kspbench.reporting.figures import plot_diagnosis

    if args.tuples < 1:
        raise UserError(f"--tuples must be at least 1, got {args.tuples}")
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    _check_device(args.device)
    if not Path(args.checkpoint).is_file():
        raise UserError(f"{args.checkpoint}: no such checkpoint; train one with `kspbench train`")
    if not Path(args.store).is_file():
        raise UserError(f"{args.store}: no such store; pass --store, or build one with `kspbench world build`")
    from kspbench.data.store import check_store
    from kspbench.infra.atomic import check_output, refuse_inputs

    for option, out in (("--out", args.out), ("--figure", args.figure)):
        if out:
            check_output(out, option=option)
            refuse_inputs([out], [args.checkpoint, args.store], option=option)
    check_store(args.store)
    report, examples = diagnose(
        args.checkpoint,
        args.store,
        role=args.role,
        n_tuples=args.tuples,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        allow_median_background=args.allow_median_background,
        examples=6 if args.figure else 0,
    )
    for line in summary_lines(report):
        print(line)
    if args.out:
        print(f"wrote {write_report(report, args.out)}")
    if args.figure:
        print(f"wrote {plot_diagnosis(report, examples, args.figure)}")
    return 0
