"""Human3.6M original pose files (CDF) -> store sequences.

Layout read (the release's ``Poses_D3_Positions_S*.tgz``, ``Poses_D3_Positions_mono_S*.tgz``,
``Poses_D2_Positions_S*.tgz`` extracted into one ROOT)::

    ROOT/S9/MyPoseFeatures/D3_Positions/Walking 1.cdf               world frame, mm      Pose (1, N, 96)
    ROOT/S9/MyPoseFeatures/D3_Positions_mono/Walking 1.54138969.cdf camera frame, mm     Pose (1, N, 96)
    ROOT/S9/MyPoseFeatures/D2_Positions/Walking 1.54138969.cdf      image, px            Pose (1, N, 64)

``Pose`` holds the 32 joints joint-major (``x0, y0, z0, x1, ...``); the 17 joints kept are
``skeleton.H36M32_TO_17``. Only D3_Positions is required: a missing per-camera file is replaced by the world poses
moved into the camera (published extrinsics) or by their projection (published intrinsics, full distortion model).

Names: a file ``<Action>[ <take>]`` becomes the sequence ``<canonical action>[ <take>]``: the take number is kept as
written (``Eating 2`` stays ``Eating 2``) and an un-numbered take keeps no number (``Directions`` is its own sequence,
next to ``Directions 1``), which are the keys VideoPose3D and its detection files use. The release spells two actions
differently for some subjects: ``TakingPhoto`` -> ``Photo`` and ``WalkingDog`` -> ``WalkDog`` (VideoPose3D
``data/prepare_data_h36m.py`` renames them the same way). Files named ``_ALL*`` (whole-session recordings) are skipped.

Optional frames (``--frames DIR``): ``DIR/<subject>/<file stem>.<camera id>/000001.jpg, ...`` (the video
``S9/Videos/Walking 1.54138969.mp4`` extracted with ``ffmpeg -i "Walking 1.54138969.mp4" "%06d.jpg"``); the folder
may also use the canonical name (``Photo 1.54138969``).

Check: where a take has ``D2_Positions`` files, its 3D camera-frame poses projected with the published intrinsics
(distortion included) must reproduce them (:mod:`kspbench.data.formats.camera_check`: refused above ``MAX_MEAN_PX`` mean
or ``MAX_WORST_PX`` at the worst joint); worst and mean pixel errors go to the job's ``checks`` and each camera group's
attributes. A take without 2D files gets its 2D by that projection, so there is nothing to check.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats import (
    FormatError,
    SequenceJob,
    camera_check,
    check_units,
    h36m_cameras,
    project,
    rigid_fit,
    world_to_camera,
)
from kspbench.data.formats import frames as frames_mod
from kspbench.data.store import CameraData, SequenceData

FPS = 50.0
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
ACTION_ALIASES: dict[str, str] = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
# (subject, sequence) -> what is wrong, in the release itself.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {
    ("S11", "Directions"): "the video of camera 54138969 is damaged in the release; the poses are intact and kept "
    "(VideoPose3D drops the whole take: use --drop-defective to do the same)",
}
# Reported, not corrected: isarandi/PosePile (posepile/ds/h36m/main.py, correct_world_coords) shifts these takes'
# world poses by -200 mm in x because they are "horizontally shifted" relative to the images.
REPORTED_SHIFTS: dict[tuple[str, str], str] = {
    ("S9", name): "ground truth reported horizontally shifted (~200 mm in x) relative to the video by "
    "isarandi/PosePile; kept as released"
    for name in ("SittingDown 1", "Waiting 1", "Greeting")
}
DEFECTIVE_CAMERA = ("S11", "Directions", "54138969")
_STEM = re.compile(r"(?P<action>[A-Za-z]+)(?: (?P<take>\d+))?")
_SUBJECT = re.compile(r"S\d+")


def role_of(subject: str) -> str:
    """``h36m-train`` (S1, S5-S8), ``h36m-test`` (S9, S11) or ``h36m-other``."""
    return "h36m-train" if subject in TRAIN_SUBJECTS else "h36m-test" if subject in TEST_SUBJECTS else "h36m-other"


def canonical_name(stem: str, where: str | os.PathLike = "") -> tuple[str, str]:
    """A release file stem -> ``(action, sequence name)``: ``"TakingPhoto 1"`` -> ``("Photo", "Photo 1")``.

    Raises:
        FormatError: the stem is not ``<Action>[ <take>]`` or the action is not one of the 15.
    """
    m = _STEM.fullmatch(stem)
    action = ACTION_ALIASES.get(m.group("action"), m.group("action")) if m else None
    if action not in skeleton.H36M_ACTIONS:
        known = ", ".join(skeleton.H36M_ACTIONS)
        raise FormatError(
            f"{where or stem}: unknown action in file name {stem!r}; expected '<Action>[ <take>]' "
            f"with Action one of {known} (or TakingPhoto, WalkingDog)"
        )
    take = m.group("take")
    return action, action if take is None else f"{action} {take}"


def read_pose_cdf(path: str | os.PathLike, dim: int, *, shape_only: bool = False) -> np.ndarray | int:
    """The ``Pose`` variable of a release CDF file as ``(N, 32, dim)`` float64 (or just N if ``shape_only``).

    Raises:
        FormatError: unreadable file, no ``Pose``, or a shape other than ``(1, N, 32 * dim)``.
    """
    from spacepy import pycdf

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        cdf = pycdf.CDF(str(path))
    except pycdf.CDFException as err:
        raise FormatError(f"{path}: not a readable CDF file ({err})") from None
    except OSError as err:
        raise FormatError(f"{path}: cannot open ({err})") from None
    with cdf:
        if "Pose" not in cdf:
            raise FormatError(f"{path}: no variable 'Pose' (variables: {', '.join(cdf.keys()) or 'none'})")
        var = cdf["Pose"]
        shape = tuple(var.shape)
        if len(shape) != 3 or shape[0] != 1 or shape[2] != 32 * dim:
            raise FormatError(
                f"{path}: variable 'Pose' has shape {shape}, expected (1, N, {32 * dim}) "
                f"({'3D' if dim == 3 else '2D'} poses of 32 joints)"
            )
        if shape_only:
            return int(shape[1])
        try:
            data = np.asarray(var[...], np.float64)
        except pycdf.CDFException as err:
            raise FormatError(f"{path}: 'Pose' cannot be read: truncated or corrupt CDF file ({err})") from None
    return data[0].reshape(shape[1], 32, dim)


@dataclass
class _Take:
    """Every file of one take of one subject, by role."""

    subject: str
    stem: str  # as spelled by the first file found (D3_Positions first)
    action: str
    name: str
    stems: list[str] = field(default_factory=list)  # every spelling met (folders may differ)
    world: Path | None = None
    mono: dict[str, Path] = field(default_factory=dict)
    d2: dict[str, Path] = field(default_factory=dict)
    frames: dict[str, Path] = field(default_factory=dict)
    n: int = 0


def _subjects(root: Path, subjects: list[str] | None) -> list[Path]:
    if not root.is_dir():
        raise FormatError(f"{root}: no such folder (expected the Human3.6M root holding S1, S5, ... folders)")
    found = {p.name: p for p in root.iterdir() if p.is_dir() and _SUBJECT.fullmatch(p.name)}
    if not found:
        raise FormatError(
            f"{root}: no subject folders (S1, S5, ...); expected {root}/S1/MyPoseFeatures/D3_Positions/Directions 1.cdf"
        )
    if subjects:
        missing = [s for s in subjects if s not in found]
        if missing:
            raise FormatError(
                f"{root}: subject folder(s) {', '.join(missing)} not found (found: "
                f"{', '.join(sorted(found, key=lambda s: int(s[1:])))})"
            )
        return [found[s] for s in subjects]
    return [found[s] for s in sorted(found, key=lambda s: int(s[1:]))]


def _scan_subject(sdir: Path) -> dict[str, _Take]:
    subject = sdir.name
    feats = sdir / "MyPoseFeatures"
    folders = {k: feats / k for k in ("D3_Positions", "D3_Positions_mono", "D2_Positions")}
    if not any(f.is_dir() for f in folders.values()):
        raise FormatError(
            f"{sdir}: no MyPoseFeatures/D3_Positions folder (extract Poses_D3_Positions_{subject}.tgz here)"
        )
    takes: dict[str, _Take] = {}
    seen: dict[tuple[str, str], tuple[str, Path]] = {}  # (folder + camera, sequence name) -> (stem, file)

    def take(stem: str, path: Path, slot: str) -> _Take | None:
        if stem.startswith("_ALL"):
            return None
        action, name = canonical_name(stem, path)
        other = seen.setdefault((slot, name), (stem, path))
        if other[0] != stem:  # e.g. "WalkDog 1" and "WalkingDog 1" in the same folder
            raise FormatError(
                f"{path}: takes {other[0]!r} and {stem!r} both map to {subject}/{name} ({other[1].name}); keep one"
            )
        t = takes.get(name)
        if t is None:
            t = takes[name] = _Take(subject=subject, stem=stem, action=action, name=name)
        t.stems.append(stem)
        return t

    if folders["D3_Positions"].is_dir():
        for p in sorted(folders["D3_Positions"].glob("*.cdf")):
            t = take(p.stem, p, "D3_Positions")
            if t is not None:
                t.world = p
    for key, attr in (("D3_Positions_mono", "mono"), ("D2_Positions", "d2")):
        if not folders[key].is_dir():
            continue
        for p in sorted(folders[key].glob("*.cdf")):
            stem, _, cam = p.stem.rpartition(".")
            if not stem:
                raise FormatError(f"{p}: expected a per-camera file '<Action>[ <take>].<camera id>.cdf'")
            if cam not in h36m_cameras.CAMERA_IDS:
                raise FormatError(
                    f"{p}: unknown camera id {cam!r}; the Human3.6M cameras are {', '.join(h36m_cameras.CAMERA_IDS)}"
                )
            t = take(stem, p, f"{key}.{cam}")
            if t is not None:
                getattr(t, attr)[cam] = p
    if not takes:
        raise FormatError(f"{feats}: no pose files (*.cdf) in D3_Positions, D3_Positions_mono or D2_Positions")
    return takes


def _frame_folder(frames_root: Path, t: _Take, cam: str) -> Path | None:
    for stem in dict.fromkeys((*t.stems, t.name)):
        p = frames_root / t.subject / f"{stem}.{cam}"
        if p.is_dir():
            return p
    return None


def scan(
    root: str | os.PathLike,
    *,
    subjects: list[str] | None = None,
    frames_root: str | os.PathLike | None = None,
    drop_defective: bool = False,
    crop_size: int = 64,
    box_margin: float = frames_mod.BOX_MARGIN,
    workers: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[SequenceJob]:
    """Find every take under ``root`` (cheap: reads CDF headers only) and return one job per sequence.

    Args:
        root: the Human3.6M root (``root/S1/MyPoseFeatures/...``).
        subjects: only these subject folders (default: every ``S<number>`` folder).
        frames_root: optional extracted video frames (module docstring); adds crops and backgrounds.
        drop_defective: leave out the takes of :data:`KNOWN_DEFECTS` (VideoPose3D's choice).
        crop_size, box_margin, workers: crop parameters (see :mod:`kspbench.data.formats.frames`).
        warn: called with one line per problem found while loading (not fatal).
    """
    root = Path(root)
    frames_root = Path(frames_root) if frames_root is not None else None
    if frames_root is not None and not frames_root.is_dir():
        raise FormatError(f"{frames_root}: no such frames folder (expected FRAMES/S9/Walking 1.54138969/000001.jpg)")
    jobs: list[SequenceJob] = []
    for sdir in _subjects(root, subjects):
        subject = sdir.name
        for name, t in sorted(_scan_subject(sdir).items()):
            notes: list[str] = []
            where = f"{subject}/{name}"
            if (subject, name) in KNOWN_DEFECTS:
                if drop_defective:
                    continue
                notes.append(f"{where}: {KNOWN_DEFECTS[(subject, name)]}")
            if (subject, name) in REPORTED_SHIFTS:
                notes.append(f"{where}: {REPORTED_SHIFTS[(subject, name)]}")
            if t.world is None and not t.mono:
                raise FormatError(
                    f"{sdir}/MyPoseFeatures: take {t.stem!r} has 2D files but no 3D file "
                    f"(D3_Positions/{t.stem}.cdf or D3_Positions_mono/{t.stem}.<camera>.cdf)"
                )
            if h36m_cameras.has_extrinsics(subject):
                cams = list(h36m_cameras.CAMERA_IDS) if t.world is not None else sorted(t.mono)
            elif t.world is not None and t.mono:  # extrinsics estimated from the world/camera pairs
                cams = sorted(t.mono)
                notes.append(
                    f"{where}: no published extrinsics for {subject}; estimated per camera by a rigid fit of "
                    "D3_Positions to D3_Positions_mono"
                )
            else:
                raise FormatError(
                    f"{sdir}: no published camera extrinsics for {subject} and take {t.stem!r} lacks "
                    "the D3_Positions + D3_Positions_mono pair to estimate them; leave the subject out "
                    "(--subjects)"
                )
            counts: dict[str, int] = {}
            if t.world is not None:
                counts["D3_Positions"] = read_pose_cdf(t.world, 3, shape_only=True)
            for cam in cams:
                if cam in t.mono:
                    counts[f"D3_Positions_mono.{cam}"] = read_pose_cdf(t.mono[cam], 3, shape_only=True)
                if cam in t.d2:
                    counts[f"D2_Positions.{cam}"] = read_pose_cdf(t.d2[cam], 2, shape_only=True)
                if frames_root is not None:
                    folder = _frame_folder(frames_root, t, cam)
                    if folder is None:
                        if (subject, name, cam) == DEFECTIVE_CAMERA:
                            notes.append(f"{where}: no frames for camera {cam} (damaged video): no crops for it")
                            continue
                        raise FormatError(
                            f"{frames_root}: no frame folder for {subject} {t.stem!r} camera {cam} "
                            f"(expected {frames_root / subject / f'{t.stem}.{cam}'}/000001.jpg); "
                            "extract it or leave the subject out (--subjects)"
                        )
                    t.frames[cam] = folder
                    counts[f"frames.{cam}"] = len(frames_mod.list_images(folder))
            t.n = min(counts.values())
            if t.n == 0:
                raise FormatError(f"{t.world or next(iter(t.mono.values()))}: 'Pose' holds no frame")
            if len(set(counts.values())) > 1:
                notes.append(f"{where}: frame counts differ ({_count_summary(counts)}); truncated to {t.n}")
            checks: list[str] = []
            jobs.append(
                SequenceJob(
                    subject=subject,
                    sequence=name,
                    label=where,
                    notes=notes,
                    checks=checks,
                    load=lambda t=t, cams=cams, checks=checks: load_take(
                        t, cams, crop_size=crop_size, box_margin=box_margin, workers=workers, warn=warn, checks=checks
                    ),
                )
            )
    if not jobs:
        raise FormatError(f"{root}: no Human3.6M take found")
    return jobs


def _count_summary(counts: dict[str, int]) -> str:
    """``{"D2_Positions.54138969": 9, ...}`` -> ``"D3_Positions 7, D2_Positions 9"`` (per camera where they differ)."""
    groups: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        kind, _, cam = key.partition(".")
        groups.setdefault(kind, {})[cam] = value
    parts = []
    for kind, per_cam in groups.items():
        if len(set(per_cam.values())) == 1:
            parts.append(f"{kind} {next(iter(per_cam.values()))}")
        else:
            parts.append(f"{kind} " + "/".join(f"{v} ({c})" for c, v in per_cam.items()))
    return ", ".join(parts)


def _pose17(path: Path, dim: int, n: int) -> np.ndarray:
    return read_pose_cdf(path, dim)[:n, list(skeleton.H36M32_TO_17)]


def load_take(
    t: _Take,
    cams: list[str],
    *,
    crop_size: int = 64,
    box_margin: float = frames_mod.BOX_MARGIN,
    workers: int | None = None,
    warn: Callable[[str], None] | None = None,
    checks: list[str] | None = None,
) -> SequenceData:
    """Read one take's files into a sequence of ``t.n`` frames (see :func:`scan`).

    The reprojection check of the 2D files (module docstring) appends one line to ``checks``.

    Raises:
        FormatError: unreadable or inconsistent files, or 3D poses that do not project onto the 2D files.
    """
    n = t.n
    world = None
    if t.world is not None:
        world = _pose17(t.world, 3, n)
        check_units(world, "mm", t.world)
    cameras: dict[str, CameraData] = {}
    fits: dict[str, camera_check.Reprojection] = {}
    for cam in cams:
        intr = h36m_cameras.intrinsics(cam)
        cam3d = None
        if cam in t.mono:
            cam3d = _pose17(t.mono[cam], 3, n)
            check_units(cam3d, "mm", t.mono[cam])
        if h36m_cameras.has_extrinsics(t.subject):
            rot, trans = h36m_cameras.extrinsics(t.subject, cam)
        else:  # scan() guarantees world + mono here: estimate the rigid transform between them
            rot, trans, rms = rigid_fit(world.reshape(-1, 3), cam3d.reshape(-1, 3))
            if warn is not None:
                warn(
                    f"{t.subject}/{t.name} camera {cam}: extrinsics estimated from D3_Positions vs "
                    f"D3_Positions_mono (rms {rms:.2f} mm)"
                )
        if cam3d is None:
            cam3d = world_to_camera(world, rot, trans)
        attrs: dict[str, str | int | float] = {"intrinsics_source": "published (kspbench/data/formats/h36m_cameras.py)"}
        if cam in t.d2:
            p2d = _pose17(t.d2[cam], 2, n)
            fits[cam] = camera_check.reprojection(cam3d, p2d, intr)
            camera_check.require(
                fits[cam], t.d2[cam], f"the published camera {cam} (check the camera id in the file name)"
            )
            attrs.update(fits[cam].attrs())
        else:
            p2d = project(cam3d, intr)
        data = CameraData(
            camera_id=cam,
            camera_3d=cam3d,
            pose_2d=p2d,
            intrinsics=intr,
            rotation=rot,
            translation=trans,
            valid=np.ones(n, bool),
            attrs=attrs,
        )
        if cam in t.frames:
            paths = frames_mod.list_images(t.frames[cam])[:n]
            data.boxes = frames_mod.boxes_from_2d(p2d, (intr.width, intr.height), margin=box_margin)
            data.images, data.backgrounds = frames_mod.cut_crops(
                paths, data.boxes, crop_size, expected_wh=(intr.width, intr.height), workers=workers
            )
        cameras[cam] = data
    if checks is not None and fits:
        worst = max(fits, key=lambda c: fits[c].worst_px)
        checks.append(
            f"{t.subject}/{t.name}: the 3D poses projected with the published cameras reproduce "
            f"D2_Positions: worst {fits[worst].worst_px:.3g} px (camera {worst}), mean "
            f"{np.mean([f.mean_px for f in fits.values()]):.3g} px over {len(fits)} camera(s), {n} frames"
        )
    return SequenceData(
        subject=t.subject,
        sequence=t.name,
        action=t.action,
        role=role_of(t.subject),
        fps=FPS,
        cameras=cameras,
        world_3d=world,
    )
