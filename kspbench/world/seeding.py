"""Deterministic random streams: one independent generator per (world seed, names), whatever the build order.

Every random choice of the world draws from ``rng(seed, "role", "subject", ...)``, so a sequence renders the same
whether it is built alone, in a worker process, or as part of a whole world; and changing one profile count does not
reshuffle what the other sequences look like.
"""

from __future__ import annotations

import hashlib

import numpy as np


def entropy(seed: int, *names: object) -> list[int]:
    """The SeedSequence entropy for a world seed and a path of names (stable across Python runs and machines)."""
    digest = hashlib.sha256("\x1f".join(str(n) for n in names).encode()).digest()
    return [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF] + [
        int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)
    ]


def rng(seed: int, *names: object) -> np.random.Generator:
    """An independent generator for ``names`` under world seed ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(entropy(seed, *names)))
