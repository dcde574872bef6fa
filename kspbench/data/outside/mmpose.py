"""MMPose-style per-image 3D results: a JSON list of records, each naming a Human3.6M image and its keypoints.

Layout read (the image names of MMPose's ``tools/dataset_converters/preprocess_h36m.py`` and its
``Body3DH36MDataset``)::

    [{"image_name": "S9_Directions_1.54138969_000001.jpg", "keypoints_3d": [[x, y, z], ... 17 joints]}, ...]

* The image is named by ``image_name``, ``img_path``, ``image_path``, ``imgname`` or ``target_image_path`` (a path:
  only its file name counts), or by ``target_id``, an index into the ``imgname`` array of MMPose's annotation file
  (``h36m_test.npz``, ``--annotations``), which is what MMPose 0.x writes into ``result_keypoints.json``.
* The keypoints are ``keypoints_3d`` or ``keypoints``: (17, 3), or (17, 4) with a score or visibility column (dropped),
  or (1, 17, 3|4) for one person; a list, or json_tricks' ``{"__ndarray__": [...], ...}``. Camera frame,
  Human3.6M-17 order, metres (MMPose's) or millimetres: detected from bone lengths or given (``--units``), checked
  either way.
* A file name is ``<subject>_<action>[_<take>].<camera>_<frame>.jpg``: the action is the release's spelling with
  ``_`` for the space (``TakingPhoto_1``, ``WalkingDog``), renamed as the store names sequences (``Photo 1``,
  ``WalkDog``); ``<frame>`` is 1-based (``000001`` is the first frame of the video), so frame = number - 1.
* MMPose's default preprocessing keeps every 5th frame (``--sample-rate 5``, the ``fps10`` folder): numbers 1, 6,
  11, ... are frames 0, 5, 10, ...; the reader reports the stride and ``kspbench import-predictions`` prints the
  ``kspbench eval --stride`` that scores them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from kspbench.core import skeleton
from kspbench.data.formats.mmpose_npz import split_h36m_name
from kspbench.data.outside.common import Imported, OutsideError, assemble, sequence_name, stride_hint

NAME_KEYS = ("image_name", "img_path", "image_path", "imgname", "target_image_path")
POSE_KEYS = ("keypoints_3d", "keypoints")


def parse_image_name(name: str, where: str) -> tuple[str, str, str, int]:
    """``.../S9_TakingPhoto_1.54138969_000006.jpg`` -> ("S9", "Photo 1", "54138969", 5): 0-based frame.

    Raises:
        OutsideError: a name not in MMPose's Human3.6M layout, or frame number 0 (the numbers are 1-based).
    """
    parts = split_h36m_name(str(name))  # the importer's grammar of MMPose's Human3.6M image names
    base = re.split(r"[\\/]", str(name))[-1]
    if parts is None:
        raise OutsideError(
            f"{where}: image name {base!r} is not MMPose's Human3.6M layout "
            "'<subject>_<action>[_<take>].<camera>_<frame>.jpg', e.g. "
            "S9_Directions_1.54138969_000001.jpg"
        )
    subject, stem, camera, number = parts
    if number < 1:
        raise OutsideError(f"{where}: image {base!r} has frame number 0, but MMPose numbers frames from 1")
    # An action outside the 15 is kept as written (sequence_name), not refused as the importer does.
    return subject, sequence_name(stem.replace("_", " ")), camera, number - 1


def _annotation_names(path: str | os.PathLike) -> np.ndarray:
    """The ``imgname`` array of an MMPose annotation npz (a plain string array: no pickle is read)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "imgname" not in npz.files:
                raise OutsideError(
                    f"{path}: no key 'imgname' (keys: {', '.join(npz.files)}); pass MMPose's h36m_test.npz"
                )
            return np.asarray(npz["imgname"]).astype(str)
    except (OSError, ValueError, EOFError) as err:
        raise OutsideError(f"{path}: not a readable MMPose annotation npz ({type(err).__name__})") from None


def _keypoints(record: dict, where: str) -> np.ndarray:
    key = next((k for k in POSE_KEYS if k in record), None)
    if key is None:
        raise OutsideError(f"{where}: no keypoints ({' or '.join(POSE_KEYS)}) in the record")
    raw = record[key]
    if isinstance(raw, dict) and "__ndarray__" in raw:  # json_tricks' encoding of a numpy array (MMPose dumps)
        raw = raw["__ndarray__"]
    try:
        kp = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise OutsideError(f"{where}: {key} is not an array of numbers") from None
    if kp.ndim == 3 and kp.shape[0] == 1:
        kp = kp[0]
    if kp.ndim != 2 or kp.shape[0] != skeleton.NUM_JOINTS or kp.shape[1] not in (3, 4):
        raise OutsideError(f"{where}: {key} must be (17, 3) or (17, 4) for one person, got {kp.shape}")
    return kp[:, :3]


def read_mmpose(
    path: str | os.PathLike,
    *,
    annotations: str | os.PathLike | None = None,
    units: str = "auto",
    joint_order: str = "h36m",
) -> Imported:
    """Read MMPose-style per-image results (module docstring).

    Raises:
        OutsideError: not JSON, not a list of records, an image name or keypoints array not in the layout, a
            ``target_id`` without ``annotations``, units that contradict ``units``.
    """
    path = Path(path)
    try:
        records: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise OutsideError(f"{path}: not a readable JSON file ({type(err).__name__})") from None
    if not isinstance(records, list) or not records:
        raise OutsideError(f"{path}: expected a non-empty JSON list of per-image records")
    names = _annotation_names(annotations) if annotations is not None else None
    tracks: dict[tuple[str, str, str], tuple[list[int], list[np.ndarray]]] = {}
    for i, rec in enumerate(records):
        where = f"{path} [record {i}]"
        if not isinstance(rec, dict):
            raise OutsideError(f"{where}: a record must be a JSON object")
        name_key = next((k for k in NAME_KEYS if k in rec), None)
        if name_key is not None:
            image = str(rec[name_key])
        elif "target_id" in rec:
            if names is None:
                raise OutsideError(
                    f"{where}: the records name images by target_id: pass --annotations with "
                    "MMPose's annotation file (h36m_test.npz) to look the names up"
                )
            tid = rec["target_id"]
            if not isinstance(tid, int) or not 0 <= tid < names.size:
                raise OutsideError(
                    f"{where}: target_id {tid!r} is not an index into {annotations} ({names.size} images)"
                )
            image = names[tid]
        else:
            raise OutsideError(f"{where}: no image name ({', '.join(NAME_KEYS)}) and no target_id")
        subject, sequence, camera, frame = parse_image_name(image, where)
        frames, poses = tracks.setdefault((subject, sequence, camera), ([], []))
        frames.append(frame)
        poses.append(_keypoints(rec, where))
    keys = sorted(tracks)
    preds, found = assemble(
        [np.stack(tracks[k][1]) for k in keys],
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [np.asarray(tracks[k][0]) for k in keys],
        units=units,
        joint_order=joint_order,
        where=str(path),
    )
    notes = ["frame numbers in the image names are 1-based: stored 0-based (number - 1)"]
    hint = stride_hint(preds)
    if hint:
        notes.append(hint)
    return Imported(preds, found, notes)
