"""Is the image decoder DI conditioned on the pose? A measurement the decoder cannot fool (issue 12).

The image loss only teaches EP if DI draws the pose it is given; a decoder that copies the background Bt fits the
pixels outside the person and ignores the pose. This module decodes held-out tuples with the *right* pose and with a
*wrong* one and compares both with the true image.

Tuples (:func:`draw_tuples`), from one role (default ``h36m-val``, a subject never trained on), seeded: each is
(Is, It, F') from ONE clip (same person A, same static camera, same clean background C), with Is and F' each at
least ``MIN_GAP_SECONDS`` from It and F' != Is. B = It's pose, B' = F''s pose. The world's camera is static and the
person is the same within a clip, so the true image R(A, B, C) is exactly It.

True person mask of a frame (:func:`person_masks`): ``sum_RGB |frame - clean Bt| > MASK_THRESHOLD`` (12 grey levels
summed over the three channels, i.e. 12/255 in [0, 1] units; the world's sensor noise has sd 0.5 grey level per
channel), not dilated (dilation 0 px). The person region of a tuple is the union of It's mask and F''s mask (each
in its own crop's pixel grid: the region where either pose puts the person).

Decoding, in two modes: Î(P) = DI(Tm(P), EA(Is), C) with C = It's clean background,

* ``teacher_forced``: P = the TRUE 2D pose (Frames.p2d) of It (for B) or of F' (for B'), with the limb-width scale
  s that EP predicts on that frame;
* ``ep``: P = EP's own p2d and scale predicted on It (for B) or on F' (for B').

Metrics per mode (means over tuples):

* ``e_b`` = mean L1 over RGB and the person region between Î(B) and It; ``e_b_prime`` the same for Î(B') against It;
  **PCI = 1 - mean e_b / mean e_b_prime** (a ratio of means), with a seeded 95 % percentile bootstrap over tuples.
  A decoder that ignores the pose gives Î(B) = Î(B'), hence PCI = 0 exactly; one that draws the pose gives PCI > 0
  (1 for a perfect decoder).
* ``mask_iou``: IoU of (decoder mask of Î(B) > 0.5) with It's true mask; ``mask_inside`` / ``mask_outside``: the
  decoder mask's mean inside / outside It's true mask (only for decoders with a mask composite).
* ``ep_pck_decoded``: EP(Î(B))'s p2d against B's true 2D: PCK at ``PCK_THRESHOLD`` = 0.2 in [-1, 1] units
  (0.1 x the crop side) and ``ep_error_px_decoded``, the mean 2D joint error in pixels of the model's crop.

Is DI conditioned on the appearance code? When the role has two or more subjects, each tuple also has a **stranger**
X: a usable frame of another subject, seen by the same camera when the role has one (so the scene around the person
is alike). Î_X(B) = DI(Tm(B), EA(X), C) is decoded in both modes, ``e_b_stranger`` is its L1 against It in the
region, and **ACI = 1 - mean e_b / mean e_b_stranger** (appearance-conditioning index, bootstrapped like PCI): 0
exactly when the decoder ignores EA (the person is then drawn in colours that come from the pose maps, e.g. those
of the training subjects whose body it resembles), > 0 when the right person's appearance code draws It better
than another person's. Roles with one subject (``h36m-val``) give None.

References (mode-free): ``copy_background_l1`` (Bt against It in the person region: the error of copying the
background) and EP's PCK / error on the real It, beside the same for **one constant 2D pose** (``pck_const_2d``,
``error_px_const_2d``): the mean true 2D pose of the role's usable frames, predicted for every It. Crops are centred
on the person at a fixed scale, so a constant 2D pose is already close to most joints; EP's 2D has learned
something only where it beats this floor (the 2D counterpart of the ``const`` baseline of 3D).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kspbench.errors import KspbenchError
from kspbench.model import data as D

__all__ = [
    "DiagnoseError",
    "BACKGROUND_ATTR",
    "MASK_THRESHOLD",
    "PCK_THRESHOLD",
    "MIN_GAP_SECONDS",
    "Tuples",
    "background_estimate",
    "check_background",
    "load_role",
    "draw_tuples",
    "person_masks",
    "constant_2d",
    "measure",
    "decode_examples",
    "diagnose",
    "write_report",
    "summary_lines",
    "DEFINITIONS",
]

BACKGROUND_ATTR = "background_estimate"  # the world's root attribute: "clean" or "median:<frames>"
MASK_THRESHOLD = 12  # grey levels, |frame - Bt| summed over RGB (= 12/255 in [0, 1] units)
MASK_DILATION_PX = 0  # the true mask is not dilated
PCK_THRESHOLD = 0.2  # [-1, 1] crop units = 0.1 x the crop side
MIN_GAP_SECONDS = 1.0
BATCH = 64
BOOTSTRAP = 2000
MODES = ("teacher_forced", "ep")
REPORT_KIND = "kspbench-diagnose"
REPORT_VERSION = 2  # v2: the appearance-conditioning index (stranger tuples, ACI)
_TUPLE_TAG = 0xD1A6  # seed-sequence tags: tuples and bootstrap draw from separate streams
_BOOT_TAG = 0xB007
_STRANGER_TAG = 0x57A6

DEFINITIONS = {
    "tuple": "(Is, It, F') of one clip of the role (same person, static camera, clean background C); Is and F' "
    f">= {MIN_GAP_SECONDS:g} s from It, F' != Is; B = pose of It, B' = pose of F'",
    "decoded": "Î(P) = DI(Tm(P), EA(Is), C), C = It's clean background",
    "teacher_forced": "P = the true 2D pose of It (B) or F' (B'), limb-width scale = EP's scale on that frame",
    "ep": "P = EP's p2d and scale on It (B) or F' (B')",
    "true_mask": f"sum over RGB of |frame - clean Bt| > {MASK_THRESHOLD} grey levels ({MASK_THRESHOLD}/255), "
    f"dilation {MASK_DILATION_PX} px",
    "region": "union of the true masks of It and F' (each in its own crop grid)",
    "e_b": "mean over tuples of the mean L1 (RGB, [0, 1]) between Î(B) and It in the region",
    "e_b_prime": "mean over tuples of the mean L1 (RGB, [0, 1]) between Î(B') and It in the region",
    "pci": "1 - e_b / e_b_prime (ratio of means over tuples); 95 % percentile bootstrap over tuples, "
    f"{BOOTSTRAP} resamples",
    "mask_iou": "mean over tuples of IoU(decoder mask of Î(B) > 0.5, true mask of It)",
    "mask_inside_outside": "mean of the decoder mask of Î(B) inside / outside It's true mask (mean over tuples)",
    "pck": f"fraction of joints with |EP p2d - true p2d| < {PCK_THRESHOLD} in [-1, 1] crop units "
    "(0.1 x crop side); error_px = mean joint distance x crop_px / 2",
    "copy_background_l1": "mean L1 between Bt and It in the region (the error of copying the background)",
    "const_2d": "the mean true 2D pose (crop coordinates) of the role's usable frames, predicted for every It: "
    "the 2D floor beside EP's PCK on the real It",
    "stranger": "X, a usable frame of another subject of the role (the same camera when the role has one); "
    "None when the role has one subject",
    "e_b_stranger": "mean over tuples of the mean L1 between Î_X(B) = DI(Tm(B), EA(X), C) and It in the region",
    "aci": "1 - e_b / e_b_stranger (appearance-conditioning index, ratio of means); bootstrapped like pci; "
    "0: the decoder ignores the appearance code",
}


class DiagnoseError(KspbenchError):
    """The store, role or checkpoint cannot give the measurement; one line."""


@dataclass(frozen=True)
class Tuples:
    """Indices into a :class:`~kspbench.model.data.Frames`, one entry per tuple, all ``(T,)`` int."""

    source: np.ndarray  # Is
    target: np.ndarray  # It (pose B, background C)
    other: np.ndarray  # F' (pose B')
    stranger: np.ndarray | None = None  # X: another subject (ACI); None when the role has one subject

    def __len__(self) -> int:
        return int(self.target.size)

    def take(self, idx: np.ndarray | slice) -> "Tuples":
        stranger = None if self.stranger is None else self.stranger[idx]
        return Tuples(self.source[idx], self.target[idx], self.other[idx], stranger)


# --- inputs -------------------------------------------------------------------------------------------------------


def background_estimate(attrs: dict[str, Any]) -> str | None:
    """The store's ``background_estimate`` root attribute (None when absent)."""
    value = attrs.get(BACKGROUND_ATTR)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def check_background(store_path: str | os.PathLike, value: str | None, allow_median: bool) -> list[str]:
    """Refuse a store whose backgrounds are not the clean empty scene, unless ``allow_median``; returns warnings.

    Why: with a temporal-median Bt the person partly survives in the background, so "copy Bt" already draws part
    of the person and the true mask (|frame - Bt|) misses it.
    """
    if value == "clean":
        return []
    what = "no background_estimate attribute" if value is None else f"background_estimate {value!r}"
    if not allow_median:
        raise DiagnoseError(
            f"{store_path}: the store's backgrounds are not clean ({what}); rebuild the world with "
            "the default profile (`kspbench world build`), or pass --allow-median-background"
        )
    return [
        f"the store's backgrounds are not clean ({what}): they may contain the person, so the true masks and "
        "the copy-background reference are biased (--allow-median-background)"
    ]


def load_role(store_path: str | os.PathLike, role: str, size: int) -> tuple["D.Frames", dict[str, Any]]:
    """Every frame of ``role`` with its background, at the model's input size, and the store's root attributes."""
    from kspbench.data.store import PoseStore

    with PoseStore(store_path) as store:
        try:
            frames = D.load_frames(store, [role], size, backgrounds=True)
        except D.DataError as err:
            raise DiagnoseError(str(err)) from None
        return frames, store.attrs


def draw_tuples(frames: "D.Frames", n: int, seed: int, min_gap: float = MIN_GAP_SECONDS) -> Tuples:
    """``n`` seeded tuples (see the module docstring): targets uniform over the eligible usable frames, without
    replacement while the role has enough; Is and F' two distinct draws among the target's far partners.

    Raises:
        DiagnoseError: no usable frame has two other usable frames of its clip at least ``min_gap`` away.
    """
    if n < 1:
        raise DiagnoseError(f"--tuples must be at least 1, got {n}")
    usable = np.flatnonzero(frames.usable)
    usable = usable[np.lexsort((frames.time[usable], frames.clip[usable]))]  # by clip, then time
    clip, time = frames.clip[usable], frames.time[usable]
    # Per frame, its clip's rows are [first, last) and its far partners are [first, left) and [right, last):
    # searchsorted on one sorted key clip * width + time, width > any time + gap so that clips never mix (no
    # (U, U) matrix: a real role has ~1e5 frames). eps: times are multiples of 1/fps, far coarser than 1e-6 s.
    eps = 1e-6
    width = float(time.max(initial=0.0)) + 2.0 * min_gap + 1.0
    key = clip.astype(np.float64) * width + time
    first = np.searchsorted(clip, clip, side="left")
    last = np.searchsorted(clip, clip, side="right")
    left = np.searchsorted(key, key - min_gap + eps, side="right")
    right = np.searchsorted(key, key + min_gap - eps, side="left")
    n_left, n_far = left - first, (left - first) + (last - right)
    eligible = np.flatnonzero(n_far >= 2)
    if eligible.size == 0:
        raise DiagnoseError(
            f"role {', '.join(frames.roles)}: no usable frame has two others of its clip at least "
            f"{min_gap:g} s away; a tuple needs Is, It and a third frame of one clip"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, _TUPLE_TAG]))
    tgt = rng.choice(eligible, size=n, replace=n > eligible.size)
    c = n_far[tgt]
    a = rng.integers(0, c)
    b = rng.integers(0, c - 1)
    b = b + (b >= a)  # two distinct ranks among the far partners
    to_row = lambda r: np.where(r < n_left[tgt], first[tgt] + r, right[tgt] + r - n_left[tgt])  # noqa: E731
    target = usable[tgt]
    return Tuples(
        source=usable[to_row(a)], target=target, other=usable[to_row(b)], stranger=draw_strangers(frames, target, seed)
    )


def draw_strangers(frames: "D.Frames", targets: np.ndarray, seed: int) -> np.ndarray | None:
    """Per target row, a seeded usable frame of another subject, seen by the same camera when the role has one
    (else any camera): ``(T,)`` int rows, or None when the usable frames hold fewer than two subjects."""
    usable = np.flatnonzero(frames.usable)
    subjects = frames.subject[usable]
    if np.unique(subjects).size < 2:
        return None
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STRANGER_TAG]))
    # One pool per (subject, camera) of the targets; a draw is uniform over the pool's rows.
    out = np.empty(targets.size, np.int64)
    keys = np.stack([frames.subject[targets], frames.camera[targets]], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    for k, (subject, camera) in enumerate(uniq):
        pool = usable[(subjects != subject) & (frames.camera[usable] == camera)]
        if pool.size == 0:
            pool = usable[subjects != subject]
        rows = np.flatnonzero(inverse.reshape(-1) == k)
        out[rows] = pool[rng.integers(0, pool.size, size=rows.size)]
    return out


def person_masks(images: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """True person masks: uint8 ``(B, 3, S, S)`` frames and clean backgrounds -> bool ``(B, 1, S, S)``."""
    diff = (images.to(torch.int16) - backgrounds.to(torch.int16)).abs().sum(dim=1, keepdim=True)
    return diff > MASK_THRESHOLD


# --- the measurement ----------------------------------------------------------------------------------------------


def _region_l1(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean L1 over RGB inside ``region``: ``(B, 3, S, S)`` x2, bool ``(B, 1, S, S)`` -> ``(B,)`` (0 if empty)."""
    w = region.to(a.dtype)
    total = ((a - b).abs() * w).sum(dim=(1, 2, 3))
    return total / (3.0 * w.sum(dim=(1, 2, 3))).clamp_min(1.0)


def _joint_errors(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``(B, 17, 2)`` x2 in [-1, 1] -> per-joint distances ``(B, 17)``."""
    return torch.linalg.vector_norm(pred - truth, dim=-1)


def _mask_stats(mask: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decoder mask ``(B, 1, S, S)`` in [0, 1] against a true bool mask -> IoU, mean inside, mean outside ``(B,)``.

    An empty union counts as IoU 1 (both agree there is no person); an empty side's mean is NaN.
    """
    pred = mask > 0.5
    inter = (pred & truth).sum(dim=(1, 2, 3)).double()
    union = (pred | truth).sum(dim=(1, 2, 3)).double()
    iou = torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))
    t = truth.to(mask.dtype)
    n_in, n_out = t.sum(dim=(1, 2, 3)), (1.0 - t).sum(dim=(1, 2, 3))
    inside = (mask * t).sum(dim=(1, 2, 3)) / n_in
    outside = (mask * (1.0 - t)).sum(dim=(1, 2, 3)) / n_out
    return iou, inside.double(), outside.double()


def _ratio_ci(
    num: np.ndarray, den: np.ndarray, seed: tuple[int, int], n_boot: int = BOOTSTRAP
) -> tuple[float, float, float]:
    """``1 - mean(num) / mean(den)`` and its 95 % percentile bootstrap over tuples (the same resample for both)."""

    def pci(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 1.0 - a / b

    point = float(pci(num.mean(), den.mean()))
    rng = np.random.default_rng(np.random.SeedSequence([*seed, _BOOT_TAG]))
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    boot = pci(num[idx].mean(axis=1), den[idx].mean(axis=1))
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return point, math.nan, math.nan
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return point, float(lo), float(hi)


def _batch_inputs(frames: "D.Frames", tup: Tuples, device: str) -> dict[str, torch.Tensor]:
    assert frames.backgrounds is not None
    t, o, s = (torch.from_numpy(np.asarray(i, np.int64)) for i in (tup.target, tup.other, tup.source))
    return {
        "src": D.to_float(frames.images[s]).to(device),
        "tgt": D.to_float(frames.images[t]).to(device),
        "oth": D.to_float(frames.images[o]).to(device),
        "bg": D.to_float(frames.backgrounds[t]).to(device),
        "mask_t": person_masks(frames.images[t], frames.backgrounds[t]).to(device),
        "mask_o": person_masks(frames.images[o], frames.backgrounds[o]).to(device),
        "p2d_t": torch.from_numpy(frames.p2d[tup.target]).to(device),
        "p2d_o": torch.from_numpy(frames.p2d[tup.other]).to(device),
        # True joint depths (the model's camera frame) order the limb maps of a profile with maps.occlusion.
        "z_t": torch.from_numpy(frames.p3d[tup.target][..., 2]).to(device),
        "z_o": torch.from_numpy(frames.p3d[tup.other][..., 2]).to(device),
        **(
            {}
            if tup.stranger is None
            else {"str": D.to_float(frames.images[torch.from_numpy(np.asarray(tup.stranger, np.int64))]).to(device)}
        ),
    }


def _decode(model, x: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Both modes' Î(B), Î(B') of one batch of tuples, with EP's outputs on It and F'."""
    pose_t, pose_o = model.pose(x["tgt"]), model.pose(x["oth"])
    fa = model.appearance(x["src"])
    z_t, z_o = pose_t["p3d_cam"][..., 2], pose_o["p3d_cam"][..., 2]
    poses = {
        "teacher_forced": ((x["p2d_t"], pose_t["scale"], x["z_t"]), (x["p2d_o"], pose_o["scale"], x["z_o"])),
        "ep": ((pose_t["p2d"], pose_t["scale"], z_t), (pose_o["p2d"], pose_o["scale"], z_o)),
    }
    fa_x = model.appearance(x["str"]) if "str" in x else None
    out: dict[str, Any] = {"pose_t": pose_t}
    for mode, ((pb, sb, zb), (po, so, zo)) in poses.items():
        out[mode] = (model.render(pb, sb, fa, x["bg"], zb), model.render(po, so, fa, x["bg"], zo))
        if fa_x is not None:
            out[f"{mode}/stranger"] = model.render(pb, sb, fa_x, x["bg"], zb)
    return out


def constant_2d(frames: "D.Frames") -> np.ndarray:
    """The 2D floor: the mean true 2D pose of the frames' usable frames, ``(17, 2)`` crop coordinates, float64."""
    return np.asarray(frames.p2d[frames.usable], np.float64).mean(0)


def measure(
    model, frames: "D.Frames", tuples: Tuples, *, device: str = "cpu", batch: int = BATCH, seed: int = 0
) -> dict[str, Any]:
    """Every metric of the module docstring for ``tuples`` (call under ``torch.no_grad`` and a deterministic
    context; :func:`diagnose` does).

    Returns:
        ``{"n_tuples", "crop_px", "copy_background_l1", "ep_on_real": {"pck", "error_px", "pck_const_2d",
        "error_px_const_2d"}, "modes": {mode:
        {"e_b", "e_b_prime", "pci", "pci_ci95", "mask_iou", "mask_inside", "mask_outside", "ep_pck_decoded",
        "ep_error_px_decoded"}}}`` (``mask_*`` None without a decoder mask) and ``"per_tuple"`` arrays.
    """
    if frames.backgrounds is None:
        raise DiagnoseError("the frames have no backgrounds; load them with backgrounds=True")
    size = int(frames.images.shape[-1])
    acc: dict[str, list[np.ndarray]] = {}

    def put(key: str, value: torch.Tensor) -> None:
        acc.setdefault(key, []).append(value.detach().double().cpu().numpy())

    has_mask = None
    const_2d = torch.from_numpy(constant_2d(frames)).to(device)
    for start in range(0, len(tuples), batch):
        x = _batch_inputs(frames, tuples.take(slice(start, start + batch)), device)
        dec = _decode(model, x)
        region = x["mask_t"] | x["mask_o"]
        put("copy_bg", _region_l1(x["bg"], x["tgt"], region))
        err_real = _joint_errors(dec["pose_t"]["p2d"], x["p2d_t"])
        put("pck_real", (err_real < PCK_THRESHOLD).double().mean(dim=1))
        put("px_real", err_real.mean(dim=1) * size / 2.0)
        err_const = _joint_errors(const_2d.to(x["p2d_t"].dtype).expand_as(x["p2d_t"]), x["p2d_t"])
        put("pck_const", (err_const < PCK_THRESHOLD).double().mean(dim=1))
        put("px_const", err_const.mean(dim=1) * size / 2.0)
        for mode in MODES:
            rb, ro = dec[mode]
            put(f"{mode}/e_b", _region_l1(rb["image"], x["tgt"], region))
            put(f"{mode}/e_bp", _region_l1(ro["image"], x["tgt"], region))
            if f"{mode}/stranger" in dec:
                put(f"{mode}/e_bx", _region_l1(dec[f"{mode}/stranger"]["image"], x["tgt"], region))
            err = _joint_errors(model.pose(rb["image"])["p2d"], x["p2d_t"])
            put(f"{mode}/pck", (err < PCK_THRESHOLD).double().mean(dim=1))
            put(f"{mode}/px", err.mean(dim=1) * size / 2.0)
            has_mask = "mask" in rb
            if has_mask:
                iou, inside, outside = _mask_stats(rb["mask"], x["mask_t"])
                put(f"{mode}/iou", iou)
                put(f"{mode}/in", inside)
                put(f"{mode}/out", outside)
    cat = {k: np.concatenate(v) for k, v in acc.items()}
    mean = lambda k: float(np.nanmean(cat[k])) if k in cat else None  # noqa: E731
    modes = {}
    for i, mode in enumerate(MODES):
        pci, lo, hi = _ratio_ci(cat[f"{mode}/e_b"], cat[f"{mode}/e_bp"], (seed, i))
        if f"{mode}/e_bx" in cat:
            aci, aci_lo, aci_hi = _ratio_ci(cat[f"{mode}/e_b"], cat[f"{mode}/e_bx"], (seed, len(MODES) + i))
        else:
            aci = aci_lo = aci_hi = None
        modes[mode] = {
            "e_b": mean(f"{mode}/e_b"),
            "e_b_prime": mean(f"{mode}/e_bp"),
            "pci": pci,
            "pci_ci95": [lo, hi],
            "e_b_stranger": mean(f"{mode}/e_bx"),
            "aci": aci,
            "aci_ci95": [aci_lo, aci_hi],
            "mask_iou": mean(f"{mode}/iou"),
            "mask_inside": mean(f"{mode}/in"),
            "mask_outside": mean(f"{mode}/out"),
            "ep_pck_decoded": mean(f"{mode}/pck"),
            "ep_error_px_decoded": mean(f"{mode}/px"),
        }
    return {
        "n_tuples": len(tuples),
        "crop_px": size,
        "has_decoder_mask": bool(has_mask),
        "copy_background_l1": mean("copy_bg"),
        "ep_on_real": {
            "pck": mean("pck_real"),
            "error_px": mean("px_real"),
            "pck_const_2d": mean("pck_const"),
            "error_px_const_2d": mean("px_const"),
        },
        "modes": modes,
        "per_tuple": cat,
    }


def decode_examples(model, frames: "D.Frames", tuples: Tuples, *, device: str = "cpu") -> dict[str, Any]:
    """The images of a few tuples for a figure: ``(k, S, S, 3)`` arrays in [0, 1] (``source``, ``target``,
    ``background``, ``tf_b``, ``tf_b_prime``, ``ep_b``), ``mask`` (decoder mask of the teacher-forced Î(B),
    ``(k, S, S)``, or None), ``true_mask`` ``(k, S, S)`` bool, ``p2d_b`` ``(k, 17, 2)`` true 2D of B, and names."""
    x = _batch_inputs(frames, tuples, device)
    dec = _decode(model, x)
    hwc = lambda t: t.clamp(0.0, 1.0).permute(0, 2, 3, 1).double().cpu().numpy()  # noqa: E731
    tf_b, tf_bp = dec["teacher_forced"]
    mask = tf_b.get("mask")
    names = [f"{frames.subject[t]} {frames.sequence[t]} {frames.camera[t]} #{frames.frame[t]}" for t in tuples.target]
    return {
        "source": hwc(x["src"]),
        "target": hwc(x["tgt"]),
        "background": hwc(x["bg"]),
        "tf_b": hwc(tf_b["image"]),
        "tf_b_prime": hwc(tf_bp["image"]),
        "ep_b": hwc(dec["ep"][0]["image"]),
        "mask": None if mask is None else mask[:, 0].double().cpu().numpy(),
        "true_mask": x["mask_t"][:, 0].cpu().numpy(),
        "p2d_b": x["p2d_t"].double().cpu().numpy(),
        "names": names,
    }


# --- the whole command --------------------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, recursively."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def diagnose(
    checkpoint: str | os.PathLike,
    store_path: str | os.PathLike,
    *,
    role: str = "h36m-val",
    n_tuples: int = 256,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
    allow_median_background: bool = False,
    examples: int = 0,
    model=None,
    hash_store: bool = True,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Measure a checkpoint's pose conditioning on ``n_tuples`` seeded tuples of ``role``.

    Args:
        model: an already loaded model of ``checkpoint`` (tests patch its ``render``); loaded when None.
        examples: how many of the tuples to decode for a figure (0: none).
        hash_store: record the store's sha256 (a real store with images can be tens of GB; Fig. 3 skips it).

    Returns:
        The report (JSON-ready, see :func:`measure` and ``DEFINITIONS``) and the examples (or None).

    Raises:
        DiagnoseError: unreadable checkpoint, a store without clean backgrounds (unless allowed), a role without
            tuples.
    """
    from kspbench.errors import ConfigError
    from kspbench.infra.provenance import file_sha256, provenance
    from kspbench.model.predict import load_model
    from kspbench.model.train import TrainingError, deterministic, load_checkpoint

    try:
        if model is None:
            model, ckpt = load_model(checkpoint, device)
        else:
            ckpt = load_checkpoint(checkpoint)
    except (TrainingError, ConfigError) as err:
        raise DiagnoseError(str(err)) from None
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DiagnoseError(f"{checkpoint}: cannot rebuild its model ({first})") from None
    size = int(ckpt["profile"]["input_size"])
    with deterministic(int(threads or ckpt.get("threads", 1)), device), torch.no_grad():
        # The frames too: resizing them is many small operations, which torch's default thread count (every core)
        # slows down up to fifty-fold on a busy machine (Fig. 3 in the smoke pipeline: 6.5 s instead of 0.13).
        frames, attrs = load_role(store_path, role, size)
        bg_kind = background_estimate(attrs)
        warnings = check_background(store_path, bg_kind, allow_median_background)
        tuples = draw_tuples(frames, n_tuples, seed)
        res = measure(model, frames, tuples, device=device, seed=seed)
        shown = decode_examples(model, frames, tuples.take(slice(0, examples)), device=device) if examples else None
    res.pop("per_tuple")
    card = ckpt["card"]
    report = {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "checkpoint": {
            "path": str(checkpoint),
            "sha256": file_sha256(checkpoint),
            "card": card["name"],
            "seed": int(ckpt["seed"]),
            "step": int(ckpt["step"]),
            "profile": ckpt["profile"]["name"],
            "ablation": card["model"]["ablation"],
        },
        "store": {
            "path": str(store_path),
            "sha256": file_sha256(store_path) if hash_store else None,
            "dataset": str(attrs.get("dataset")),
            "background_estimate": bg_kind,
        },
        "role": role,
        "seed": int(seed),
        "device": device,
        "thresholds": {
            "mask_grey_levels_rgb_sum": MASK_THRESHOLD,
            "mask_dilation_px": MASK_DILATION_PX,
            "pck": PCK_THRESHOLD,
            "min_gap_seconds": MIN_GAP_SECONDS,
            "bootstrap": BOOTSTRAP,
        },
        **res,
        "warnings": warnings,
        "definitions": DEFINITIONS,
        "provenance": provenance(),
    }
    return _finite(report), shown


def write_report(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the report as JSON, atomically."""
    from kspbench.infra.atomic import write_text

    return write_text(path, json.dumps(report, indent=2, sort_keys=False, allow_nan=False) + "\n")


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "n/a" if value is None else format(value, fmt)


def aci_line(report: dict[str, Any]) -> str:
    """One line giving the appearance-conditioning index of both modes, or why there is none."""
    modes = report["modes"]
    if all(m.get("aci") is None for m in modes.values()):
        return f"ACI: n/a ({report['role']} has one subject; another subject's appearance code is needed)"
    parts = []
    for mode, m in modes.items():
        lo, hi = m["aci_ci95"]
        parts.append(f"{mode.replace('_', '-')} {_num(m['aci'], '.3f')} [{_num(lo, '.3f')}, {_num(hi, '.3f')}]")
    return "ACI = 1 - e(B)/e_X(B), X another subject's appearance: " + ", ".join(parts) + " (0 = DI ignores EA)"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A short human summary of a report."""
    ck = report["checkpoint"]
    lines = [
        f"{ck['card']} seed {ck['seed']} ({ck['profile']} profile, step {ck['step']}) on {report['role']}: "
        f"{report['n_tuples']} tuples, seed {report['seed']}, crop {report['crop_px']} px"
    ]
    head = ("mode", "e(B)", "e(B')", "PCI", "95% CI", "mask IoU", "EP PCK@0.1 on Î(B)")
    lines.append(f"{head[0]:<15} {head[1]:>7} {head[2]:>7} {head[3]:>7} {head[4]:>17} {head[5]:>9} {head[6]:>19}")
    for mode, m in report["modes"].items():
        lo, hi = m["pci_ci95"]
        lines.append(
            f"{mode.replace('_', '-'):<15} {_num(m['e_b']):>7} {_num(m['e_b_prime']):>7} "
            f"{_num(m['pci'], '.3f'):>7} {'[' + _num(lo, '.3f') + ', ' + _num(hi, '.3f') + ']':>17} "
            f"{_num(m['mask_iou'], '.3f'):>9} "
            f"{_num(None if m['ep_pck_decoded'] is None else 100 * m['ep_pck_decoded'], '.1f'):>6} % "
            f"({_num(m['ep_error_px_decoded'], '.1f')} px)"
        )
    real = report["ep_on_real"]
    lines.append(
        f"reference: copy-the-background L1 {_num(report['copy_background_l1'])}; EP on the real It: "
        f"PCK@0.1 {_num(None if real['pck'] is None else 100 * real['pck'], '.1f')} % "
        f"({_num(real['error_px'], '.1f')} px; one constant 2D pose: "
        f"{_num(None if real.get('pck_const_2d') is None else 100 * real['pck_const_2d'], '.1f')} %, "
        f"{_num(real.get('error_px_const_2d'), '.1f')} px)"
    )
    lines.append("PCI = 1 - e(B)/e(B'): 0 = the decoder ignores the pose, 1 = it draws exactly the true person")
    lines.append(aci_line(report))
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    return lines
