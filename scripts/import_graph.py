"""The import graph of kspbench's layers, read from the code (``python scripts/import_graph.py``).

Prints a Mermaid flowchart of which floor imports which (docs/architecture.md embeds it; tests/test_architecture.py
checks that the copy there is current and that every import goes down the floors). Reads the source with ``ast``;
imports inside functions count too.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kspbench"

# Bottom to top. A module may import its own floor and the floors below it, never one above.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "infra"),
    ("core",),
    ("data",),
    ("evaluation",),
    ("world",),
    ("model",),
    ("reporting",),
    ("tools",),
    ("api",),
    ("cli", "__main__"),
)
FLOOR_OF = {part: level for level, parts in enumerate(FLOORS) for part in parts}


def layer(module: str) -> str | None:
    """``kspbench.data.store`` -> ``data``; the root package itself (``__version__``) -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every ``kspbench...`` module that ``path`` imports (``from kspbench.x import y`` counts as ``kspbench.x.y``
    when ``y`` is a module, else ``kspbench.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "kspbench")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "kspbench"
        ):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return found


def _is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    """module -> the kspbench modules it imports, for every module of the package."""
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for src, targets in edges.items():
        for dst in targets:
            a, b = layer(src), layer(dst)
            if a and b and a != b:
                out[a].add(b)
    return out


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports that go up the floors (or into a layer no floor names), as ``src -> dst`` lines."""
    bad = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            a, b = layer(src), layer(dst)
            if a is None or b is None:
                continue
            if a not in FLOOR_OF or b not in FLOOR_OF or FLOOR_OF[b] > FLOOR_OF[a]:
                bad.append(f"{src} -> {dst}")
    return bad


def mermaid(edges: dict[str, set[str]]) -> str:
    """A Mermaid flowchart: one node per layer, top floor first, and one arrow per importing pair of layers."""
    lines = ["flowchart TB"]
    for level in reversed(range(len(FLOORS))):
        for name in FLOORS[level]:
            lines.append(f'  {_id(name)}["{level}: {name}"]')
    by_layer = layer_edges(edges)
    order = sorted(by_layer, key=lambda n: (-FLOOR_OF.get(n, 99), n))
    for src in order:
        for dst in sorted(by_layer[src], key=lambda n: (-FLOOR_OF.get(n, 99), n)):
            lines.append(f"  {_id(src)} --> {_id(dst)}")
    return "\n".join(lines)


def _id(name: str) -> str:
    return name.strip("_")


if __name__ == "__main__":
    edges = graph()
    print(mermaid(edges))
    bad = upward(edges)
    if bad:
        print("imports that go up the floors:\n  " + "\n  ".join(bad), file=sys.stderr)
        sys.exit(1)
