"""A contact sheet of a world store: crops with their 2D labels, background estimates, and full frames.

Rows, top to bottom (the legend printed by ``kspbench world preview`` names them):

* per role: a row of crops spread over the role's camera tracks, joints drawn on them (left side blue, right side
  red, centre line green), then the same frames' background crops when the role has them;
* full frames: for one sequence of each of h36m-train, 3dhp-test and dunp, re-rendered from the store's manifest
  (profile and seed; the world is deterministic), with the stored person box drawn in yellow.
"""

from __future__ import annotations

import json
import os

import numpy as np

from kspbench.core import skeleton
from kspbench.core.crops import to_crop
from kspbench.data.store import PoseStore
from kspbench.infra.atomic import write_with

_LEFT = set(skeleton.LEFT_JOINTS)
_RIGHT = set(skeleton.RIGHT_JOINTS)
ROLE_ORDER = ("h36m-train", "h36m-val", "h36m-test", "dunp", "3dhp-train", "3dhp-test", "prior")


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    ys = np.minimum((np.arange(h) + 0.5) * img.shape[0] / h, img.shape[0] - 1).astype(int)
    xs = np.minimum((np.arange(w) + 0.5) * img.shape[1] / w, img.shape[1] - 1).astype(int)
    return img[ys][:, xs]


def _dot(img: np.ndarray, x: float, y: float, colour, r: int = 1) -> None:
    if not (np.isfinite(x) and np.isfinite(y)):
        return
    xi, yi = int(round(x)), int(round(y))
    img[max(yi - r, 0) : max(yi + r + 1, 0), max(xi - r, 0) : max(xi + r + 1, 0)] = colour


def _joint_colour(j: int):
    return (40, 90, 255) if j in _LEFT else (255, 40, 40) if j in _RIGHT else (40, 220, 40)


def _rect(img: np.ndarray, box, colour) -> None:
    H, W = img.shape[:2]
    x0, y0, x1, y1 = [int(round(v)) for v in box]
    xa, xb = np.clip([x0, x1], 0, W - 1)
    ya, yb = np.clip([y0, y1], 0, H - 1)
    for y in (y0, y1):
        if 0 <= y < H:
            img[y, xa : xb + 1] = colour
    for x in (x0, x1):
        if 0 <= x < W:
            img[ya : yb + 1, x] = colour


def _pad_row(tiles: list, width: int, height: int) -> np.ndarray:
    row = np.full((height, width, 3), 24, np.uint8)
    x = 0
    for t in tiles:
        if x + t.shape[1] > width:
            break
        row[: t.shape[0], x : x + t.shape[1]] = t
        x += t.shape[1] + 2
    return row


def contact_sheet(
    store_path: str | os.PathLike, *, per_role: int = 10, tile: int = 96, full_frames: bool = True
) -> tuple[np.ndarray, list[str]]:
    """The sheet as an (H, W, 3) uint8 image, and one legend line per row."""
    rows, legend = [], []
    width = per_role * (tile + 2)
    with PoseStore(store_path) as store:
        attrs = store.attrs
        for role in ROLE_ORDER:
            infos = store.sequences(role=role)
            tracks = [(i, c) for i in infos for c in i.cameras]
            if not tracks:
                continue
            picks = [tracks[int(k)] for k in np.linspace(0, len(tracks) - 1, per_role).round()]
            crops, bgs = [], []
            for k, (info, cam) in enumerate(picks):
                f = int((k * 7919) % info.n_frames)
                img = store.read(info.subject, info.sequence, "images", camera=cam, frames=slice(f, f + 1))[0]
                box = store.read(info.subject, info.sequence, "boxes", camera=cam, frames=slice(f, f + 1))
                p2d = store.read(info.subject, info.sequence, "pose_2d", camera=cam, frames=slice(f, f + 1))
                big = _resize(img, tile, tile).copy()
                uv = (to_crop(p2d, box, img.shape[0])[0] + 0.5) * tile / img.shape[0] - 0.5
                for j in range(skeleton.NUM_JOINTS):
                    _dot(big, uv[j, 0], uv[j, 1], _joint_colour(j))
                crops.append(big)
                if store.has(info.subject, info.sequence, "backgrounds", camera=cam):
                    bg = store.read(info.subject, info.sequence, "backgrounds", camera=cam, frames=slice(f, f + 1))[0]
                    bgs.append(_resize(bg, tile, tile))
            rows.append(_pad_row(crops, width, tile))
            legend.append(f"{role}: crops with 2D labels ({len(tracks)} tracks, crop {img.shape[0]} px)")
            if bgs:
                rows.append(_pad_row(bgs, width, tile))
                legend.append(f"{role}: background estimates (temporal median), same frames")
        manifest = json.loads(attrs["world_manifest"]) if "world_manifest" in attrs else None
    if full_frames and manifest is not None:
        frame_rows, frame_legend = _full_frames(store_path, manifest, width)
        rows += frame_rows
        legend += frame_legend
    sep = np.full((3, width, 3), 60, np.uint8)
    out = [r for row in rows for r in (row, sep)]
    return np.concatenate(out[:-1], axis=0), legend


def _full_frames(store_path, manifest: dict, width: int) -> tuple[list, list]:
    from kspbench.errors import ConfigError
    from kspbench.world import build, profiles

    try:
        profile = profiles.profile_from_dict(manifest["profile"])
    except ConfigError:
        return [], ["(full frames skipped: the store's recorded profile is not readable by this kspbench)"]
    if manifest.get("motion"):
        return [], ["(full frames skipped: the store was built from a motion file)"]
    plans = build.plan_world(profile, int(manifest["seed"]))
    rows, legend = [], []
    with PoseStore(store_path) as store:
        for role in ("h36m-train", "3dhp-test", "dunp"):
            plan = next((p for p in plans if p.role == role), None)
            if plan is None:
                continue
            _, kept = build.render_sequence(plan, profile, keep_frames=True)
            tiles = []
            height = 200
            for cam_id, fr in kept.items():
                f = plan.n // 2
                img = fr.frames[f].copy()
                box = store.read(plan.subject, plan.sequence, "boxes", camera=cam_id, frames=slice(f, f + 1))[0]
                _rect(img, box, (255, 230, 0))
                w = int(round(img.shape[1] * height / img.shape[0]))
                tiles.append(_resize(img, height, w))
            rows.append(_pad_row(tiles, width, height))
            legend.append(
                f"full frames: {role} {plan.subject}/{plan.sequence}, frame {plan.n // 2}, cameras "
                f"{', '.join(kept)} (person box in yellow)"
            )
    return rows, legend


def write_preview(store_path: str | os.PathLike, out_png: str | os.PathLike, **kwargs) -> list[str]:
    """Write :func:`contact_sheet` as an RGB PNG (atomically); returns its legend lines."""
    from PIL import Image

    sheet, legend = contact_sheet(store_path, **kwargs)
    write_with(out_png, lambda f: Image.fromarray(sheet).save(f, format="PNG"))
    return legend
