"""Training: alternating iterations of the card's losses, one optimiser per loss, deterministic and resumable.

A run is ``card + profile + seed + store``. Its stages run one after the other; iteration ``k`` of a stage runs the
loss ``cycle[k % len(cycle)]`` and steps that loss's own optimiser (the paper: "different AdaGrad optimizers ... for
each individual loss components in alternate training iterations"). Optimisers and the parameters they hold:

=========  ===============================================  =====================================
loss       parameters                                       notes
=========  ===============================================  =====================================
prior      EP                                               Lprior
paired     EP, EA, pose-map convs (no-tm: its network), DI  LP
unpaired   EP, EA                                           LUNP; pose-map convs and DI frozen
sup2d      EP                                               weakly-supervised 2D
sup3d      EP                                               semi-supervised / ceiling 3D (+ 2D)
=========  ===============================================  =====================================

Outputs in the run folder: ``checkpoint.pt`` (model, every optimiser, the numpy generator's state, step; replaced
atomically every ``checkpoint_every`` steps and at the end), ``log.csv`` (every step's losses; DVC plots),
``val.csv`` (validation MPJPE / P-MPJPE in mm when the card names a val role and the profile a ``val_every``),
``run.json`` (the resolved card, profile and stages) and, at the end, ``summary.json`` (timings, throughput,
provenance: the only file that differs between two identical runs).

Determinism: every random draw comes from one ``numpy.random.Generator`` seeded from the card's seed (data,
augmentation, T of LUNP) and the initial weights from a ``torch.Generator`` seeded likewise; on CPU
``torch.use_deterministic_algorithms(True)`` and a fixed thread count (recorded) make the same card, seed and store
give bit-identical checkpoints and logs, and ``resume`` continue bit-identically from the last checkpoint.

Speed: on CPU the model and every image batch are kept in channels-last memory format (the convolutions, most of a
step, run about a third faster; ``benchmarks/train_side_by_side.py``); checkpoints are written contiguous, so their
bytes do not depend on the layout.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from kspbench import __version__
from kspbench.core import skeleton
from kspbench.infra.atomic import write_bytes, write_text
from kspbench.model import data as D
from kspbench.model import distributed as DIST
from kspbench.model import losses as L
from kspbench.model.cards import DEFAULT_BONE_RATIOS, LOSSES, Card, Optimiser, load_card
from kspbench.model.ksp import KSP
from kspbench.model.profiles import ModelProfile, load_profile
from kspbench.model.resnet import load_torchvision_weights
from kspbench.infra.provenance import config_sha256, file_sha256, provenance
from kspbench.data.store import PoseStore
from kspbench.errors import KspbenchError

__all__ = ["TrainingError", "Trainer", "train", "build_model", "load_checkpoint", "CHECKPOINT_NAME", "LOG_COLUMNS",
           "plan_stages", "deterministic", "memory_format"]

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "kspbench-ksp-checkpoint"
CHECKPOINT_VERSION = 1
LOG_COLUMNS = ("step", "stage", "loss", "value") + tuple(t for loss in LOSSES for t in L.TERMS[loss])
VAL_COLUMNS = ("step", "frames", "mpjpe_mm", "p_mpjpe_mm")
# Seed-sequence tags: independent streams for the weights and the data.
_INIT_STREAM, _DATA_STREAM = 1, 2


class TrainingError(KspbenchError):
    """A run cannot start or continue (bad card, store, checkpoint, or a non-finite loss); one line."""


@dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    cycle: tuple[str, ...]
    start: int  # global step at which the stage begins


def plan_stages(card: Card, profile: ModelProfile) -> list[Stage]:
    """The card's stages with the profile's step scale applied (at least ``min_stage_steps`` each)."""
    stages, start = [], 0
    for s in card.schedule.stages:
        steps = max(profile.min_stage_steps, int(round(s.steps * profile.steps_scale)))
        stages.append(Stage(s.name, steps, tuple(s.cycle), start))
        start += steps
    return stages


def build_model(card: Card, profile: ModelProfile) -> KSP:
    """The card's model variant at the profile's sizes (parameters not yet initialised)."""
    m = card.model
    ratios = None if m.bone_ratios == DEFAULT_BONE_RATIOS else m.bone_ratios
    return KSP(profile, m.ablation, bone_ratios=ratios, fk_frame=m.fk_frame)


@contextlib.contextmanager
def deterministic(threads: int, device: str) -> Iterator[None]:
    """Fixed thread count and deterministic algorithms inside the block (restored afterwards)."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    # CUDA has no deterministic kernel for some backward passes used here (bilinear upsampling, grid_sample):
    # there, determinism is best effort and a warning is printed once.
    torch.use_deterministic_algorithms(True, warn_only=device != "cpu")
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def memory_format(device: str | torch.device) -> torch.memory_format:
    """The layout of the model and its image batches: channels-last on CPU, where the convolutions run about a
    third faster with it (``benchmarks/train_side_by_side.py``); the default elsewhere."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


def _make_optimiser(spec: Optimiser, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if spec.name == "adagrad":
        return torch.optim.Adagrad(params, lr=spec.lr)
    # The fused kernel: one pass over each parameter instead of a chain of foreach ops (measured on CPU: an Adam
    # step of the cpu model 7 ms -> 2 ms); deterministic like the other.
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=spec.lr, fused=fused or None)


def _atomic_bytes(path: Path, payload: bytes) -> None:
    write_bytes(path, payload)


def _atomic_text(path: Path, text: str) -> None:
    write_text(path, text)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint (``weights_only``: no code runs) and check its format."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for unreadable files
        raise TrainingError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a kspbench KSP checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise TrainingError(f"{path}: checkpoint version {ckpt.get('version')} (this kspbench reads "
                            f"{CHECKPOINT_VERSION})")
    return ckpt


def _canonical_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimiser state dict in a canonical layout (sorted keys, unshared CPU tensors), so that a resumed run's
    checkpoint is byte-identical to an uninterrupted one's, not only equal in value."""
    def canon(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone(memory_format=torch.contiguous_format)  # layout-free bytes
        if isinstance(v, str):
            return sys.intern(v)  # one object per text: the pickle memo then writes it once, as a fresh run does
        if isinstance(v, dict):
            return {canon(k): canon(v[k]) for k in sorted(v, key=lambda x: (str(type(x)), x))}
        if isinstance(v, (list, tuple)):
            return type(v)(canon(x) for x in v)
        return v

    return canon(state)


def _state_like_params(opt: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor its parameter's memory layout (checkpoints store them contiguous; the
    fused Adam kernel walks parameter, gradient and moments in memory order, so the layouts must agree)."""
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for key, v in state.items():
                if isinstance(v, torch.Tensor) and v.shape == p.shape:
                    state[key] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _format_row(row: dict[str, Any]) -> list[str]:
    return ["" if row.get(c) is None else (repr(row[c]) if isinstance(row[c], float) else str(row[c]))
            for c in LOG_COLUMNS]


def _truncate_csv(path: Path, columns: tuple[str, ...], last_step: int) -> None:
    """Keep the header and the complete rows up to ``last_step`` (an interrupted run may have left more)."""
    rows = []
    if path.is_file():
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header == list(columns):
                for r in reader:
                    if len(r) == len(columns) and r[0].isdigit() and int(r[0]) <= last_step:
                        rows.append(r)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    _atomic_text(path, buf.getvalue())


class Trainer:
    """One training run of a card (see the module docstring).

    Args:
        card: a validated card (:func:`kspbench.model.cards.load_card`).
        store_path: the pose store.
        out_dir: the run folder.
        profile: overrides the card's profile (name or :class:`ModelProfile`).
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch CPU threads (default: the profile's, or the checkpoint's when resuming).
        init_checkpoint: the finished checkpoint of the card's ``init_from`` run (required when it has one).
        init_weights: a torchvision ResNet-50 state dict for EP's trunk (fresh runs without ``init_from`` only).
    """

    def __init__(self, card: Card, store_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                 profile: str | ModelProfile | None = None, device: str = "cpu", threads: int | None = None,
                 init_checkpoint: str | os.PathLike | None = None,
                 init_weights: str | os.PathLike | None = None, dist: DIST.DistContext | None = None,
                 amp: str = "off") -> None:
        self.card = card
        self.dist = dist or DIST.DistContext()
        if amp not in ("off", "bf16"):
            raise TrainingError(f"amp must be 'off' or 'bf16', not {amp!r}")
        self.amp = amp
        self._ddp: nn.Module | None = None
        self.profile = profile if isinstance(profile, ModelProfile) else load_profile(profile or card.profile)
        self.store_path = Path(store_path)
        self.out = Path(out_dir)
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.threads = threads or self.profile.threads
        self.memory_format = memory_format(self.device)
        self._threads_given = threads is not None
        self.stages = plan_stages(card, self.profile)
        self.total_steps = sum(s.steps for s in self.stages)
        self.batch = self.profile.batch or card.schedule.batch
        self.init_checkpoint = None if init_checkpoint is None else Path(init_checkpoint)
        self.init_weights = None if init_weights is None else Path(init_weights)
        if card.init_from is None and self.init_checkpoint is not None:
            raise TrainingError(f"card {card.name} has no init_from, but an init checkpoint was given")
        if card.init_from is not None and self.init_checkpoint is None:
            raise TrainingError(f"card {card.name} starts from card {card.init_from!r}: give its checkpoint")
        if card.init_from is not None and self.init_weights is not None:
            raise TrainingError(f"card {card.name} starts from card {card.init_from!r}; --init-weights only "
                                "applies to runs that start from scratch")
        self.model: KSP | None = None
        self.optimisers: dict[str, torch.optim.Optimizer] = {}
        self.rng: np.random.Generator | None = None
        self.step = 0
        self.init_record: dict[str, Any] = {}
        self._data: dict[str, Any] = {}
        self._step_seconds: dict[str, list[float]] = {}

    # --- set-up ---------------------------------------------------------------------------------------------------
    def _seed(self, stream: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([self.card.seed, stream])

    def _build(self) -> None:
        model = build_model(self.card, self.profile)
        init_gen = torch.Generator().manual_seed(int(self._seed(_INIT_STREAM).generate_state(1, np.uint64)[0]
                                                     % (2**63)))
        model.reset_parameters(init_gen)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.rng = np.random.Generator(np.random.PCG64(self._seed(_DATA_STREAM)))
        groups = {"prior": [model.ep], "paired": [model], "unpaired": [model.ep, model.ea], "sup2d": [model.ep],
                  "sup3d": [model.ep]}
        default = Optimiser(self.profile.optimiser.name, self.profile.optimiser.lr)
        if self.profile.optimiser.per_loss:
            for name, cfg in self.card.losses.items():
                params = [p for m in groups[name] for p in m.parameters()]
                self.optimisers[name] = _make_optimiser(cfg.optimiser or default, params)
        else:
            # One optimiser over the parameters any loss trains: each loss steps it in its own iterations, and
            # parameters without a gradient in an iteration are left alone.
            params = list(dict.fromkeys(p for name in self.card.losses.names for m in groups[name]
                                        for p in m.parameters()))
            shared = _make_optimiser(default, params)
            self.optimisers = {name: shared for name in self.card.losses.names}
        if self.dist.enabled:
            if self.device.type == "cuda":
                # Keeps the same Parameter objects, so the optimisers above still hold them.
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self._ddp = DIST.wrap(self.model, self._loss, self.dist, self.device)

    def _apply_init(self) -> None:
        assert self.model is not None
        if self.init_checkpoint is not None:
            ckpt = load_checkpoint(self.init_checkpoint)
            if ckpt["card"]["name"] != self.card.init_from:
                raise TrainingError(f"{self.init_checkpoint}: is a checkpoint of card {ckpt['card']['name']!r}, "
                                    f"card {self.card.name} starts from {self.card.init_from!r}")
            if ckpt["step"] != ckpt["total_steps"]:
                raise TrainingError(f"{self.init_checkpoint}: run {ckpt['card']['name']!r} is not finished (step "
                                    f"{ckpt['step']} of {ckpt['total_steps']}); finish it with --resume first")
            if ckpt["profile"] != self.profile.to_dict():
                raise TrainingError(f"{self.init_checkpoint}: trained with profile {ckpt['profile']['name']!r}, "
                                    f"this run uses {self.profile.name!r}; train both with the same profile")
            if ckpt["card"]["model"] != self.card.to_dict()["model"]:
                raise TrainingError(f"{self.init_checkpoint}: model settings differ from card {self.card.name}")
            self.model.load_state_dict(ckpt["model"])
            self.init_record = {"init_from": self.card.init_from, "checkpoint": str(self.init_checkpoint),
                                "checkpoint_sha256": file_sha256(self.init_checkpoint)}
        if self.init_weights is not None:
            skipped = load_torchvision_weights(self.model.ep.trunk, self.init_weights)
            self.init_record = {"init_weights": str(self.init_weights),
                                "init_weights_sha256": file_sha256(self.init_weights), "skipped_keys": len(skipped)}

    def _frames(self, store: PoseStore, roles: tuple[str, ...], backgrounds: bool) -> D.Frames:
        key = (tuple(roles), backgrounds)
        cache = self._data.setdefault("_frames", {})
        if key not in cache:
            # A cached set with backgrounds serves a request without them.
            with_bg = cache.get((tuple(roles), True))
            cache[key] = with_bg if with_bg is not None else D.load_frames(store, roles, self.profile.input_size,
                                                                           backgrounds=backgrounds)
        return cache[key]

    def _load_data(self) -> None:
        d = self.card.data
        used = {loss for s in self.stages for loss in s.cycle}
        with PoseStore(self.store_path) as store:
            try:
                if "paired" in used or "unpaired" in used:
                    self._data["paired"] = self._frames(store, d.paired, True)
                    self._data["pairs"] = D.PairSampler(self._data["paired"], d.min_gap_seconds)
                if "unpaired" in used:
                    self._data["unpaired"] = self._frames(store, d.unpaired, False)
                    self._data["unpaired_pairs"] = D.PairSampler(self._data["unpaired"], d.min_gap_seconds)
                if "prior" in used:
                    self._data["prior"] = self._frames(store, d.prior, False)
                    self._data["prior_sampler"] = D.FrameSampler(self._data["prior"], what="prior samples")
                if "sup2d" in used or "sup3d" in used:
                    frames = self._frames(store, d.supervised, False)
                    subset = d.supervised_subset
                    mask = None if subset is None else D.supervision_subset(
                        frames, subset.fraction, subset.unit, subset.block_seconds, subset.seed)
                    self._data["supervised"] = frames
                    self._data["sup_sampler"] = D.FrameSampler(frames, mask, what="supervised frames")
                    n_usable = max(1, int(frames.usable.sum()))
                    self._data["sup_fraction"] = float(self._data["sup_sampler"].index.size / n_usable)
                if d.val and self.profile.val_every > 0 and store.sequences(role=d.val):
                    frames = self._frames(store, (d.val,), False)
                    self._data["val"] = frames
                    self._data["val_index"] = D.validation_index(frames.usable, self.profile.val_frames)
            except D.DataError as err:
                raise TrainingError(str(err)) from None

    # --- batches --------------------------------------------------------------------------------------------------
    def _to(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def _images(self, frames: D.Frames, idx: np.ndarray, backgrounds: bool = False) -> torch.Tensor:
        src = frames.backgrounds if backgrounds else frames.images
        assert src is not None
        return self._to(D.to_float(src[torch.from_numpy(idx)]))

    def _batch(self, loss: str) -> dict[str, torch.Tensor]:
        rng, b, cfg = self.rng, self.batch, self.card.losses[loss]
        assert rng is not None
        if loss == "prior":
            frames = self._data["prior"]
            idx = self._data["prior_sampler"].sample(rng, b)
            images, p2d, p3d = D.augment_prior(D.to_float(frames.images[torch.from_numpy(idx)]),
                                               torch.from_numpy(frames.p2d[idx]), torch.from_numpy(frames.p3d[idx]),
                                               rng, mirror=cfg.mirror, rotation_degrees=cfg.rotation_degrees,
                                               colour_jitter=cfg.colour_jitter)
            return {"images": self._to(images), "p2d": self._to(p2d), "p3d": self._to(p3d)}
        if loss == "paired":
            frames = self._data["paired"]
            src, tgt = self._data["pairs"].sample(rng, b)
            return {"source": self._images(frames, src), "target": self._images(frames, tgt),
                    "background": self._images(frames, tgt, backgrounds=True)}
        if loss == "unpaired":
            frames = self._data["unpaired"]
            src, tgt = self._data["unpaired_pairs"].sample(rng, b)
            bg = rng.integers(0, len(self._data["paired"]), size=b)
            flip = rng.random(b) < cfg.flip
            angle = rng.uniform(-1.0, 1.0, b) * math.radians(cfg.rotation_degrees)
            return {"source": self._images(frames, src), "target": self._images(frames, tgt),
                    "background": self._images(self._data["paired"], bg, backgrounds=True),
                    "flip": self._to(torch.from_numpy(flip)), "angle": self._to(torch.from_numpy(angle).float())}
        frames = self._data["supervised"]
        idx = self._data["sup_sampler"].sample(rng, b)
        aug = {"mirror": cfg.mirror, "rotation_degrees": cfg.rotation_degrees, "colour_jitter": cfg.colour_jitter}
        if not any(aug.values()):
            # No augmentation: no draws either, so such runs keep their random stream.
            return {"images": self._images(frames, idx), "p2d": self._to(torch.from_numpy(frames.p2d[idx])),
                    "p3d": self._to(torch.from_numpy(frames.p3d[idx]))}
        images, p2d, p3d = D.augment_prior(D.to_float(frames.images[torch.from_numpy(idx)]),
                                           torch.from_numpy(frames.p2d[idx]), torch.from_numpy(frames.p3d[idx]),
                                           rng, **aug)
        return {"images": self._to(images), "p2d": self._to(p2d), "p3d": self._to(p3d)}

    # --- one iteration ------------------------------------------------------------------------------------------
    def _loss(self, loss: str, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        m, cfg = self.model, self.card.losses[loss]
        assert m is not None
        if loss == "prior":
            return L.prior_loss(m, batch["images"], batch["p2d"], batch["p3d"], w3d=cfg.w3d, w2d=cfg.w2d,
                                wkp=cfg.wkp, wcan=cfg.wcan)
        if loss == "paired":
            return L.paired_loss(m, batch["source"], batch["target"], batch["background"], lambda1=cfg.lambda1,
                                 lambda2=cfg.lambda2, detach_cycle=cfg.detach_cycle)
        if loss == "unpaired":
            return L.unpaired_loss(m, batch["source"], batch["target"], batch["background"], batch["flip"],
                                   batch["angle"], lambda2=cfg.lambda2, detach_cycle=cfg.detach_cycle)
        if loss == "sup2d":
            return L.sup2d_loss(m, batch["images"], batch["p2d"], weight=cfg.weight, wkp=cfg.wkp)
        return L.sup3d_loss(m, batch["images"], batch["p2d"], batch["p3d"], w3d=cfg.w3d, w2d=cfg.w2d,
                            wkp=cfg.wkp, wcan=cfg.wcan)

    def train_step(self, loss: str, batch: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """Run one iteration of ``loss`` (drawing a batch unless given); returns the logged values."""
        assert self.model is not None
        if batch is None:
            batch = self._batch(loss)
        # Every rank drew the same global batch; each computes on its own shard (no-op in one process).
        batch = DIST.shard(batch, self.dist)
        self.model.train()
        freeze = self.model.generator_modules() if loss == "unpaired" else ()
        with L.frozen(freeze):
            self.model.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16"):
                value, terms = self._ddp(loss, batch) if self._ddp is not None else self._loss(loss, batch)
            value = value.float()
            # The global batch's values, on every rank, before backward: a non-finite loss stops all ranks alike.
            logged = DIST.mean_over_ranks(torch.stack([value.detach(), *[t.float() for t in terms.values()]]),
                                          self.dist)
            if not torch.isfinite(logged[0]):
                raise TrainingError(f"loss {loss} is not finite at step {self.step + 1}; the last checkpoint is "
                                    "intact (try a smaller learning rate)")
            value.backward()
            self.optimisers[loss].step()
        self.model.zero_grad(set_to_none=True)
        return {"value": float(logged[0]), **{k: float(v) for k, v in zip(terms, logged[1:])}}

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        assert self.model is not None and self.rng is not None
        card = self.card.to_dict()
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kspbench_version": __version__,
                "card": card, "card_sha256": config_sha256(card),
                "profile": self.profile.to_dict(), "seed": self.card.seed, "step": self.step, "total_steps": self.total_steps,
                "stages": [[s.name, s.steps, list(s.cycle)] for s in self.stages], "threads": self.threads,
                "device": self.device.type, "world_size": self.dist.world_size, "amp": self.amp,
                "init": self.init_record,
                "model": {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
                # keyed by the record's loss names (the same objects: pickle writes each name once)
                "optimisers": {k: _canonical_state(self.optimisers[k].state_dict()) for k in card["losses"]},
                "rng": self.rng.bit_generator.state}

    def save_checkpoint(self) -> Path:
        buf = io.BytesIO()
        torch.save(self._state(), buf)
        path = self.out / CHECKPOINT_NAME
        _atomic_bytes(path, buf.getvalue())
        return path

    def _restore(self, ckpt: dict[str, Any]) -> None:
        assert self.model is not None and self.rng is not None
        if ckpt["card_sha256"] != config_sha256(self.card.to_dict()):
            raise TrainingError(f"{self.out / CHECKPOINT_NAME}: was written for a different card (or the card file "
                                "changed); start a new run folder")
        if ckpt["profile"] != self.profile.to_dict():
            raise TrainingError(f"{self.out / CHECKPOINT_NAME}: was written with profile "
                                f"{ckpt['profile']['name']!r}, not {self.profile.name!r}")
        if int(ckpt.get("world_size", 1)) != self.dist.world_size:
            raise TrainingError(f"{self.out / CHECKPOINT_NAME}: was written by a run with {ckpt.get('world_size', 1)} "
                                f"process(es), this one has {self.dist.world_size}; resume with the same number "
                                "(the global batch is split differently otherwise)")
        self.model.load_state_dict(ckpt["model"])
        for name, opt in self.optimisers.items():
            opt.load_state_dict(ckpt["optimisers"][name])
            _state_like_params(opt)
        self.rng.bit_generator.state = ckpt["rng"]
        self.step = int(ckpt["step"])
        self.init_record = ckpt["init"]

    # --- validation -----------------------------------------------------------------------------------------------
    def validate(self) -> dict[str, float] | None:
        """MPJPE and P-MPJPE (mm) on the fixed validation frames, in eval mode; None without a val role."""
        if "val" not in self._data:
            return None
        from kspbench.evaluation.metrics import mpjpe, p_mpjpe

        assert self.model is not None
        frames, idx = self._data["val"], self._data["val_index"]
        preds = []
        self.model.eval()
        with torch.no_grad():
            for start in range(0, idx.size, 64):
                part = idx[start:start + 64]
                preds.append(self.model.pose(self._images(frames, part))["p3d_cam"].cpu().double().numpy())
        self.model.train()
        pred = np.concatenate(preds) * skeleton.TRUNK_MM
        gt = frames.p3d[idx].astype(np.float64) * frames.trunk_mm[idx][:, None, None]
        return {"step": self.step, "frames": int(idx.size), "mpjpe_mm": float(mpjpe(pred, gt).mean()),
                "p_mpjpe_mm": float(p_mpjpe(pred, gt).mean())}

    # --- the loop -------------------------------------------------------------------------------------------------
    def stage_at(self, step: int) -> tuple[Stage, int]:
        """The stage of global step ``step`` (0-based) and the iteration within it."""
        for s in self.stages:
            if step < s.start + s.steps:
                return s, step - s.start
        raise IndexError(step)

    def run(self, *, resume: bool = False, stop_after: int | None = None, progress: bool = True,
            on_step: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Train to the end (or until global step ``stop_after``, without a final checkpoint: a simulated crash).

        Returns:
            A summary (steps, timings, images per second, final losses).
        """
        ckpt_path = self.out / CHECKPOINT_NAME
        if resume and ckpt_path.exists() and not self._threads_given:
            # Continue with the thread count the run started with: CPU reductions may split work by thread.
            self.threads = int(load_checkpoint(ckpt_path)["threads"])
        with deterministic(self.threads, self.device.type):
            return self._run(resume, stop_after, progress, on_step)

    def _run(self, resume: bool, stop_after: int | None, progress: bool,
             on_step: Callable[[int, dict[str, Any]], None] | None) -> dict[str, Any]:
        from kspbench.infra.progress import Progress

        ckpt_path = self.out / CHECKPOINT_NAME
        if not resume and ckpt_path.exists():
            raise TrainingError(f"{ckpt_path} exists: pass --resume to continue that run, or use a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self._build()
        if resume and ckpt_path.exists():
            self._restore(load_checkpoint(ckpt_path))
        else:
            self._apply_init()
            self.step = 0
        self._load_data()
        log_path, val_path = self.out / "log.csv", self.out / "val.csv"
        main = self.dist.is_main  # rank 0 alone writes files
        if main:
            _truncate_csv(log_path, LOG_COLUMNS, self.step)
            if "val" in self._data:
                _truncate_csv(val_path, VAL_COLUMNS, self.step)
            _atomic_text(self.out / "run.json", json.dumps(self._run_record(), indent=2, sort_keys=True) + "\n")
        started, start_step = time.perf_counter(), self.step
        ema: dict[str, float] = {}
        end = self.total_steps if stop_after is None else min(stop_after, self.total_steps)
        with (open(log_path, "a", newline="") if main else open(os.devnull, "w")) as log_f, \
                Progress(f"train {self.card.name} seed {self.card.seed}", self.total_steps,
                         initial=self.step, enabled=progress and main) as bar:
            log = csv.writer(log_f, lineterminator="\n")
            while self.step < end:
                stage, k = self.stage_at(self.step)
                loss = stage.cycle[k % len(stage.cycle)]
                t0 = time.perf_counter()
                values = self.train_step(loss)
                self._step_seconds.setdefault(loss, []).append(time.perf_counter() - t0)
                self.step += 1
                log.writerow(_format_row({"step": self.step, "stage": stage.name, "loss": loss, **values}))
                ema[loss] = values["value"] if loss not in ema else 0.9 * ema[loss] + 0.1 * values["value"]
                bar.update(1)
                if self.step % 10 == 0 or self.step == end:
                    bar.note(stage=stage.name, **ema)
                if on_step is not None:
                    on_step(self.step, values)
                if main and self.profile.val_every and self.step % self.profile.val_every == 0 \
                        and "val" in self._data:
                    self._write_val(val_path)
                if main and (self.step % self.profile.checkpoint_every == 0 or self.step == self.total_steps):
                    log_f.flush()
                    os.fsync(log_f.fileno())
                    self.save_checkpoint()
        if main and self.step == self.total_steps and "val" in self._data and self.profile.val_every \
                and self.step % self.profile.val_every:
            self._write_val(val_path)
        # No rank returns (and may read or resume from the folder) before rank 0 has written it.
        DIST.barrier(self.dist)
        elapsed = time.perf_counter() - started
        summary = self._summary(elapsed, self.step - start_step)
        if main and self.step == self.total_steps and self.step > start_step:
            _atomic_text(self.out / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return summary

    def _write_val(self, path: Path) -> None:
        row = self.validate()
        if row is None:
            return
        with open(path, "a", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow(
                [row[c] if not isinstance(row[c], float) else repr(row[c]) for c in VAL_COLUMNS])

    def _run_record(self) -> dict[str, Any]:
        return {"card": self.card.to_dict(), "card_sha256": config_sha256(self.card.to_dict()),
                "profile": self.profile.to_dict(),
                "stages": [{"name": s.name, "steps": s.steps, "cycle": list(s.cycle)} for s in self.stages],
                "total_steps": self.total_steps, "batch": self.batch, "threads": self.threads,
                "world_size": self.dist.world_size, "amp": self.amp, "device": self.device.type, "store": str(self.store_path), "init": self.init_record,
                "supervised_fraction": self._data.get("sup_fraction")}

    def _summary(self, elapsed: float, steps: int) -> dict[str, Any]:
        per_loss = {k: {"steps": len(v), "mean_s": float(np.mean(v)), "median_s": float(np.median(v))}
                    for k, v in self._step_seconds.items()}
        return {"card": self.card.name, "profile": self.profile.name, "seed": self.card.seed,
                "steps": self.step, "total_steps": self.total_steps, "steps_this_session": steps,
                "seconds_this_session": elapsed, "batch": self.batch,
                "samples_per_second": steps * self.batch / elapsed if elapsed > 0 else None,
                "peak_rss_mib": _peak_rss_mib(),
                "per_loss": per_loss, **provenance(threads=self.threads, device=self.device.type)}


def _peak_rss_mib() -> float | None:
    """This process's peak resident memory (MiB), or None where the OS does not say."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def train(card: str | os.PathLike | Card, store: str | os.PathLike, out: str | os.PathLike, *,
          profile: str | None = None, device: str = "cpu", resume: bool = False, threads: int | None = None,
          init_checkpoint: str | os.PathLike | None = None, init_weights: str | os.PathLike | None = None,
          progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Train a card (path, name or a loaded :class:`Card`) on a store into ``out``; see :class:`Trainer`."""
    trainer = Trainer(card if isinstance(card, Card) else load_card(card), store, out, profile=profile, device=device, threads=threads,
                      init_checkpoint=init_checkpoint, init_weights=init_weights)
    return trainer.run(resume=resume, stop_after=stop_after, progress=progress)
