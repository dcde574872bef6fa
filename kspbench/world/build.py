"""Build the synthetic world: plan the roles, render every sequence, write the pose store and its datasheet.

Roles (see ``kspbench/world/__init__.py`` for the whole picture):

* ``h36m-train`` / ``h36m-val`` / ``h36m-test``: Human3.6M-like subjects and actions, four static cameras with the
  published Human3.6M calibrations, one shared lab (chairs where an action sits);
* ``dunp``: unpaired clips from hand-held moving cameras (per-frame rotation/translation), random rooms and outdoor
  places, a new and more varied person per clip; no background estimate;
* ``3dhp-train``: unlabelled-by-convention 3DHP-like clips (labels are stored for weak/semi-supervised variants),
  green-screen studio, cameras "0".."7" at many heights;
* ``3dhp-test``: TS1-TS6, camera "0": green studio (TS1, TS2), studio without green screen (TS3, TS4), outdoor
  (TS5, TS6); extras ``univ_annot3`` and ``activity``; some frames invalid;
* ``prior``: exactly 20 labelled samples of subject "P" in a plain style (flat colours, no shading, plain backdrop).

Images are stored as crops (``kind="crop"``) cut with the boxes from an oracle detector (2D ground truth + jitter);
``backgrounds`` (static clips) are, by default, the empty scene as rendered (profile ``background: clean``): an oracle
background, like the oracle boxes, because the method's decoder needs Bt without the person; ``background: median``
stores the per-pixel temporal median of ``median_frames`` evenly spaced full frames instead, as a real pipeline
estimates it. Both are cut with the same boxes; the manifest records, per role, the share of the person's pixels
that survive the median (``median_leak``), whichever is stored. Every sequence draws from its own random stream
(:mod:`kspbench.world.seeding`), so the store is a pure function of (profile, seed, motion file) and byte-identical
across runs, whatever the number of worker processes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from kspbench.core import skeleton
from kspbench.core.crops import DEFAULT_MARGIN, box_from_joints, crop_images
from kspbench.data.store import CameraData, Intrinsics, SequenceData, StoreWriter
from kspbench.infra.atomic import write_text
from kspbench.world import backgrounds, cameras, motion, people, render
from kspbench.world.profiles import WorldProfile
from kspbench.world.seeding import rng as seeded

DATASET = "kspbench-synthetic-world"
WORLD_VERSION = 2  # 2: static clips' Bt is the clean empty scene by default (profile `background`)
# Grey levels by which the temporal median must differ from the empty scene for a person pixel to count as leaked.
LEAK_GREY = 10
# Root attribute naming what the stored `backgrounds` are: "clean" or "median:<frames>".
BACKGROUND_ATTR = "background_estimate"
PRIOR_SAMPLES = 20
UNIVERSAL_HEIGHT_MM = 1750.0
MANIFEST_ATTR = "world_manifest"
H36M_ROLES = ("h36m-train", "h36m-val", "h36m-test")
ROLES = H36M_ROLES + ("dunp", "3dhp-train", "3dhp-test", "prior")
TEST_SCENES = {"TS1": "green", "TS2": "green", "TS3": "studio", "TS4": "studio", "TS5": "outdoor", "TS6": "outdoor"}
# 3DHP test sequences cover several activity classes each (1..7, kspbench.evaluation.protocol.ACTIVITY_NAMES).
_ACTIVITY_FAMILIES = {
    1: ("Walking", "Waiting", "WalkTogether"),
    2: ("Exercise",),
    3: ("Sitting", "Eating"),
    4: ("Crouch", "Purchases"),
    5: ("Floor", "SittingDown"),
    6: ("Sports",),
    7: ("Greeting", "Phoning", "Photo", "Posing", "Discussion", "Directions", "Smoking"),
}


STUDIO_AREA = motion.Area(0.0, 0.0, 350.0, 1000.0)


@dataclass
class CamPlan:
    camera_id: str
    family: str  # h36m | mpi3dhp | dunp
    mode: str  # fixed | handheld | prior
    intr: cameras.Intr | None = None
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None


@dataclass
class SeqPlan:
    role: str
    subject: str
    sequence: str
    action: str
    families: tuple
    n: int
    fps: float
    person: people.Person
    scene: tuple  # (kind, key...)
    cams: list
    seed: int
    flat: bool = False
    window: np.ndarray | None = None  # real motion (n, 17, 3) mm, world, when --motion is given
    extras: tuple = ()
    area: motion.Area = motion.Area()


@dataclass
class TrackStats:
    frames: int = 0
    joints: int = 0
    occluded: int = 0
    outside: int = 0
    invalid: int = 0
    coverage_sum: float = 0.0
    coverage_frames: int = 0
    # Person pixels of the median frames, and those of them that survive in the temporal median (the leak).
    median_person_px: int = 0
    median_leak_px: int = 0


@dataclass
class SeqResult:
    data: SequenceData
    stats: dict = field(default_factory=dict)


# --- planning -----------------------------------------------------------------------------------------------------


def _people(profile: WorldProfile, seed: int) -> dict[str, people.Person]:
    h = profile.h36m
    out: dict[str, people.Person] = {}
    train: list[people.Person] = []
    for s in h.train_subjects:
        out[s] = people.sample_person(seeded(seed, "person", s), s)
        train.append(out[s])
    for k in range(profile.mpi3dhp_train.subjects):
        name = f"3dhp-S{k + 1}"
        out[name] = people.sample_person(seeded(seed, "person", name), name)
        train.append(out[name])
    out["P"] = people.sample_person(seeded(seed, "person", "P"), "P")
    train.append(out["P"])
    seen = list(train)
    for s in h.val_subjects + h.test_subjects + profile.mpi3dhp_test.sequences:
        out[s] = people.distinct_person(seeded(seed, "person", s), s, seen)
        seen.append(out[s])
    return out


def _split_motion(track: motion.MotionTrack, seed: int) -> dict[str, np.ndarray]:
    """Clips of a motion file per role group: test clips are never used by training roles."""
    ids = np.unique(track.clip_id)
    if len(ids) < 4:  # too few clips: cut the file into 8 contiguous pieces
        n = len(track.clip_id)
        pseudo = np.minimum((np.arange(n) * 8) // n, 7)
        track = motion.MotionTrack(track.positions, pseudo, track.fps, track.path)
        ids = np.unique(pseudo)
    ids = seeded(seed, "motion-split").permutation(ids)
    n_test = max(1, int(round(0.25 * len(ids))))
    n_val = max(1, int(round(0.1 * len(ids))))
    return {
        "track": track,
        "test": ids[:n_test],
        "val": ids[n_test : n_test + n_val],
        "train": ids[n_test + n_val :] if len(ids) > n_test + n_val else ids[n_test:],
    }


def plan_world(profile: WorldProfile, seed: int, track: motion.MotionTrack | None = None) -> list[SeqPlan]:
    """Every sequence of the world, in store order, with its person, scene and cameras (cheap; no rendering)."""
    ppl = _people(profile, seed)
    split = _split_motion(track, seed) if track is not None else None
    plans: list[SeqPlan] = []
    h = profile.h36m
    fps = profile.fps
    h_scale = profile.scale("h36m")

    def window(role_group: str, names: tuple, n: int, area: motion.Area):
        if split is None:
            return None
        return motion.motion_window(split["track"], seeded(seed, "window", *names), n, fps, split[role_group], area)

    for role, subjects in (
        ("h36m-train", h.train_subjects),
        ("h36m-val", h.val_subjects),
        ("h36m-test", h.test_subjects),
    ):
        group = {"h36m-train": "train", "h36m-val": "val", "h36m-test": "test"}[role]
        for subject in subjects:
            cal = seeded(seed, "calibration", subject)
            cams = []
            for cam_id in h.cameras:
                rot, t = cameras.h36m_extrinsics(subject, cam_id, cal)
                cams.append(CamPlan(cam_id, "h36m", "fixed", cameras.h36m_intrinsics(cam_id, h_scale), rot, t))
            for action in h.actions:
                for take in range(1, h.takes + 1):
                    name = f"{action} {take}"
                    n = profile.frames(h.seconds)
                    plans.append(
                        SeqPlan(
                            role,
                            subject,
                            name,
                            action,
                            (action,),
                            n,
                            fps,
                            ppl[subject],
                            ("lab", subject),
                            cams,
                            seed,
                            area=motion.H36M_AREA,
                            window=window(group, (role, subject, name), n, motion.H36M_AREA),
                        )
                    )
    d_scale = profile.scale("dunp")
    for k in range(profile.dunp.clips):
        subject = f"U{k + 1:04d}"
        r = seeded(seed, "dunp", subject)
        family = sorted(motion.FAMILIES)[r.integers(len(motion.FAMILIES))]
        person = people.sample_person(seeded(seed, "person", subject), subject, variety=1.6)
        n = profile.frames(profile.dunp.seconds)
        scene = ("outdoor", subject) if r.uniform() < 0.4 else ("room", subject)
        cams = [CamPlan("0", "dunp", "handheld", cameras.dunp_intrinsics(r, d_scale))]
        plans.append(
            SeqPlan(
                "dunp",
                subject,
                f"clip {k + 1}",
                family,
                (family,),
                n,
                fps,
                person,
                scene,
                cams,
                seed,
                window=window("train", ("dunp", subject), n, motion.Area()),
            )
        )
    m_scale = profile.scale("mpi3dhp")
    t3 = profile.mpi3dhp_train
    all_fams = sorted(motion.FAMILIES)
    for k in range(t3.subjects):
        subject = f"3dhp-S{k + 1}"
        for q in range(1, t3.sequences + 1):
            seq = f"Seq{q}"
            r = seeded(seed, "3dhp-train", subject, seq)
            fams = tuple(all_fams[i] for i in r.choice(len(all_fams), 3, replace=False))
            cams = []
            for c in range(t3.cameras):
                intr, rot, t = cameras.mpi3dhp_camera(
                    r, False, m_scale, azimuth=2 * np.pi * c / t3.cameras + r.normal(0, 0.2)
                )
                cams.append(CamPlan(str(c), "mpi3dhp", "fixed", intr, rot, t))
            n = profile.frames(t3.seconds)
            plans.append(
                SeqPlan(
                    "3dhp-train",
                    subject,
                    seq,
                    "+".join(fams),
                    fams,
                    n,
                    fps,
                    ppl[subject],
                    ("studio-green", subject, seq),
                    cams,
                    seed,
                    area=STUDIO_AREA,
                    window=window("train", ("3dhp-train", subject, seq), n, STUDIO_AREA),
                )
            )
    for ts in profile.mpi3dhp_test.sequences:
        r = seeded(seed, "3dhp-test", ts)
        kind = TEST_SCENES[ts]
        outdoor = kind == "outdoor"
        classes = [c for c in range(1, 8) if not (outdoor and c == 3)]
        n = profile.frames(profile.mpi3dhp_test.seconds)
        n_seg = max(1, min(len(classes), int(round(profile.mpi3dhp_test.seconds / 5.0))))
        chosen = r.choice(classes, n_seg, replace=False)
        fams = tuple(_ACTIVITY_FAMILIES[c][r.integers(len(_ACTIVITY_FAMILIES[c]))] for c in chosen)
        intr, rot, t = cameras.mpi3dhp_camera(r, outdoor, m_scale, height_range=(500.0, 2900.0))
        scene = {"green": ("studio-green", ts), "studio": ("studio", ts), "outdoor": ("outdoor", ts)}[kind]
        plans.append(
            SeqPlan(
                "3dhp-test",
                ts,
                ts,
                "+".join(fams),
                fams,
                n,
                fps,
                ppl[ts],
                scene,
                [CamPlan("0", "mpi3dhp", "fixed", intr, rot, t)],
                seed,
                area=STUDIO_AREA,
                window=window("test", ("3dhp-test", ts), n, STUDIO_AREA),
                extras=("univ", "activity", "invalid"),
            )
        )
    intr = cameras.h36m_intrinsics("54138969", h_scale)
    prior_person = people.with_materials(ppl["P"], people.flat_apparel(seeded(seed, "prior-apparel")), hair="short")
    plans.append(
        SeqPlan(
            "prior",
            "P",
            "Prior",
            "Mixed",
            tuple(skeleton.H36M_ACTIONS),
            PRIOR_SAMPLES,
            fps,
            prior_person,
            ("plain", "P"),
            [CamPlan("0", "h36m", "prior", intr)],
            seed,
            flat=True,
            window=None,
        )
    )
    return plans


# --- scenes and bodies --------------------------------------------------------------------------------------------


def _scene(plan: SeqPlan, rng: np.random.Generator) -> backgrounds.Scene:
    """The sequence's scene without its chair (the lab is shared by all Human3.6M-role sequences)."""
    kind = plan.scene[0]
    if kind == "lab":
        scene = backgrounds.room_scene(seeded(plan.seed, "scene", "h36m-lab"))
        scene.brightness *= float(seeded(plan.seed, "scene", "lab-session", plan.subject).uniform(0.93, 1.07))
    elif kind == "room":
        # Hand-held cameras roam up to ~9 m from the room's centre: the room must hold them.
        scene = backgrounds.room_scene(
            seeded(plan.seed, "scene", *plan.scene[1:]),
            half_x=rng.uniform(10e3, 13e3),
            half_y=rng.uniform(10e3, 13e3),
            props=int(rng.integers(6, 12)),
        )
    elif kind == "studio-green":
        scene = backgrounds.studio_scene(seeded(plan.seed, "scene", *plan.scene[1:]), green=True)
    elif kind == "studio":
        scene = backgrounds.studio_scene(seeded(plan.seed, "scene", *plan.scene[1:]), green=False)
    elif kind == "outdoor":
        scene = backgrounds.outdoor_scene(seeded(plan.seed, "scene", *plan.scene[1:]))
    else:
        scene = backgrounds.plain_scene(seeded(plan.seed, "scene", *plan.scene[1:]))
    return scene


def _body(plan: SeqPlan, rng: np.random.Generator) -> tuple[motion.Body, motion.Motion | None]:
    if plan.window is not None:
        return motion.retargeted_body(plan.person, plan.window), None
    if plan.role == "prior":
        # 20 independent samples: one frame from a short clip of each family in turn.
        bodies = []
        for i in range(plan.n):
            fam = plan.families[i % len(plan.families)]
            m = motion.action_motion(plan.person, fam, rng, 12, plan.fps, home=(0.0, 0.0))
            m.chair = None
            m.dofs["sit"][:] = 0.0
            b = motion.pose_body(plan.person, m)
            bodies.append((b, int(rng.integers(12))))
        pts = {k: np.stack([b.points[k][f] for b, f in bodies]) for k in bodies[0][0].points}
        frs = {k: np.stack([b.frames[k][f] for b, f in bodies]) for k in bodies[0][0].frames}
        body = motion.Body(
            points=pts,
            frames=frs,
            centres=np.stack([b.centres[f] for b, f in bodies]),
            rots=np.stack([b.rots[f] for b, f in bodies]),
            semi=bodies[0][0].semi,
            joints=np.stack([b.joints[f] for b, f in bodies]),
        )
        return body, None
    if len(plan.families) == 1:
        m = motion.action_motion(plan.person, plan.families[0], rng, plan.n, plan.fps, area=plan.area)
    else:
        m = motion.composite_motion(plan.person, list(plan.families), rng, plan.n, plan.fps, area=plan.area)
    return motion.pose_body(plan.person, m), m


# --- rendering a track --------------------------------------------------------------------------------------------

_OWNERS = [np.array([people.PRIMITIVE_INDEX[n] + 1 for n in names]) for names in people.JOINT_OWNERS]


def occlusion(
    ids: np.ndarray, uv: np.ndarray, width: int, height: int, offset: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """Per joint: hidden (another body part or a scene object is in front of it) and outside-the-frame flags.

    Args:
        ids: front-most object per pixel of the rendered window (see :func:`render_track`).
        uv: (17, 2) joints in frame pixels; ``offset`` = the window's top-left pixel in the frame.
    """
    px = np.rint(uv).astype(np.int64) if np.isfinite(uv).all() else np.full(uv.shape, -1, np.int64)
    outside = (px[:, 0] < 0) | (px[:, 0] >= width) | (px[:, 1] < 0) | (px[:, 1] >= height)
    px = px - np.asarray(offset)
    h, w = ids.shape
    hidden = np.zeros(len(uv), bool)
    for j in np.flatnonzero(~outside):
        if 0 <= px[j, 0] < w and 0 <= px[j, 1] < h:
            i = int(ids[px[j, 1], px[j, 0]])
            hidden[j] = i != 0 and i not in _OWNERS[j]
    return hidden, outside


@dataclass
class TrackFrames:
    """Full frames of one camera track (kept only when asked: tests and previews)."""

    frames: np.ndarray  # (N, H, W, 3) uint8, as captured (with sensor noise)
    person: np.ndarray  # (N, H, W) bool, pixels showing the person
    background: np.ndarray  # (H, W, 3) uint8 true background (static cameras) or (N, H, W, 3) (moving)
    ids: np.ndarray  # (N, H, W) int16 front-most primitive (1..K), scene object (>= 100) or 0


def _views(plan: SeqPlan, cam: CamPlan, body: motion.Body, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = plan.n
    if cam.mode == "fixed":
        return np.asarray(cam.rotation, float), np.asarray(cam.translation, float)
    if cam.mode == "handheld":
        rot, t, _ = cameras.handheld_track(rng, body.joints[:, 0], plan.fps)
        return rot, t
    # prior: a fresh camera per sample, around the person, slightly above.
    pelvis = body.joints[:, 0]
    az = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(3500, 5500, n)
    centre = pelvis + np.stack([dist * np.cos(az), dist * np.sin(az), rng.uniform(200, 900, n)], axis=1)
    target = pelvis + np.stack([np.zeros(n), np.zeros(n), rng.uniform(-100, 200, n)], axis=1)
    return cameras.look_at(centre, target, rng.normal(0, 3, n))


# Renders of static scenes without their per-sequence chairs, per (scene, camera): the lab is the same for every
# sequence of a subject. A small per-process cache; results are identical with or without it.
_BG_CACHE: dict = {}
_BG_CACHE_SIZE = 8


def _static_background(
    scene_key: tuple, base: backgrounds.Scene, scene: backgrounds.Scene, f, c, rot, trans, W: int, H: int
):
    key = (scene_key, f.tobytes(), c.tobytes(), np.asarray(rot).tobytes(), np.asarray(trans).tobytes(), W, H)
    hit = _BG_CACHE.get(key)
    if hit is None:
        hit = backgrounds.render_scene(base, f, c, rot, trans, W, H)
        if len(_BG_CACHE) >= _BG_CACHE_SIZE:
            _BG_CACHE.pop(next(iter(_BG_CACHE)))
        _BG_CACHE[key] = hit
    if len(scene.boxes) == len(base.boxes):
        return hit
    return backgrounds.render_scene(scene, f, c, rot, trans, W, H, base=(*hit, len(base.boxes)))


def render_track(
    plan: SeqPlan,
    cam: CamPlan,
    body: motion.Body,
    scenes: tuple,
    profile: WorldProfile,
    rng: np.random.Generator,
    keep_frames: bool = False,
    activity: np.ndarray | None = None,
) -> tuple[CameraData, dict, TrackFrames | None]:
    """Render one camera's view of a sequence: crops, boxes, background estimate, labels, occlusion.

    ``scenes`` = (scene key, scene without chair, scene as shown). Static cameras render whole frames (their
    temporal median is the background estimate); moving cameras render only the window around the person box
    (their full frames are rendered when ``keep_frames``).
    """
    scene_key, base_scene, scene = scenes
    n = plan.n
    S = profile.crop_size
    rot, trans = _views(plan, cam, body, rng)
    moving = rot.ndim == 3
    intr = cam.intr
    H, W = intr.height, intr.width
    rots = rot if moving else np.broadcast_to(rot, (n, 3, 3))
    ts = trans if moving else np.broadcast_to(trans, (n, 3))
    cam3d = np.einsum("nij,nkj->nki", rots, body.joints) + ts[:, None, :]
    f, c = np.asarray(intr.focal), np.asarray(intr.center)
    p2d = cam3d[..., :2] / cam3d[..., 2:3] * f + c
    boxes = box_from_joints(p2d, DEFAULT_MARGIN, jitter=profile.box_jitter, generator=rng)
    mats = render.material_table(plan.person, flat=plan.flat)
    light = np.asarray(scene.light)
    med_idx = set(np.unique(np.linspace(0, n - 1, min(profile.median_frames, n)).round().astype(int)).tolist())
    crops = np.zeros((n, S, S, 3), np.uint8)
    occluded = np.zeros((n, skeleton.NUM_JOINTS), bool)
    stats = TrackStats()
    median_stack, median_masks = [], []
    static_bg = None if moving else _static_background(scene_key, base_scene, scene, f, c, rot, trans, W, H)
    kept = {"frames": [], "person": [], "bg": [], "ids": []} if keep_frames else None
    for i in range(n):
        x0 = y0 = 0
        w, h = W, H
        if moving and not keep_frames:
            lo = np.floor(np.minimum(boxes[i, :2], p2d[i].min(0))) - 3
            hi = np.ceil(np.maximum(boxes[i, 2:], p2d[i].max(0))) + 4
            x0, y0 = int(np.clip(lo[0], 0, W)), int(np.clip(lo[1], 0, H))
            w, h = int(np.clip(hi[0], 0, W)) - x0, int(np.clip(hi[1], 0, H)) - y0
            if w <= 0 or h <= 0:  # the person is out of the frame
                hid, out = occlusion(np.zeros((1, 1), np.int16), p2d[i], W, H)
                occluded[i] = hid | out
                stats.frames += 1
                stats.joints += skeleton.NUM_JOINTS
                stats.outside += int(out.sum())
                continue
        cw = c - np.array([x0, y0], float)
        if moving:
            bg_col, bg_depth, bg_ids = backgrounds.render_scene(scene, f, cw, rots[i], ts[i], w, h)
        else:
            bg_col, bg_depth, bg_ids = static_bg
        img = bg_col.copy()
        depth = bg_depth.copy()
        ids = bg_ids.copy()
        v = render.View(f, cw, rots[i], ts[i], w, h)
        render.render_person(img, depth, ids, v, body.centres[i], body.rots[i], body.semi, mats, light)
        frame = img * np.float32(255.0)
        full = i in med_idx or keep_frames or moving
        if profile.noise_sd > 0:
            if full:
                frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(profile.noise_sd)
            elif np.isfinite(boxes[i]).all():
                bx0, by0 = int(max(np.floor(boxes[i, 0]) - 1, 0)), int(max(np.floor(boxes[i, 1]) - 1, 0))
                bx1, by1 = int(min(np.ceil(boxes[i, 2]) + 2, W)), int(min(np.ceil(boxes[i, 3]) + 2, H))
                if bx1 > bx0 and by1 > by0:
                    frame[by0:by1, bx0:bx1] += rng.standard_normal(
                        (by1 - by0, bx1 - bx0, 3), dtype=np.float32
                    ) * np.float32(profile.noise_sd)
        frame8 = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        box_w = boxes[i : i + 1] - np.array([x0, y0, x0, y0], float)
        crops[i] = crop_images(frame8[None], box_w, S)[0]
        hid, out = occlusion(ids, p2d[i], W, H, (x0, y0))
        occluded[i] = hid | out
        stats.frames += 1
        stats.joints += skeleton.NUM_JOINTS
        stats.occluded += int(hid.sum())
        stats.outside += int(out.sum())
        mask = render.is_person(ids)
        if i % 4 == 0:  # person pixels in the crop (sampled: the datasheet's coverage figure)
            stats.coverage_sum += float(
                crop_images(mask[None, :, :, None].astype(np.uint8) * 255, box_w, S).mean() / 255.0
            )
            stats.coverage_frames += 1
        if i in med_idx and not moving:
            median_stack.append(frame8)
            median_masks.append(mask)
        if kept is not None:
            kept["frames"].append(frame8)
            kept["person"].append(mask)
            kept["ids"].append(ids)
            if moving:
                kept["bg"].append(np.clip(np.rint(bg_col * 255), 0, 255).astype(np.uint8))
    bgs = None
    if not moving:
        median = np.median(np.stack(median_stack), axis=0).round().astype(np.uint8)
        clean = np.clip(np.rint(static_bg[0] * 255), 0, 255).astype(np.uint8)
        # A person pixel "survives" the median when the median differs there from the empty scene by more than
        # LEAK_GREY grey levels in some channel (sensor noise is far below it).
        leaked = np.abs(median.astype(np.int16) - clean.astype(np.int16)).max(axis=-1) > LEAK_GREY
        masks = np.stack(median_masks)
        stats.median_person_px += int(masks.sum())
        stats.median_leak_px += int((masks & leaked[None]).sum())
        bg_full = clean if profile.background == "clean" else median
        bgs = crop_images(np.broadcast_to(bg_full, (n,) + bg_full.shape), boxes, S)
    valid = np.ones(n, bool)
    extras = {"occluded": occluded}
    if "invalid" in plan.extras:
        valid = _valid_frames(rng, n, p2d, W, H)
    if "activity" in plan.extras:
        extras["activity"] = np.full(n, 7, np.int64) if activity is None else np.asarray(activity, np.int64)
    if "univ" in plan.extras:
        root = cam3d[:, :1]
        extras["univ_annot3"] = (root + (cam3d - root) * (UNIVERSAL_HEIGHT_MM / plan.person.height)).astype(np.float32)
    stats.invalid = int((~valid).sum())
    data = CameraData(
        camera_id=cam.camera_id,
        camera_3d=cam3d.astype(np.float32),
        pose_2d=p2d.astype(np.float32),
        intrinsics=Intrinsics(focal=f.copy(), center=c.copy(), width=W, height=H),
        rotation=np.asarray(rot, np.float64),
        translation=np.asarray(trans, np.float64),
        valid=valid,
        boxes=boxes.astype(np.float32),
        images=crops,
        images_kind="crop",
        backgrounds=bgs,
        extras=extras,
    )
    frames = None
    if kept is not None:
        true_bg = np.clip(np.rint(static_bg[0] * 255), 0, 255).astype(np.uint8) if not moving else np.stack(kept["bg"])
        frames = TrackFrames(
            frames=np.stack(kept["frames"]),
            person=np.stack(kept["person"]),
            background=true_bg,
            ids=np.stack(kept["ids"]),
        )
    return data, stats.__dict__, frames


def _valid_frames(rng: np.random.Generator, n: int, p2d: np.ndarray, W: int, H: int) -> np.ndarray:
    """3DHP-like validity: frames with joints outside the image, and a few short dropouts, are invalid."""
    inside = ((p2d[..., 0] >= 0) & (p2d[..., 0] < W) & (p2d[..., 1] >= 0) & (p2d[..., 1] < H)).all(1)
    valid = inside.copy()
    for _ in range(max(1, n // 100)):
        a = int(rng.integers(0, n))
        valid[a : a + int(rng.integers(1, max(2, n // 40) + 1))] = False
    return valid


def render_sequence(plan: SeqPlan, profile: WorldProfile, keep_frames: bool = False):
    """Pose the body, build the scene and render every camera of one planned sequence."""
    rng = seeded(plan.seed, "sequence", plan.role, plan.subject, plan.sequence)
    body, mot = _body(plan, rng)
    chair = mot.chair if mot is not None else None
    srng = seeded(plan.seed, "scene-sequence", plan.role, plan.subject, plan.sequence)
    base = _scene(plan, srng)
    scenes = (plan.scene + (plan.seed,), base, base.with_chair(chair, srng))
    activity = mot.activity if mot is not None else None
    cams, stats, kept = {}, {}, {}
    for cam in plan.cams:
        crng = seeded(plan.seed, "track", plan.role, plan.subject, plan.sequence, cam.camera_id)
        data, st, frames = render_track(plan, cam, body, scenes, profile, crng, keep_frames, activity)
        cams[cam.camera_id] = data
        stats[cam.camera_id] = st
        if frames is not None:
            kept[cam.camera_id] = frames
    seq = SequenceData(
        subject=plan.subject,
        sequence=plan.sequence,
        action=plan.action,
        role=plan.role,
        fps=plan.fps,
        cameras=cams,
        world_3d=body.joints.astype(np.float32),
    )
    return SeqResult(data=seq, stats={"role": plan.role, "tracks": stats}), (kept if keep_frames else None)


def _work(args) -> SeqResult:
    plan, profile = args
    return render_sequence(plan, profile)[0]


# --- the whole world ----------------------------------------------------------------------------------------------


def source_text(profile: WorldProfile, seed: int, track: motion.MotionTrack | None) -> str:
    motion_src = (
        "procedural action families"
        if track is None
        else f"retargeted from {Path(track.path).name} (sha256 {_sha256(track.path)[:16]})"
    )
    j = profile.box_jitter
    return (
        f"kspbench synthetic world v{WORLD_VERSION} (kspbench world build --profile {profile.name} --seed {seed}); "
        f"motion: {motion_src}; person boxes: oracle detector = 2D ground truth + jitter (centre sd {j[0]:g}, "
        f"log-scale sd {j[1]:g} of the box side), margin {DEFAULT_MARGIN:g}; backgrounds: {_bg_text(profile)}; "
        "no lens distortion"
    )


def _bg_text(profile: WorldProfile) -> str:
    if profile.background == "clean":
        return "the empty scene as rendered (oracle background) per static clip"
    return f"temporal median of {profile.median_frames} full frames per static clip"


def background_estimate(profile: WorldProfile) -> str:
    """The value of the store's ``background_estimate`` attribute: ``"clean"`` or ``"median:<frames>"``."""
    return "clean" if profile.background == "clean" else f"median:{profile.median_frames}"


def _sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(
    profile: WorldProfile, seed: int, plans: list[SeqPlan], track: motion.MotionTrack | None, stats: list[dict]
) -> dict:
    persons = {}
    for p in plans:
        if p.role != "dunp":
            persons.setdefault(p.person.name, {**p.person.summary(), "role": p.role})
    role_stats: dict[str, dict] = {}
    for st in stats:
        r = role_stats.setdefault(
            st["role"],
            {
                "frames": 0,
                "joints": 0,
                "occluded": 0,
                "outside": 0,
                "invalid": 0,
                "coverage_sum": 0.0,
                "coverage_frames": 0,
                "median_person_px": 0,
                "median_leak_px": 0,
            },
        )
        for tr in st["tracks"].values():
            for k in r:
                r[k] += tr[k]
    for r in role_stats.values():
        r["coverage"] = r.pop("coverage_sum") / max(r.pop("coverage_frames"), 1)
        person_px, leak_px = r.pop("median_person_px"), r.pop("median_leak_px")
        # Static roles only: the share of the person's pixels that a temporal-median background would keep.
        r["median_leak"] = leak_px / person_px if person_px else None
    return {
        "world_version": WORLD_VERSION,
        "seed": int(seed),
        "profile": profile.as_dict(),
        "motion": None if track is None else {"file": Path(track.path).name, "sha256": _sha256(track.path)},
        "universal_height_mm": UNIVERSAL_HEIGHT_MM,
        "people": persons,
        "role_stats": role_stats,
        "dunp_people": sum(1 for p in plans if p.role == "dunp"),
    }


def iter_results(plans: list[SeqPlan], profile: WorldProfile, jobs: int = 1) -> Iterator[SeqResult]:
    """Rendered sequences in plan order (in worker processes when ``jobs`` > 1)."""
    if jobs <= 1 or len(plans) < 2:
        for p in plans:
            yield render_sequence(p, profile)[0]
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(jobs) as pool:
        yield from pool.imap(_work, [(p, profile) for p in plans], chunksize=1)


def build_world(
    out: str | os.PathLike,
    profile: WorldProfile,
    seed: int = 0,
    *,
    motion_file: str | None = None,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    datasheet: bool = True,
    reference_motion: str | None = None,
) -> dict:
    """Build the world into ``out`` (atomically) and write the datasheet beside it.

    Returns:
        The manifest (also stored as the root attribute ``world_manifest``), plus ``build_seconds``.
    """
    t0 = time.time()
    track = motion.load_motion_file(motion_file) if motion_file else None
    plans = plan_world(profile, seed, track)
    stats = []
    with StoreWriter(out, dataset=DATASET, source=source_text(profile, seed, track)) as writer:
        for k, res in enumerate(iter_results(plans, profile, jobs)):
            writer.add_sequence(res.data)
            stats.append(res.stats)
            if progress is not None:
                progress(k + 1, len(plans))
        man = manifest(profile, seed, plans, track, stats)
        # The manifest lives in the store itself, so `world describe` needs nothing else.
        writer.set_attr(MANIFEST_ATTR, json.dumps(man, sort_keys=True))
        writer.set_attr(BACKGROUND_ATTR, background_estimate(profile))
    man["build_seconds"] = time.time() - t0
    if datasheet:
        from kspbench.world import datasheet as ds

        text = ds.datasheet(out, reference_motion=reference_motion, build_seconds=man["build_seconds"])
        write_text(ds.datasheet_path(out), text)
    return man
