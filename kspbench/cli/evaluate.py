"""``kspbench eval`` and ``kspbench protocols``: score a predictions file under a protocol."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_STORE = "data/world.h5"


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "eval",
        help="score a predictions file under a protocol",
        description="Match a predictions file (README, 'Predictions format') to the store's ground truth, compute "
        "the protocol's metrics, print them, and write a result JSON (+ per-frame errors; 3DHP "
        "protocols also write the official tool's sequence-wise and activity-wise CSV tables).",
        epilog="Examples:\n"
        "  kspbench eval --protocol h36m-p2 --predictions preds.h5 --store h36m.h5 --out results/p2.json\n"
        "  kspbench eval --protocol h36m-p2 --predictions preds.h5 --cameras 60457274 --stride 5\n"
        "  kspbench eval --protocol 3dhp --predictions preds_3dhp.npz --joint-order 3dhp --store 3dhp.h5\n"
        "  kspbench eval --protocol h36m-p1,h36m-p2 --predictions mine.npz --store h36m.h5 --out results/mine\n"
        "  kspbench eval --protocol h36m-p1,h36m-p2 --predictions predictions/unsup --role h36m-test "
        "--out results/unsup\n"
        "  kspbench eval --protocol h36m-p2,3dhp --predictions predictions/unsup --role h36m-test,3dhp-test "
        "--out results/unsup",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "--protocol",
        required=True,
        help="protocol name (see `kspbench protocols`) or a YAML path, or a comma-separated list (then "
        "--out is a folder: OUT/<protocol>.json)",
    )
    ev.add_argument(
        "--predictions",
        required=True,
        help="predictions file (.h5 or .npz), or a folder written by `kspbench predict --run` (with "
        "--role): every PRED/[s<seed>/]<role>.h5 is scored into OUT/[s<seed>/]<protocol>.json",
    )
    ev.add_argument(
        "--role",
        help="with a predictions folder: the role whose file to score (e.g. h36m-test); or several, comma-separated "
        "(e.g. h36m-test,3dhp-test): each protocol then scores its own split's role, into OUT/<role>/",
    )
    ev.add_argument("--store", default=DEFAULT_STORE, help=f"ground-truth pose store (default: {DEFAULT_STORE})")
    ev.add_argument("--out", help="result JSON to write (atomically); per-frame errors go beside it")
    ev.add_argument(
        "--joint-order",
        choices=("h36m", "3dhp"),
        default="h36m",
        help="joint order of the predictions file (default: h36m)",
    )
    split = ev.add_argument_group("split overrides (recorded in the result)")
    split.add_argument("--subjects", help="comma-separated subjects, e.g. S9,S11")
    split.add_argument("--cameras", help="comma-separated camera ids, e.g. 60457274")
    split.add_argument("--stride", type=int, help="keep every k-th frame")
    ev.add_argument(
        "--allow-missing",
        action="store_true",
        help="score the frames present when some are missing; the coverage is recorded",
    )
    ev.add_argument(
        "--allow-partial",
        action="store_true",
        help="score a result that misses a subject, camera or action the protocol names; it is labelled "
        "partial, with what it misses, in every table and leaderboard",
    )
    who = ev.add_argument_group(
        "model block (names the row in tables and leaderboards; see `kspbench import-predictions`)"
    )
    who.add_argument(
        "--name",
        help="the model's name (required with --out for predictions that carry none and are "
        "neither a card's nor a baseline's)",
    )
    who.add_argument("--meta", help="supervision=...,trainset=...,citation=...,url=... (added to the model block)")
    ev.set_defaults(func=_eval)

    pr = sub.add_parser(
        "protocols",
        help="list the evaluation protocols",
        description="List the protocol definitions in protocols/ with their versions.",
    )
    pr.set_defaults(func=_protocols)


def _jobs(args: argparse.Namespace) -> list[tuple[str, Path, Path | None]]:
    """(protocol, predictions file, result path) for each evaluation the arguments ask for."""
    from kspbench.cli import UserError, comma_list

    protocols = comma_list(args.protocol)
    if not protocols:
        raise UserError("--protocol: give a protocol name (see `kspbench protocols`)")
    pred = Path(args.predictions)
    if not pred.is_dir():
        if args.role:
            raise UserError("--role applies to a predictions folder only")
        if len(protocols) == 1:
            return [(protocols[0], pred, Path(args.out) if args.out else None)]
        # Several protocols, one file: one result per protocol, named after it, in the --out folder.
        if args.out and Path(args.out).suffix.lower() == ".json":
            raise UserError(f"--out {args.out}: with several protocols --out is a folder (OUT/<protocol>.json)")
        return [(p, pred, Path(args.out) / f"{Path(p).stem}.json" if args.out else None) for p in protocols]
    if not args.role or not args.out:
        raise UserError(f"{pred} is a folder: pass --role (which <role>.h5 to score) and --out (a results folder)")
    roles = comma_list(args.role)
    if len(roles) == 1:
        return _folder_jobs(pred, roles[0], protocols, Path(args.out))
    # Several roles: each protocol scores the role its split names, into OUT/<role>/ (one process for a row's
    # every test role: the pipeline's eval stage).
    from kspbench.errors import ConfigError
    from kspbench.evaluation.protocol import load_protocol

    by_role: dict[str, list[str]] = {r: [] for r in roles}
    for name in protocols:
        try:
            role = load_protocol(name).role
        except ConfigError as err:
            raise UserError(str(err)) from None
        if role not in by_role:
            raise UserError(
                f"--protocol {name} scores role {role!r}, which --role {args.role} does not list; add it, or score "
                "that protocol in a call of its own"
            )
        by_role[role].append(name)
    idle = [r for r, names in by_role.items() if not names]
    if idle:
        raise UserError(f"--role {','.join(idle)}: no protocol of --protocol {args.protocol} scores it; drop it")
    return [job for r, names in by_role.items() for job in _folder_jobs(pred, r, names, Path(args.out) / r)]


def _folder_jobs(pred: Path, role: str, protocols: list[str], out: Path) -> list[tuple[str, Path, Path | None]]:
    """Jobs for ``role``'s file(s) of a predictions folder: PRED/<role>.h5 -> OUT/<protocol>.json, or each
    PRED/s<seed>/<role>.h5 -> OUT/s<seed>/<protocol>.json."""
    from kspbench.cli import UserError

    direct = pred / f"{role}.h5"
    files = (
        [(direct, out)]
        if direct.is_file()
        else [(d / f"{role}.h5", out / d.name) for d in sorted(pred.glob("s*")) if (d / f"{role}.h5").is_file()]
    )
    if not files:
        raise UserError(
            f"{pred}: neither {role}.h5 nor s<seed>/{role}.h5 inside; write them with "
            f"`kspbench predict --run ... --role {role} --out {pred}`"
        )
    return [(p, f, o / f"{Path(p).stem}.json") for f, o in files for p in protocols]


def _eval(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError, comma_list
    from kspbench.data.store import check_store
    from kspbench.evaluation.evaluate import result_outputs
    from kspbench.infra.atomic import check_output, refuse_inputs

    if not Path(args.store).is_file():
        raise UserError(
            f"{args.store}: no such store; pass --store, or build one with `dvc repro` / `kspbench data import`"
        )
    jobs = _jobs(args)
    # Before any work: no output may be an input, and every output must be writable where it is going.
    protocol_files = [p for p in comma_list(args.protocol) if Path(p).is_file()]
    for _, pred, out in jobs:
        if out is not None:
            check_output(out)
            refuse_inputs(result_outputs(out), [pred, args.store, *protocol_files])
    check_store(args.store)
    from kspbench.data.store import PoseStore

    with PoseStore(args.store) as store:  # one index of the store for every protocol
        for protocol, pred, out in jobs:
            _eval_one(args, store, protocol, pred, out)
    return 0


def _eval_one(args: argparse.Namespace, store, protocol_name: str, pred_path: Path, out: Path | None) -> None:
    from tabulate import tabulate

    from kspbench.cli import UserError, comma_list
    from kspbench.data.identity import model_block
    from kspbench.data.predictions import read_predictions
    from kspbench.evaluation.evaluate import SPREAD_METRIC, describe_missing, evaluate, write_result
    from kspbench.evaluation.protocol import load_protocol

    started = time.time()
    protocol = load_protocol(protocol_name)
    if protocol.custom:
        print(
            f"kspbench: warning: {protocol.path} (v{protocol.version}, sha256 {protocol.sha256[:12]}) is not a "
            f"registered protocol definition; scoring it as {protocol.name}",
            file=sys.stderr,
        )
    protocol = protocol.with_overrides(
        subjects=comma_list(args.subjects), cameras=comma_list(args.cameras), frame_stride=args.stride
    )
    preds = read_predictions(pred_path, joint_order=args.joint_order)
    model = model_block(preds.model, name=args.name, meta=args.meta, where=str(pred_path))
    ev = evaluate(protocol, store, preds, allow_missing=args.allow_missing, allow_partial=args.allow_partial)
    if out is not None and model is None and not ({"card", "baseline"} & set(preds.attrs)):
        raise UserError(
            f"{pred_path}: the predictions carry no model name (no model block, card or baseline): "
            "pass --name NAME, which names the result's row in tables and leaderboards"
        )
    if out is not None:
        write_result(
            ev,
            out,
            store_path=args.store,
            predictions_path=pred_path,
            predictions_attrs=preds.attrs,
            started=started,
            model=model,
        )

    names = [m.name for m in protocol.metrics]
    rows = [
        ["overall", ev.coverage["evaluated_frames"]]
        + [f"{ev.metrics[n]:.2f} [{ev.ci95[n][0]:.2f}, {ev.ci95[n][1]:.2f}]" for n in names]
    ]
    for b, groups in ev.per_group.items():
        rows += [[f"{b}: {g}", v["n_frames"]] + [f"{v[n]:.2f}" for n in names] for g, v in groups.items()]
    print(
        f"{protocol.name} v{protocol.version}: {pred_path}"
        + (f" ({model['name']})" if model else "")
        + f" on {args.store}"
        + (f" (overrides: {dict(protocol.overrides)})" if protocol.overrides else "")
    )
    print(tabulate(rows, headers=["group", "frames"] + names))
    if SPREAD_METRIC in ev.metrics:
        print(
            f"spread ratio (prediction / truth shape variation; 0 = one pose for every input): "
            f"{ev.metrics[SPREAD_METRIC]:.3f}"
        )
    cov = ev.coverage
    if cov["evaluated_frames"] < cov["expected_frames"]:
        print(
            f"coverage: {cov['evaluated_frames']} of {cov['expected_frames']} frames "
            f"({100 * cov['fraction']:.1f}%) -- --allow-missing"
        )
    if cov["partial"]:
        print(
            f"partial: {describe_missing(cov['missing'])} of {protocol.name}; labelled partial in every table and "
            "leaderboard"
        )
    overall = "mean over " + protocol.group_by + "s" if protocol.overall == "mean_of_groups" else "pooled over frames"
    print(f"overall: {overall}; [95% block-bootstrap interval, test-sampling only]")
    if out is not None:
        print(f"wrote {out}")


def _protocols(args: argparse.Namespace) -> int:
    from kspbench.evaluation.protocol import all_protocols

    for p in all_protocols():
        print(f"{p.name:10s} v{p.version}  {p.title}")
    return 0
