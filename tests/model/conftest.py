"""Fixtures of the model tests: one tiny store per session, cards and profiles."""

from __future__ import annotations

import pytest

from kspbench.model.cards import Card, load_card
from kspbench.model.profiles import load_profile
from model_fixtures import build_store


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("model-store") / "store.h5")


@pytest.fixture(scope="session")
def tiny():
    return load_profile("tiny")


@pytest.fixture()
def all_losses_card():
    """The unsup card with every loss configured and scheduled (one iteration each), lr 3e-3."""
    card = load_card("unsup").to_dict()
    card["losses"]["sup2d"] = {"weight": 1.0, "optimiser": None}
    card["losses"]["sup3d"] = {"w3d": 1.0, "w2d": 1.0, "optimiser": None}
    card["data"]["supervised"] = ["h36m-train"]
    card["schedule"]["stages"] = [
        {"name": "all", "steps": 1, "cycle": ["prior", "paired", "unpaired", "sup2d", "sup3d"]}
    ]
    for cfg in card["losses"].values():
        cfg["optimiser"] = {"name": "adam", "lr": 3e-3}
    return Card.from_dict(card)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: the tiny networks gain nothing from more, and other processes share the cores."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
