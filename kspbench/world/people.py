"""The world's people: bodies richer than the model's skeleton, and their apparel.

A :class:`Person` has

* a rig (``dims``, millimetres): a three-segment spine that bends (lumbar, lower and upper thoracic) starting behind
  and above the hip joints, a neck and a head, clavicles from the sternum to the shoulder joints, arms with hands,
  legs with feet. Proportions depart from the canonical Human3.6M ratios per person: every bone group gets its own
  scale factor (uniform within ``BONE_SCALE_RANGE``, i.e. +-13 %, plus a +-1.5 % left/right asymmetry), then the whole
  rig is scaled to the person's standing height (1.50-1.95 m);
* a body made of ellipsoids (``PRIMITIVES``: spheres, elongated limb ellipsoids, flat torso and foot ellipsoids) whose
  radii come from the person's build and clothing, not from the model's limb widths;
* apparel: per-part materials (skin, hair, top, sleeves, trousers or shorts, shoes), each a colour pair and a texture
  (plain, stripes, checks, diagonal), with its own stripe period in millimetres.

Joints in the Human3.6M-17 layout are read off the rig (``kspbench.world.motion.joints17``): the pelvis is the
midpoint of the hip joint centres, "Spine" the centre of the trunk at the lumbar/thoracic junction, "Thorax" the
centre of the base of the neck, "Neck/Nose" a point just inside the face at nose level, "HeadTop" the top of the head
ellipsoid, shoulders/elbows/wrists/hips/knees/ankles the joint centres.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

BASE_HEIGHT = 1750.0
HEIGHT_RANGE = (1500.0, 1950.0)
BONE_SCALE_RANGE = (0.87, 1.13)
ASYMMETRY = 0.015
TEXTURES = ("plain", "hstripes", "vstripes", "checks", "diagonal")

# Rig lengths as fractions of standing height, before the per-person factors (anthropometric tables for adults,
# rounded: Winter, "Biomechanics and Motor Control of Human Movement", segment lengths as fractions of height).
_FRACTIONS = {
    "ankle_h": 0.040,
    "shin": 0.266,
    "thigh": 0.259,
    "hip_half": 0.078,
    "l5_x": -0.015,
    "l5_z": 0.055,
    "lumbar": 0.080,
    "thor_lo": 0.077,
    "thor_hi": 0.077,
    "core": 0.035,
    "neck_fwd": 0.022,
    "neck": 0.035,
    "head_x": 0.016,
    "head_z": 0.045,
    "head_ax": 0.052,
    "head_ay": 0.044,
    "head_az": 0.058,
    "sc_x": 0.040,
    "sc_y": 0.012,
    "sc_z": -0.022,
    "clav_x": -0.022,
    "clav_y": 0.077,
    "clav_z": 0.012,
    "upper_arm": 0.165,
    "forearm": 0.147,
    "hand": 0.100,
    "foot": 0.150,
}
# The averages are calibrated so that the mean person's Human3.6M-17 bone-length ratios match the canonical ones
# (kspbench.core.skeleton, from S1) for the legs, hips, trunk, clavicles and arms, as Human3.6M's subjects do; the head
# follows anatomy (HeadTop on top of the head), so Neck/Nose -> HeadTop is longer than Human3.6M's.
# Bone groups that share one scale factor.
_GROUPS = {
    "shin": ("shin",),
    "thigh": ("thigh",),
    "hip": ("hip_half",),
    "lumbar": ("lumbar", "l5_z"),
    "thorax": ("thor_lo", "thor_hi"),
    "neck": ("neck", "neck_fwd"),
    "head": ("head_ax", "head_ay", "head_az", "head_x", "head_z"),
    "clavicle": ("clav_y", "sc_y"),
    "upper_arm": ("upper_arm",),
    "forearm": ("forearm",),
    "hand": ("hand",),
    "foot": ("foot", "ankle_h"),
}
_SIDED = ("shin", "thigh", "upper_arm", "forearm")
# Radii (mm) of a 1.75 m person of average build.
_RADII = {
    "neck": 52.0,
    "pelvis_x": 100.0,
    "pelvis_y": 160.0,
    "pelvis_z": 115.0,
    "abd_x": 95.0,
    "abd_y": 140.0,
    "chest_lo_x": 100.0,
    "chest_lo_y": 148.0,
    "chest_hi_x": 95.0,
    "chest_hi_y": 165.0,
    "deltoid": 52.0,
    "upper_arm": 44.0,
    "elbow": 37.0,
    "forearm": 35.0,
    "hand_x": 17.0,
    "hand_y": 40.0,
    "thigh": 76.0,
    "knee": 54.0,
    "shin": 50.0,
    "foot_y": 46.0,
    "foot_z": 40.0,
}

# Body primitives: name, material slot, Human3.6M joints the primitive belongs to (for occlusion labels).
PRIMITIVES: tuple[tuple[str, str], ...] = (
    ("pelvis", "trousers"),
    ("abdomen", "top"),
    ("chest_lo", "top"),
    ("chest_hi", "top"),
    ("neck", "skin"),
    ("head", "skin"),
    ("hair", "hair"),
    ("deltoid_L", "top"),
    ("deltoid_R", "top"),
    ("upper_arm_L", "sleeve_upper"),
    ("upper_arm_R", "sleeve_upper"),
    ("elbow_L", "sleeve_lower"),
    ("elbow_R", "sleeve_lower"),
    ("forearm_L", "sleeve_lower"),
    ("forearm_R", "sleeve_lower"),
    ("hand_L", "skin"),
    ("hand_R", "skin"),
    ("thigh_L", "trousers"),
    ("thigh_R", "trousers"),
    ("knee_L", "lower_leg"),
    ("knee_R", "lower_leg"),
    ("shin_L", "lower_leg"),
    ("shin_R", "lower_leg"),
    ("foot_L", "shoes"),
    ("foot_R", "shoes"),
)
PRIMITIVE_NAMES: tuple[str, ...] = tuple(p[0] for p in PRIMITIVES)
PRIMITIVE_INDEX: dict[str, int] = {n: i for i, n in enumerate(PRIMITIVE_NAMES)}
MATERIAL_SLOTS: tuple[str, ...] = (
    "skin",
    "hair",
    "top",
    "sleeve_upper",
    "sleeve_lower",
    "trousers",
    "lower_leg",
    "shoes",
)
# For each Human3.6M joint, the primitives it sits in: a joint is occluded when the front-most surface at its
# pixel belongs to anything else (another body part or a scene object).
JOINT_OWNERS: tuple[tuple[str, ...], ...] = (
    ("pelvis", "abdomen"),
    ("pelvis", "thigh_R"),
    ("thigh_R", "knee_R", "shin_R"),
    ("shin_R", "foot_R"),
    ("pelvis", "thigh_L"),
    ("thigh_L", "knee_L", "shin_L"),
    ("shin_L", "foot_L"),
    ("abdomen", "chest_lo", "pelvis"),
    ("chest_hi", "chest_lo", "neck"),
    ("head", "neck", "hair"),
    ("head", "hair"),
    ("chest_hi", "deltoid_L", "upper_arm_L"),
    ("upper_arm_L", "elbow_L", "forearm_L"),
    ("forearm_L", "hand_L"),
    ("chest_hi", "deltoid_R", "upper_arm_R"),
    ("upper_arm_R", "elbow_R", "forearm_R"),
    ("forearm_R", "hand_R"),
)
# Primitives whose lowest point can touch the floor (feet when standing, knees when kneeling, pelvis when sitting).
CONTACT_PRIMITIVES: tuple[str, ...] = ("foot_L", "foot_R", "knee_L", "knee_R", "shin_L", "shin_R", "pelvis")


@dataclass(frozen=True)
class Material:
    """A surface: ``colour`` and ``colour2`` (RGB in [0, 1]) laid out by ``texture`` with period ``period`` mm."""

    colour: tuple[float, float, float]
    colour2: tuple[float, float, float]
    texture: str = "plain"
    period: float = 40.0


@dataclass(frozen=True)
class Person:
    """One person of the world: rig lengths, body radii, apparel and motion style."""

    name: str
    height: float
    build: float
    dims: dict = field(repr=False)
    radii: dict = field(repr=False)
    materials: dict = field(repr=False)
    hair: str = "short"
    sleeves: str = "long"
    legwear: str = "trousers"
    style: dict = field(default_factory=dict, repr=False)
    bone_factors: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        """Plain-data description for the datasheet and the store manifest."""

        def hexc(c):
            return "#" + "".join(f"{int(round(255 * v)):02x}" for v in c)

        m = self.materials
        return {
            "name": self.name,
            "height_mm": round(self.height, 1),
            "build": round(self.build, 3),
            "hair": self.hair,
            "sleeves": self.sleeves,
            "legwear": self.legwear,
            "skin": hexc(m["skin"].colour),
            "top": f"{hexc(m['top'].colour)}/{hexc(m['top'].colour2)} {m['top'].texture}",
            "trousers": f"{hexc(m['trousers'].colour)} {m['trousers'].texture}",
            "shoes": hexc(m["shoes"].colour),
            "handed": self.style.get("handed", "R"),
            "bone_factors": {k: round(v, 3) for k, v in self.bone_factors.items()},
        }


# --- apparel ------------------------------------------------------------------------------------------------------


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(float(x) for x in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)))


def _skin(rng: np.random.Generator) -> tuple[float, float, float]:
    t = rng.uniform(0.0, 1.0)
    light, dark = np.array([0.95, 0.79, 0.68]), np.array([0.33, 0.21, 0.14])
    c = light + t * (dark - light) + rng.normal(0, 0.02, 3)
    return tuple(float(x) for x in np.clip(c, 0, 1))


_HAIR = (
    (0.07, 0.06, 0.05),
    (0.22, 0.14, 0.09),
    (0.42, 0.28, 0.16),
    (0.80, 0.67, 0.42),
    (0.55, 0.25, 0.10),
    (0.62, 0.62, 0.60),
)


def _garment_colour(rng: np.random.Generator, kind: str, variety: float) -> tuple[float, float, float]:
    if kind == "trousers" and rng.uniform() > 0.25 * variety:
        base = (
            (0.18, 0.26, 0.45),
            (0.08, 0.08, 0.09),
            (0.35, 0.35, 0.37),
            (0.58, 0.52, 0.38),
            (0.25, 0.22, 0.18),
            (0.55, 0.62, 0.75),
        )[rng.integers(6)]
        return tuple(float(x) for x in np.clip(np.array(base) + rng.normal(0, 0.05, 3), 0, 1))
    sat = rng.uniform(0.05, 0.9) if variety <= 1 else rng.uniform(0.2, 1.0)
    return _hsv(rng.uniform(), sat, rng.uniform(0.12, 0.95))


def _texture(rng: np.random.Generator, kind: str, variety: float) -> str:
    if kind == "top":
        p = np.array([0.42, 0.2, 0.1, 0.18, 0.1])
    else:
        p = np.array([0.8, 0.02, 0.1, 0.08, 0.0])
    if variety > 1:
        p = p ** (1.0 / variety)
    return TEXTURES[rng.choice(len(TEXTURES), p=p / p.sum())]


def _material(rng: np.random.Generator, kind: str, variety: float) -> Material:
    c1 = _garment_colour(rng, kind, variety)
    tex = _texture(rng, kind, variety)
    # The second colour contrasts with the first (texture visible), hue and value both moved.
    h, s, v = colorsys.rgb_to_hsv(*c1)
    c2 = _hsv(h + rng.uniform(0.15, 0.85), rng.uniform(0.0, 0.9), (v + rng.uniform(0.3, 0.7)) % 1.0 * 0.85 + 0.1)
    return Material(colour=c1, colour2=c2 if tex != "plain" else c1, texture=tex, period=float(rng.uniform(22, 70)))


def _apparel(rng: np.random.Generator, variety: float) -> tuple[dict, str, str, str]:
    skin = Material(_skin(rng), _skin(rng))
    skin = Material(skin.colour, skin.colour)
    hair_style = ("short", "long", "bald")[rng.choice(3, p=[0.55, 0.3, 0.15])]
    hc = np.clip(np.array(_HAIR[rng.integers(len(_HAIR))]) + rng.normal(0, 0.03, 3), 0, 1)
    hair = Material(tuple(float(x) for x in hc), tuple(float(x) for x in hc))
    top = _material(rng, "top", variety)
    trousers = _material(rng, "trousers", variety)
    sleeves = "long" if rng.uniform() < 0.6 else "short"
    legwear = "shorts" if rng.uniform() < 0.15 * variety else "trousers"
    shoe_c = (
        ((0.06, 0.06, 0.06), (0.9, 0.9, 0.88), (0.35, 0.22, 0.12))[rng.integers(3)]
        if rng.uniform() < 0.75
        else _hsv(rng.uniform(), rng.uniform(0.3, 1), rng.uniform(0.3, 0.9))
    )
    shoes = Material(tuple(float(x) for x in shoe_c), tuple(float(x) for x in shoe_c))
    mats = {
        "skin": skin,
        "hair": hair,
        "top": top,
        "sleeve_upper": top,
        "sleeve_lower": top if sleeves == "long" else skin,
        "trousers": trousers,
        "lower_leg": trousers if legwear == "trousers" else skin,
        "shoes": shoes,
    }
    return mats, hair_style, sleeves, legwear


def flat_apparel(rng: np.random.Generator) -> dict:
    """The prior role's plain style: one flat colour per body region, no texture (shading is off in the renderer)."""
    hue = rng.uniform()
    cols = [_hsv(hue + k * 0.13, 0.55, 0.85 - 0.05 * k) for k in range(6)]
    plain = [Material(c, c) for c in cols]
    return {
        "skin": plain[0],
        "hair": plain[1],
        "top": plain[2],
        "sleeve_upper": plain[2],
        "sleeve_lower": plain[3],
        "trousers": plain[4],
        "lower_leg": plain[4],
        "shoes": plain[5],
    }


# --- bodies -------------------------------------------------------------------------------------------------------


def _standing_height(d: dict) -> float:
    """Sole to head top of the rest pose, from the rig lengths (the sum along the vertical chain)."""
    return (
        d["ankle_h"]
        + 0.5 * (d["shin_L"] + d["shin_R"])
        + 0.5 * (d["thigh_L"] + d["thigh_R"])
        + d["l5_z"]
        + d["lumbar"]
        + d["thor_lo"]
        + d["thor_hi"]
        + d["neck"]
        + d["head_z"]
        + d["head_az"]
    )


def sample_person(rng: np.random.Generator, name: str, *, variety: float = 1.0, height: float | None = None) -> Person:
    """A new random person (rig, body, apparel, motion style)."""
    h_target = float(np.clip(rng.normal(1725.0, 95.0), *HEIGHT_RANGE)) if height is None else float(height)
    factors = {g: float(rng.uniform(*BONE_SCALE_RANGE)) for g in _GROUPS}
    dims = {}
    for key, frac in _FRACTIONS.items():
        f = 1.0
        for g, keys in _GROUPS.items():
            if key in keys:
                f = factors[g]
        dims[key] = frac * BASE_HEIGHT * f
    for key in _SIDED:
        a = float(rng.uniform(-ASYMMETRY, ASYMMETRY))
        dims[key + "_L"] = dims[key] * (1 + a)
        dims[key + "_R"] = dims[key] * (1 - a)
        del dims[key]
    scale = h_target / _standing_height(dims)
    dims = {k: v * scale for k, v in dims.items()}

    build = float(rng.uniform(0.85, 1.3))
    hips_f, shoulders_f = float(rng.uniform(0.9, 1.15)), float(rng.uniform(0.9, 1.15))
    loose_top, loose_legs = float(rng.uniform(0, 14)), float(rng.uniform(0, 10))
    s = h_target / BASE_HEIGHT
    radii = {}
    for key, r in _RADII.items():
        g = build
        if key.startswith(("abd",)):
            g = build**1.6
        if key.startswith(("hand", "foot")):
            g = 1.0
        if key.startswith("pelvis_y"):
            g *= hips_f
        if key.startswith(("chest_hi_y", "deltoid")):
            g *= shoulders_f
        radii[key] = r * s * g * float(rng.uniform(0.93, 1.07))
    for key in ("abd_x", "abd_y", "chest_lo_x", "chest_lo_y", "chest_hi_x", "chest_hi_y", "deltoid", "upper_arm"):
        radii[key] += loose_top
    for key in ("pelvis_x", "pelvis_y", "thigh", "knee", "shin"):
        radii[key] += loose_legs
    # The hip joints (Human3.6M-wide) stay inside the pelvis: hips are at least that broad.
    radii["pelvis_y"] = max(radii["pelvis_y"], 1.22 * dims["hip_half"])
    mats, hair, sleeves, legwear = _apparel(rng, variety)
    if sleeves == "short":
        radii["elbow"] -= loose_top * 0.5
    style = {
        "tempo": float(rng.uniform(0.85, 1.2)),
        "amp": float(rng.uniform(0.8, 1.2)),
        "handed": "R" if rng.uniform() < 0.85 else "L",
        "neck_flex": float(rng.uniform(-4, 12)),
        "trunk_lean": float(rng.uniform(-4, 6)),
        "knee_relax": float(rng.uniform(0, 6)),
        "arm_abd": float(rng.uniform(3, 11)),
        "elbow_rest": float(rng.uniform(6, 22)),
        "hip_out": float(rng.uniform(0, 12)),
        "stance": float(rng.uniform(-2, 5)),
        "speed": float(rng.uniform(0.85, 1.15)),
        "fidget": float(rng.uniform(0.6, 1.4)),
    }
    return Person(
        name=name,
        height=h_target,
        build=build,
        dims=dims,
        radii=radii,
        materials=mats,
        hair=hair,
        sleeves=sleeves,
        legwear=legwear,
        style=style,
        bone_factors=factors,
    )


def with_materials(person: Person, materials: dict, hair: str | None = None) -> Person:
    """The same body and motion style in other clothes (the prior role's flat style)."""
    return Person(
        name=person.name,
        height=person.height,
        build=person.build,
        dims=person.dims,
        radii=person.radii,
        materials=materials,
        hair=person.hair if hair is None else hair,
        sleeves="long",
        legwear="trousers",
        style=person.style,
        bone_factors=person.bone_factors,
    )


# --- disjointness -------------------------------------------------------------------------------------------------

APPAREL_MIN_DISTANCE = 0.22  # RGB distance in [0, 1] units between the tops or between the trousers
BODY_MIN_DISTANCE = 0.03  # relative height difference or largest bone-factor difference


def apparel_distance(a: Person, b: Person) -> float:
    """How different two people's clothes look: the larger of the top and trouser colour distances (RGB, [0, 1]),
    plus 1 if the tops' textures differ."""
    top = float(np.linalg.norm(np.subtract(a.materials["top"].colour, b.materials["top"].colour)))
    legs = float(np.linalg.norm(np.subtract(a.materials["trousers"].colour, b.materials["trousers"].colour)))
    return max(top, legs) + (1.0 if a.materials["top"].texture != b.materials["top"].texture else 0.0)


def body_distance(a: Person, b: Person) -> float:
    """How different two bodies are: relative height difference or the largest bone-factor difference."""
    dh = abs(a.height - b.height) / max(a.height, b.height)
    df = max(abs(a.bone_factors[g] - b.bone_factors[g]) for g in _GROUPS) if a.bone_factors and b.bone_factors else 0.0
    return max(dh, df)


def distinct_person(
    rng: np.random.Generator, name: str, others: list[Person], *, variety: float = 1.0, tries: int = 200
) -> Person:
    """A person whose apparel and body both differ from everyone in ``others`` (unseen people for test roles)."""
    best, best_d = None, -1.0
    for _ in range(tries):
        p = sample_person(rng, name, variety=variety)
        d = min(
            [
                min(apparel_distance(p, o) / APPAREL_MIN_DISTANCE, body_distance(p, o) / BODY_MIN_DISTANCE)
                for o in others
            ]
            or [np.inf]
        )
        if d >= 1.0:
            return p
        if d > best_d:
            best, best_d = p, d
    return best


# --- primitives ---------------------------------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def body_primitives(person: Person, points: dict, frames: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The person's ellipsoids for every frame of a posed rig.

    Args:
        points: rig points (T, 3) mm (see ``kspbench.world.motion``).
        frames: rig segment rotations (T, 3, 3), columns = the segment's x (forward), y (left), z (up) axes.

    Returns:
        ``centres (T, K, 3)``, ``rotations (T, K, 3, 3)`` (columns = the ellipsoid's axes), ``semi (K, 3)`` semi-axes
        in mm, K = len(PRIMITIVES).
    """
    d, r = person.dims, person.radii
    h = person.height
    T = next(iter(points.values())).shape[0]
    K = len(PRIMITIVES)
    centres = np.zeros((T, K, 3))
    rots = np.zeros((T, K, 3, 3))
    semi = np.zeros((K, 3))

    def put(name, c, rot, axes):
        k = PRIMITIVE_INDEX[name]
        centres[:, k] = c
        rots[:, k] = rot
        semi[k] = axes

    def local(rot, v):
        return np.einsum("tij,j->ti", rot, np.asarray(v, float))

    core = d["core"]
    put(
        "pelvis",
        points["pelvis"] + local(frames["pelvis"], (-0.2 * core, 0, 0.03 * h)),
        frames["pelvis"],
        (r["pelvis_x"], r["pelvis_y"], r["pelvis_z"]),
    )
    put(
        "abdomen",
        0.5 * (points["l5"] + points["t12"]) + local(frames["lumbar"], (core, 0, 0)),
        frames["lumbar"],
        (r["abd_x"], r["abd_y"], 0.75 * d["lumbar"]),
    )
    put(
        "chest_lo",
        0.5 * (points["t12"] + points["t6"]) + local(frames["thor_lo"], (core, 0, 0)),
        frames["thor_lo"],
        (r["chest_lo_x"], r["chest_lo_y"], 0.75 * d["thor_lo"]),
    )
    put(
        "chest_hi",
        0.5 * (points["t6"] + points["c7"]) + local(frames["chest"], (0.8 * core, 0, -0.1 * d["thor_hi"])),
        frames["chest"],
        (r["chest_hi_x"], r["chest_hi_y"], 0.8 * d["thor_hi"]),
    )
    put(
        "neck",
        0.5 * (points["neck_base"] + points["atlas"]),
        frames["neck"],
        (r["neck"], r["neck"], 0.75 * d["neck"] + 0.2 * r["neck"]),
    )
    head_axes = (d["head_ax"], d["head_ay"], d["head_az"])
    put("head", points["head_c"], frames["head"], head_axes)
    if person.hair == "bald":
        put("hair", points["head_c"], frames["head"], tuple(0.5 * a for a in head_axes))
    elif person.hair == "long":
        put(
            "hair",
            points["head_c"] + local(frames["head"], (-0.22 * d["head_ax"], 0, -0.05 * d["head_az"])),
            frames["head"],
            (0.92 * d["head_ax"], 1.1 * d["head_ay"], 1.12 * d["head_az"]),
        )
    else:
        put(
            "hair",
            points["head_c"] + local(frames["head"], (-0.12 * d["head_ax"], 0, 0.1 * d["head_az"])),
            frames["head"],
            (0.95 * d["head_ax"], 1.06 * d["head_ay"], 0.95 * d["head_az"]),
        )
    for s in ("L", "R"):
        put(f"deltoid_{s}", points[f"shoulder_{s}"], frames[f"upper_arm_{s}"], (r["deltoid"],) * 3)
        put(
            f"upper_arm_{s}",
            0.5 * (points[f"shoulder_{s}"] + points[f"elbow_{s}"]),
            frames[f"upper_arm_{s}"],
            (r["upper_arm"], r["upper_arm"], 0.55 * d[f"upper_arm_{s}"]),
        )
        put(f"elbow_{s}", points[f"elbow_{s}"], frames[f"forearm_{s}"], (r["elbow"],) * 3)
        put(
            f"forearm_{s}",
            0.5 * (points[f"elbow_{s}"] + points[f"wrist_{s}"]),
            frames[f"forearm_{s}"],
            (r["forearm"], 0.95 * r["forearm"], 0.55 * d[f"forearm_{s}"]),
        )
        put(
            f"hand_{s}",
            points[f"wrist_{s}"] + local(frames[f"hand_{s}"], (0, 0, -0.42 * d["hand"])),
            frames[f"hand_{s}"],
            (r["hand_x"], r["hand_y"], 0.5 * d["hand"]),
        )
        # The thigh's flesh starts medial of the (wide, Human3.6M-like) hip joint centre.
        side = 1.0 if s == "L" else -1.0
        top = points[f"hip_{s}"] - side * (d["hip_half"] - 0.05 * h) * frames["pelvis"][..., 1]
        put(
            f"thigh_{s}",
            0.5 * (top + points[f"knee_{s}"]),
            frames[f"thigh_{s}"],
            (r["thigh"], r["thigh"], 0.56 * d[f"thigh_{s}"]),
        )
        put(f"knee_{s}", points[f"knee_{s}"], frames[f"shin_{s}"], (r["knee"],) * 3)
        put(
            f"shin_{s}",
            0.5 * (points[f"knee_{s}"] + points[f"ankle_{s}"]),
            frames[f"shin_{s}"],
            (r["shin"], r["shin"], 0.55 * d[f"shin_{s}"]),
        )
        put(
            f"foot_{s}",
            points[f"ankle_{s}"] + local(frames[f"foot_{s}"], (0.28 * d["foot"], 0, -0.55 * d["ankle_h"])),
            frames[f"foot_{s}"],
            (0.55 * d["foot"], r["foot_y"], r["foot_z"]),
        )
    return centres, rots, semi


def lowest_points(centres: np.ndarray, rots: np.ndarray, semi: np.ndarray, names=CONTACT_PRIMITIVES) -> np.ndarray:
    """(T,) lowest world z over the named primitives (the ellipsoid support function along -z)."""
    idx = [PRIMITIVE_INDEX[n] for n in names]
    a = rots[:, idx] * semi[idx][None, :, None, :]  # axes scaled: columns = semi-axis vectors
    extent = np.sqrt((a[:, :, 2, :] ** 2).sum(-1))  # |A^T e_z|
    return (centres[:, idx, 2] - extent).min(axis=1)
