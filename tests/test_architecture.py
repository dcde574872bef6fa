"""The layers of kspbench: imports only go down the floors, and docs/architecture.md shows today's graph."""

from __future__ import annotations

import importlib.util

from factories import REPO

_spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "import_graph.py")
graph_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(graph_tool)


def test_every_import_goes_down_the_floors():
    bad = graph_tool.upward(graph_tool.graph())
    assert not bad, "imports that go up the floors:\n" + "\n".join(bad)


def test_every_subpackage_has_a_floor():
    layers = {graph_tool.layer(m) for m in graph_tool.graph()} - {None}
    assert layers <= set(graph_tool.FLOOR_OF), sorted(layers - set(graph_tool.FLOOR_OF))


def test_upward_import_is_flagged():
    # The check itself can fail: a core module importing the evaluator is reported.
    edges = {"kspbench.core.skeleton": {"kspbench.evaluation.metrics"}, "kspbench.cli.x": {"kspbench.core.crops"}}
    assert graph_tool.upward(edges) == ["kspbench.core.skeleton -> kspbench.evaluation.metrics"]


def test_architecture_page_shows_todays_graph():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert graph_tool.mermaid(graph_tool.graph()) in page, (
        "docs/architecture.md is out of date: paste the output of `python scripts/import_graph.py` into it"
    )
