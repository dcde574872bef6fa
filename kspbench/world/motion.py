"""Motion: procedural action families driving the people's rigs, and retargeting of real motion onto them.

World frame: millimetres, z up, floor at z = 0 (as Human3.6M's world frame). A body frame has x forward, y to the
person's left, z up (kspbench's canonical frame C). Joint angles are in degrees:

* pelvis ``heading`` (yaw about world z), ``pelvis_tilt`` (forward pitch), ``pelvis_list`` (roll, right side down);
* spine ``spine_flex`` (forward), ``spine_lat`` (to the left), ``spine_twist`` (chest to the left), shared by the
  lumbar, lower- and upper-thoracic segments; ``neck_*`` likewise between the neck and the head;
* ``clav_elev_*`` / ``clav_prot_*`` shoulder girdle; ``sh_flex_*`` (arm forward/up), ``sh_abd_*`` (sideways),
  ``sh_rot_*`` (internal rotation), ``elbow_*``, ``wrist_*``;
* ``hip_flex_*``, ``hip_abd_*`` (outwards), ``hip_rot_*`` (external), ``knee_*``, ``ankle_*`` (dorsiflexion);
* ``root_x``, ``root_y`` (mm), ``lift`` (mm, jumps), ``sit`` (0..1: how much a chair carries the pelvis).

Each action family (one per Human3.6M action, plus the 3DHP-only ``Exercise``, ``Sports``, ``Crouch`` and ``Floor``)
writes these curves from a per-person style (tempo, amplitude, handedness, posture) and per-take randomness; smooth
noise on every degree of freedom keeps takes of the same action different. Angles are clipped to human joint limits
(``DOFS``) before forward kinematics, and the body is put on the floor: the lowest of the feet, knees, shins and
pelvis touches z = 0 unless a chair carries the pelvis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kspbench.core import skeleton
from kspbench.errors import KspbenchError
from kspbench.world.people import Person, body_primitives, lowest_points

# name: (neutral, lower limit, upper limit); "_S" expands to _L and _R.
_DOF_TABLE = {
    "heading": (0.0, -1e9, 1e9),
    "pelvis_tilt": (4.0, -20.0, 45.0),
    "pelvis_list": (0.0, -15.0, 15.0),
    "spine_flex": (0.0, -30.0, 95.0),
    "spine_lat": (0.0, -40.0, 40.0),
    "spine_twist": (0.0, -55.0, 55.0),
    "neck_flex": (0.0, -50.0, 65.0),
    "neck_lat": (0.0, -40.0, 40.0),
    "neck_twist": (0.0, -75.0, 75.0),
    "clav_elev_S": (0.0, -10.0, 40.0),
    "clav_prot_S": (0.0, -20.0, 25.0),
    "sh_flex_S": (0.0, -60.0, 180.0),
    "sh_abd_S": (6.0, -40.0, 180.0),
    "sh_rot_S": (10.0, -80.0, 95.0),
    "elbow_S": (12.0, 0.0, 150.0),
    "wrist_S": (0.0, -70.0, 70.0),
    "hip_flex_S": (0.0, -30.0, 130.0),
    "hip_abd_S": (3.0, -35.0, 50.0),
    "hip_rot_S": (5.0, -40.0, 50.0),
    "knee_S": (3.0, 0.0, 150.0),
    "ankle_S": (0.0, -45.0, 30.0),
    "root_x": (0.0, -1e9, 1e9),
    "root_y": (0.0, -1e9, 1e9),
    "lift": (0.0, 0.0, 2000.0),
    "sit": (0.0, 0.0, 1.0),
}
DOFS: dict[str, tuple[float, float, float]] = {}
for _k, _v in _DOF_TABLE.items():
    if _k.endswith("_S"):
        DOFS[_k[:-1] + "L"] = _v
        DOFS[_k[:-1] + "R"] = _v
    else:
        DOFS[_k] = _v
ANGLE_NOISE_EXEMPT = ("heading", "root_x", "root_y", "lift", "sit")

# 3DHP activity classes (kspbench.evaluation.protocol.ACTIVITY_NAMES) of each family.
ACTIVITY_OF = {
    "Walking": 1,
    "Waiting": 1,
    "WalkTogether": 1,
    "WalkDog": 1,
    "Exercise": 2,
    "Sitting": 3,
    "Eating": 3,
    "Crouch": 4,
    "Purchases": 4,
    "Floor": 5,
    "SittingDown": 5,
    "Sports": 6,
    "Greeting": 7,
    "Phoning": 7,
    "Photo": 7,
    "Posing": 7,
    "Discussion": 7,
    "Directions": 7,
    "Smoking": 7,
}
EXTRA_FAMILIES = ("Exercise", "Sports", "Crouch", "Floor")
CHAIR_FAMILIES = ("Sitting", "Eating")


@dataclass
class Chair:
    """A chair in the scene: seat centre (x, y) mm, facing ``heading`` degrees, seat top at ``height`` mm."""

    x: float
    y: float
    heading: float
    height: float
    colour: tuple[float, float, float] = (0.3, 0.2, 0.15)


@dataclass
class Motion:
    """Degree-of-freedom curves of one clip, plus what the scene needs to host it."""

    dofs: dict
    fps: float
    chair: Chair | None = None
    activity: np.ndarray | None = None
    family: str = ""


@dataclass
class Body:
    """A posed body: rig points (T, 3), segment frames (T, 3, 3), and its ellipsoids (see people.body_primitives)."""

    points: dict
    frames: dict
    centres: np.ndarray
    rots: np.ndarray
    semi: np.ndarray
    joints: np.ndarray = field(default=None)  # (T, 17, 3) Human3.6M-17, world mm


# --- rotations ----------------------------------------------------------------------------------------------------


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    a = np.radians(np.asarray(deg, float))
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rx(deg):
    return _rot(0, deg)


def ry(deg):
    return _rot(1, deg)


def rz(deg):
    return _rot(2, deg)


def _apply(rot: np.ndarray, v) -> np.ndarray:
    return np.einsum("tij,j->ti", rot, np.asarray(v, float))


# --- forward kinematics -------------------------------------------------------------------------------------------


def rig_fk(person: Person, d: dict) -> tuple[dict, dict]:
    """Rig points and segment frames from DOF curves (root at z = 0; grounding is done by :func:`pose_body`)."""
    D = person.dims
    T = d["heading"].shape[0]
    P, F = {}, {}
    R0 = rz(d["heading"]) @ ry(d["pelvis_tilt"]) @ rx(-d["pelvis_list"])
    root = np.stack([d["root_x"], d["root_y"], np.zeros(T)], axis=1)
    P["pelvis"], F["pelvis"] = root, R0
    # Spine: flexion mostly low, twist mostly thoracic.
    R = R0
    P["l5"] = root + _apply(R0, (D["l5_x"], 0, D["l5_z"]))
    prev = P["l5"]
    for seg, length, wf, wl, wt, end in (
        ("lumbar", D["lumbar"], 0.45, 0.4, 0.2, "t12"),
        ("thor_lo", D["thor_lo"], 0.3, 0.3, 0.4, "t6"),
        ("chest", D["thor_hi"], 0.25, 0.3, 0.4, "c7"),
    ):
        R = R @ rz(wt * d["spine_twist"]) @ ry(wf * d["spine_flex"]) @ rx(-wl * d["spine_lat"])
        F[seg] = R
        prev = prev + _apply(R, (0, 0, length))
        P[end] = prev
    chest = F["chest"]
    P["neck_base"] = P["c7"] + _apply(chest, (D["neck_fwd"], 0, 0))
    half = rz(0.5 * d["neck_twist"]) @ ry(0.5 * d["neck_flex"]) @ rx(-0.5 * d["neck_lat"])
    F["neck"] = chest @ half
    P["atlas"] = P["neck_base"] + _apply(F["neck"], (0, 0, D["neck"]))
    F["head"] = F["neck"] @ half
    P["head_c"] = P["atlas"] + _apply(F["head"], (D["head_x"], 0, D["head_z"]))
    P["headtop"] = P["head_c"] + _apply(F["head"], (0, 0, D["head_az"]))
    P["nose"] = P["head_c"] + _apply(F["head"], (0.7 * D["head_ax"], 0, -0.4 * D["head_az"]))
    P["spine"] = P["t12"] + _apply(F["lumbar"], (D["core"], 0, 0))
    for side, s in (("L", 1.0), ("R", -1.0)):
        sc = P["c7"] + _apply(chest, (D["sc_x"], s * D["sc_y"], D["sc_z"]))
        clav = chest @ rz(-s * d[f"clav_prot_{side}"]) @ rx(s * d[f"clav_elev_{side}"])
        P[f"shoulder_{side}"] = sc + _apply(clav, (D["clav_x"], s * D["clav_y"], D["clav_z"]))
        ua = chest @ ry(-d[f"sh_flex_{side}"]) @ rx(s * d[f"sh_abd_{side}"]) @ rz(-s * d[f"sh_rot_{side}"])
        F[f"upper_arm_{side}"] = ua
        P[f"elbow_{side}"] = P[f"shoulder_{side}"] + _apply(ua, (0, 0, -D[f"upper_arm_{side}"]))
        fa = ua @ ry(-d[f"elbow_{side}"])
        F[f"forearm_{side}"] = fa
        P[f"wrist_{side}"] = P[f"elbow_{side}"] + _apply(fa, (0, 0, -D[f"forearm_{side}"]))
        F[f"hand_{side}"] = fa @ ry(-d[f"wrist_{side}"])
        P[f"hip_{side}"] = root + _apply(R0, (0, s * D["hip_half"], 0))
        th = R0 @ ry(-d[f"hip_flex_{side}"]) @ rx(s * d[f"hip_abd_{side}"]) @ rz(s * d[f"hip_rot_{side}"])
        F[f"thigh_{side}"] = th
        P[f"knee_{side}"] = P[f"hip_{side}"] + _apply(th, (0, 0, -D[f"thigh_{side}"]))
        sh = th @ ry(d[f"knee_{side}"])
        F[f"shin_{side}"] = sh
        P[f"ankle_{side}"] = P[f"knee_{side}"] + _apply(sh, (0, 0, -D[f"shin_{side}"]))
        F[f"foot_{side}"] = sh @ ry(-d[f"ankle_{side}"])
    return P, F


def joints17(points: dict) -> np.ndarray:
    """Human3.6M-17 joints (T, 17, 3) read off a posed rig."""
    names = (
        "pelvis",
        "hip_R",
        "knee_R",
        "ankle_R",
        "hip_L",
        "knee_L",
        "ankle_L",
        "spine",
        "neck_base",
        "nose",
        "headtop",
        "shoulder_L",
        "elbow_L",
        "wrist_L",
        "shoulder_R",
        "elbow_R",
        "wrist_R",
    )
    return np.stack([points[n] for n in names], axis=1)


def _shift(body_pts: dict, centres: np.ndarray, dz: np.ndarray) -> None:
    for k in body_pts:
        body_pts[k] = body_pts[k] + np.stack([np.zeros_like(dz), np.zeros_like(dz), dz], axis=1)
    centres[..., 2] += dz[:, None]


def pose_body(person: Person, motion: Motion) -> Body:
    """Pose the person's rig with the motion's curves (clipped to joint limits) and put the body on the floor."""
    d = clip_dofs(motion.dofs)
    P, F = rig_fk(person, d)
    centres, rots, semi = body_primitives(person, P, F)
    floor_dz = -lowest_points(centres, rots, semi)
    dz = floor_dz.copy()
    if motion.chair is not None:
        pel = lowest_points(centres, rots, semi, names=("pelvis",))
        seat_dz = motion.chair.height - pel
        dz = floor_dz + d["sit"] * np.maximum(0.0, seat_dz - floor_dz)
    dz = dz + d["lift"]
    _shift(P, centres, dz)
    return Body(points=P, frames=F, centres=centres, rots=rots, semi=semi, joints=joints17(P))


def clip_dofs(d: dict) -> dict:
    return {k: np.clip(v, DOFS[k][1], DOFS[k][2]) if k in DOFS else v for k, v in d.items()}


# --- building blocks of the families ------------------------------------------------------------------------------


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class _Ctx:
    """State shared by an action family while it writes the curves of one clip."""

    def __init__(
        self, person: Person, rng: np.random.Generator, n: int, fps: float, home, heading0: float, area: "Area"
    ):
        self.p, self.rng, self.n, self.fps, self.area = person, rng, n, fps, area
        self.t = np.arange(n) / fps
        self.dur = n / fps
        st = person.style
        self.tempo = st["tempo"] * rng.uniform(0.92, 1.08)
        self.amp = st["amp"] * rng.uniform(0.9, 1.1)
        self.hand = st["handed"] if rng.uniform() < 0.8 else ("L" if st["handed"] == "R" else "R")
        self.other = "L" if self.hand == "R" else "R"
        self.d = {k: np.full(n, v[0]) for k, v in DOFS.items()}
        self.d["root_x"][:] = home[0]
        self.d["root_y"][:] = home[1]
        self.d["heading"][:] = heading0
        self.chair: Chair | None = None
        # Posture of the person.
        for s in "LR":
            self.d[f"sh_abd_{s}"][:] = st["arm_abd"]
            self.d[f"elbow_{s}"][:] = st["elbow_rest"]
            self.d[f"knee_{s}"][:] = st["knee_relax"] * 0.5
            self.d[f"hip_rot_{s}"][:] = st["hip_out"]
            self.d[f"hip_abd_{s}"][:] = st["stance"]
        self.d["neck_flex"][:] = st["neck_flex"]
        self.d["spine_flex"][:] = st["trunk_lean"]

    def noise(self, sd: float, fmax: float = 0.35, fmin: float = 0.03) -> np.ndarray:
        """Smooth zero-mean noise with standard deviation ``sd`` (a few random sinusoids below ``fmax`` Hz)."""
        k = 4
        f = self.rng.uniform(fmin, fmax, k)
        ph = self.rng.uniform(0, 2 * np.pi, k)
        a = self.rng.uniform(0.5, 1.0, k)
        x = (a[:, None] * np.sin(2 * np.pi * f[:, None] * self.t[None, :] + ph[:, None])).sum(0)
        return sd * x / np.sqrt(0.5 * (a**2).sum())

    def add(self, key: str, value) -> None:
        self.d[key] = self.d[key] + value

    def set(self, key: str, value) -> None:
        self.d[key] = np.broadcast_to(np.asarray(value, float), (self.n,)).copy()

    def blend(self, pose: dict, w: np.ndarray) -> None:
        """Move the curves towards ``pose`` (scalars or curves) by weight ``w`` (T,) in [0, 1]."""
        for k, v in pose.items():
            self.d[k] = (1 - w) * self.d[k] + w * np.asarray(v, float)

    def window(self, t0: float, t1: float, rise: float) -> np.ndarray:
        """1 between t0 and t1, with smooth ramps of ``rise`` seconds."""
        return (
            _smoothstep((self.t - t0) / rise + 1.0) * _smoothstep((t1 - self.t) / rise + 1.0)
            if rise > 0
            else ((self.t >= t0) & (self.t <= t1)).astype(float)
        )

    def schedule(self, mean_gap: float, hold: tuple[float, float], start: float | None = None) -> list:
        """Random (t0, t1) windows: events of duration ``hold`` separated by about ``mean_gap`` seconds."""
        out = []
        t = self.rng.uniform(-0.5 * mean_gap, 0.6 * mean_gap) if start is None else start
        while t < self.dur + 1.0:
            length = self.rng.uniform(*hold)
            out.append((t, t + length))
            t += length + self.rng.exponential(mean_gap) * 0.7 + 0.3 * mean_gap
        return out

    def fidget(self, scale: float = 1.0) -> None:
        """Small smooth motion everywhere: no two takes identical, no frozen frames."""
        f = scale * self.p.style["fidget"]
        for k in DOFS:
            if k in ANGLE_NOISE_EXEMPT:
                continue
            sd = 2.0 if k.startswith(("sh_", "elbow", "neck", "hip_rot", "wrist")) else 1.2
            self.add(k, self.noise(sd * f))
        self.add("root_x", self.noise(25 * f, 0.15))
        self.add("root_y", self.noise(25 * f, 0.15))
        self.add("heading", self.noise(6 * f, 0.1))

    def weight_shift(self, period: float, amount: float = 1.0) -> None:
        """Standing weight shifts: the pelvis moves over one leg, the other knee relaxes."""
        ph = self.rng.uniform(0, 2 * np.pi)
        w = np.sin(2 * np.pi * self.t / (period / self.tempo) + ph) + 0.4 * self.noise(1.0, 0.2)
        w = np.tanh(1.5 * w) * amount
        self.add("pelvis_list", 4.0 * w)
        self.add("hip_abd_L", -4.0 * w)
        self.add("hip_abd_R", 4.0 * w)
        self.add("knee_L", 12.0 * np.maximum(0, -w))
        self.add("knee_R", 12.0 * np.maximum(0, w))
        self.add("ankle_L", 5.0 * np.maximum(0, -w))
        self.add("ankle_R", 5.0 * np.maximum(0, w))
        self.add("spine_lat", -2.0 * w)

    def turns(self, mean_gap: float, max_deg: float) -> None:
        """Occasional turns on the spot."""
        h = np.zeros(self.n)
        for t0, t1 in self.schedule(mean_gap, (0.6, 1.4)):
            h += self.rng.uniform(-max_deg, max_deg) * _smoothstep((self.t - t0) / max(t1 - t0, 1e-3))
        self.add("heading", h)

    def look_around(self, amount: float = 30.0) -> None:
        self.add("neck_twist", self.noise(amount, 0.25))
        self.add("neck_flex", self.noise(0.3 * amount, 0.2))

    def gait(
        self,
        speed: np.ndarray,
        radius: float,
        direction: float,
        centre,
        start_angle: float,
        arm_amp: float = 1.0,
        hip_amp: float = 1.0,
    ) -> None:
        """Walk along a circle (centre, radius mm) at ``speed`` mm/s (T,), legs and arms in a gait cycle."""
        H = self.p.height
        arc = np.cumsum(speed) / self.fps
        ang = start_angle + direction * arc / radius
        self.set("root_x", centre[0] + radius * np.cos(ang))
        self.set("root_y", centre[1] + radius * np.sin(ang))
        self.set("heading", np.degrees(ang) + direction * 90.0)
        rel = np.clip(speed / 1300.0, 0.0, 1.6)
        stride = 0.8 * H * np.sqrt(np.maximum(rel, 0.05))
        phase = self.rng.uniform() + np.cumsum(speed / stride) / self.fps
        moving = np.clip(rel / 0.3, 0, 1)

        def bump(c, mu, sig):
            dd = (c - mu + 0.5) % 1.0 - 0.5
            return np.exp(-0.5 * (dd / sig) ** 2)

        a_hip = 21.0 * self.amp * hip_amp * np.sqrt(rel)
        for s, off in (("L", 0.0), ("R", 0.5)):
            c = (phase + off) % 1.0
            self.add(f"hip_flex_{s}", moving * (8.0 + a_hip * np.cos(2 * np.pi * c)))
            self.add(f"knee_{s}", moving * (2 + 14 * bump(c, 0.13, 0.07) + 55 * np.sqrt(rel) * bump(c, 0.72, 0.11)))
            self.add(
                f"ankle_{s}", moving * (-6 * bump(c, 0.04, 0.04) + 9 * bump(c, 0.4, 0.12) - 17 * bump(c, 0.62, 0.06))
            )
            # The arm swings with the opposite leg.
            a_arm = 16.0 * self.amp * arm_amp * np.sqrt(rel)
            swing = -np.cos(2 * np.pi * c)
            self.add(f"sh_flex_{s}", moving * (3.0 + a_arm * swing))
            self.add(f"elbow_{s}", moving * (6.0 + 10.0 * np.maximum(0, swing) * arm_amp))
        cl = phase % 1.0
        self.add("heading", moving * -5.0 * np.cos(2 * np.pi * cl))
        self.add("spine_twist", moving * 6.0 * np.cos(2 * np.pi * cl))
        self.add("pelvis_list", moving * 3.0 * np.sin(4 * np.pi * cl))
        self.add("spine_flex", moving * 3.0 * rel)


@dataclass(frozen=True)
class Area:
    """The capture area: where cameras see the whole body. Clips start within ``home_radius`` of the centre and walk
    on circles of radius up to ``walk_radius`` around it (mm)."""

    x: float = 0.0
    y: float = 0.0
    home_radius: float = 600.0
    walk_radius: float = 1300.0


H36M_AREA = Area(0.0, 400.0, 450.0, 1250.0)  # seen by all four Human3.6M cameras (their published calibration)


def _home(rng: np.random.Generator, area: Area, frac: float = 1.0) -> tuple[float, float]:
    r = area.home_radius * frac * np.sqrt(rng.uniform())
    a = rng.uniform(0, 2 * np.pi)
    return float(area.x + r * np.cos(a)), float(area.y + r * np.sin(a))


# --- the families -------------------------------------------------------------------------------------------------


def _walk_circle(c: _Ctx, speed, **kw) -> None:
    radius = c.rng.uniform(0.65, 1.0) * c.area.walk_radius
    centre = _home(c.rng, c.area, 0.3)
    c.gait(speed, radius, c.rng.choice([-1.0, 1.0]), centre, c.rng.uniform(0, 2 * np.pi), **kw)


def fam_walking(c: _Ctx) -> None:
    base = 1250.0 * c.p.style["speed"] * c.rng.uniform(0.9, 1.1)
    _walk_circle(c, base * (1 + c.noise(0.06, 0.2)))
    c.fidget(0.6)
    c.look_around(10)


def fam_walkdog(c: _Ctx) -> None:
    base = 950.0 * c.p.style["speed"] * c.rng.uniform(0.85, 1.1)
    stops = np.zeros(c.n)
    for t0, t1 in c.schedule(4.0, (0.8, 2.0)):
        stops = np.maximum(stops, c.window(t0, t1, 0.5))
    _walk_circle(c, base * (1 - 0.85 * stops) * (1 + c.noise(0.1, 0.3)), arm_amp=0.5)
    h = c.hand
    c.blend({f"sh_flex_{h}": 35 + c.noise(8), f"elbow_{h}": 25 + c.noise(8), f"sh_abd_{h}": 12}, np.full(c.n, 0.9))
    c.blend(
        {"spine_flex": 25 + c.noise(8), "neck_flex": 30, f"sh_flex_{c.other}": 40, f"elbow_{c.other}": 20},
        stops * c.rng.uniform(0.3, 1.0),
    )
    c.fidget(0.8)
    c.look_around(15)


def fam_walktogether(c: _Ctx) -> None:
    base = 1050.0 * c.p.style["speed"] * c.rng.uniform(0.9, 1.05)
    _walk_circle(c, base * (1 + c.noise(0.05, 0.2)), arm_amp=0.6)
    side = c.rng.choice([-1.0, 1.0])
    c.add("neck_twist", side * (18 + c.noise(12, 0.3)))
    for t0, t1 in c.schedule(5.0, (1.0, 2.5)):
        w = c.window(t0, t1, 0.4)
        c.blend({f"sh_flex_{c.hand}": 30 + c.noise(10, 0.8), f"elbow_{c.hand}": 70 + c.noise(15, 1.0)}, w)
    c.fidget(0.7)


def _standing(c: _Ctx, shift_period: float = 6.0, shift: float = 0.6) -> None:
    c.weight_shift(shift_period, shift)
    c.turns(6.0, 35.0)


def fam_waiting(c: _Ctx) -> None:
    _standing(c, 5.0, 1.0)
    arms = c.rng.integers(3)
    if arms == 0:  # arms crossed
        c.blend(
            {
                "sh_flex_L": 35,
                "sh_flex_R": 35,
                "sh_rot_L": 75,
                "sh_rot_R": 75,
                "elbow_L": 115,
                "elbow_R": 120,
                "sh_abd_L": 12,
                "sh_abd_R": 12,
            },
            np.full(c.n, 1.0),
        )
    elif arms == 1:  # hands behind the back
        c.blend(
            {"sh_flex_L": -25, "sh_flex_R": -25, "elbow_L": 70, "elbow_R": 70, "sh_rot_L": 60, "sh_rot_R": 60},
            np.full(c.n, 1.0),
        )
    for t0, t1 in c.schedule(6.0, (1.0, 2.0)):  # a look at the watch
        w = c.window(t0, t1, 0.4)
        c.blend({"sh_flex_L": 35, "elbow_L": 100, "sh_rot_L": 40, "neck_flex": 30}, w)
    c.look_around(35)
    c.fidget(1.0)


def fam_directions(c: _Ctx) -> None:
    _standing(c)
    for t0, t1 in c.schedule(2.5, (1.2, 2.5)):
        s = c.hand if c.rng.uniform() < 0.7 else c.other
        w = c.window(t0, t1, 0.35)
        side = 1 if s == "L" else -1
        aim = c.rng.uniform(-30, 60)
        c.blend(
            {
                f"sh_flex_{s}": c.rng.uniform(60, 100),
                f"sh_abd_{s}": max(aim, 0) + 5,
                f"elbow_{s}": c.rng.uniform(3, 20),
                f"sh_rot_{s}": -10,
                "spine_twist": side * 0.4 * aim,
                "neck_twist": side * 0.8 * aim,
            },
            w,
        )
    c.look_around(20)
    c.fidget(1.0)


def fam_discussion(c: _Ctx) -> None:
    _standing(c, 4.0, 0.8)
    for s in "LR":
        act = np.clip(0.6 + c.noise(0.5, 0.3), 0, 1)
        c.blend(
            {
                f"sh_flex_{s}": 25 + c.noise(15, 0.9),
                f"sh_abd_{s}": 18 + c.noise(10, 0.8),
                f"elbow_{s}": 80 + c.noise(25, 1.2),
                f"sh_rot_{s}": 35 + c.noise(15, 0.6),
                f"wrist_{s}": c.noise(20, 1.0),
            },
            act * c.amp * 0.9,
        )
    c.add("neck_flex", c.noise(8, 0.8))
    c.look_around(30)
    c.turns(5.0, 45.0)
    c.fidget(1.2)


def fam_greeting(c: _Ctx) -> None:
    _standing(c)
    for t0, t1 in c.schedule(2.5, (1.5, 3.0)):
        kind = c.rng.integers(3)
        w = c.window(t0, t1, 0.4)
        s = c.hand
        if kind == 0:  # wave
            wave = 25 * np.sin(2 * np.pi * 2.2 * c.tempo * c.t)
            c.blend(
                {
                    f"sh_abd_{s}": c.rng.uniform(90, 140),
                    f"sh_flex_{s}": 30,
                    f"elbow_{s}": 60 + wave,
                    f"sh_rot_{s}": -20,
                },
                w,
            )
        elif kind == 1:  # bow
            c.blend({"spine_flex": c.rng.uniform(20, 45), "hip_flex_L": 15, "hip_flex_R": 15, "neck_flex": 20}, w)
        else:  # handshake / open arms
            if c.rng.uniform() < 0.5:
                c.blend({f"sh_flex_{s}": 45, f"elbow_{s}": 45 + 8 * np.sin(2 * np.pi * 2.5 * c.t), "spine_flex": 10}, w)
            else:
                c.blend(
                    {"sh_abd_L": 70, "sh_abd_R": 70, "sh_flex_L": 40, "sh_flex_R": 40, "elbow_L": 30, "elbow_R": 30}, w
                )
    c.look_around(20)
    c.fidget(1.0)


def fam_phoning(c: _Ctx) -> None:
    _standing(c, 5.0, 0.9)
    s = c.hand
    on = np.clip(0.8 + c.noise(0.4, 0.1), 0, 1)
    c.blend(
        {
            f"sh_flex_{s}": 28 + c.noise(5),
            f"sh_abd_{s}": 38 + c.noise(5),
            f"elbow_{s}": 138,
            f"sh_rot_{s}": 25,
            "neck_lat": (4 if s == "L" else -4) + c.noise(3),
        },
        on,
    )
    o = c.other
    pose = c.rng.integers(3)
    if pose == 0:
        c.blend({f"sh_abd_{o}": 45, f"sh_flex_{o}": -10, f"elbow_{o}": 100, f"sh_rot_{o}": 45}, np.full(c.n, 1.0))
    else:
        for t0, t1 in c.schedule(3.0, (1.0, 2.0)):
            c.blend({f"sh_flex_{o}": 30 + c.noise(10, 1.0), f"elbow_{o}": 75 + c.noise(15, 1.0)}, c.window(t0, t1, 0.4))
    c.look_around(30)
    c.turns(5.0, 60.0)
    c.fidget(1.0)


def fam_smoking(c: _Ctx) -> None:
    _standing(c, 6.0, 0.8)
    s, o = c.hand, c.other
    c.blend(
        {
            f"sh_flex_{s}": 15,
            f"elbow_{s}": 85 + c.noise(10),
            f"sh_rot_{s}": 30,
            f"sh_flex_{o}": 20,
            f"elbow_{o}": 95,
            f"sh_rot_{o}": 65,
        },
        np.full(c.n, 0.9),
    )
    for t0, t1 in c.schedule(4.5 / c.tempo, (1.0, 1.8)):
        c.blend(
            {f"sh_flex_{s}": 40, f"sh_abd_{s}": 25, f"elbow_{s}": 140, f"sh_rot_{s}": 40, "neck_flex": -5},
            c.window(t0, t1, 0.45),
        )
    c.look_around(25)
    c.fidget(0.9)


def fam_eating(c: _Ctx) -> None:
    _sitting(c)
    s, o = c.hand, c.other
    c.blend(
        {f"sh_flex_{s}": 30, f"elbow_{s}": 85, f"sh_flex_{o}": 30, f"elbow_{o}": 80, "neck_flex": 20, "spine_flex": 15},
        np.full(c.n, 1.0),
    )
    for t0, t1 in c.schedule(3.5 / c.tempo, (0.9, 1.6)):
        hh = s if c.rng.uniform() < 0.75 else o
        c.blend(
            {f"sh_flex_{hh}": 45, f"sh_abd_{hh}": 25, f"elbow_{hh}": 138, f"sh_rot_{hh}": 35, "neck_flex": 5},
            c.window(t0, t1, 0.35),
        )
    c.fidget(0.8)


def _sitting(c: _Ctx) -> None:
    """On a chair at the clip's home position, facing the chair's direction."""
    heading = float(c.d["heading"][0])
    c.chair = Chair(
        x=float(c.d["root_x"][0]),
        y=float(c.d["root_y"][0]),
        heading=heading,
        height=0.26 * c.p.height * c.rng.uniform(0.95, 1.05),
    )
    c.set("sit", 1.0)
    hf = c.rng.uniform(80, 95)
    kf = c.rng.uniform(75, 100)
    c.blend(
        {
            "hip_flex_L": hf + c.noise(4),
            "hip_flex_R": hf + c.noise(4),
            "knee_L": kf + c.noise(8),
            "knee_R": kf + c.noise(8),
            "pelvis_tilt": -8,
            "hip_abd_L": 8,
            "hip_abd_R": 8,
            "spine_flex": c.rng.uniform(-5, 15) + c.noise(8, 0.15),
        },
        np.full(c.n, 1.0),
    )
    # Hands on the thighs.
    for s in "LR":
        c.blend({f"sh_flex_{s}": 25, f"elbow_{s}": 55, f"sh_rot_{s}": 20}, np.full(c.n, 0.8))
    c.add("heading", c.noise(4, 0.1))
    c.look_around(25)


def fam_sitting(c: _Ctx) -> None:
    _sitting(c)
    for t0, t1 in c.schedule(4.0, (1.5, 3.0)):
        kind = c.rng.integers(3)
        w = c.window(t0, t1, 0.5)
        if kind == 0:
            c.blend({"spine_flex": 35, "sh_flex_L": 45, "sh_flex_R": 45, "elbow_L": 70, "elbow_R": 70}, w)
        elif kind == 1:
            c.blend({"spine_flex": -12, "neck_flex": -10, f"sh_flex_{c.hand}": 60, f"elbow_{c.hand}": 120}, w)
        else:  # one leg crossed or stretched
            s = c.rng.choice(["L", "R"])
            c.blend({f"knee_{s}": 20, f"hip_flex_{s}": 70}, w)
    c.fidget(0.9)


def fam_sittingdown(c: _Ctx) -> None:
    """Stand, lower to the floor, sit on the floor (knees up or cross-legged), maybe stand again."""
    _standing(c, 6.0, 0.4)
    t_down = c.rng.uniform(0.0, 0.25) * c.dur
    t_up = c.dur * c.rng.uniform(0.75, 1.2)
    down = c.window(t_down + 1.0, t_up - 1.0, 1.0)
    mid = c.window(t_down + 0.3, t_down + 1.5, 0.5) + c.window(t_up - 1.5, t_up - 0.3, 0.5)
    c.blend(
        {
            "spine_flex": 45,
            "hip_flex_L": 70,
            "hip_flex_R": 70,
            "knee_L": 110,
            "knee_R": 110,
            "sh_flex_L": 50,
            "sh_flex_R": 50,
            "elbow_L": 20,
            "elbow_R": 20,
            "ankle_L": 20,
            "ankle_R": 20,
        },
        np.clip(mid, 0, 1),
    )
    if c.rng.uniform() < 0.5:  # knees up, hands behind
        floor = {
            "hip_flex_L": 105,
            "hip_flex_R": 100,
            "knee_L": 115,
            "knee_R": 105,
            "spine_flex": -15,
            "pelvis_tilt": -15,
            "sh_flex_L": -35,
            "sh_flex_R": -35,
            "elbow_L": 10,
            "elbow_R": 10,
            "sh_abd_L": 15,
            "sh_abd_R": 15,
            "ankle_L": 10,
            "ankle_R": 10,
        }
    else:  # cross-legged
        floor = {
            "hip_flex_L": 80,
            "hip_flex_R": 80,
            "hip_abd_L": 40,
            "hip_abd_R": 40,
            "hip_rot_L": 45,
            "hip_rot_R": 45,
            "knee_L": 135,
            "knee_R": 130,
            "spine_flex": 10,
            "pelvis_tilt": -5,
            "sh_flex_L": 30,
            "sh_flex_R": 30,
            "elbow_L": 60,
            "elbow_R": 60,
        }
    c.blend(floor, down)
    c.look_around(25)
    c.fidget(0.8)


def fam_posing(c: _Ctx) -> None:
    _standing(c, 8.0, 0.5)
    poses = (
        {
            "sh_abd_L": 45,
            "sh_abd_R": 45,
            "sh_flex_L": -10,
            "sh_flex_R": -10,
            "elbow_L": 100,
            "elbow_R": 100,
            "sh_rot_L": 40,
            "sh_rot_R": 40,
        },
        {"sh_flex_L": 35, "sh_flex_R": 35, "sh_rot_L": 75, "sh_rot_R": 75, "elbow_L": 115, "elbow_R": 120},
        {"sh_flex_L": 165, "sh_abd_L": 20, "elbow_L": 10, "spine_lat": -10},
        {"sh_flex_R": 165, "sh_abd_R": 20, "elbow_R": 10, "spine_lat": 10},
        {"sh_abd_L": 90, "sh_abd_R": 90, "elbow_L": 5, "elbow_R": 5},
        {"sh_flex_L": 150, "sh_flex_R": 150, "sh_abd_L": 60, "sh_abd_R": 60, "elbow_L": 140, "elbow_R": 140},
        {"hip_flex_L": 25, "knee_L": 10, "sh_abd_R": 50, "elbow_R": 100, "sh_rot_R": 40, "spine_twist": 15},
        {
            f"sh_flex_{c.hand}": 60,
            f"elbow_{c.hand}": 140,
            f"sh_rot_{c.hand}": 40,
            "neck_flex": 15,
            f"sh_flex_{c.other}": 40,
            f"elbow_{c.other}": 100,
            f"sh_rot_{c.other}": 70,
        },
    )
    for t0, t1 in c.schedule(1.0, (1.5, 3.0)):
        c.blend(poses[c.rng.integers(len(poses))], c.window(t0, t1, 0.5))
    c.fidget(0.7)


def fam_photo(c: _Ctx) -> None:
    _standing(c, 6.0, 0.6)
    camera = {
        "sh_flex_L": 60,
        "sh_flex_R": 60,
        "sh_abd_L": 5,
        "sh_abd_R": 5,
        "sh_rot_L": 55,
        "sh_rot_R": 55,
        "elbow_L": 125,
        "elbow_R": 125,
        "neck_flex": 5,
    }
    for t0, t1 in c.schedule(2.0, (1.5, 3.5)):
        w = c.window(t0, t1, 0.4)
        c.blend(camera, w)
        if c.rng.uniform() < 0.4:  # crouch for the shot
            c.blend(
                {
                    "hip_flex_L": 60,
                    "hip_flex_R": 60,
                    "knee_L": 80,
                    "knee_R": 80,
                    "ankle_L": 20,
                    "ankle_R": 20,
                    "spine_flex": 15,
                },
                w * c.rng.uniform(0.5, 1.0),
            )
    c.turns(4.0, 70.0)
    c.fidget(1.0)


def fam_purchases(c: _Ctx) -> None:
    _standing(c, 6.0, 0.6)
    for t0, t1 in c.schedule(2.0, (1.2, 2.5)):
        w = c.window(t0, t1, 0.45)
        kind = c.rng.integers(3)
        s = c.hand if c.rng.uniform() < 0.7 else c.other
        if kind == 0:  # reach down to a shelf
            c.blend(
                {
                    "spine_flex": c.rng.uniform(35, 70),
                    "hip_flex_L": 25,
                    "hip_flex_R": 25,
                    "knee_L": 25,
                    "knee_R": 25,
                    f"sh_flex_{s}": 70,
                    f"elbow_{s}": 15,
                    "neck_flex": 10,
                },
                w,
            )
        elif kind == 1:  # reach forward/up
            c.blend({f"sh_flex_{s}": c.rng.uniform(80, 140), f"elbow_{s}": 15, "spine_flex": 10}, w)
        else:  # carry a bag, look at it
            c.blend({f"elbow_{s}": 90, f"sh_flex_{s}": 20, f"sh_rot_{s}": 30, "neck_flex": 30}, w)
    c.turns(4.0, 60.0)
    c.look_around(20)
    c.fidget(1.0)


def fam_exercise(c: _Ctx) -> None:
    kind = c.rng.integers(4)
    f = c.rng.uniform(0.35, 0.6) * c.tempo
    wave = 0.5 - 0.5 * np.cos(2 * np.pi * f * c.t)
    if kind == 0:  # squats
        c.blend(
            {
                "hip_flex_L": 95,
                "hip_flex_R": 95,
                "knee_L": 110,
                "knee_R": 110,
                "ankle_L": 25,
                "ankle_R": 25,
                "spine_flex": 25,
                "sh_flex_L": 90,
                "sh_flex_R": 90,
                "elbow_L": 5,
                "elbow_R": 5,
            },
            wave * c.amp,
        )
    elif kind == 1:  # jumping jacks
        w2 = 0.5 - 0.5 * np.cos(2 * np.pi * 2 * f * c.t)
        c.blend({"sh_abd_L": 165, "sh_abd_R": 165, "elbow_L": 10, "elbow_R": 10, "hip_abd_L": 15, "hip_abd_R": 15}, w2)
        c.add("lift", 80 * np.abs(np.sin(2 * np.pi * 2 * f * c.t)))
    elif kind == 2:  # side bends, arms up
        c.blend({"sh_flex_L": 170, "sh_flex_R": 170, "elbow_L": 5, "elbow_R": 5}, np.full(c.n, 0.9))
        c.add("spine_lat", 30 * np.sin(2 * np.pi * f * c.t))
    else:  # lunges
        s = np.sin(2 * np.pi * f * c.t)
        c.blend({"hip_flex_L": 80, "knee_L": 90, "hip_flex_R": -15, "knee_R": 80, "ankle_R": -20}, np.clip(s, 0, 1))
        c.blend({"hip_flex_R": 80, "knee_R": 90, "hip_flex_L": -15, "knee_L": 80, "ankle_L": -20}, np.clip(-s, 0, 1))
        c.blend(
            {"sh_abd_L": 45, "sh_abd_R": 45, "elbow_L": 100, "elbow_R": 100, "sh_rot_L": 40, "sh_rot_R": 40},
            np.full(c.n, 1.0),
        )
    c.turns(8.0, 30.0)
    c.fidget(0.8)


def fam_sports(c: _Ctx) -> None:
    kind = c.rng.integers(3)
    f = c.rng.uniform(0.6, 1.2) * c.tempo
    if kind == 0:  # boxing
        c.blend(
            {
                "hip_flex_L": 15,
                "hip_flex_R": 15,
                "knee_L": 25,
                "knee_R": 25,
                "spine_flex": 15,
                "sh_flex_L": 50,
                "sh_flex_R": 50,
                "elbow_L": 130,
                "elbow_R": 130,
                "sh_abd_L": 25,
                "sh_abd_R": 25,
            },
            np.full(c.n, 1.0),
        )
        for t0, t1 in c.schedule(0.6 / f, (0.2, 0.4)):
            s = c.rng.choice(["L", "R"])
            c.blend(
                {f"sh_flex_{s}": 90, f"elbow_{s}": 5, "spine_twist": 25 if s == "R" else -25}, c.window(t0, t1, 0.12)
            )
    elif kind == 1:  # kicks
        c.weight_shift(3.0, 0.5)
        for t0, t1 in c.schedule(1.2 / f, (0.4, 0.8)):
            s = c.rng.choice(["L", "R"])
            c.blend(
                {
                    f"hip_flex_{s}": c.rng.uniform(60, 100),
                    f"knee_{s}": 10,
                    "spine_flex": -10,
                    "sh_abd_L": 40,
                    "sh_abd_R": 40,
                },
                c.window(t0, t1, 0.2),
            )
    else:  # jogging in place / throwing
        c.gait(np.full(c.n, 30.0), 1000.0, 1.0, (0.0, 0.0), 0.0)
        c.set("root_x", c.d["root_x"][0])
        c.set("root_y", c.d["root_y"][0])
        ph = 2 * np.pi * f * 1.5 * c.t
        for s, o in (("L", 0.0), ("R", np.pi)):
            lift = np.clip(np.sin(ph + o), 0, 1)
            c.add(f"hip_flex_{s}", 60 * lift)
            c.add(f"knee_{s}", 90 * lift)
            c.add(f"sh_flex_{s}", 35 * np.sin(ph + o + np.pi))
            c.add(f"elbow_{s}", 80)
        c.add("lift", 40 * np.abs(np.sin(ph)))
    c.turns(5.0, 40.0)
    c.fidget(0.8)


def fam_crouch(c: _Ctx) -> None:
    _standing(c, 6.0, 0.3)
    for t0, t1 in c.schedule(2.0, (1.5, 3.0)):
        w = c.window(t0, t1, 0.6)
        if c.rng.uniform() < 0.6:
            c.blend(
                {
                    "hip_flex_L": 110,
                    "hip_flex_R": 110,
                    "knee_L": 135,
                    "knee_R": 135,
                    "ankle_L": 28,
                    "ankle_R": 28,
                    "spine_flex": 30,
                    "sh_flex_L": 50,
                    "sh_flex_R": 50,
                    "elbow_L": 40,
                    "elbow_R": 40,
                },
                w,
            )
        else:
            s = c.hand
            c.blend({f"sh_flex_{s}": 170, f"elbow_{s}": 5, "ankle_L": -25, "ankle_R": -25, "neck_flex": -25}, w)
    c.fidget(0.8)


def fam_floor(c: _Ctx) -> None:
    kind = c.rng.integers(2)
    if kind == 0:  # kneeling
        pose = {
            "hip_flex_L": 5,
            "hip_flex_R": 5,
            "knee_L": 95,
            "knee_R": 95,
            "ankle_L": -30,
            "ankle_R": -30,
            "spine_flex": 10,
            "sh_flex_L": 30,
            "sh_flex_R": 30,
            "elbow_L": 40,
            "elbow_R": 40,
        }
    else:  # sitting on the floor, legs stretched, leaning on the hands
        pose = {
            "hip_flex_L": 85,
            "hip_flex_R": 85,
            "knee_L": 10,
            "knee_R": 25,
            "spine_flex": -10,
            "pelvis_tilt": -10,
            "sh_flex_L": -30,
            "sh_flex_R": -30,
            "elbow_L": 5,
            "elbow_R": 5,
            "sh_abd_L": 15,
            "sh_abd_R": 15,
        }
    c.blend(pose, np.full(c.n, 1.0))
    for s in "LR":
        c.add(f"sh_flex_{s}", c.noise(15, 0.3))
        c.add(f"elbow_{s}", np.abs(c.noise(20, 0.3)))
    c.look_around(30)
    c.fidget(0.6)


FAMILIES = {
    "Directions": fam_directions,
    "Discussion": fam_discussion,
    "Eating": fam_eating,
    "Greeting": fam_greeting,
    "Phoning": fam_phoning,
    "Photo": fam_photo,
    "Posing": fam_posing,
    "Purchases": fam_purchases,
    "Sitting": fam_sitting,
    "SittingDown": fam_sittingdown,
    "Smoking": fam_smoking,
    "Waiting": fam_waiting,
    "WalkDog": fam_walkdog,
    "Walking": fam_walking,
    "WalkTogether": fam_walktogether,
    "Exercise": fam_exercise,
    "Sports": fam_sports,
    "Crouch": fam_crouch,
    "Floor": fam_floor,
}
assert set(skeleton.H36M_ACTIONS) <= set(FAMILIES)


def action_motion(
    person: Person,
    family: str,
    rng: np.random.Generator,
    n: int,
    fps: float,
    home: tuple[float, float] | None = None,
    heading: float | None = None,
    area: Area = Area(),
) -> Motion:
    """One clip of ``family`` performed by ``person``: ``n`` frames at ``fps``, in the capture ``area``."""
    home = _home(rng, area) if home is None else home
    heading = float(rng.uniform(-180, 180)) if heading is None else heading
    c = _Ctx(person, rng, n, fps, home, heading, area)
    FAMILIES[family](c)
    return Motion(
        dofs=clip_dofs(c.d), fps=fps, chair=c.chair, activity=np.full(n, ACTIVITY_OF[family], np.int64), family=family
    )


def composite_motion(
    person: Person,
    families: list[str],
    rng: np.random.Generator,
    n: int,
    fps: float,
    crossfade: float = 0.6,
    area: Area = Area(),
) -> Motion:
    """Several families in a row (3DHP test sequences), cross-faded; at most one chair, at the home position."""
    home = _home(rng, area, 0.5)
    heading = float(rng.uniform(-180, 180))
    cuts = np.linspace(0, n, len(families) + 1).round().astype(int)
    pad = int(round(crossfade * fps / 2))
    dofs = {k: np.zeros(n) for k in DOFS}
    weight = np.zeros(n)
    activity = np.zeros(n, np.int64)
    chair = None
    state_home, state_heading = home, heading
    for i, fam in enumerate(families):
        a, b = cuts[i], cuts[i + 1]
        lo, hi = max(0, a - pad), min(n, b + pad)
        seg = action_motion(person, fam, rng, hi - lo, fps, home=state_home, heading=state_heading, area=area)
        if seg.chair is not None:
            if chair is None:
                chair = seg.chair
            seg.chair = chair
        # Triangular-ish cross-fade weights over the padded span.
        idx = np.arange(lo, hi)
        w = np.ones(hi - lo)
        if lo < a:
            w *= _smoothstep((idx - lo + 0.5) / (2 * pad))
        if hi > b:
            w *= _smoothstep((hi - idx - 0.5) / (2 * pad))
        for k in DOFS:
            v = seg.dofs[k]
            if k == "heading":  # keep headings continuous across segments before averaging
                ref = dofs[k][lo] / max(weight[lo], 1e-9) if weight[lo] > 0 else v[0]
                v = v - 360.0 * np.round((v[0] - ref) / 360.0)
            dofs[k][lo:hi] += w * v
        weight[lo:hi] += w
        activity[a:b] = seg.activity[a - lo : b - lo]
        last = min(b, n) - 1 - lo
        state_home = (float(seg.dofs["root_x"][last]), float(seg.dofs["root_y"][last]))
        state_heading = float(seg.dofs["heading"][last])
    dofs = {k: v / np.maximum(weight, 1e-9) for k, v in dofs.items()}
    if chair is None:
        dofs["sit"][:] = 0.0
    return Motion(dofs=clip_dofs(dofs), fps=fps, chair=chair, activity=activity, family="+".join(families))


# --- real motion: loading and retargeting -------------------------------------------------------------------------


class MotionFileError(KspbenchError):
    """A ``--motion`` file is unreadable or not a (N, 17, 3) pose track; the message is one line."""


@dataclass(frozen=True)
class MotionTrack:
    positions: np.ndarray  # (N, 17, 3) mm, z up
    clip_id: np.ndarray  # (N,) int: contiguous clips
    fps: float
    path: str


def load_motion_file(path: str) -> MotionTrack:
    """Read a pose-track npz: ``positions`` (N, 17, 3) mm in the Human3.6M-17 order, z up; optional ``clip_id``
    (N,) and ``fps`` (default 30)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if "positions" not in z.files:
                raise MotionFileError(
                    f"{path}: no array 'positions' (expected (N, 17, 3) mm); keys: {', '.join(z.files) or 'none'}"
                )
            pos = np.asarray(z["positions"], np.float64)
            clip = np.asarray(z["clip_id"]) if "clip_id" in z.files else np.zeros(len(pos), np.int64)
            fps = float(z["fps"]) if "fps" in z.files else 30.0
    except MotionFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as err:
        raise MotionFileError(f"{path}: not a readable .npz pose track ({err.__class__.__name__})") from None
    if pos.ndim != 3 or pos.shape[1:] != (skeleton.NUM_JOINTS, 3) or pos.shape[0] < 2:
        raise MotionFileError(f"{path}: 'positions' must have shape (N, 17, 3) with N >= 2, got {pos.shape}")
    if not np.isfinite(pos).all():
        raise MotionFileError(f"{path}: 'positions' holds NaN or inf values")
    if clip.shape != (pos.shape[0],):
        raise MotionFileError(f"{path}: 'clip_id' must have shape ({pos.shape[0]},), got {clip.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise MotionFileError(f"{path}: 'fps' must be positive, got {fps}")
    bone = np.linalg.norm(pos[:, 1:] - pos[:, list(skeleton.PARENTS[1:])], axis=-1)
    if np.median(bone) < 10.0:
        raise MotionFileError(f"{path}: bones have a median length of {np.median(bone):.3g}; positions must be in mm")
    return MotionTrack(positions=pos, clip_id=clip.astype(np.int64), fps=fps, path=str(path))


def person_bone_lengths(person: Person) -> np.ndarray:
    """(17,) the person's Human3.6M-17 bone lengths (joint to parent) in the rest pose, mm."""
    n = 1
    d = {k: np.full(n, v[0]) for k, v in DOFS.items()}
    for s in "LR":
        d[f"sh_abd_{s}"][:] = 0
        d[f"elbow_{s}"][:] = 0
        d[f"knee_{s}"][:] = 0
        d[f"hip_abd_{s}"][:] = 0
        d[f"hip_rot_{s}"][:] = 0
    d["pelvis_tilt"][:] = 0
    P, _ = rig_fk(person, d)
    j = joints17(P)[0]
    out = np.zeros(skeleton.NUM_JOINTS)
    out[1:] = np.linalg.norm(j[1:] - j[list(skeleton.PARENTS[1:])], axis=-1)
    return out


def retarget(person: Person, positions: np.ndarray) -> np.ndarray:
    """Bone directions from ``positions`` (T, 17, 3), lengths from the person; the root stays where it is."""
    lengths = person_bone_lengths(person)
    out = np.zeros_like(positions)
    out[:, 0] = positions[:, 0]
    for j in range(1, skeleton.NUM_JOINTS):  # parents come first in the Human3.6M order
        p = skeleton.PARENTS[j]
        v = positions[:, j] - positions[:, p]
        out[:, j] = out[:, p] + lengths[j] * v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    return out


def _frame_from(z_axis: np.ndarray, x_hint: np.ndarray) -> np.ndarray:
    """Rotation (T, 3, 3) with z along ``z_axis`` and x as close as possible to ``x_hint``."""
    z = z_axis / np.maximum(np.linalg.norm(z_axis, axis=-1, keepdims=True), 1e-9)
    x = x_hint - (x_hint * z).sum(-1, keepdims=True) * z
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def body_from_joints(person: Person, joints: np.ndarray) -> Body:
    """A body posed on given Human3.6M-17 joints (retargeted real motion): rig points and frames from the joints."""
    J = joints
    P = {"pelvis": J[:, 0], "spine": J[:, 7], "neck_base": J[:, 8], "nose": J[:, 9], "headtop": J[:, 10]}
    hip_line = J[:, 4] - J[:, 1]
    up = J[:, 8] - J[:, 0]
    fwd = np.cross(hip_line, up)
    fwd = fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)
    F = {"pelvis": _frame_from(up, fwd)}
    F["lumbar"] = _frame_from(J[:, 7] - J[:, 0], fwd)
    F["thor_lo"] = _frame_from(J[:, 8] - J[:, 7], fwd)
    shoulder_line = J[:, 11] - J[:, 14]
    chest_fwd = np.cross(shoulder_line, J[:, 8] - J[:, 7])
    F["chest"] = _frame_from(J[:, 8] - J[:, 7], chest_fwd)
    D = person.dims
    P["l5"] = J[:, 0] + 0.25 * (J[:, 7] - J[:, 0])
    P["t12"] = J[:, 7] - D["core"] * F["lumbar"][..., 0]
    P["c7"] = J[:, 8] - D["neck_fwd"] * F["chest"][..., 0]
    P["t6"] = 0.5 * (P["t12"] + P["c7"])
    head_up = J[:, 10] - J[:, 9]
    face = J[:, 9] - 0.5 * (J[:, 8] + J[:, 10])
    F["head"] = _frame_from(head_up, face)
    P["head_c"] = J[:, 10] - D["head_az"] * F["head"][..., 2]
    P["atlas"] = P["head_c"] - F["head"] @ np.array([D["head_x"], 0, D["head_z"]])
    F["neck"] = _frame_from(P["atlas"] - P["neck_base"], chest_fwd)
    for side, (sh, el, wr, hp, kn, an) in (("L", (11, 12, 13, 4, 5, 6)), ("R", (14, 15, 16, 1, 2, 3))):
        P[f"shoulder_{side}"], P[f"elbow_{side}"], P[f"wrist_{side}"] = J[:, sh], J[:, el], J[:, wr]
        P[f"hip_{side}"], P[f"knee_{side}"], P[f"ankle_{side}"] = J[:, hp], J[:, kn], J[:, an]
        F[f"upper_arm_{side}"] = _frame_from(J[:, sh] - J[:, el], chest_fwd)
        F[f"forearm_{side}"] = _frame_from(J[:, el] - J[:, wr], J[:, wr] - J[:, el] + 0.3 * chest_fwd)
        F[f"hand_{side}"] = F[f"forearm_{side}"]
        F[f"thigh_{side}"] = _frame_from(J[:, hp] - J[:, kn], fwd)
        F[f"shin_{side}"] = _frame_from(J[:, kn] - J[:, an], fwd)
        F[f"foot_{side}"] = _frame_from(np.broadcast_to([0.0, 0.0, 1.0], fwd.shape), fwd)
    centres, rots, semi = body_primitives(person, P, F)
    return Body(points=P, frames=F, centres=centres, rots=rots, semi=semi, joints=J.copy())


def motion_window(
    track: MotionTrack,
    rng: np.random.Generator,
    n: int,
    fps: float,
    clips: np.ndarray | None = None,
    area: Area = Area(),
) -> np.ndarray:
    """``n`` frames at ``fps`` from one clip of the track (resampled, looped if short), recentred near the origin,
    turned by a random heading: (n, 17, 3) mm."""
    ids = np.unique(track.clip_id) if clips is None else np.asarray(clips)
    cid = ids[rng.integers(len(ids))]
    pos = track.positions[track.clip_id == cid]
    step = track.fps / fps
    start = rng.uniform(0, max(len(pos) - n * step, 0))
    src = (start + np.arange(n) * step) % len(pos)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, len(pos) - 1)
    f = (src - i0)[:, None, None]
    win = (1 - f) * pos[i0] + f * pos[i1]
    win[..., :2] -= win[:, 0, :2].mean(0)
    ang = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(ang), np.sin(ang)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    win = win @ rot.T
    home = _home(rng, area)
    win[..., 0] += home[0]
    win[..., 1] += home[1]
    return win


def retargeted_body(person: Person, window: np.ndarray) -> Body:
    """Retarget a window of real motion onto the person and put it on the floor (one shift for the whole window,
    so jumps stay jumps)."""
    joints = retarget(person, window)
    body = body_from_joints(person, joints)
    low = lowest_points(body.centres, body.rots, body.semi)
    dz = -np.percentile(low, 5)
    body.joints[..., 2] += dz
    body.centres[..., 2] += dz
    for k in body.points:
        body.points[k] = body.points[k] + np.array([0.0, 0.0, dz])
    return body
