"""``kspbench import-predictions {videopose3d,mmpose,csv}``: outside predictions -> the interchange format."""

from __future__ import annotations

import argparse
import textwrap

_FMT = argparse.RawDescriptionHelpFormatter
_DESC = (
    "Convert an outside model's predictions into kspbench's predictions format (README, 'Predictions format'), "
    "with a model block that names its row in every table and leaderboard: --name, and --meta "
    "supervision=...,trainset=...,citation=...,url=... (a comma starts a new field only before one of these "
    "keys, so a citation may hold commas). Units (metres or millimetres) are detected from bone lengths, or "
    "given with --units and checked. Then: kspbench eval --predictions OUT ..."
)
_EPILOG = {
    "videopose3d": "Example:\n  kspbench import-predictions videopose3d vp3d_preds.npz --name VideoPose3D "
    "--meta supervision=Full-3D,trainset=H36M --out preds/vp3d.npz",
    "mmpose": "Examples:\n  kspbench import-predictions mmpose results.json --name 'SimpleBaseline3D (MMPose)' "
    "--out preds/mmpose.npz\n  kspbench import-predictions mmpose result_keypoints.json --annotations "
    "h36m_test.npz --name X --out preds/x.npz",
    "csv": "Example:\n  kspbench import-predictions csv preds.csv --layout long --frame-base 1 --name Mine "
    "--out preds/mine.npz",
}


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


# One paragraph per layout; the full layouts are in the readers' docstrings (kspbench/data/outside/) and the README.
_LAYOUT = {
    "videopose3d": "Layout: an npz whose key (--key, default positions_3d) holds a pickled dict subject -> action "
    "-> [one (N, 17, 3) array per camera], camera frame, Human3.6M-17 order; frame i of an array is "
    "frame i of the sequence; NaN rows are left out. Cameras: --cameras, else the file's "
    "metadata.camera_order, else 54138969,55011271,58860488,60457274. The pickle is read with a "
    "restricted unpickler (arrays, dicts, lists, strings, numbers): nothing in the file runs.",
    "mmpose": "Layout: a JSON list of records {image_name (or img_path, image_path, imgname, target_image_path; or "
    "target_id with --annotations): 'S9_Directions_1.54138969_000001.jpg', keypoints_3d (or keypoints): "
    "(17, 3|4)}. Actions are renamed as the store names them (TakingPhoto_1 -> Photo 1, WalkingDog -> "
    "WalkDog); frame numbers are 1-based (000001 -> frame 0). MMPose keeps every 5th frame by default: "
    "the command prints the `kspbench eval --stride 5` that scores such a file.",
    "csv": "Layouts: wide, a line per frame: subject,sequence,camera,frame,x0,y0,z0,...,x16,y16,z16; long, a line "
    "per joint: subject,sequence,camera,frame,joint,x,y,z (joint 0..16 or a Human3.6M joint name; every "
    "frame needs its 17 joints once). Camera frame, Human3.6M-17 order, frames 0-based unless "
    "--frame-base 1.",
}


def register(sub: argparse._SubParsersAction) -> None:
    from kspbench.data.outside import CSV_LAYOUTS, UNITS, VP3D_KEY

    imp = sub.add_parser(
        "import-predictions",
        help="convert an outside model's predictions (VideoPose3D npz, "
        "MMPose JSON, CSV) into kspbench's predictions format",
        description=_wrap(_DESC),
        formatter_class=_FMT,
    )
    isub = imp.add_subparsers(title="formats", metavar="FORMAT")
    imp.set_defaults(func=lambda args: (imp.print_help(), 2)[1])
    parsers = {}
    for name, what in (
        ("videopose3d", "npz with a pickled dict subject -> action -> [array per camera]"),
        ("mmpose", "JSON list of per-image records"),
        ("csv", "CSV, wide or long layout"),
    ):
        p = isub.add_parser(
            name,
            help=what,
            description=_wrap(_DESC) + "\n\n" + _wrap(_LAYOUT[name]),
            epilog=_EPILOG[name],
            formatter_class=_FMT,
        )
        p.add_argument("input", help="the file to convert")
        p.add_argument("--out", required=True, help="predictions file to write (.npz or .h5, atomically)")
        p.add_argument("--name", required=True, help="the model's name: names its row in tables and leaderboards")
        p.add_argument("--meta", help="supervision=...,trainset=...,citation=...,url=...")
        p.add_argument(
            "--units",
            choices=UNITS,
            default="auto",
            help="units of the file (default: detected from bone lengths; a given unit is checked)",
        )
        p.add_argument(
            "--joint-order",
            choices=("h36m", "3dhp"),
            default="h36m",
            help="joint order of the file (default h36m; 3dhp: MPI-INF-3DHP's test order, reordered)",
        )
        p.set_defaults(func=_import, format=name)
        parsers[name] = p
    parsers["videopose3d"].add_argument(
        "--cameras",
        help="camera id of each per-camera array, comma-separated "
        "(default: the file's metadata.camera_order, else "
        "54138969,55011271,58860488,60457274)",
    )
    parsers["videopose3d"].add_argument("--key", default=VP3D_KEY, help=f"npz key of the dict (default {VP3D_KEY})")
    parsers["mmpose"].add_argument(
        "--annotations", help="MMPose's annotation npz (h36m_test.npz), for records that name images by target_id"
    )
    parsers["csv"].add_argument(
        "--layout",
        choices=CSV_LAYOUTS,
        default="auto",
        help="wide (a line per frame) or long (a line per joint); default: from the header",
    )
    parsers["csv"].add_argument(
        "--frame-base",
        type=int,
        choices=(0, 1),
        default=0,
        help="the number of a sequence's first frame in the file (default 0)",
    )


def _read(args: argparse.Namespace):
    from kspbench.cli import comma_list
    from kspbench.data.outside.csv_poses import read_csv
    from kspbench.data.outside.mmpose import read_mmpose
    from kspbench.data.outside.videopose3d import read_videopose3d

    common = {"units": args.units, "joint_order": args.joint_order}
    if args.format == "videopose3d":
        cams = comma_list(args.cameras) if args.cameras else None
        return read_videopose3d(args.input, key=args.key, cameras=cams, **common)
    if args.format == "mmpose":
        return read_mmpose(args.input, annotations=args.annotations, **common)
    return read_csv(args.input, layout=args.layout, frame_base=args.frame_base, **common)


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kspbench.cli import UserError
    from kspbench.data.identity import model_block
    from kspbench.data.predictions import validate_predictions, write_predictions
    from kspbench.infra.atomic import check_output, refuse_inputs

    out = Path(args.out)
    if out.suffix.lower() not in (".npz", ".h5", ".hdf5"):
        raise UserError(f"--out {out}: a predictions file ends in .npz or .h5")
    if not Path(args.input).is_file():
        raise UserError(f"{args.input}: no such file")
    check_output(out)
    refuse_inputs([out], [args.input, getattr(args, "annotations", None)])
    model = model_block(None, name=args.name, meta=args.meta, where="--name/--meta")
    got = _read(args)
    preds = validate_predictions(
        got.predictions, {"imported_from": args.format, "imported_units": got.units}, model=model, where=str(args.input)
    )
    write_predictions(out, preds)
    subjects = sorted(set(preds.subject.tolist()))
    print(
        f"wrote {out}: {len(preds)} predictions of {model['name']!r}; subjects {', '.join(subjects)}; "
        f"{len(set(zip(preds.subject.tolist(), preds.sequence.tolist())))} sequences; cameras "
        f"{', '.join(sorted(set(preds.camera.tolist())))}; units {got.units}"
        + (" (converted to mm)" if got.units == "m" else "")
    )
    for note in got.notes:
        print(f"note: {note}")
    return 0
