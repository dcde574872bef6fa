"""kspbench's synthetic benchmark world: people, motion, cameras and ground truth, generated from a seed.

Human3.6M and MPI-INF-3DHP are licensed and absent, so ``dvc repro`` trains and evaluates on a world that kspbench
builds itself (``kspbench world build``), deterministically from (profile, seed[, motion file]), as a pose store
(:mod:`kspbench.data.store`, layout v1) with its datasheet beside it.

Modules:
    profiles     sizes and counts per profile (``profiles.yaml``: tiny, smoke, cpu, paper), a frozen dataclass
    seeding      one independent random stream per (seed, names): order- and process-independent
    people       bodies richer than the model's skeleton (bending spine, clavicles, per-person proportions),
                 ellipsoid bodies, apparel (colours, stripes, checks), disjoint test people
    motion       procedural action families (the 15 Human3.6M actions + 4 for 3DHP), joint limits, grounding;
                 loading and retargeting real motion (``--motion``)
    backgrounds  procedural 3D scenes: lab rooms, green-screen studios, outdoor views, plain backdrops, chairs
    render       ray-cast ellipsoid people with shading, textures and a depth buffer
    cameras      Human3.6M's published cameras, 3DHP-like and hand-held moving cameras
    build        roles -> sequences -> crops, boxes (oracle detector), background estimates -> the store
    datasheet    counts, occlusion, invalid frames, pose overlap, the kinematic ceiling, baselines
    baselines    mean-pose and 2D-nearest-neighbour predictions files
    preview      a PNG contact sheet (``png`` writes PNG without any imaging library)

Roles written: h36m-train (S1, S5, S6, S7, S8), h36m-val (S2), h36m-test (S9, S11), dunp (moving cameras),
3dhp-train, 3dhp-test (TS1-TS6), prior (20 plain-style samples of subject P).
"""

from kspbench.world.build import PRIOR_SAMPLES, ROLES, build_world, plan_world, render_sequence
from kspbench.world.profiles import WorldProfile, available_profiles, load_profile

__all__ = [
    "PRIOR_SAMPLES",
    "ROLES",
    "WorldProfile",
    "available_profiles",
    "build_world",
    "load_profile",
    "plan_world",
    "render_sequence",
]
