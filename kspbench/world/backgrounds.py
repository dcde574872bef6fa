"""Procedural scenes (no image files): rooms, green-screen studios, outdoor views and plain backdrops, ray-cast.

A :class:`Scene` is 3D, so every camera sees the same room from its own viewpoint, a static camera sees a static
background (its temporal median is the background), and scene objects (a chair, cabinets) occlude people through the
depth buffer. :func:`render_scene` returns colour (RGB in [0, 1]), depth (camera z, mm; ``inf`` for the sky) and an
object id per pixel (0 = walls/floor/sky, ``OBJECT_ID0 + i`` = the i-th box).

Textures are procedural: value noise (random lattices, smooth interpolation, a few octaves), tiles, planks, panels,
posters, skylines. Everything is drawn from a seeded generator, so a scene is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kspbench.world.motion import Chair

OBJECT_ID0 = 100
SKY_DEPTH = np.inf


# --- value noise --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """2D value noise on a random periodic lattice; ``__call__(a, b)`` -> values in about [-1, 1]."""

    lattice: np.ndarray
    scale: float  # mm per lattice cell
    octaves: int = 3

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.zeros(np.broadcast(a, b).shape)
        amp, total = 1.0, 0.0
        n = self.lattice.shape[0]
        for o in range(self.octaves):
            f = (2**o) / self.scale
            x, y = a * f + 17.3 * o, b * f + 41.7 * o
            x0, y0 = np.floor(x), np.floor(y)
            tx, ty = x - x0, y - y0
            tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
            i0, j0 = x0.astype(np.int64) % n, y0.astype(np.int64) % n
            i1, j1 = (i0 + 1) % n, (j0 + 1) % n
            L = self.lattice
            v = (
                L[i0, j0] * (1 - tx) * (1 - ty)
                + L[i1, j0] * tx * (1 - ty)
                + L[i0, j1] * (1 - tx) * ty
                + L[i1, j1] * tx * ty
            )
            out += amp * v
            total += amp
            amp *= 0.5
        return out / total


def make_noise(rng: np.random.Generator, scale: float, octaves: int = 3) -> Noise:
    return Noise(lattice=rng.uniform(-1, 1, (32, 32)), scale=float(scale), octaves=octaves)


def _hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) per integer cell (for per-tile / per-plank variation)."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF) / 65536.0


# --- surface textures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A textured plane: ``kind`` in noise | tiles | planks | panels | green; colours RGB in [0, 1]."""

    kind: str
    colour: tuple
    colour2: tuple
    noise: Noise
    size: float = 600.0  # tile / plank / panel size, mm
    contrast: float = 0.08
    posters: tuple = ()  # ((a0, a1, b0, b1, (r, g, b)), ...)
    band: tuple | None = None  # (b0, b1, (r, g, b)): a horizontal band (dado rail, skirting)
    salt: int = 0

    def shade(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        c1, c2 = np.asarray(self.colour), np.asarray(self.colour2)
        nz = self.noise(a, b)
        if self.kind == "tiles":
            ia, ib = np.floor(a / self.size), np.floor(b / self.size)
            chk = ((ia + ib) % 2)[..., None]
            col = c1 * (1 - chk) + c2 * chk
            fa, fb = a / self.size - ia, b / self.size - ib
            grout = ((fa < 0.03) | (fb < 0.03))[..., None]
            col = np.where(grout, 0.55 * col + 0.2, col)
        elif self.kind == "planks":
            ib = np.floor(b / self.size)
            ia = np.floor((a + 997.0 * ib) / (5 * self.size))
            var = _hash01(ia, ib, self.salt)[..., None]
            col = c1 * (1 - var) + c2 * var
            col = col * (1 + 0.12 * self.noise(a * 0.2, b * 4.0)[..., None])
            edge = ((b / self.size - ib) < 0.04)[..., None]
            col = np.where(edge, 0.6 * col, col)
        elif self.kind == "panels":
            ia = np.floor(a / self.size)
            var = _hash01(ia, np.zeros_like(ia), self.salt)[..., None] * 0.3
            col = c1 * (1 - var) + c2 * var
            seam = ((a / self.size - ia) < 0.015)[..., None]
            col = np.where(seam, 0.7 * col, col)
        elif self.kind == "green":
            ia = np.floor(a / self.size)
            seam = ((a / self.size - ia) < 0.01)[..., None]
            col = np.where(seam, 0.85 * c1, c1) * np.ones(a.shape + (3,))
        else:
            mix = (0.5 + 0.5 * nz)[..., None]
            col = c1 * (1 - mix) + c2 * mix
        col = col * (1 + self.contrast * nz[..., None])
        if self.band is not None:
            b0, b1, bc = self.band
            inb = ((b >= b0) & (b <= b1))[..., None]
            col = np.where(inb, np.asarray(bc), col)
        for a0, a1, b0, b1, pc in self.posters:
            inp = (a >= a0) & (a <= a1) & (b >= b0) & (b <= b1)
            if inp.any():
                inner = (a - a0) / max(a1 - a0, 1) * 3.0
                stripe = (np.floor(inner + (b - b0) / max(b1 - b0, 1) * 2.0) % 2)[..., None]
                pcol = np.asarray(pc) * (0.75 + 0.25 * stripe)
                col = np.where(inp[..., None], pcol, col)
        return np.clip(col, 0, 1)


@dataclass(frozen=True)
class Box:
    """A box object: centre (x, y, z) mm, half sizes (hx, hy, hz), yaw (degrees), colour."""

    centre: tuple
    half: tuple
    yaw: float
    colour: tuple


@dataclass
class Scene:
    """A static 3D scene; ``kind`` = room | outdoor | plain."""

    kind: str
    surfaces: dict = field(default_factory=dict)  # room: floor, ceiling, wall_px, wall_nx, wall_py, wall_ny
    half_x: float = 5000.0
    half_y: float = 7000.0
    ceiling: float = 3400.0
    boxes: list = field(default_factory=list)
    light: tuple = (0.3, 0.4, 0.87)
    brightness: float = 1.0
    plain: tuple = (0.5, 0.5, 0.5)
    sky: tuple = ((0.55, 0.7, 0.95), (0.85, 0.9, 0.97))
    skyline: dict = field(default_factory=dict)

    def with_chair(self, chair: Chair | None, rng: np.random.Generator) -> "Scene":
        """This scene plus a chair (seat, backrest, four legs) where a sitting clip needs one."""
        if chair is None:
            return self
        h = np.radians(chair.heading)
        fwd = np.array([np.cos(h), np.sin(h), 0.0])
        left = np.array([-np.sin(h), np.cos(h), 0.0])
        c = np.array([chair.x, chair.y, 0.0]) - 60.0 * fwd
        col = tuple(float(v) for v in np.clip(np.array(chair.colour) + rng.normal(0, 0.05, 3), 0, 1))
        boxes = [
            Box(tuple(c + [0, 0, chair.height - 20.0]), (230.0, 230.0, 20.0), chair.heading, col),
            Box(tuple(c - 220.0 * fwd + [0, 0, chair.height + 230.0]), (15.0, 220.0, 230.0), chair.heading, col),
        ]
        for sf in (-1, 1):
            for sl in (-1, 1):
                p = c + sf * 200.0 * fwd + sl * 200.0 * left + [0, 0, (chair.height - 40.0) / 2]
                boxes.append(
                    Box(tuple(p), (18.0, 18.0, (chair.height - 40.0) / 2), chair.heading, tuple(0.6 * v for v in col))
                )
        return Scene(
            kind=self.kind,
            surfaces=self.surfaces,
            half_x=self.half_x,
            half_y=self.half_y,
            ceiling=self.ceiling,
            boxes=self.boxes + boxes,
            light=self.light,
            brightness=self.brightness,
            plain=self.plain,
            sky=self.sky,
            skyline=self.skyline,
        )


# --- scene generators ---------------------------------------------------------------------------------------------


def _colour(rng, lo=0.25, hi=0.85, sat=0.35) -> tuple:
    import colorsys

    return tuple(float(v) for v in colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0, sat), rng.uniform(lo, hi)))


def _wall(rng: np.random.Generator, length: float, height: float, posters: bool = True) -> Surface:
    kind = ("noise", "panels", "noise")[rng.integers(3)]
    c1 = _colour(rng, 0.35, 0.9, 0.3)
    c2 = tuple(float(np.clip(v + rng.normal(0, 0.08), 0, 1)) for v in c1)
    ps = []
    if posters:
        for _ in range(rng.integers(0, 5)):
            w, h = rng.uniform(300, 1500), rng.uniform(300, 1200)
            a0 = rng.uniform(-length, length - w)
            b0 = rng.uniform(300, max(height - h - 200, 400))
            ps.append((a0, a0 + w, b0, b0 + h, _colour(rng, 0.1, 0.95, 0.9)))
    band = None
    if rng.uniform() < 0.5:
        b0 = rng.uniform(0, 1000)
        band = (b0, b0 + rng.uniform(80, 400), _colour(rng, 0.1, 0.7, 0.5))
    return Surface(
        kind=kind,
        colour=c1,
        colour2=c2,
        noise=make_noise(rng, rng.uniform(400, 2500)),
        size=rng.uniform(500, 1500),
        contrast=rng.uniform(0.03, 0.12),
        posters=tuple(ps),
        band=band,
        salt=int(rng.integers(1 << 30)),
    )


def _floor(rng: np.random.Generator) -> Surface:
    kind = ("tiles", "planks", "noise")[rng.integers(3)]
    c1 = _colour(rng, 0.2, 0.75, 0.45)
    c2 = tuple(float(np.clip(v * rng.uniform(0.6, 1.3), 0, 1)) for v in c1)
    return Surface(
        kind=kind,
        colour=c1,
        colour2=c2,
        noise=make_noise(rng, rng.uniform(200, 1500)),
        size=rng.uniform(250, 700),
        contrast=rng.uniform(0.04, 0.15),
        salt=int(rng.integers(1 << 30)),
    )


def _props(rng: np.random.Generator, half_x: float, half_y: float, n: int) -> list:
    """Cabinets, tables and tripods along the walls (never in the capture area |x|, |y| < 2.3 m)."""
    out = []
    for _ in range(n):
        hx, hy, hz = rng.uniform(200, 700), rng.uniform(200, 500), rng.uniform(300, 1100)
        side = rng.integers(4)
        if side < 2:
            x = (half_x - hy - 50) * (1 if side == 0 else -1)
            y = rng.uniform(-half_y + hx, half_y - hx)
            yaw = 90.0
        else:
            y = (half_y - hy - 50) * (1 if side == 2 else -1)
            x = rng.uniform(-half_x + hx, half_x - hx)
            yaw = 0.0
        out.append(Box((x, y, hz), (hx, hy, hz), yaw, _colour(rng, 0.1, 0.8, 0.6)))
    return out


def _light(rng: np.random.Generator) -> tuple:
    el, az = np.radians(rng.uniform(35, 70)), rng.uniform(0, 2 * np.pi)
    return (float(np.cos(el) * np.cos(az)), float(np.cos(el) * np.sin(az)), float(np.sin(el)))


def room_scene(
    rng: np.random.Generator, half_x: float = 5200.0, half_y: float = 7200.0, height: float = 3500.0, props: int = 5
) -> Scene:
    """A lab or living room: four walls, a floor, a ceiling, props along the walls."""
    surf = {
        "floor": _floor(rng),
        "ceiling": Surface(
            "panels",
            _colour(rng, 0.7, 0.95, 0.1),
            _colour(rng, 0.6, 0.9, 0.1),
            make_noise(rng, 1500),
            size=1200.0,
            contrast=0.03,
        ),
    }
    for name, length in (("wall_px", half_y), ("wall_nx", half_y), ("wall_py", half_x), ("wall_ny", half_x)):
        surf[name] = _wall(rng, length, height)
    return Scene(
        kind="room",
        surfaces=surf,
        half_x=half_x,
        half_y=half_y,
        ceiling=height,
        boxes=_props(rng, half_x, half_y, props),
        light=_light(rng),
        brightness=float(rng.uniform(0.85, 1.1)),
    )


def studio_scene(rng: np.random.Generator, green: bool) -> Scene:
    """A 3DHP-like capture studio: green screen on the walls and floor, or the studio's own grey/black drapes."""
    if not green:
        scene = room_scene(rng, 4200.0, 4200.0, 3200.0, props=3)
        return scene
    g = (float(rng.uniform(0.1, 0.25)), float(rng.uniform(0.55, 0.75)), float(rng.uniform(0.15, 0.3)))
    g2 = tuple(v * 0.9 for v in g)
    surf = {
        "floor": Surface("green", g2, g2, make_noise(rng, 800), size=1400.0, contrast=0.05),
        "ceiling": Surface("panels", (0.2, 0.2, 0.22), (0.25, 0.25, 0.27), make_noise(rng, 900), size=900.0),
    }
    for name in ("wall_px", "wall_nx", "wall_py", "wall_ny"):
        surf[name] = Surface("green", g, g, make_noise(rng, 1200), size=1400.0, contrast=0.06, band=(0.0, 120.0, g2))
    return Scene(
        kind="room",
        surfaces=surf,
        half_x=4000.0,
        half_y=4000.0,
        ceiling=3200.0,
        boxes=_props(rng, 4000.0, 4000.0, 2),
        light=_light(rng),
        brightness=float(rng.uniform(0.9, 1.1)),
    )


def outdoor_scene(rng: np.random.Generator) -> Scene:
    """Ground (grass or pavement), a skyline of trees or buildings on a distant cylinder, sky with clouds."""
    grass = rng.uniform() < 0.5
    c1 = (0.25, 0.45, 0.15) if grass else (0.5, 0.5, 0.48)
    c1 = tuple(float(np.clip(v + rng.normal(0, 0.05), 0, 1)) for v in c1)
    c2 = tuple(float(np.clip(v * rng.uniform(0.6, 0.9), 0, 1)) for v in c1)
    ground = Surface(
        "noise" if grass else "tiles",
        c1,
        c2,
        make_noise(rng, rng.uniform(300, 900)),
        size=rng.uniform(400, 900),
        contrast=0.15,
    )
    skyline = {
        "kind": "trees" if rng.uniform() < 0.5 else "buildings",
        "radius": float(rng.uniform(25e3, 45e3)),
        "noise": make_noise(rng, 0.6, 2),
        "colour": _colour(rng, 0.15, 0.5, 0.6),
        "colour2": _colour(rng, 0.3, 0.8, 0.4),
        "height": float(rng.uniform(4e3, 14e3)),
        "clouds": make_noise(rng, 0.5, 3),
    }
    top = (float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.55, 0.75)), float(rng.uniform(0.85, 1.0)))
    return Scene(
        kind="outdoor",
        surfaces={"floor": ground},
        boxes=[],
        light=_light(rng),
        brightness=float(rng.uniform(0.95, 1.15)),
        sky=(top, (0.88, 0.9, 0.95)),
        skyline=skyline,
    )


def plain_scene(rng: np.random.Generator) -> Scene:
    """A uniform backdrop (the prior role's plain style)."""
    return Scene(kind="plain", plain=_colour(rng, 0.55, 0.9, 0.2))


# --- ray casting --------------------------------------------------------------------------------------------------


def camera_rays(
    focal, center, rotation, translation, width: int, height: int, rows: slice | None = None, cols: slice | None = None
):
    """World-frame ray origin (3,) and per-pixel directions (h, w, 3) scaled so that camera z = 1 per unit."""
    rot = np.asarray(rotation, float)
    t = np.asarray(translation, float)
    rows = rows or slice(0, height)
    cols = cols or slice(0, width)
    u = np.arange(cols.start, cols.stop, dtype=float)
    v = np.arange(rows.start, rows.stop, dtype=float)
    x = (u - center[0]) / focal[0]
    y = (v - center[1]) / focal[1]
    d_cam = np.stack(np.broadcast_arrays(x[None, :], y[:, None], np.ones((1, 1))), axis=-1)
    d_world = d_cam @ rot  # R^T d for row vectors
    origin = -rot.T @ t
    return origin, d_world


def _box_window(b: Box, focal, center, rotation, translation, width: int, height: int):
    """Pixel window (rows, cols) covering a box's projection, or None if it is out of view; the whole image if the
    box reaches behind the camera."""
    yaw = np.radians(b.yaw)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    corners = (signs * np.asarray(b.half)) @ rot.T + np.asarray(b.centre)
    cam = corners @ np.asarray(rotation).T + np.asarray(translation)
    if (cam[:, 2] < 1.0).any():
        return slice(0, height), slice(0, width)
    uv = cam[:, :2] / cam[:, 2:3] * np.asarray(focal) + np.asarray(center)
    u0, v0 = np.floor(uv.min(0)).astype(int) - 1
    u1, v1 = np.ceil(uv.max(0)).astype(int) + 2
    u0, u1 = max(u0, 0), min(u1, width)
    v0, v1 = max(v0, 0), min(v1, height)
    if u1 <= u0 or v1 <= v0:
        return None
    return slice(v0, v1), slice(u0, u1)


def _shade_boxes(scene: Scene, boxes: list, first_id: int, origin, dirs, depth, ids, col, cam) -> None:
    """Ray-cast boxes into the buffers (each only inside its projected window)."""
    light = np.asarray(scene.light)
    for i, b in enumerate(boxes):
        win = _box_window(b, *cam)
        if win is None:
            continue
        dw, zw, iw, cw = dirs[win], depth[win], ids[win], col[win]
        yaw = np.radians(b.yaw)
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
        o = rot.T @ (origin - np.asarray(b.centre))
        d = dw @ rot
        half = np.asarray(b.half)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
            t1 = (-half - o) * inv
            t2 = (half - o) * inv
        tmin = np.minimum(t1, t2)
        tmax = np.maximum(t1, t2)
        tn = tmin.max(-1)
        tf = tmax.min(-1)
        hit = (tn <= tf) & (tn > 1e-3) & (tn < zw)
        if not hit.any():
            continue
        axis = tmin.argmax(-1)[hit]
        sign = -np.sign(d[hit][np.arange(axis.size), axis])
        normal = np.zeros((axis.size, 3))
        normal[np.arange(axis.size), axis] = sign
        normal = normal @ rot.T
        shade = 0.5 + 0.5 * np.clip(normal @ light, 0, 1)
        zw[hit] = tn[hit]
        iw[hit] = first_id + i
        cw[hit] = np.clip(np.asarray(b.colour) * shade[:, None] * scene.brightness, 0, 1)


def render_scene(scene: Scene, focal, center, rotation, translation, width: int, height: int, base=None):
    """Colour (H, W, 3) float32 in [0, 1], depth (H, W) float32 camera-z mm, ids (H, W) int16.

    ``base`` = ``(colour, depth, ids, n_boxes)``: an earlier render of the same scene and camera holding its first
    ``n_boxes`` boxes; only the boxes added since (e.g. a chair) are drawn on a copy of it.
    """
    origin, dirs = camera_rays(focal, center, rotation, translation, width, height)
    cam = (focal, center, rotation, translation, width, height)
    if base is not None:
        col, depth, ids, k0 = base
        col, depth, ids = col.copy(), depth.copy(), ids.copy()
        _shade_boxes(scene, scene.boxes[k0:], OBJECT_ID0 + k0, origin, dirs, depth, ids, col, cam)
        return col, depth, ids
    H, W = height, width
    depth = np.full((H, W), SKY_DEPTH)
    ids = np.zeros((H, W), np.int16)
    col = np.zeros((H, W, 3))
    if scene.kind == "plain":
        col[:] = scene.plain
    elif scene.kind == "room":
        lim = np.array([scene.half_x, scene.half_y])
        with np.errstate(divide="ignore", invalid="ignore"):
            tx = (np.where(dirs[..., 0] > 0, lim[0], -lim[0]) - origin[0]) / dirs[..., 0]
            ty = (np.where(dirs[..., 1] > 0, lim[1], -lim[1]) - origin[1]) / dirs[..., 1]
            tz = (np.where(dirs[..., 2] > 0, scene.ceiling, 0.0) - origin[2]) / dirs[..., 2]
        ts = np.stack([tx, ty, tz], -1)
        ts = np.where(np.isfinite(ts) & (ts > 0), ts, np.inf)
        face = ts.argmin(-1)
        t = ts.min(-1)
        p = origin + dirs * t[..., None]
        depth = t
        masks = {
            "wall_px": (face == 0) & (dirs[..., 0] > 0),
            "wall_nx": (face == 0) & (dirs[..., 0] <= 0),
            "wall_py": (face == 1) & (dirs[..., 1] > 0),
            "wall_ny": (face == 1) & (dirs[..., 1] <= 0),
            "ceiling": (face == 2) & (dirs[..., 2] > 0),
            "floor": (face == 2) & (dirs[..., 2] <= 0),
        }
        coords = {
            "wall_px": (1, 2),
            "wall_nx": (1, 2),
            "wall_py": (0, 2),
            "wall_ny": (0, 2),
            "ceiling": (0, 1),
            "floor": (0, 1),
        }
        for name, m in masks.items():
            if m.any():
                a, b = coords[name]
                col[m] = scene.surfaces[name].shade(p[m][:, a], p[m][:, b])
        # Soft light falloff towards the floor corners and the ceiling: rooms are not evenly lit.
        col *= 0.85 + 0.15 * np.clip(p[..., 2:3] / scene.ceiling, 0, 1)
    else:  # outdoor
        sk = scene.skyline
        radius = sk["radius"]
        with np.errstate(divide="ignore", invalid="ignore"):
            tg = np.where(dirs[..., 2] < 0, -origin[2] / dirs[..., 2], np.inf)
        pg = origin + dirs * np.where(np.isfinite(tg), tg, 0)[..., None]
        on_ground = np.isfinite(tg) & (np.hypot(pg[..., 0], pg[..., 1]) < radius)
        # The distant cylinder: |o_xy + t d_xy| = radius.
        dxy = dirs[..., :2]
        a = (dxy**2).sum(-1)
        b = (dxy * origin[:2]).sum(-1)
        cc = (origin[:2] ** 2).sum() - radius**2
        tc = (-b + np.sqrt(np.maximum(b * b - a * cc, 0))) / np.maximum(a, 1e-12)
        pc = origin + dirs * tc[..., None]
        theta = np.arctan2(pc[..., 1], pc[..., 0])
        if sk["kind"] == "trees":
            prof = sk["height"] * (0.55 + 0.45 * sk["noise"](theta * 8.0, np.zeros_like(theta)))
        else:
            block = np.floor(theta * 40.0)
            prof = sk["height"] * (0.3 + 0.7 * _hash01(block, np.zeros_like(block), 7))
        on_line = ~on_ground & (pc[..., 2] < prof) & (pc[..., 2] > -1)
        sky = ~on_ground & ~on_line
        if on_ground.any():
            col[on_ground] = scene.surfaces["floor"].shade(pg[on_ground][:, 0], pg[on_ground][:, 1])
            depth[on_ground] = tg[on_ground]
        if on_line.any():
            c1, c2 = np.asarray(sk["colour"]), np.asarray(sk["colour2"])
            if sk["kind"] == "trees":
                m = (0.5 + 0.5 * sk["noise"](theta[on_line] * 60.0, pc[on_line][:, 2] / 800.0))[:, None]
            else:
                win = (np.floor(theta[on_line] * 900.0) % 2) * (np.floor(pc[on_line][:, 2] / 1200.0) % 2)
                m = (0.3 * win + 0.2 * _hash01(np.floor(theta[on_line] * 40.0), np.zeros(on_line.sum()), 3))[:, None]
            col[on_line] = c1 * (1 - m) + c2 * m
            depth[on_line] = tc[on_line]
        if sky.any():
            el = np.clip(dirs[..., 2][sky] / np.linalg.norm(dirs[sky], axis=-1), 0, 1)[:, None]
            top, horizon = np.asarray(scene.sky[0]), np.asarray(scene.sky[1])
            base = horizon * (1 - el**0.6) + top * el**0.6
            cl = np.clip(sk["clouds"](theta[sky] * 5.0, el[:, 0] * 6.0) * 1.5, 0, 1)[:, None]
            col[sky] = base * (1 - 0.7 * cl) + 0.95 * cl * 0.7
    # Camera z of the hit = ray parameter (directions have camera z = 1).
    col = np.clip(col * scene.brightness, 0, 1)
    _shade_boxes(scene, scene.boxes, OBJECT_ID0, origin, dirs, depth, ids, col, cam)
    return col.astype(np.float32), depth.astype(np.float32), ids
