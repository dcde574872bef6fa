"""``kspbench train`` and ``kspbench predict``: train a model card, and write a checkpoint's predictions."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from kspbench.infra.progress import QUIET_HELP

if TYPE_CHECKING:
    from kspbench.model.cards import Card

DEFAULT_STORE = "data/world.h5"


def register(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser(
        "train",
        help="train a model card (models/*.yaml)",
        description="Train the KSP model as a card says (losses, data roles, schedule, seed), with one optimiser per "
        "loss in alternating iterations. Writes OUT/checkpoint.pt (atomically, every checkpoint_every "
        "steps and at the end), OUT/log.csv (every loss of every step), OUT/val.csv (validation errors, "
        "when the card names a val role), OUT/run.json and OUT/summary.json. The same card, seed, "
        "profile and store give bit-identical checkpoints and logs on CPU; --resume continues an "
        "interrupted run bit-identically.",
        epilog="Examples:\n"
        "  kspbench train --card models/unsup.yaml --store data/world.h5 --out runs/unsup\n"
        "  kspbench train --card models/weakly.yaml --out runs/weakly      # starts from runs/unsup\n"
        "  kspbench train --card models/unsup.yaml --out runs/unsup --resume\n"
        "  kspbench train --card models/unsup.yaml --out runs/unsup-smoke --profile smoke\n"
        "  kspbench train --card unsup --seeds 2 --out runs/unsup    # runs/unsup/s0, runs/unsup/s1\n"
        "  torchrun --nproc_per_node=4 -m kspbench.cli train --card unsup --profile paper --device cuda "
        "--out runs/unsup   # data-parallel (README, 'Scale-out')",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tr.add_argument("--card", required=True, help="model card: a YAML path or a name in models/ (e.g. unsup)")
    tr.add_argument("--store", default=DEFAULT_STORE, help=f"pose store to train on (default: {DEFAULT_STORE})")
    tr.add_argument("--out", required=True, help="run folder (checkpoint, logs)")
    tr.add_argument("--profile", help="model profile: tiny, smoke, cpu, paper, or a YAML path (default: the card's)")
    tr.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default: cpu)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tr.add_argument("--seed", type=int, help="override the card's seed (recorded in the run; for seed studies)")
    tr.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="train N seeds (the card's seed, +1, ...) one after another into OUT/s<seed>/; a card with "
        "init_from starts seed k from OUT/../<init_from>/s<k>/ (the pipeline's layout)",
    )
    tr.add_argument("--threads", type=int, help="torch CPU threads (default: the profile's; on --resume the run's)")
    tr.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="J",
        help="with --seeds: train up to J seeds at once, one process each, the threads (--threads or the "
        "profile's) split between them (at least 1 each); each seed's checkpoint is byte-identical to a run of "
        "that seed alone with that thread count (default: 1, one seed after another)",
    )
    tr.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the networks (opt-in: minutes of compilation per run, not bit-identical to the "
        "default eager mode; falls back to eager with one warning line where compiling fails)",
    )
    tr.add_argument(
        "--amp",
        choices=("off", "bf16"),
        default="off",
        help="mixed precision for the forward passes (bf16 autocast; losses and optimiser in float32); "
        "for --device cuda (default: off)",
    )
    init = tr.add_argument_group("initialisation")
    init.add_argument(
        "--init-checkpoint",
        help="finished checkpoint of the card's init_from run (default: OUT/../<init_from>/checkpoint.pt)",
    )
    init.add_argument(
        "--after",
        metavar="PATH",
        help="the pipeline's dependency for this run (params.yaml cards.<card>.after, which DVC cannot "
        "derive from the card): refuse to train unless it is the run init_from starts from "
        "(OUT/../<init_from>) or, for a card trained from scratch, the card file",
    )
    init.add_argument(
        "--init-weights",
        help="a torchvision ResNet-50 state dict (resnet50-*.pth) for EP's trunk; "
        "shapes are checked strictly (use --profile paper for full width)",
    )
    tr.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    tr.set_defaults(func=_train)

    pr = sub.add_parser(
        "predict",
        help="write a checkpoint's 3D predictions for a role",
        description="Predict every (subject, sequence, camera, frame) with an image in the role's sequences and write "
        "the predictions format (README, 'Predictions format'): camera-frame, root-centred poses in mm, "
        "scaled by the fixed trunk length skeleton.TRUNK_MM (recorded in the file), with the card, seed "
        "and checkpoint sha256 as attributes.",
        epilog="Examples:\n"
        "  kspbench predict --checkpoint runs/unsup/checkpoint.pt --store data/world.h5 --role h36m-test "
        "--out preds.h5\n"
        "  kspbench predict --checkpoint runs/unsup/checkpoint.pt --role 3dhp-test --out preds_3dhp.h5\n"
        "  kspbench predict --run runs/unsup --role h36m-test,3dhp-test --out predictions/unsup",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = pr.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a checkpoint written by `kspbench train`")
    src.add_argument(
        "--run",
        help="a multi-seed run folder (`kspbench train --seeds`): predict every "
        "RUN/s<seed>/checkpoint.pt into OUT/s<seed>/<role>.h5",
    )
    pr.add_argument(
        "--store", default=DEFAULT_STORE, help=f"pose store with the role's images (default: {DEFAULT_STORE})"
    )
    pr.add_argument(
        "--role", default="h36m-test", help="role to predict (default: h36m-test); with --run, a comma-separated list"
    )
    pr.add_argument("--out", required=True, help="predictions file to write (.h5 or .npz); with --run, a folder")
    pr.add_argument("--batch", type=int, default=64, help="images per forward pass (default: 64)")
    pr.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    pr.add_argument("--threads", type=int, help="torch CPU threads (default: the training run's)")
    pr.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    pr.set_defaults(func=_predict)


def _check_device(device: str) -> None:
    from kspbench.cli import UserError

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available to this torch build")


def _check_after(after: str, card: "Card", out: Path) -> None:
    """The DVC stage waits for ``after``; the run reads ``OUT/../<init_from>``: a stale params.yaml (an edited
    init_from) would let DVC train before, or without retraining after, the run this one starts from."""
    from kspbench.cli import UserError

    init = card.init_from
    if init is not None and Path(after).resolve() == (out.parent / init).resolve():
        return
    if init is None and Path(after).suffix in (".yaml", ".yml") and Path(after).stem == card.name:
        return
    want = (
        f"starts from {init!r}, so it must wait for {out.parent / init}"
        if init is not None
        else "trains from scratch, so it waits for its card file only"
    )
    raise UserError(
        f"--after {after}: card {card.name} {want}; make params.yaml cards.{card.name}.after "
        "follow the card's init_from"
    )


def _train(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.model.cards import load_card
    from kspbench.model.profiles import load_profile
    from kspbench.model.resnet import WeightsError
    from kspbench.model.train import CHECKPOINT_NAME, Trainer, TrainingError

    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    _check_device(args.device)
    card = load_card(args.card)
    profile = load_profile(args.profile or card.profile)
    if args.after is not None:
        _check_after(args.after, card, Path(args.out))
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.seeds is not None and (args.seeds < 1 or args.seed is not None):
        raise UserError("--seeds takes a count of at least 1 and does not combine with --seed")
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if not Path(args.store).is_file():
        raise UserError(f"{args.store}: no such store; pass --store, or build one with `kspbench world build`")
    from kspbench.data.store import check_store
    from kspbench.infra.atomic import refuse_inputs

    refuse_inputs([args.out], [args.store, args.card, args.init_checkpoint, args.init_weights])
    check_store(args.store)
    base_seed = args.seed if args.seed is not None else card.seed
    if args.seeds is None:
        runs = [(base_seed, Path(args.out), Path(args.out).parent / str(card.init_from) / CHECKPOINT_NAME)]
    else:
        runs = [
            (
                base_seed + k,
                Path(args.out) / f"s{base_seed + k}",
                Path(args.out).parent / str(card.init_from) / f"s{base_seed + k}" / CHECKPOINT_NAME,
            )
            for k in range(args.seeds)
        ]
    if card.init_from is None and args.init_checkpoint:
        raise UserError(f"card {card.name} has no init_from; --init-checkpoint does not apply")
    if args.init_checkpoint and len(runs) > 1:
        raise UserError("--init-checkpoint names one checkpoint; with --seeds the init runs are found by layout")
    from kspbench.model import distributed as DIST

    ctx = DIST.context_from_env(args.device)
    inits = []
    for _seed, _out, default_init in runs:
        init_ckpt = None
        if card.init_from is not None:
            init_ckpt = Path(args.init_checkpoint) if args.init_checkpoint else default_init
            if not init_ckpt.is_file():
                raise UserError(
                    f"card {card.name} starts from card {card.init_from!r}, but {init_ckpt} does "
                    f"not exist; train {card.init_from} first or pass --init-checkpoint"
                )
        inits.append(init_ckpt)
    if args.jobs > 1 and len(runs) > 1:
        if ctx.enabled:
            raise UserError("--jobs runs seeds as separate processes; it does not combine with torchrun")
        from kspbench.cli.seed_jobs import run_seed_jobs

        threads = max(1, (args.threads or profile.threads) // min(args.jobs, len(runs)))
        jobs = [(seed, out, init) for (seed, out, _), init in zip(runs, inits)]
        return run_seed_jobs(args, jobs, threads)
    for (seed, out, _), init_ckpt in zip(runs, inits):
        seeded = dataclasses.replace(card, seed=seed)
        try:
            trainer = Trainer(
                seeded,
                args.store,
                out,
                profile=profile,
                device=args.device,
                threads=args.threads,
                init_checkpoint=init_ckpt,
                init_weights=args.init_weights,
                dist=ctx,
                amp=args.amp,
                compile=args.compile,
            )
            summary = trainer.run(resume=args.resume, progress=not args.quiet)
        except (TrainingError, WeightsError, DIST.DistributedError):
            DIST.shutdown(ctx)  # leave the process group before main prints the one line
            raise
        if not ctx.is_main:
            continue
        rate = summary.get("samples_per_second")
        print(
            f"{card.name} seed {seed}: step {summary['steps']} of {summary['total_steps']} ({profile.name} "
            f"profile{'' if rate is None else f', {rate:.1f} samples/s'}"
            f"{f', {ctx.world_size} processes' if ctx.enabled else ''}); wrote {out / CHECKPOINT_NAME}"
        )
    DIST.shutdown(ctx)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError, comma_list
    from kspbench.model.predict import predict_roles

    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    _check_device(args.device)
    if not Path(args.store).is_file():
        raise UserError(f"{args.store}: no such store; pass --store, or build one with `kspbench world build`")
    jobs = []
    if args.checkpoint:
        jobs.append((Path(args.checkpoint), args.role, Path(args.out)))
    else:
        run = Path(args.run)
        seeds = sorted((p for p in run.glob("s*") if (p / "checkpoint.pt").is_file()), key=lambda p: p.name)
        if not seeds:
            raise UserError(
                f"{run}: no s<seed>/checkpoint.pt inside; train with `kspbench train --seeds N --out {run}`"
            )
        roles = comma_list(args.role)
        jobs += [(s / "checkpoint.pt", role, Path(args.out) / s.name / f"{role}.h5") for s in seeds for role in roles]
    from kspbench.data.store import check_store
    from kspbench.infra.atomic import check_output, refuse_inputs

    for ckpt, _, out in jobs:
        check_output(out)
        refuse_inputs([out], [args.store, ckpt])
    check_store(args.store)
    by_checkpoint: dict[Path, list[tuple[str, Path]]] = {}
    for ckpt, role, out in jobs:
        by_checkpoint.setdefault(ckpt, []).append((role, out))
    for ckpt, targets in by_checkpoint.items():
        infos = predict_roles(
            ckpt,
            args.store,
            targets,
            batch=args.batch,
            device=args.device,
            threads=args.threads,
            progress=not args.quiet,
        )
        for (role, _), info in zip(targets, infos):
            print(f"wrote {info['rows']} predictions ({info['sequences']} sequences of role {role}) to {info['out']}")
    return 0
