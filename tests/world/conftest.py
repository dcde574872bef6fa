"""Shared fixtures for the synthetic-world tests: one tiny world per session (seconds to build)."""

from __future__ import annotations

import pytest

from kspbench.world import build
from kspbench.world.profiles import load_profile


@pytest.fixture(scope="session")
def tiny_profile():
    return load_profile("tiny")


@pytest.fixture(scope="session")
def tiny_plans(tiny_profile):
    return build.plan_world(tiny_profile, 0)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, tiny_profile):
    """The tiny world, seed 0, with its datasheet (and manifest)."""
    path = tmp_path_factory.mktemp("world") / "world.h5"
    man = build.build_world(path, tiny_profile, 0, jobs=1, datasheet=True)
    return path, man


@pytest.fixture(scope="session")
def rendered(tiny_plans, tiny_profile):
    """Full frames of one sequence per role (static and moving cameras), rendered in memory."""
    out = {}
    for role in ("h36m-train", "h36m-test", "dunp", "3dhp-test", "prior"):
        plan = next(p for p in tiny_plans if p.role == role and (role != "h36m-train" or "Walking" in p.sequence))
        res, kept = build.render_sequence(plan, tiny_profile, keep_frames=True)
        out[role] = (plan, res.data, kept)
    return out
