"""Predictions of a trained KSP checkpoint, in the interchange format (:mod:`kspbench.data.predictions`).

For every (subject, sequence, camera, frame) of a role's sequences that has an image, the model's pose in the crop's
virtual camera ``Rc p3D`` (root-relative, trunk units) is turned into the store camera's frame with the crop
rotation ``R_v`` (from the stored box and intrinsics, :func:`kspbench.model.data.crop_camera_rotation`) and into
millimetres by one fixed trunk length, ``skeleton.TRUNK_MM`` (Human3.6M S1's pelvis -> thorax, 490.56 mm), recorded
in the file's attributes: ``poses_3d = TRUNK_MM * R_v Rc p3D``, pelvis at the origin. No ground truth is read.
Frames whose box is not finite (invalid frames) have all-black crops and ``R_v = I``; they are predicted like any
other so that the file covers every image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kspbench import __version__
from kspbench.core import skeleton
from kspbench.data.predictions import Predictions, write_predictions
from kspbench.data.store import PoseStore
from kspbench.errors import ConfigError
from kspbench.infra.progress import Progress
from kspbench.infra.provenance import file_sha256, provenance
from kspbench.model import data as D
from kspbench.model.cards import Card
from kspbench.model.fold import fold_batchnorm_
from kspbench.model.profiles import ModelProfile
from kspbench.model.train import TrainingError, build_model, deterministic, load_checkpoint, memory_format

__all__ = ["predict", "predict_roles", "load_model"]


def load_model(checkpoint: str | os.PathLike, device: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The checkpoint's model in eval mode (in the device's :func:`~kspbench.model.train.memory_format`), and the
    checkpoint dict."""
    ckpt = load_checkpoint(checkpoint)
    profile = ModelProfile.from_dict(ckpt["profile"])
    try:
        card = Card.from_dict(ckpt["card"])
    except ConfigError as err:
        raise TrainingError(f"{checkpoint}: its card record is not valid ({err})") from None
    model = build_model(card, profile)
    model.load_state_dict(ckpt["model"])
    return model.to(device, memory_format=memory_format(device)).eval(), ckpt


def predict(
    checkpoint: str | os.PathLike,
    store_path: str | os.PathLike,
    role: str,
    out: str | os.PathLike,
    *,
    batch: int = 64,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the predictions of ``checkpoint`` for every image of ``role``'s sequences to ``out`` (.h5 or .npz).

    ``progress`` reports tracks (a sequence seen by one camera) done on stderr
    (:class:`kspbench.infra.progress.Progress`).

    Returns:
        ``{"rows": N, "sequences": k, "out": path}``.

    Raises:
        TrainingError: unreadable checkpoint, or a role with no sequence or no image.
    """
    return predict_roles(
        checkpoint, store_path, [(role, out)], batch=batch, device=device, threads=threads, progress=progress
    )[0]


def predict_roles(
    checkpoint: str | os.PathLike,
    store_path: str | os.PathLike,
    targets: list[tuple[str, str | os.PathLike]],
    *,
    batch: int = 64,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """:func:`predict` for several ``(role, out)`` targets of one checkpoint, which is read and folded once."""
    model, ckpt = load_model(checkpoint, device)
    fold_batchnorm_(model)  # inference only: each BatchNorm becomes part of its convolution
    checkpoint_sha256 = file_sha256(checkpoint)
    with PoseStore(store_path) as store:  # one index of the store for every role
        return [
            _predict_role(model, ckpt, checkpoint_sha256, store, role, out, batch, device, threads, progress)
            for role, out in targets
        ]


def _predict_role(
    model: torch.nn.Module,
    ckpt: dict[str, Any],
    checkpoint_sha256: str,
    store: PoseStore,
    role: str,
    out: str | os.PathLike,
    batch: int,
    device: str,
    threads: int | None,
    progress: bool,
) -> dict[str, Any]:
    size = int(ckpt["profile"]["input_size"])
    rows: dict[str, list] = {k: [] for k in ("poses", "subject", "sequence", "camera", "frame")}
    with deterministic(threads or int(ckpt["threads"]), device):
        infos = store.sequences(role=role)
        if not infos:
            raise TrainingError(
                f"{store.path}: no sequence has role {role!r} (roles here: "
                f"{', '.join(sorted(store.roles())) or 'none'})"
            )
        n_seq = 0
        layout = memory_format(device)
        with Progress(
            f"predict {ckpt['card']['name']} seed {int(ckpt['seed'])} {role}",
            sum(len(info.cameras) for info in infos),
            unit="track",
            enabled=progress,
        ) as bar:
            for info in infos:
                seen = False
                for cam in info.cameras:
                    # One track at a time (D.load_frames would hold the whole role in memory); no label is read.
                    try:
                        crops = D.read_crops(store, info, cam, size)
                    except D.DataError as err:
                        raise TrainingError(str(err)) from None
                    if crops is None:
                        bar.update(1)
                        continue
                    seen = True
                    out_cam = []
                    with torch.no_grad():
                        for start in range(0, crops.images.shape[0], batch):
                            x = D.to_float(crops.images[start : start + batch]).to(device)
                            x = x.contiguous(memory_format=layout)
                            out_cam.append(model.pose(x)["p3d_cam"].double().cpu().numpy())
                    p_virtual = np.concatenate(out_cam)
                    # row form of R_v p
                    poses = skeleton.TRUNK_MM * np.einsum("nij,nkj->nki", crops.crop_rotation, p_virtual)
                    n = poses.shape[0]
                    rows["poses"].append(poses)
                    rows["subject"].append(np.full(n, info.subject))
                    rows["sequence"].append(np.full(n, info.sequence))
                    rows["camera"].append(np.full(n, cam))
                    rows["frame"].append(np.arange(n, dtype=np.int64))
                    bar.update(1)
                n_seq += int(seen)
        if not rows["poses"]:
            raise TrainingError(f"{store.path}: no sequence of role {role!r} has images; predictions need crops")
    attrs = {
        "card": ckpt["card"]["name"],
        "card_sha256": ckpt["card_sha256"],
        "seed": int(ckpt["seed"]),
        "checkpoint_sha256": checkpoint_sha256,
        "checkpoint_step": int(ckpt["step"]),
        "profile": ckpt["profile"]["name"],
        "ablation": ckpt["card"]["model"]["ablation"],
        "role": role,
        "trunk_mm": float(skeleton.TRUNK_MM),
        "units": "mm, store camera frame, pelvis at the origin, poses = trunk_mm * R_crop * Rc * p3D",
        "kspbench_version": __version__,
        "provenance": provenance(),
    }
    preds = Predictions(
        poses_3d=np.concatenate(rows["poses"]).astype(np.float32),
        subject=np.concatenate(rows["subject"]),
        sequence=np.concatenate(rows["sequence"]),
        camera=np.concatenate(rows["camera"]),
        frame=np.concatenate(rows["frame"]),
        attrs=attrs,
    )
    write_predictions(Path(out), preds)
    return {"rows": len(preds), "sequences": n_seq, "out": str(out)}
