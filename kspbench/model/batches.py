"""A run's training data, loaded once, and the batch each loss draws from it.

:class:`TrainingData` holds the frames and samplers of the losses a run schedules (frames read once per role set
and shared, :func:`kspbench.model.data.load_frames`), and the fixed validation frames. :class:`Batches` draws one
loss's batch from them with the run's generator, augments it as the card says and lays it out for the device.
Every random draw of a run's data comes from that one ``numpy.random.Generator``, in a fixed order per loss.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kspbench.data.store import PoseStore
from kspbench.model import data as D
from kspbench.model.cards import Card, Losses
from kspbench.model.profiles import ModelProfile

__all__ = ["TrainingData", "Batches"]


@dataclass
class TrainingData:
    """Frames and samplers of the scheduled losses (None where no scheduled loss needs them)."""

    paired: D.Frames | None = None
    pairs: D.PairSampler | None = None
    unpaired: D.Frames | None = None
    unpaired_pairs: D.PairSampler | None = None
    prior: D.Frames | None = None
    prior_sampler: D.FrameSampler | None = None
    supervised: D.Frames | None = None
    sup_sampler: D.FrameSampler | None = None
    sup_fraction: float | None = None  # share of the usable supervised frames in the subset (run.json)
    val: D.Frames | None = None
    val_index: np.ndarray | None = None
    _frames: dict[tuple[tuple[str, ...], bool], D.Frames] = field(default_factory=dict, repr=False, init=False)

    @classmethod
    def load(cls, card: Card, losses: set[str], store_path: str | os.PathLike, profile: ModelProfile) -> "TrainingData":
        """The data of ``losses`` (the scheduled ones) and, when the profile validates, of the card's val role.

        Raises:
            kspbench.model.data.DataError: the store lacks a role, images, backgrounds or usable frames.
        """
        d, out = card.data, cls()
        with PoseStore(Path(store_path)) as store:

            def frames(roles: tuple[str, ...], backgrounds: bool) -> D.Frames:
                return out._cached(store, roles, backgrounds, profile.input_size)

            if "paired" in losses or "unpaired" in losses:
                out.paired = frames(d.paired, True)
                out.pairs = D.PairSampler(out.paired, d.min_gap_seconds)
            if "unpaired" in losses:
                out.unpaired = frames(d.unpaired, False)
                out.unpaired_pairs = D.PairSampler(out.unpaired, d.min_gap_seconds)
            if "prior" in losses:
                out.prior = frames(d.prior, False)
                out.prior_sampler = D.FrameSampler(out.prior, what="prior samples")
            if "sup2d" in losses or "sup3d" in losses:
                out.supervised = frames(d.supervised, False)
                subset = d.supervised_subset
                mask = (
                    None
                    if subset is None
                    else D.supervision_subset(
                        out.supervised, subset.fraction, subset.unit, subset.block_seconds, subset.seed
                    )
                )
                out.sup_sampler = D.FrameSampler(out.supervised, mask, what="supervised frames")
                n_usable = max(1, int(out.supervised.usable.sum()))
                out.sup_fraction = float(out.sup_sampler.index.size / n_usable)
            if d.val and profile.val_every > 0 and store.sequences(role=d.val):
                out.val = frames((d.val,), False)
                out.val_index = D.validation_index(out.val.usable, profile.val_frames)
        return out

    def _cached(self, store: PoseStore, roles: tuple[str, ...], backgrounds: bool, size: int) -> D.Frames:
        key = (tuple(roles), backgrounds)
        if key not in self._frames:
            # A cached set with backgrounds serves a request without them.
            with_bg = self._frames.get((tuple(roles), True))
            self._frames[key] = (
                with_bg if with_bg is not None else D.load_frames(store, roles, size, backgrounds=backgrounds)
            )
        return self._frames[key]


class Batches:
    """Each loss's batch, drawn from :class:`TrainingData` with the run's generator and laid out for the device."""

    def __init__(
        self,
        data: TrainingData,
        losses: Losses,
        rng: np.random.Generator,
        device: torch.device,
        memory_format: torch.memory_format,
    ) -> None:
        self.data, self.losses, self.rng = data, losses, rng
        self.device, self.memory_format = device, memory_format

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def images(self, frames: D.Frames, idx: np.ndarray, backgrounds: bool = False) -> torch.Tensor:
        src = frames.backgrounds if backgrounds else frames.images
        assert src is not None
        return self.to_device(D.to_float(src[torch.from_numpy(idx)]))

    def draw(self, loss: str, size: int) -> dict[str, torch.Tensor]:
        """``size`` samples for one iteration of ``loss``."""
        rng, b, cfg, data = self.rng, size, self.losses[loss], self.data
        if loss == "prior":
            idx = data.prior_sampler.sample(rng, b)
            return self._augmented(
                data.prior,
                idx,
                mirror=cfg.mirror,
                rotation_degrees=cfg.rotation_degrees,
                colour_jitter=cfg.colour_jitter,
            )
        if loss == "paired":
            frames = data.paired
            src, tgt = data.pairs.sample(rng, b)
            return {
                "source": self.images(frames, src),
                "target": self.images(frames, tgt),
                "background": self.images(frames, tgt, backgrounds=True),
            }
        if loss == "unpaired":
            frames = data.unpaired
            src, tgt = data.unpaired_pairs.sample(rng, b)
            bg = rng.integers(0, len(data.paired), size=b)
            flip = rng.random(b) < cfg.flip
            angle = rng.uniform(-1.0, 1.0, b) * math.radians(cfg.rotation_degrees)
            return {
                "source": self.images(frames, src),
                "target": self.images(frames, tgt),
                "background": self.images(data.paired, bg, backgrounds=True),
                "flip": self.to_device(torch.from_numpy(flip)),
                "angle": self.to_device(torch.from_numpy(angle).float()),
            }
        frames = data.supervised
        idx = data.sup_sampler.sample(rng, b)
        aug = {"mirror": cfg.mirror, "rotation_degrees": cfg.rotation_degrees, "colour_jitter": cfg.colour_jitter}
        if not any(aug.values()):
            # No augmentation: no draws either, so such runs keep their random stream.
            return {
                "images": self.images(frames, idx),
                "p2d": self.to_device(torch.from_numpy(frames.p2d[idx])),
                "p3d": self.to_device(torch.from_numpy(frames.p3d[idx])),
            }
        return self._augmented(frames, idx, **aug)

    def _augmented(self, frames: D.Frames, idx: np.ndarray, **aug: float) -> dict[str, torch.Tensor]:
        """Labelled frames augmented as the prior samples are (:func:`kspbench.model.data.augment_prior`)."""
        images, p2d, p3d = D.augment_prior(
            D.to_float(frames.images[torch.from_numpy(idx)]),
            torch.from_numpy(frames.p2d[idx]),
            torch.from_numpy(frames.p3d[idx]),
            self.rng,
            **aug,
        )
        return {"images": self.to_device(images), "p2d": self.to_device(p2d), "p3d": self.to_device(p3d)}
