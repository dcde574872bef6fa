"""Training: alternating iterations of the card's losses, one optimiser per loss, deterministic and resumable.

A run is ``card + profile + seed + store``. Its stages run one after the other; iteration ``k`` of a stage runs the
loss ``cycle[k % len(cycle)]`` and steps that loss's own optimiser (the paper: "different AdaGrad optimizers ... for
each individual loss components in alternate training iterations"). The parts: :class:`Trainer` wires a run
together and runs its loop; :mod:`kspbench.model.batches` loads the data once and draws each loss's batch;
:mod:`kspbench.model.steps` computes a loss and steps its optimiser (which optimiser holds which parameters);
:mod:`kspbench.model.run_folder` writes the run folder: ``checkpoint.pt`` (replaced atomically every
``checkpoint_every`` steps and at the end), ``log.csv``, ``val.csv`` (when the card names a val role and the profile
a ``val_every``), ``run.json`` and, at the end, ``summary.json``.

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
from kspbench.infra.provenance import config_sha256, file_sha256, provenance
from kspbench.model import data as D
from kspbench.model import distributed as DIST
from kspbench.model.batches import Batches, TrainingData
from kspbench.model.cards import DEFAULT_BONE_RATIOS, Card, load_card
from kspbench.model.compiled import compile_networks
from kspbench.model.ksp import KSP
from kspbench.model.profiles import ModelProfile, load_profile
from kspbench.model.resnet import load_torchvision_weights
from kspbench.model.run_folder import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    LOG_COLUMNS,
    RunFolder,
    TrainingError,
    load_checkpoint,
)
from kspbench.model.steps import (
    AnyOptimiser,
    LossSteps,
    lr_factor,
    make_optimisers,
    optimiser_states,
    restore_optimisers,
    scale_learning_rates,
    validation_errors,
)

__all__ = [
    "TrainingError",
    "Trainer",
    "train",
    "build_model",
    "load_checkpoint",
    "CHECKPOINT_NAME",
    "LOG_COLUMNS",
    "plan_stages",
    "deterministic",
    "memory_format",
]

# Seed-sequence tags: independent streams for the weights and the data.
_INIT_STREAM, _DATA_STREAM = 1, 2


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
    set_deterministic_algorithms(True, warn_only=device != "cpu")
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        set_deterministic_algorithms(old_det, warn_only=old_warn)


def set_deterministic_algorithms(mode: bool, *, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` without its import of the inductor's config (about 1.7 s of every
    train and predict process on this machine) while nothing has loaded the inductor: that flag only concerns
    compiled code, and :func:`kspbench.model.compiled.compile_networks` sets it again after loading it."""
    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first key path (``decoder.map_skips``) where two plain configs differ, or None when they are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    return None if a == b else (path or "the whole profile")


def memory_format(device: str | torch.device) -> torch.memory_format:
    """The layout of the model and its image batches: channels-last on CPU, where the convolutions run about a
    third faster with it (``benchmarks/train_side_by_side.py``); the default elsewhere."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


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
        compile: ``torch.compile`` the networks (opt-in, :mod:`kspbench.model.compiled`; eager if it fails). Not
            bit-identical to eager; recorded in ``run.json``.
    """

    def __init__(
        self,
        card: Card,
        store_path: str | os.PathLike,
        out_dir: str | os.PathLike,
        *,
        profile: str | ModelProfile | None = None,
        device: str = "cpu",
        threads: int | None = None,
        init_checkpoint: str | os.PathLike | None = None,
        init_weights: str | os.PathLike | None = None,
        dist: DIST.DistContext | None = None,
        amp: str = "off",
        compile: bool = False,
    ) -> None:
        self.card = card
        self.compile = compile
        self.dist = dist or DIST.DistContext()
        if amp not in ("off", "bf16"):
            raise TrainingError(f"amp must be 'off' or 'bf16', not {amp!r}")
        self.amp = amp
        self.profile = profile if isinstance(profile, ModelProfile) else load_profile(profile or card.profile)
        self.store_path = Path(store_path)
        self.out = Path(out_dir)
        self.folder = RunFolder(self.out)
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
            raise TrainingError(
                f"card {card.name} starts from card {card.init_from!r}; --init-weights only "
                "applies to runs that start from scratch"
            )
        self.model: KSP | None = None
        self.optimisers: dict[str, AnyOptimiser] = {}
        self.rng: np.random.Generator | None = None
        self.steps: LossSteps | None = None
        self.data: TrainingData | None = None
        self.batches: Batches | None = None
        self.step = 0
        self.init_record: dict[str, Any] = {}
        self._step_seconds: dict[str, list[float]] = {}

    # --- set-up ---------------------------------------------------------------------------------------------------
    def _seed(self, stream: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([self.card.seed, stream])

    def _build(self) -> None:
        """The seeded model, the data generator and the optimisers (wrapped for DDP with several processes)."""
        model = build_model(self.card, self.profile)
        init_gen = torch.Generator().manual_seed(
            int(self._seed(_INIT_STREAM).generate_state(1, np.uint64)[0] % (2**63))
        )
        model.reset_parameters(init_gen)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.rng = np.random.Generator(np.random.PCG64(self._seed(_DATA_STREAM)))
        self.optimisers = make_optimisers(self.card, self.profile, model)
        if self.dist.enabled and self.device.type == "cuda":
            # Keeps the same Parameter objects, so the optimisers above still hold them.
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.steps = LossSteps(self.model, self.optimisers, self.card.losses, self.device, self.dist, self.amp)
        if self.compile:
            m = self.model
            compile_networks([m.ep, m.ea, m.pose_maps.convs, m.di])

    def _apply_init(self) -> None:
        """Start from the ``init_from`` run's finished weights, or from ``--init-weights`` for EP's trunk."""
        assert self.model is not None
        if self.init_checkpoint is not None:
            ckpt = load_checkpoint(self.init_checkpoint)
            if ckpt["card"]["name"] != self.card.init_from:
                raise TrainingError(
                    f"{self.init_checkpoint}: is a checkpoint of card {ckpt['card']['name']!r}, "
                    f"card {self.card.name} starts from {self.card.init_from!r}"
                )
            if ckpt["step"] != ckpt["total_steps"]:
                raise TrainingError(
                    f"{self.init_checkpoint}: run {ckpt['card']['name']!r} is not finished (step "
                    f"{ckpt['step']} of {ckpt['total_steps']}); finish it with --resume first"
                )
            differs = self._profile_difference(ckpt)
            if differs is not None:
                raise TrainingError(
                    f"{self.init_checkpoint}: trained with profile {ckpt['profile']['name']!r}, which differs from "
                    f"this run's {self.profile.name!r} in {differs}; train both with the same profile"
                )
            if ckpt["card"]["model"] != self.card.to_dict()["model"]:
                raise TrainingError(f"{self.init_checkpoint}: model settings differ from card {self.card.name}")
            self.model.load_state_dict(ckpt["model"])
            self.init_record = {
                "init_from": self.card.init_from,
                "checkpoint": str(self.init_checkpoint),
                "checkpoint_sha256": file_sha256(self.init_checkpoint),
            }
        if self.init_weights is not None:
            skipped = load_torchvision_weights(self.model.ep.trunk, self.init_weights)
            self.init_record = {
                "init_weights": str(self.init_weights),
                "init_weights_sha256": file_sha256(self.init_weights),
                "skipped_keys": len(skipped),
            }

    def _load_data(self) -> None:
        assert self.rng is not None
        used = {loss for s in self.stages for loss in s.cycle}
        try:
            self.data = TrainingData.load(self.card, used, self.store_path, self.profile)
        except D.DataError as err:
            raise TrainingError(str(err)) from None
        self.batches = Batches(self.data, self.card.losses, self.rng, self.device, self.memory_format)

    # --- one iteration --------------------------------------------------------------------------------------------
    def _batch(self, loss: str) -> dict[str, torch.Tensor]:
        assert self.batches is not None
        return self.batches.draw(loss, self.batch)

    def train_step(self, loss: str, batch: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """Run one iteration of ``loss`` (drawing a batch unless given); returns the logged values."""
        assert self.steps is not None
        if self.profile.optimiser.decay != "constant":
            scale_learning_rates(self.optimisers, lr_factor(self.profile.optimiser.decay, self.step, self.total_steps))
        return self.steps.step(loss, self._batch(loss) if batch is None else batch, self.step + 1)

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        assert self.model is not None and self.rng is not None
        card = self.card.to_dict()
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "kspbench_version": __version__,
            "card": card,
            "card_sha256": config_sha256(card),
            "profile": self.profile.to_dict(),
            "seed": self.card.seed,
            "step": self.step,
            "total_steps": self.total_steps,
            "stages": [[s.name, s.steps, list(s.cycle)] for s in self.stages],
            "threads": self.threads,
            "device": self.device.type,
            "world_size": self.dist.world_size,
            "amp": self.amp,
            "init": self.init_record,
            "model": {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
            "optimisers": optimiser_states(self.optimisers, card["losses"]),
            "rng": self.rng.bit_generator.state,
        }

    def save_checkpoint(self) -> Path:
        return self.folder.write_checkpoint(self._state())

    def _profile_difference(self, ckpt: dict[str, Any]) -> str | None:
        """The first key path where a checkpoint's profile differs from this run's, or None. Through
        ``ModelProfile.from_dict``: keys added to profiles since the checkpoint was written take their legacy values."""
        return _first_difference(ModelProfile.from_dict(ckpt["profile"]).to_dict(), self.profile.to_dict())

    def _restore(self, ckpt: dict[str, Any]) -> None:
        assert self.model is not None and self.rng is not None
        where = self.folder.checkpoint
        if ckpt["card_sha256"] != config_sha256(self.card.to_dict()):
            raise TrainingError(
                f"{where}: was written for a different card (or the card file changed); start a new run folder"
            )
        differs = self._profile_difference(ckpt)
        if differs is not None:
            raise TrainingError(
                f"{where}: was written with profile {ckpt['profile']['name']!r}, which differs from this run's "
                f"{self.profile.name!r} in {differs}"
            )
        if int(ckpt.get("world_size", 1)) != self.dist.world_size:
            raise TrainingError(
                f"{where}: was written by a run with {ckpt.get('world_size', 1)} process(es), this "
                f"one has {self.dist.world_size}; resume with the same number (the global batch is "
                "split differently otherwise)"
            )
        self.model.load_state_dict(ckpt["model"])
        restore_optimisers(self.optimisers, ckpt["optimisers"])
        self.rng.bit_generator.state = ckpt["rng"]
        self.step = int(ckpt["step"])
        self.init_record = ckpt["init"]

    # --- validation -----------------------------------------------------------------------------------------------
    def validate(self) -> dict[str, float] | None:
        """MPJPE and P-MPJPE (mm) on the fixed validation frames, in eval mode; None without a val role."""
        if self.data is None or self.data.val is None:
            return None
        assert self.model is not None and self.batches is not None
        return {
            "step": self.step,
            **validation_errors(self.model, self.data.val, self.data.val_index, self.batches.images),
        }

    def _write_val(self) -> None:
        row = self.validate()
        if row is not None:
            self.folder.append_val(row)

    # --- the loop -------------------------------------------------------------------------------------------------
    def stage_at(self, step: int) -> tuple[Stage, int]:
        """The stage of global step ``step`` (0-based) and the iteration within it."""
        for s in self.stages:
            if step < s.start + s.steps:
                return s, step - s.start
        raise IndexError(step)

    def run(
        self,
        *,
        resume: bool = False,
        stop_after: int | None = None,
        progress: bool = True,
        on_step: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Train to the end (or until global step ``stop_after``, without a final checkpoint: a simulated crash).

        Returns:
            A summary (steps, timings, images per second, final losses).
        """
        if resume and self.folder.has_checkpoint() and not self._threads_given:
            # Continue with the thread count the run started with: CPU reductions may split work by thread.
            self.threads = int(self.folder.read_checkpoint()["threads"])
        with deterministic(self.threads, self.device.type):
            return self._run(resume, stop_after, progress, on_step)

    def _run(
        self,
        resume: bool,
        stop_after: int | None,
        progress: bool,
        on_step: Callable[[int, dict[str, Any]], None] | None,
    ) -> dict[str, Any]:
        from kspbench.infra.progress import Progress

        folder = self.folder
        folder.create(resume=resume)
        self._build()
        if resume and folder.has_checkpoint():
            self._restore(folder.read_checkpoint())
        else:
            self._apply_init()
            self.step = 0
        self._load_data()
        assert self.data is not None
        validates = self.data.val is not None
        main = self.dist.is_main  # rank 0 alone writes files
        if main:
            folder.start_logs(self.step, val=validates)
            folder.write_run_record(self._run_record())
        started, start_step = time.perf_counter(), self.step
        ema: dict[str, float] = {}
        end = self.total_steps if stop_after is None else min(stop_after, self.total_steps)
        val_every, ckpt_every = self.profile.val_every, self.profile.checkpoint_every
        with (
            folder.step_log(enabled=main) as log,
            Progress(
                f"train {self.card.name} seed {self.card.seed}",
                self.total_steps,
                initial=self.step,
                enabled=progress and main,
            ) as bar,
        ):
            while self.step < end:
                stage, k = self.stage_at(self.step)
                loss = stage.cycle[k % len(stage.cycle)]
                t0 = time.perf_counter()
                values = self.train_step(loss)
                self._step_seconds.setdefault(loss, []).append(time.perf_counter() - t0)
                self.step += 1
                log.write({"step": self.step, "stage": stage.name, "loss": loss, **values})
                ema[loss] = values["value"] if loss not in ema else 0.9 * ema[loss] + 0.1 * values["value"]
                bar.update(1)
                if self.step % 10 == 0 or self.step == end:
                    bar.note(stage=stage.name, **ema)
                if on_step is not None:
                    on_step(self.step, values)
                if main and val_every and self.step % val_every == 0 and validates:
                    self._write_val()
                if main and (self.step % ckpt_every == 0 or self.step == self.total_steps):
                    log.sync()
                    self.save_checkpoint()
        if main and self.step == self.total_steps and validates and val_every and self.step % val_every:
            self._write_val()
        # No rank returns (and may read or resume from the folder) before rank 0 has written it.
        DIST.barrier(self.dist)
        summary = self._summary(time.perf_counter() - started, self.step - start_step)
        if main and self.step == self.total_steps and self.step > start_step:
            folder.write_summary(summary)
        return summary

    # --- records --------------------------------------------------------------------------------------------------
    def _run_record(self) -> dict[str, Any]:
        card = self.card.to_dict()
        return {
            "card": card,
            "card_sha256": config_sha256(card),
            "profile": self.profile.to_dict(),
            "stages": [{"name": s.name, "steps": s.steps, "cycle": list(s.cycle)} for s in self.stages],
            "total_steps": self.total_steps,
            "batch": self.batch,
            "threads": self.threads,
            "world_size": self.dist.world_size,
            "amp": self.amp,
            "compile": self.compile,
            "device": self.device.type,
            "store": str(self.store_path),
            "init": self.init_record,
            "supervised_fraction": None if self.data is None else self.data.sup_fraction,
        }

    def _summary(self, elapsed: float, steps: int) -> dict[str, Any]:
        per_loss = {
            k: {"steps": len(v), "mean_s": float(np.mean(v)), "median_s": float(np.median(v))}
            for k, v in self._step_seconds.items()
        }
        return {
            "card": self.card.name,
            "profile": self.profile.name,
            "seed": self.card.seed,
            "steps": self.step,
            "total_steps": self.total_steps,
            "steps_this_session": steps,
            "seconds_this_session": elapsed,
            "batch": self.batch,
            "samples_per_second": steps * self.batch / elapsed if elapsed > 0 else None,
            "peak_rss_mib": _peak_rss_mib(),
            "per_loss": per_loss,
            **provenance(threads=self.threads, device=self.device.type),
        }


def _peak_rss_mib() -> float | None:
    """This process's peak resident memory (MiB), or None where the OS does not say."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def train(
    card: str | os.PathLike | Card,
    store: str | os.PathLike,
    out: str | os.PathLike,
    *,
    profile: str | None = None,
    device: str = "cpu",
    resume: bool = False,
    threads: int | None = None,
    init_checkpoint: str | os.PathLike | None = None,
    init_weights: str | os.PathLike | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train a card (path, name or a loaded :class:`Card`) on a store into ``out``; see :class:`Trainer`."""
    trainer = Trainer(
        card if isinstance(card, Card) else load_card(card),
        store,
        out,
        profile=profile,
        device=device,
        threads=threads,
        init_checkpoint=init_checkpoint,
        init_weights=init_weights,
    )
    return trainer.run(resume=resume, stop_after=stop_after, progress=progress)
