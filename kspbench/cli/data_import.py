"""``kspbench data import {h36m,3dhp,frames,videopose3d,mmpose-h36m,mmpose-3dhp}``, ``kspbench data export
videopose3d``.

Wire into ``kspbench.cli.data.register`` with ``register_import(dsub)`` and ``register_export(dsub)``, where ``dsub``
is the ``data`` sub-parsers object. Heavy imports (h5py, spacepy, Pillow, scipy) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from kspbench.cli import comma_list

_FMT = argparse.RawDescriptionHelpFormatter
_MAX_NOTES = 10

_DESC_IMPORT = (
    "Convert a dataset's original files into a kspbench pose store (HDF5, layout v1: millimetres, pixels, "
    "Human3.6M-17 joints). See docs/real-data.md."
)
_DESC_H36M = (
    "Import Human3.6M from ROOT/S*/MyPoseFeatures/{D3_Positions,D3_Positions_mono,D2_Positions}/*.cdf "
    "(variable Pose, (1, N, 96) mm or (1, N, 64) px), with the published cameras. Roles: S1, S5-S8 "
    "h36m-train; S9, S11 h36m-test; others h36m-other. 50 fps. "
)
_DESC_3DHP = (
    "Import MPI-INF-3DHP: test set ROOT/mpi_inf_3dhp_test_set/TS1..TS6/annot_data.mat (MATLAB v7.3) as "
    "role 3dhp-test, training set ROOT/S1..S8/Seq1..2/annot.mat + camera.calibration as role 3dhp-train. "
    "Joints are stored in the Human3.6M-17 order. "
)
_DESC_FRAMES = (
    "Import unlabelled clips: ROOT/<clip>/*.jpg|png (sorted by frame number or name). Each frame is cut "
    "to its largest centred square and resized to --size; poses are NaN and every frame is invalid for "
    "evaluation; the camera is unknown (NaN focal/center). "
)
_DESC_VP3D = (
    "Import VideoPose3D's preprocessed Human3.6M (positions_3d: subject -> action -> (N, 32, 3) world "
    "metres), with the published cameras; pose_2d from --npz-2d or projected. These files hold pickles; "
    "kspbench reads them with a restricted unpickler (arrays, dicts, lists, strings, numbers) and refuses "
    "a file whose pickles reference anything else, so nothing in it runs. "
)
_DESC_MMPOSE = (
    "Import MMPose's preprocessed {what}: annotation npz files (imgname, center, scale, part px, S metres "
    "in the camera frame) written by tools/dataset_converters/{script}, with its cameras pickle(s), read "
    "with a restricted unpickler. Sequences, cameras and frames come from the image names ({names}); the "
    "frame rate from their spacing (fps50: every frame, fps10: every 5th). Checks: S projected with the "
    "file's camera must reproduce part (refused above 2 px mean or 20 px worst){extra}. "
)
_DESC_EXPORT_VP3D = (
    "Write a predictions file as an npz with positions_3d: subject -> sequence -> list of per-camera "
    "(N, 17, 3) float32 arrays in metres (camera frame, Human3.6M-17 order; cameras in the order "
    "54138969, 55011271, 58860488, 60457274; missing frames NaN). The npz is pickled (VideoPose3D's "
    "convention): read it with np.load(..., allow_pickle=True)."
)
_RESUME = (
    "Writes OUT.partial and renames it to OUT when complete and valid. An interrupted run resumes from "
    "OUT.partial; re-running on an existing OUT skips the sequences it holds and adds the others (same "
    "options required); --force starts over."
)


def _common(p: argparse.ArgumentParser, *, out_default: str | None = None) -> None:
    p.add_argument(
        "--out",
        required=out_default is None,
        default=out_default,
        metavar="OUT.h5",
        help="store to write (HDF5, layout v1)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="discard OUT.partial and the sequences already in OUT; import everything again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="threads decoding images (default: min(8, CPUs))",
    )


def _crop_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--crop-size", type=_positive_int, default=64, metavar="PX", help="side of the stored person crops (default 64)"
    )
    p.add_argument(
        "--box-margin",
        type=_margin,
        default=0.2,
        metavar="M",
        help="oracle box side = (1 + M) x the larger side of the 2D joints' bounding rectangle "
        "(default 0.2, kspbench.core.crops.DEFAULT_MARGIN)",
    )


def _wrap(text: str) -> str:
    """Descriptions keep their line breaks (RawDescriptionHelpFormatter), so wrap them here."""
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _margin(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def register_import(dsub: argparse._SubParsersAction) -> None:
    """Add ``import`` with one sub-command per dataset under the ``data`` sub-parsers ``dsub``."""
    imp = dsub.add_parser(
        "import", help="import a real dataset into a pose store", description=_wrap(_DESC_IMPORT), formatter_class=_FMT
    )
    isub = imp.add_subparsers(title="datasets", metavar="DATASET")
    imp.set_defaults(func=lambda args: (imp.print_help(), 2)[1])

    h = isub.add_parser(
        "h36m",
        help="Human3.6M from the original CDF pose files",
        description=_wrap(_DESC_H36M + _RESUME),
        epilog="Examples:\n  kspbench data import h36m --root /data/h36m --out data/h36m.h5\n"
        "  kspbench data import h36m --root /data/h36m --subjects S9,S11 --frames /data/h36m_frames "
        "--out data/h36m_test.h5\n\nFrames layout: FRAMES/S9/Walking 1.54138969/000001.jpg ... (ffmpeg -i "
        '"Walking 1.54138969.mp4" %06d.jpg). Crops use boxes from the 2D ground truth (an oracle detector).',
        formatter_class=_FMT,
    )
    h.add_argument("--root", required=True, help="Human3.6M root holding S1, S5, ... folders")
    h.add_argument(
        "--subjects",
        type=comma_list,
        default=None,
        metavar="S1,S5,...",
        help="only these subjects (default: every S<number> folder)",
    )
    h.add_argument(
        "--frames",
        default=None,
        metavar="DIR",
        help="extracted video frames (layout below): store person crops and median backgrounds",
    )
    h.add_argument(
        "--drop-defective",
        action="store_true",
        help="leave out S11 'Directions' (damaged video of camera 54138969), as VideoPose3D does",
    )
    _compare_option(h)
    _crop_options(h)
    _common(h)
    h.set_defaults(func=_import_h36m)

    m = isub.add_parser(
        "3dhp",
        help="MPI-INF-3DHP test (annot_data.mat) and training (annot.mat) sets",
        description=_wrap(_DESC_3DHP + _RESUME),
        epilog="Examples:\n  kspbench data import 3dhp --root /data/mpi_inf_3dhp --split test --out data/3dhp_test.h5\n"
        "  kspbench data import 3dhp --root /data/mpi_inf_3dhp --split train --cameras 0,2,8 --images "
        "--out data/3dhp_train.h5",
        formatter_class=_FMT,
    )
    m.add_argument("--root", required=True, help="MPI-INF-3DHP root")
    m.add_argument(
        "--split",
        choices=("all", "test", "train"),
        default="all",
        help="which set to import (default: every set found)",
    )
    m.add_argument(
        "--cameras",
        type=comma_list,
        default=None,
        metavar="0,1,2,...",
        help="training cameras (default 0,1,2,4,5,6,7,8: the chest-height cameras)",
    )
    m.add_argument(
        "--images",
        action="store_true",
        help="store crops and backgrounds from TSk/imageSequence/img_%%06d.jpg (test) and "
        "Sk/Seqj/imageFrames/video_<cam>/frame_%%06d.jpg (training)",
    )
    _crop_options(m)
    _common(m)
    m.set_defaults(func=_import_3dhp)

    f = isub.add_parser(
        "frames",
        help="unlabelled video frames (one folder of images per clip)",
        description=_wrap(_DESC_FRAMES + _RESUME),
        epilog="Example:\n  kspbench data import frames --root /data/dunp_clips --role dunp --out data/dunp.h5",
        formatter_class=_FMT,
    )
    f.add_argument("--root", required=True, help="folder of clip folders")
    f.add_argument("--size", type=_positive_int, default=64, metavar="PX", help="stored frame side (default 64)")
    f.add_argument("--role", default="frames", help="role of every clip (default 'frames'; e.g. 'dunp')")
    f.add_argument("--fps", type=float, default=25.0, help="nominal frame rate recorded with the clips (default 25)")
    _common(f)
    f.set_defaults(func=_import_frames)

    v = isub.add_parser(
        "videopose3d",
        help="Human3.6M from VideoPose3D's data_3d_h36m.npz",
        description=_wrap(_DESC_VP3D + _RESUME),
        epilog="Example:\n  kspbench data import videopose3d --npz data/data_3d_h36m.npz "
        "--npz-2d data/data_2d_h36m_gt.npz --out data/h36m_vp3d.h5",
        formatter_class=_FMT,
    )
    v.add_argument("--npz", required=True, help="data_3d_h36m.npz (pickled; read with a restricted unpickler)")
    v.add_argument(
        "--npz-2d", default=None, help="data_2d_h36m_gt.npz or an H36M-layout detections file (pickled; read safely)"
    )
    v.add_argument("--subjects", type=comma_list, default=None, metavar="S1,S5,...", help="only these subjects")
    _compare_option(v)
    _common(v)
    v.set_defaults(func=_import_vp3d)

    _mmpose_parser(
        isub,
        "mmpose-h36m",
        "Human3.6M from MMPose's h36m_{train,test}.npz and cameras.pkl",
        _DESC_MMPOSE.format(
            what="Human3.6M",
            script="preprocess_h36m.py",
            names="S9_Walking_1.54138969_000001.jpg",
            extra="; each camera of cameras.pkl is compared with kspbench's published "
            "calibration and the differences reported",
        ),
        "kspbench data import mmpose-h36m --npz processed/annotation_body3d/fps10/h36m_train.npz "
        "--npz processed/annotation_body3d/fps10/h36m_test.npz --cameras "
        "processed/annotation_body3d/cameras.pkl --images processed/images --out data/h36m_mmpose.h5",
        subjects=True,
    )
    _mmpose_parser(
        isub,
        "mmpose-3dhp",
        "MPI-INF-3DHP from MMPose's mpi_inf_3dhp_*.npz and cameras_*.pkl",
        _DESC_MMPOSE.format(
            what="MPI-INF-3DHP",
            script="preprocess_mpi_inf_3dhp.py",
            names="S1_Seq1_Cam0_000001.jpg, TS1_000001.jpg",
            extra="",
        ),
        "kspbench data import mmpose-3dhp --npz annotations/mpi_inf_3dhp_train.npz --npz "
        "annotations/mpi_inf_3dhp_test_valid.npz --cameras annotations/cameras_train.pkl --cameras "
        "annotations/cameras_test.pkl --out data/3dhp_mmpose.h5",
        subjects=False,
    )


def _compare_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--compare-cameras",
        action="append",
        dest="camera_files",
        metavar="FILE.pkl",
        help="a Human3.6M cameras file in MMPose's cameras.pkl layout: report how it differs from the "
        "published calibration kspbench uses (read with a restricted unpickler; nothing else "
        "changes)",
    )


def _compared(jobs: list, args: argparse.Namespace) -> list:
    """``jobs`` with the ``--compare-cameras`` report lines added (when the option is given)."""
    if args.camera_files:
        from kspbench.data.formats import mmpose_npz

        mmpose_npz.compare_with_published(jobs, mmpose_npz.read_cameras(args.camera_files))
    return jobs


def _mmpose_parser(
    isub: argparse._SubParsersAction, name: str, help_: str, description: str, example: str, *, subjects: bool
) -> None:
    p = isub.add_parser(
        name,
        help=help_,
        description=_wrap(description + _RESUME),
        epilog="Example:\n  " + example,
        formatter_class=_FMT,
    )
    p.add_argument(
        "--npz",
        required=True,
        action="append",
        metavar="FILE.npz",
        help="an MMPose annotation file (repeat for train and test)",
    )
    p.add_argument(
        "--cameras",
        required=True,
        action="append",
        dest="camera_files",
        metavar="FILE.pkl",
        help="MMPose cameras pickle (repeat for several; read with a restricted unpickler)",
    )
    p.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="MMPose's extracted images folder: store crops and median backgrounds cut with the file's "
        "boxes (center, scale x 200)",
    )
    p.add_argument(
        "--crop-size", type=_positive_int, default=64, metavar="PX", help="side of the stored person crops (default 64)"
    )
    if subjects:
        p.add_argument("--subjects", type=comma_list, default=None, metavar="S1,S5,...", help="only these subjects")
    _common(p)
    p.set_defaults(func=_import_mmpose, mmpose_command=name)


def register_export(dsub: argparse._SubParsersAction) -> None:
    """Add ``export`` with its sub-commands under the ``data`` sub-parsers ``dsub``."""
    exp = dsub.add_parser(
        "export",
        help="write predictions in another project's format",
        description=_wrap("Convert kspbench files into other projects' formats."),
        formatter_class=_FMT,
    )
    esub = exp.add_subparsers(title="formats", metavar="FORMAT")
    exp.set_defaults(func=lambda args: (exp.print_help(), 2)[1])
    v = esub.add_parser(
        "videopose3d",
        help="predictions -> VideoPose3D-style npz",
        description=_wrap(_DESC_EXPORT_VP3D),
        epilog="Example:\n  kspbench data export videopose3d --predictions preds.h5 --out preds_vp3d.npz",
        formatter_class=_FMT,
    )
    v.add_argument("--predictions", required=True, help="predictions file (.h5 or .npz, kspbench format)")
    v.add_argument(
        "--joint-order",
        choices=("h36m", "3dhp"),
        default="h36m",
        help="joint order of the predictions file (default h36m)",
    )
    v.add_argument("--out", required=True, help="npz to write")
    v.set_defaults(func=_export_vp3d)


# --- handlers -------------------------------------------------------------------------------------------------------


def _run(args: argparse.Namespace, dataset: str, scan, source: dict) -> int:
    """Scan, import, report; reader errors become one-line user errors."""
    from kspbench.cli import UserError
    from kspbench.data.importers import run_import
    from kspbench.infra.atomic import check_output, refuse_inputs

    check_output(args.out)
    # Inputs given as files (npz, pickles); folder roots are checked by the importers' own layout.
    inputs = []
    for name in ("npz", "npz_2d", "camera_files"):
        value = getattr(args, name, None)
        inputs += value if isinstance(value, list) else [value]
    refuse_inputs([args.out], inputs)
    try:
        jobs = scan()
        report = run_import(args.out, jobs, dataset=dataset, source=source, force=args.force, progress=not args.quiet)
    except OSError as err:  # e.g. OUT's folder is not writable, disk full
        raise UserError(f"{args.out}: cannot write ({err.strerror or err})") from None
    _print_lines("note", report.notes, args.out)
    _print_lines("check", report.checks, args.out)
    if report.unchanged:
        print(f"{args.out}: unchanged, all {len(report.skipped)} sequence(s) already imported (use --force to redo)")
    else:
        print(f"{args.out}: {len(report.written)} sequence(s) imported, {len(report.skipped)} already present")
    return 0


def _print_lines(kind: str, lines: list[str], out: str) -> None:
    for line in lines[:_MAX_NOTES]:
        print(f"{kind}: {line}")
    if len(lines) > _MAX_NOTES:
        print(
            f"{kind}: ... and {len(lines) - _MAX_NOTES} more (all in the store's 'source' attribute: "
            f"kspbench data info {out} --json)"
        )


def _warn():
    from kspbench.data.importers import warn_to_stderr

    return warn_to_stderr


_ORACLE = (
    "person boxes: kspbench.core.crops.box_from_joints squares around the 2D ground-truth joints (ORACLE detector: "
    "it uses the labels), side (1 + box_margin) x the joints' extent; crops follow the kspbench.core.crops rule "
    "after an integer pre-shrink against aliasing; backgrounds: per-pixel median of <= 50 frames, cut like "
    "the crops"
)


def _import_h36m(args: argparse.Namespace) -> int:
    from kspbench.data.formats import camera_check, h36m_cdf

    facts = [
        "cdf: Pose (1, N, 96) mm / (1, N, 64) px, 32 joints -> 17 (VideoPose3D remove_joints)",
        "cameras: facebookresearch/VideoPose3D common/h36m_dataset.py @1afb1ca (quaternion camera->world, "
        "centre mm) converted to X_cam = R X_world + t",
        "actions: TakingPhoto -> Photo, WalkingDog -> WalkDog; _ALL files skipped",
        f"checks: the 3D poses projected with the published cameras must reproduce D2_Positions (refused above "
        f"{camera_check.MAX_MEAN_PX:g} px mean / {camera_check.MAX_WORST_PX:g} px worst)",
    ]
    if args.frames:
        facts.append(_ORACLE)
    source = {
        "importer": "kspbench data import h36m",
        "inputs": [str(Path(args.root).resolve())],
        "options": {
            "frames": bool(args.frames),
            "crop_size": args.crop_size if args.frames else None,
            "box_margin": args.box_margin if args.frames else None,
            "drop_defective": args.drop_defective,
        },
        "facts": facts,
    }
    return _run(
        args,
        "h36m",
        lambda: _compared(
            h36m_cdf.scan(
                args.root,
                subjects=args.subjects,
                frames_root=args.frames,
                drop_defective=args.drop_defective,
                crop_size=args.crop_size,
                box_margin=args.box_margin,
                workers=args.workers,
                warn=_warn(),
            ),
            args,
        ),
        source,
    )


def _import_3dhp(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.data.formats import camera_check, mpi3dhp_mat

    try:
        cameras = tuple(int(c) for c in args.cameras) if args.cameras else mpi3dhp_mat.DEFAULT_TRAIN_CAMERAS
    except ValueError:
        raise UserError(f"--cameras must be integers 0..13, got {','.join(args.cameras)}") from None
    if not cameras or any(not 0 <= c <= 13 for c in cameras) or len(set(cameras)) != len(cameras):
        raise UserError(f"--cameras must be distinct integers 0..13, got {','.join(map(str, cameras))}")
    facts = [
        "test: annot_data.mat (MATLAB v7.3/HDF5) annot2/annot3/univ_annot3 (N,1,17,d), valid_frame, "
        "activity_annotation; 3DHP test joint order -> H36M-17 (skeleton.MPI3DHP_TO_H36M)",
        "test intrinsics: fx, fy, cx, cy fitted per sequence to annot2/annot3 over the valid frames (linear "
        "least squares, no distortion; the release gives no principal point); refused above "
        f"{camera_check.MAX_MEAN_PX:g} px mean / {camera_check.MAX_WORST_PX:g} px worst reprojection error",
        "train: camera.calibration checked the same way (annot3 reprojected onto annot2)",
        "test fps: TS1-4 25, TS5-6 50 (assumed, not stated by the release)",
        "train: annot.mat (14,1) cells of (n,56)/(n,84), 28 joints -> 17 (MPI3DHP28_TO_17) -> H36M-17; "
        "camera.calibration parsed by keyword; cut to MMPose train_frame_nums; fps from mpii_get_sequence_info",
        "train world_3d: first selected camera's annot3 moved to the world frame with its extrinsics",
    ]
    if args.images:
        facts.append(_ORACLE)
    source = {
        "importer": "kspbench data import 3dhp",
        "inputs": [str(Path(args.root).resolve())],
        "options": {
            "images": args.images,
            "crop_size": args.crop_size if args.images else None,
            "box_margin": args.box_margin if args.images else None,
            "cameras": list(cameras),
        },
        "facts": facts,
    }
    return _run(
        args,
        "mpi-inf-3dhp",
        lambda: mpi3dhp_mat.scan(
            args.root,
            split=args.split,
            cameras=cameras,
            images=args.images,
            crop_size=args.crop_size,
            box_margin=args.box_margin,
            workers=args.workers,
            warn=_warn(),
        ),
        source,
    )


def _import_frames(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.data.formats import frames

    if not args.role or "/" in args.role:
        raise UserError(f"--role must be a non-empty name without '/', got {args.role!r}")
    if not args.fps > 0:
        raise UserError(f"--fps must be positive, got {args.fps}")
    source = {
        "importer": "kspbench data import frames",
        "inputs": [str(Path(args.root).resolve())],
        "options": {"size": args.size, "role": args.role, "fps": args.fps},
        "facts": [
            "unlabelled: no pose; every frame invalid for evaluation (NaN poses, valid False)",
            "frames cut to the largest centred square, resized with Pillow bilinear; kind 'full'",
            frames.UNKNOWN_INTRINSICS_NOTE,
        ],
    }
    return _run(
        args,
        "frames",
        lambda: frames.scan_clips(args.root, size=args.size, role=args.role, fps=args.fps, workers=args.workers),
        source,
    )


def _import_vp3d(args: argparse.Namespace) -> int:
    from kspbench.data.formats import vp3d_npz

    source = {
        "importer": "kspbench data import videopose3d",
        "inputs": [str(Path(p).resolve()) for p in (args.npz, args.npz_2d) if p],
        "options": {"npz_2d": bool(args.npz_2d)},
        "facts": [
            "positions_3d: pickled dict subject -> action -> (N, 32, 3) world metres "
            "(VideoPose3D data/prepare_data_h36m.py); x1000 -> mm; 32 -> 17 joints",
            "cameras: VideoPose3D common/h36m_dataset.py @1afb1ca; camera_3d = R world + t",
            "pose_2d: "
            + (
                "positions_2d of the 2D npz (cameras in VideoPose3D order)"
                if args.npz_2d
                else "projection with the full distortion model"
            ),
        ],
    }
    return _run(
        args,
        "h36m",
        lambda: _compared(vp3d_npz.scan(args.npz, args.npz_2d, subjects=args.subjects, warn=_warn()), args),
        source,
    )


# command -> (flavour in kspbench.data.formats.mmpose_npz, format facts recorded in the store's source)
_MMPOSE = {
    "mmpose-h36m": (
        "H36M",
        [
            "MMPose preprocess_h36m.py: imgname S<k>/<S>_<stem>.<camera>/<S>_<stem>.<camera>_<frame+1>.jpg; "
            "part (M,17,3) px from D2_Positions; S (M,17,4) metres from D3_Positions_mono; fps50 every frame, "
            "fps10 every 5th",
            "cameras.pkl: (subject, camera id) -> R, T camera-to-world (T = camera centre, metres), f, c, k, p, w, h; "
            "compared with kspbench's published calibration (VideoPose3D common/h36m_dataset.py @1afb1ca)",
            "actions: image-name stems with spaces for underscores; TakingPhoto -> Photo, WalkingDog -> WalkDog",
        ],
    ),
    "mmpose-3dhp": (
        "MPI3DHP",
        [
            "MMPose preprocess_mpi_inf_3dhp.py: imgname S<k>_Seq<j>_Cam<c>_<frame+1>.jpg / TS<k>_<frame+1>.jpg; "
            "part and S in the 3DHP 17-joint test order -> H36M-17 (skeleton.MPI3DHP_TO_H36M); S metres",
            "cameras_train.pkl: 'S<k>_Seq<j>_Cam<c>' -> R, T world-to-camera (camera.calibration as written), f, c; "
            "cameras_test.pkl: 'TS<k>' -> f, c fitted by MMPose, no extrinsics",
            "test_valid file: only the valid frames (all stored as valid); a test_all file has no validity flags",
        ],
    ),
}


def _import_mmpose(args: argparse.Namespace) -> int:
    from kspbench.data.formats import camera_check, mmpose_npz

    command = args.mmpose_command
    flavour_name, facts = _MMPOSE[command]
    flavour = getattr(mmpose_npz, flavour_name)
    facts = facts + [
        f"checks: S projected with the cameras file must reproduce part (refused above "
        f"{camera_check.MAX_MEAN_PX:g} px mean / {camera_check.MAX_WORST_PX:g} px worst)"
    ]
    if args.images:
        facts.append(
            "person boxes: MMPose's center and scale x 200 (derived by MMPose from the 2D ground truth: an "
            "ORACLE detector); crops follow the kspbench.core.crops rule; backgrounds: per-pixel median of <= 50 "
            "frames, cut like the crops"
        )
    source = {
        "importer": f"kspbench data import {command}",
        "inputs": [str(Path(p).resolve()) for p in [*args.npz, *args.camera_files, args.images] if p],
        "options": {"images": bool(args.images), "crop_size": args.crop_size if args.images else None},
        "facts": facts,
    }
    return _run(
        args,
        flavour.dataset,
        lambda: mmpose_npz.scan(
            args.npz,
            args.camera_files,
            flavour,
            subjects=getattr(args, "subjects", None),
            images=args.images,
            crop_size=args.crop_size,
            workers=args.workers,
        ),
        source,
    )


def _export_vp3d(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.data.formats import vp3d_npz
    from kspbench.data.predictions import read_predictions
    from kspbench.infra.atomic import check_output, refuse_inputs

    check_output(args.out)
    refuse_inputs([args.out], [args.predictions])
    preds = read_predictions(args.predictions, joint_order=args.joint_order)
    try:
        meta = vp3d_npz.export_predictions(preds, args.out)
    except OSError as err:
        raise UserError(f"{args.out}: cannot write ({err})") from None
    n_seq = sum(len(v) for v in meta["frames_per_camera"].values())
    print(
        f"{args.out}: {len(preds)} predictions, {n_seq} sequence(s), cameras {', '.join(meta['camera_order'])}"
        + (
            f"; {meta['missing_frames_nan']} frame(s) without a prediction left NaN"
            if meta["missing_frames_nan"]
            else ""
        )
    )
    return 0
