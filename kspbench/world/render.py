"""Ray-cast rendering of people (ellipsoids, shaded and textured) into frames, with a depth buffer.

Each ellipsoid is intersected exactly with each pixel's viewing ray (a quadratic in the ray parameter, solved in the
ellipsoid's unit-sphere coordinates), only inside its projected bounding square; the nearest hit wins against the
other ellipsoids and against the scene's depth (so a chair in front of a leg hides it). Shading is Lambertian with an
ambient term under the scene's light; textures (stripes, checks, diagonal) are laid out in the ellipsoid's own
millimetre coordinates, so they move with the body. Vectorised numpy; the only Python loop is over the ~25 body parts.

Pixel convention: pixel (row j, column i) is sampled at its centre (u, v) = (i, j), as in :mod:`kspbench.core.crops`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kspbench.world.people import MATERIAL_SLOTS, PRIMITIVES, TEXTURES, Person

AMBIENT, DIFFUSE = 0.42, 0.68


@dataclass(frozen=True)
class View:
    """A camera: pinhole intrinsics (px), world -> camera ``X_cam = R X_world + t`` (mm), image size."""

    focal: np.ndarray
    center: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    width: int
    height: int

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) -> camera points (..., 3) and pixels (..., 2)."""
        cam = points @ self.rotation.T + self.translation
        uv = cam[..., :2] / cam[..., 2:3] * self.focal + self.center
        return cam, uv


def material_table(person: Person, flat: bool = False) -> dict:
    """Per-primitive colours, textures and periods as arrays for the renderer."""
    k = len(PRIMITIVES)
    c1, c2 = np.zeros((k, 3)), np.zeros((k, 3))
    tex, period = np.zeros(k, np.int64), np.zeros(k)
    for i, (_, slot) in enumerate(PRIMITIVES):
        m = person.materials[slot]
        c1[i], c2[i] = m.colour, m.colour2
        tex[i] = TEXTURES.index(m.texture)
        period[i] = m.period
    return {"c1": c1, "c2": c2, "tex": tex, "period": period, "flat": flat}


def _pattern(kind: int, q: np.ndarray, semi: np.ndarray, period: float) -> np.ndarray:
    name = TEXTURES[kind]
    if name == "plain":
        return np.zeros(q.shape[0])
    lz = q[:, 2] * semi[2]
    arc = np.arctan2(q[:, 1], q[:, 0]) * 0.5 * (semi[0] + semi[1])
    h = np.floor(lz / period) % 2
    v = np.floor(arc / period) % 2
    if name == "hstripes":
        return h
    if name == "vstripes":
        return v
    if name == "checks":
        return (h + v) % 2
    return np.floor((lz + arc) / (1.4 * period)) % 2


def render_person(
    image: np.ndarray,
    depth: np.ndarray,
    ids: np.ndarray,
    view: View,
    centres: np.ndarray,
    rots: np.ndarray,
    semi: np.ndarray,
    mats: dict,
    light_world: np.ndarray,
) -> tuple[slice, slice]:
    """Draw one person into ``image`` (H, W, 3) float [0, 1], in place, against ``depth``/``ids`` (updated too).

    Args:
        centres: (K, 3) world ellipsoid centres; rots: (K, 3, 3) world axes (columns); semi: (K, 3) mm.
        mats: :func:`material_table`.
        light_world: (3,) unit vector towards the light.

    Returns:
        The (rows, cols) slices of the region that was drawn (empty slices if the person is not in view).
    """
    H, W = depth.shape
    R, t = view.rotation, view.translation
    fx, fy = view.focal
    cx, cy = view.center
    cc = centres @ R.T + t  # (K, 3) camera-frame centres
    rc = np.einsum("ij,kjl->kil", R, rots)  # (K, 3, 3) camera-frame axes
    M = np.transpose(rc, (0, 2, 1)) / semi[:, :, None]  # camera offset -> unit-sphere coordinates
    o = -np.einsum("kij,kj->ki", M, cc)  # ray origin (camera centre) in unit-sphere coords
    light = R @ np.asarray(light_world, float)
    rmax = semi.max(axis=1)
    z = cc[:, 2]
    ok = z - rmax > 10.0
    boxes = np.zeros((len(semi), 4), np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ang = rmax / np.sqrt(np.maximum(z * z - rmax * rmax, 1.0))
        u = fx * cc[:, 0] / z + cx
        v = fy * cc[:, 1] / z + cy
        # Half-size of the projected bounding square (with margin for the perspective stretch off-axis).
        du = fx * ang * (1.0 + np.abs(cc[:, 0] / z) * ang) * 1.15 + 2.0
        dv = fy * ang * (1.0 + np.abs(cc[:, 1] / z) * ang) * 1.15 + 2.0
    boxes[:, 0] = np.clip(np.floor(np.nan_to_num(u - du, nan=0)), 0, W)
    boxes[:, 1] = np.clip(np.floor(np.nan_to_num(v - dv, nan=0)), 0, H)
    boxes[:, 2] = np.clip(np.ceil(np.nan_to_num(u + du, nan=0)) + 1, 0, W)
    boxes[:, 3] = np.clip(np.ceil(np.nan_to_num(v + dv, nan=0)) + 1, 0, H)
    ok &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not ok.any():
        return slice(0, 0), slice(0, 0)
    r0, r1 = int(boxes[ok, 1].min()), int(boxes[ok, 3].max())
    c0, c1 = int(boxes[ok, 0].min()), int(boxes[ok, 2].max())
    flat = mats["flat"]
    for k in np.flatnonzero(ok):
        u0, v0, u1, v1 = boxes[k]
        xs = (np.arange(u0, u1) - cx) / fx
        ys = (np.arange(v0, v1) - cy) / fy
        m = M[k]
        dx = m[0, 0] * xs[None, :] + m[0, 1] * ys[:, None] + m[0, 2]
        dy = m[1, 0] * xs[None, :] + m[1, 1] * ys[:, None] + m[1, 2]
        dz = m[2, 0] * xs[None, :] + m[2, 1] * ys[:, None] + m[2, 2]
        ok_ = o[k]
        a = dx * dx + dy * dy + dz * dz
        b = ok_[0] * dx + ok_[1] * dy + ok_[2] * dz
        c = ok_ @ ok_ - 1.0
        disc = b * b - a * c
        hit = disc > 0
        if not hit.any():
            continue
        s = (-b - np.sqrt(np.where(hit, disc, 0.0))) / a
        zb = depth[v0:v1, u0:u1]
        win = hit & (s > 1e-3) & (s < zb)
        if not win.any():
            continue
        sw = s[win]
        q = np.stack([ok_[0] + sw * dx[win], ok_[1] + sw * dy[win], ok_[2] + sw * dz[win]], axis=1)
        if flat:
            shade = np.ones(sw.shape[0])
        else:
            normal = (q / semi[k]) @ rc[k].T
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
            lam = normal @ light
            shade = AMBIENT + DIFFUSE * np.clip(lam, 0, None) + 0.08 * np.clip(-normal[:, 2], 0, None)
        pat = _pattern(int(mats["tex"][k]), q, semi[k], float(mats["period"][k]))[:, None]
        col = (mats["c1"][k] * (1 - pat) + mats["c2"][k] * pat) * shade[:, None]
        zb[win] = sw
        ids[v0:v1, u0:u1][win] = k + 1
        image[v0:v1, u0:u1][win] = np.clip(col, 0, 1)
    return slice(r0, r1), slice(c0, c1)


def is_person(ids: np.ndarray) -> np.ndarray:
    """Pixels showing the person (ids 1..K)."""
    return (ids >= 1) & (ids <= len(PRIMITIVES))


__all__ = ["View", "material_table", "render_person", "is_person", "MATERIAL_SLOTS"]
