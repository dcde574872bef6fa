"""The world's datasheet: what is in the store and how hard it is, as Markdown (``<store>.md`` beside the store).

Figures (all computed from the store; the build also records a few render statistics in its manifest):

* counts per role: subjects, sequences, frames, camera-frames, cameras, image sizes;
* occlusion: the fraction of joints hidden by the depth buffer (another body part or a scene object is the front-most
  surface at the joint's pixel), and the fraction outside the frame; person pixels per crop;
* invalid frames per role;
* pose overlap: the mean nearest-neighbour distance (P-MPJPE: per-pair similarity Procrustes, mm) from test poses to
  training poses, beside the same distance from each training subject's poses to the other training subjects';
* the kinematic ceiling: the best P-MPJPE the model's kinematic structure can reach on the world, inverse then forward
  kinematics (``kspbench.core.kinematics``) with the canonical bone-length ratios scaled to each pose's trunk;
* the same two figures on real motion when a reference (e.g. ``cmu17.npz``) is given;
* baselines under ``h36m-p2``: the training mean pose and the nearest training pose by 2D.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from kspbench.core import skeleton
from kspbench.data.store import PoseStore

MAX_QUERIES = 1500
TOP_K = 8


def datasheet_path(store_path: str | os.PathLike) -> Path:
    """``data/world.h5`` -> ``data/world.md``."""
    p = Path(store_path)
    return p.with_suffix(".md")


def _p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) per-frame P-MPJPE, mm (kspbench.evaluation.metrics)."""
    from kspbench.evaluation.metrics import p_mpjpe

    return p_mpjpe(pred, gt).mean(axis=1)


def _canonical(poses: np.ndarray) -> np.ndarray:
    """Poses in their own canonical frame (pelvis at 0, trunk up, hips along y), scaled to unit RMS: (N, 51)."""
    import torch

    from kspbench.core.kinematics import inverse_kinematics

    p = torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float64))
    _, _, rot, t = inverse_kinematics(p)
    c = ((p - t[:, None, :]) @ rot).numpy()
    scale = np.sqrt((c**2).sum(-1).mean(-1))
    return (c / np.maximum(scale, 1e-9)[:, None, None]).reshape(len(c), -1)


def nn_distance(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(Nq,) P-MPJPE from each query pose to its nearest reference pose (candidates by canonical-frame distance,
    then exact Procrustes on the ``TOP_K`` closest)."""
    import torch

    q, r = _canonical(query), _canonical(ref)
    d = torch.cdist(torch.from_numpy(q.astype(np.float32)), torch.from_numpy(r.astype(np.float32)))
    k = min(TOP_K, len(ref))
    cand = torch.topk(d, k, dim=1, largest=False).indices.numpy()
    errs = _p_mpjpe(ref[cand.reshape(-1)], np.repeat(query, k, axis=0)).reshape(len(query), k)
    return errs.min(axis=1)


def kinematic_ceiling(poses: np.ndarray) -> np.ndarray:
    """(N,) P-MPJPE of IK -> FK with canonical ratios (scaled to each pose's trunk) against the poses, mm."""
    import torch

    from kspbench.core.kinematics import forward_kinematics, inverse_kinematics

    p = torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float64))
    vk, lengths, rot, t = inverse_kinematics(p)
    canon = torch.tensor(skeleton.BONE_LENGTH_RATIOS, dtype=p.dtype) * lengths[:, 8:9]
    canon[:, 8] = lengths[:, 8]
    rec = forward_kinematics(vk, canon) @ rot.transpose(-1, -2) + t[:, None, :]
    return _p_mpjpe(rec.numpy(), poses)


def _sample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def _world_poses(store: PoseStore, role: str) -> dict[str, np.ndarray]:
    """World-frame poses per subject (valid frames of any camera)."""
    out: dict[str, list] = {}
    for info in store.sequences(role=role):
        w = store.read(info.subject, info.sequence, "world_3d")
        valid = np.zeros(info.n_frames, bool)
        for cam in info.cameras:
            valid |= store.read(info.subject, info.sequence, "valid", camera=cam).astype(bool)
        out.setdefault(info.subject, []).append(w[valid])
    return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}


def overlap(train: dict[str, np.ndarray], test: np.ndarray) -> dict:
    """Test -> train nearest-neighbour distance, and within-train (each subject against the others)."""
    all_train = np.concatenate(list(train.values()))
    out = {"test_to_train_mm": float(nn_distance(_sample(test, MAX_QUERIES), all_train).mean())}
    if len(train) >= 2:
        within = []
        per = max(MAX_QUERIES // len(train), 50)
        for s, poses in train.items():
            others = np.concatenate([v for k, v in train.items() if k != s])
            within.append(nn_distance(_sample(poses, per, 1), others))
        out["within_train_mm"] = float(np.concatenate(within).mean())
    return out


def reference_figures(path: str) -> dict:
    """The same overlap and ceiling figures on real motion (a pose-track npz such as cmu17.npz): clips are split
    25 % test / 75 % train, each clip being a 'subject'."""
    from kspbench.world.motion import load_motion_file

    track = load_motion_file(path)
    ids = np.unique(track.clip_id)
    rng = np.random.default_rng(0)
    ids = rng.permutation(ids)
    n_test = max(1, len(ids) // 4)
    step = max(1, int(round(track.fps / 10)))  # about 10 fps, like the world
    pos = track.positions[::step]
    cid = track.clip_id[::step]
    test = pos[np.isin(cid, ids[:n_test])]
    train = {str(c): pos[cid == c] for c in ids[n_test:]}
    out = {"file": Path(path).name, "frames": int(len(pos))}
    if len(ids) >= 3:
        out.update(overlap(train, test))
    out["kinematic_ceiling_mm"] = float(kinematic_ceiling(_sample(pos, 5000)).mean())
    return out


def compute(store_path: str | os.PathLike, reference_motion: str | None = None, baselines: bool = True) -> dict:
    """Every figure of the datasheet, as plain data."""
    fig: dict = {"store": str(store_path)}
    with PoseStore(store_path) as store:
        attrs = store.attrs
        fig["source"] = str(attrs.get("source", ""))
        manifest = json.loads(attrs["world_manifest"]) if "world_manifest" in attrs else {}
        fig["manifest"] = manifest
        roles: dict[str, dict] = {}
        for info in store.sequences():
            r = roles.setdefault(
                info.role,
                {
                    "subjects": set(),
                    "sequences": 0,
                    "frames": 0,
                    "camera_frames": 0,
                    "cameras": set(),
                    "invalid": 0,
                    "occluded_joints": 0,
                    "joints": 0,
                    "image_size": None,
                    "frame_sizes": set(),
                    "backgrounds": False,
                    "moving": False,
                },
            )
            r["subjects"].add(info.subject)
            r["sequences"] += 1
            r["frames"] += info.n_frames
            for cam in info.cameras:
                r["camera_frames"] += info.n_frames
                r["cameras"].add(cam)
                valid = store.read(info.subject, info.sequence, "valid", camera=cam).astype(bool)
                r["invalid"] += int((~valid).sum())
                if store.has(info.subject, info.sequence, "extras/occluded", camera=cam):
                    occ = store.read(info.subject, info.sequence, "extras/occluded", camera=cam)[valid]
                    r["occluded_joints"] += int(occ.sum())
                    r["joints"] += int(occ.size)
                intr = store.intrinsics(info.subject, info.sequence, cam)
                r["frame_sizes"].add(f"{intr.width}x{intr.height}")
                images = store.array_info(info.subject, info.sequence, "images", camera=cam)
                if images is not None and r["image_size"] is None:
                    r["image_size"] = f"{images[0][1]}x{images[0][2]} {images[1].get('kind', 'crop')}"
                r["backgrounds"] |= store.has(info.subject, info.sequence, "backgrounds", camera=cam)
                rotation = store.array_info(info.subject, info.sequence, "rotation", camera=cam)
                r["moving"] |= rotation is not None and len(rotation[0]) == 3
        for r in roles.values():
            r["subjects"] = sorted(r["subjects"])
            r["cameras"] = sorted(r["cameras"], key=lambda c: (len(c), c))
            r["frame_sizes"] = sorted(r["frame_sizes"])
        fig["roles"] = roles
        train = _world_poses(store, "h36m-train")
        test_parts = _world_poses(store, "h36m-test")
    if train and test_parts:
        test = np.concatenate(list(test_parts.values()))
        fig["overlap"] = overlap(train, test)
        fig["kinematic_ceiling_mm"] = float(kinematic_ceiling(_sample(test, 5000)).mean())
        fig["kinematic_ceiling_train_mm"] = float(
            kinematic_ceiling(_sample(np.concatenate(list(train.values())), 5000)).mean()
        )
    if reference_motion:
        fig["reference"] = reference_figures(reference_motion)
    if baselines and "h36m-train" in roles and "h36m-test" in roles:
        from kspbench.world.baselines import baseline, score

        fig["baselines"] = {}
        for kind in ("mean", "const", "nn2d"):
            m = score(store_path, baseline(store_path, kind))
            fig["baselines"][kind] = {k: float(v) for k, v in m.items()}
    return fig


def _table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def render(fig: dict, build_seconds: float | None = None) -> str:
    man = fig.get("manifest", {})
    prof = man.get("profile", {})
    stats = man.get("role_stats", {})
    lines = [f"# Datasheet: {Path(fig['store']).name}", ""]
    lines += [
        f"Synthetic world generated by `kspbench world build` (world v{man.get('world_version', '?')}), "
        f"profile **{prof.get('name', '?')}**, seed **{man.get('seed', '?')}**"
        + (f", built in {build_seconds:.0f} s" if build_seconds is not None else "")
        + ".",
        "",
        f"Source attribute: {fig['source']}",
        "",
    ]
    lines += [
        "Person boxes come from an **oracle detector**: the ground-truth 2D joints' bounding box, made square "
        "with a 20 % margin (`kspbench.core.crops.box_from_joints`), then jittered (centre and log-scale noise). "
        "Results on this world therefore assume a good person detector.",
        "",
    ]
    lines += ["## Contents", ""]
    rows = []
    for role in ("h36m-train", "h36m-val", "h36m-test", "dunp", "3dhp-train", "3dhp-test", "prior"):
        r = fig["roles"].get(role)
        if r is None:
            continue
        subj = r["subjects"]
        subj_txt = ", ".join(subj) if len(subj) <= 8 else f"{len(subj)} ({subj[0]} .. {subj[-1]})"
        rows.append(
            [
                role,
                subj_txt,
                r["sequences"],
                r["frames"],
                r["camera_frames"],
                ", ".join(r["cameras"])
                if len(r["cameras"]) <= 4
                else f"{len(r['cameras'])} ({r['cameras'][0]} .. {r['cameras'][-1]})",
                " / ".join(r["frame_sizes"]),
                r["image_size"],
                "yes" if r["backgrounds"] else "no",
                "moving" if r["moving"] else "static",
            ]
        )
    lines += [
        _table(
            [
                "role",
                "subjects",
                "sequences",
                "frames",
                "camera-frames",
                "cameras",
                "frame size (px)",
                "stored images",
                "backgrounds",
                "cameras move",
            ],
            rows,
        ),
        "",
    ]
    fps = prof.get("fps")
    if fps:
        lines += [
            f"Frame rate {fps:g} fps. Frame sizes are the native camera sizes (Human3.6M 1000x1002/1000x1000, "
            f"3DHP 2048x2048 studio / 1920x1080 outdoor, unpaired 1280x720) scaled by "
            f"{prof.get('frame_scale')}; intrinsics are scaled with them and stored as used. "
            "No lens distortion (stored radial/tangential coefficients are zero).",
            "",
        ]
    lines += ["## Occlusion, coverage, invalid frames", ""]
    rows = []
    order = ("h36m-train", "h36m-val", "h36m-test", "dunp", "3dhp-train", "3dhp-test", "prior")
    for role, r in sorted(fig["roles"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
        st = stats.get(role, {})
        hidden = st.get("occluded", 0) / max(st.get("joints", 0), 1) if st else float("nan")
        outside = st.get("outside", 0) / max(st.get("joints", 0), 1) if st else float("nan")
        rows.append(
            [
                role,
                f"{100 * hidden:.1f} %",
                f"{100 * outside:.2f} %",
                f"{100 * r['occluded_joints'] / max(r['joints'], 1):.1f} %",
                f"{100 * st.get('coverage', float('nan')):.1f} %",
                r["invalid"],
                "-" if st.get("median_leak") is None else f"{100 * st['median_leak']:.0f} %",
            ]
        )
    lines += [
        _table(
            [
                "role",
                "joints hidden by the depth buffer",
                "joints outside the frame",
                "extras/occluded (valid frames)",
                "person pixels per crop",
                "invalid frames",
                "person pixels kept by a temporal median",
            ],
            rows,
        ),
        "",
    ]
    lines += [
        "A joint is *hidden* when the front-most surface at its pixel belongs to another body part or to a "
        "scene object (a chair); `extras/occluded` (N, 17) marks hidden or out-of-frame joints per camera.",
        "",
    ]
    lines += ["## How hard is it", ""]
    ov = fig.get("overlap")
    rows = []
    if ov:
        rows.append(
            [
                "world (h36m-test -> h36m-train)",
                f"{ov['test_to_train_mm']:.1f}",
                f"{ov.get('within_train_mm', float('nan')):.1f}",
                f"{fig['kinematic_ceiling_mm']:.1f}",
            ]
        )
    ref = fig.get("reference")
    if ref:
        rows.append(
            [
                f"real motion ({ref['file']}, clips split 25/75)",
                f"{ref.get('test_to_train_mm', float('nan')):.1f}",
                f"{ref.get('within_train_mm', float('nan')):.1f}",
                f"{ref['kinematic_ceiling_mm']:.1f}",
            ]
        )
    if rows:
        lines += [
            _table(
                [
                    "poses",
                    "nearest train pose from test (P-MPJPE mm)",
                    "nearest pose of another train subject (mm)",
                    "kinematic ceiling (P-MPJPE mm)",
                ],
                rows,
            ),
            "",
        ]
        lines += [
            "*Nearest train pose*: for each test pose (world frame), the smallest P-MPJPE to any training pose; "
            "*another train subject*: the same from each training subject to the other training subjects. "
            "Test poses overlap the training poses as much as the training subjects overlap each other when "
            "the two agree. *Kinematic ceiling*: inverse then forward kinematics with the canonical Human3.6M "
            "bone-length ratios scaled to the pose's trunk: the error the model's kinematic structure cannot "
            "avoid on these bodies (their proportions differ per person and from the canonical ratios)."
            + (
                f" On training poses: {fig['kinematic_ceiling_train_mm']:.1f} mm."
                if "kinematic_ceiling_train_mm" in fig
                else ""
            ),
            "",
        ]
    bl = fig.get("baselines")
    if bl:
        lines += [
            _table(
                ["baseline (h36m-test, protocol h36m-p2)", "P-MPJPE mm", "N-MPJPE mm", "MPJPE mm"],
                [
                    [
                        k,
                        f"{v.get('p_mpjpe_mm', float('nan')):.1f}",
                        f"{v.get('n_mpjpe_mm', float('nan')):.1f}",
                        f"{v.get('mpjpe_mm', float('nan')):.1f}",
                    ]
                    for k, v in bl.items()
                ],
            ),
            "",
        ]
        lines += [
            "*mean*: the mean root-relative camera-frame pose of h36m-train for every frame; *const*: one pose "
            "for every frame, the generalized-Procrustes mean of the h36m-train poses (the floor a model that "
            "ignores its input can reach under P-MPJPE); *nn2d*: the h36m-train pose whose true 2D "
            "(root-relative, RMS-normalised) is nearest to the frame's true 2D. Regenerate with "
            "`kspbench world baseline --kind mean|const|nn2d` and score with `kspbench eval`.",
            "",
        ]
    people = man.get("people", {})
    if people:
        lines += ["## People", ""]
        rows = [
            [
                p["name"],
                p["role"],
                p["height_mm"],
                p["build"],
                p["hair"],
                p["sleeves"],
                p["legwear"],
                p["skin"],
                p["top"],
                p["trousers"],
                p["shoes"],
            ]
            for p in people.values()
        ]
        lines += [
            _table(
                [
                    "subject",
                    "role",
                    "height mm",
                    "build",
                    "hair",
                    "sleeves",
                    "legwear",
                    "skin",
                    "top",
                    "trousers",
                    "shoes",
                ],
                rows,
            ),
            "",
        ]
        lines += [
            f"Plus {man.get('dunp_people', 0)} unpaired-clip people (one per clip, wider apparel variety). "
            "Validation and test people are drawn to differ from every training person (h36m-train, "
            "3dhp-train, prior) in both body (height or a bone-group scale factor by >= 3 %) and apparel "
            "(top or trouser colour, or top texture). Bone-group scale factors are uniform in [0.87, 1.13] "
            "on top of anthropometric proportions, heights 1.50-1.95 m.",
            "",
        ]
    lines += [
        "## Notes",
        "",
        "* Joints are read off each body (Human3.6M-17 layout): Pelvis = midpoint of the hip joints, Spine = "
        "trunk centre at the lumbar/thoracic junction, Thorax = centre of the base of the neck, Neck/Nose = a "
        "point just inside the face at nose level, HeadTop = top of the head ellipsoid. The bodies' spines "
        "bend in three segments and their clavicles move, which the model's skeleton does not have.",
        _background_note(prof),
        f"* 3dhp-test `extras/univ_annot3` = camera_3d scaled about the pelvis by "
        f"{man.get('universal_height_mm', 1750):g} mm / the person's height (a universal height); "
        "`extras/activity` in 1..7 (Standing/Walking, Exercising, Sitting, Reaching/Crouching, On The Floor, "
        "Sports, Miscellaneous); frames with a joint outside the image, and a few dropouts, are invalid.",
        "* `prior`: exactly 20 labelled samples of subject P in a plain style (flat colours, no shading, "
        "uniform backdrop), each from its own camera (per-frame rotation/translation).",
        "* Labels of every role are stored (world_3d, camera_3d, pose_2d); roles that are unlabelled by "
        "convention (dunp, 3dhp-train) must not be trained on with them except in weak/semi-supervised "
        "variants.",
        "",
    ]
    return "\n".join(lines)


def _background_note(prof: dict) -> str:
    common = (
        "The last column of the occlusion table is the share of the person's pixels (in the median's frames) "
        "that a per-pixel temporal median of the clip still shows (differs from the empty scene by more than "
        "10 grey levels): a person who stays put survives the median, as in real data. The unpaired role "
        "(`dunp`) has moving cameras (per-frame rotation/translation) and no background."
    )
    if prof.get("background", "median") == "clean":
        return (
            "* `backgrounds` (static cameras) = the empty scene as rendered (an **oracle background**, like the "
            "oracle boxes: the method's decoder needs Bt without the person), cut with the same boxes as "
            '`images`; root attribute `background_estimate` = "clean". ' + common
        )
    return (
        f"* `backgrounds` (static cameras) = per-pixel temporal median of {prof.get('median_frames')} evenly "
        "spaced full frames of the clip, cut with the same boxes as `images`; root attribute "
        '`background_estimate` = "median:<frames>". ' + common
    )


def datasheet(
    store_path, reference_motion: str | None = None, build_seconds: float | None = None, baselines: bool = True
) -> str:
    return render(compute(store_path, reference_motion, baselines), build_seconds)
