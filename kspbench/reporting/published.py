"""The paper's published numbers as leaderboard rows: which reference cell stands for which protocol metric.

``kspbench/reporting/reference/ksp_aaai2020.yaml`` holds Tables 2-4 as printed. A leaderboard of protocol P ranked by
metric M shows the published rows whose table was measured under P, with the printed value of M (and of every other
metric of P the table prints), never mixed with measured rows: each carries ``published: True``, the dataset the paper
measured it on, and the table it comes from. Table 4 (ablations) is left out: its rows are variants of one method,
compared inside that table.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CELLS", "PUBLISHED_DATASET", "published_rows", "published_breakdown"]

# table -> protocol -> {metric: the reference cell key}; the paper prints no other protocol.
CELLS: dict[str, dict[str, dict[str, str]]] = {
    "table2": {"h36m-p2": {"p_mpjpe_mm": "average"}},
    "table3": {"3dhp": {"pck150": "pck", "auc": "auc", "mpjpe_mm": "mpjpe"}},
}
PUBLISHED_DATASET = {"table2": "Human3.6M (as published)", "table3": "MPI-INF-3DHP (as published)"}
# Table 2's per-action cells are P-MPJPE, per Human3.6M action.
BREAKDOWN = {("table2", "h36m-p2", "p_mpjpe_mm", "action")}


def published_rows(ref: dict[str, Any], protocol: str, metric: str) -> list[dict[str, Any]]:
    """Published rows of ``protocol`` that print ``metric``, best first (printed order among ties).

    Returns:
        dicts with ``label``, ``published`` (True), ``table`` (as text), ``ref`` (reference table key and the
        paper's row number), ``dataset``, ``score`` (the printed ``metric``),
        ``metrics`` (every metric of the protocol the row prints), ``supervision``, ``trainset``, ``note``
        (the transcription note of the cell, if any) and ``citation`` (the paper the table is from).
    """
    out = []
    for table, protocols in CELLS.items():
        cells = protocols.get(protocol)
        t = ref["tables"][table]
        if not cells or metric not in cells:
            continue
        for i, r in enumerate(t["rows"]):
            values = r.get("values") or {}
            score = values.get(cells[metric])
            if score is None:
                continue  # not printed (or not placeable): never guessed
            out.append(
                {
                    "label": r["method"],
                    "published": True,
                    "table": f"Table {table[5:]}, row {i + 1}",
                    "ref": {"table": table, "row": i + 1},
                    "dataset": PUBLISHED_DATASET[table],
                    "score": float(score),
                    "metrics": {m: float(values[k]) for m, k in cells.items() if values.get(k) is not None},
                    "supervision": r.get("supervision") or "",
                    "trainset": r.get("trainset") or "",
                    "note": (r.get("notes") or {}).get(cells[metric]),
                    "citation": ref["source"]["citation"],
                }
            )
    return out


def published_breakdown(
    ref: dict[str, Any], protocol: str, metric: str, breakdown: str, row: dict[str, Any]
) -> dict[str, float]:
    """The printed per-group values (e.g. per action) of one row of :func:`published_rows`, or {} when the paper
    prints none."""
    key = row["ref"]["table"]
    if (key, protocol, metric, breakdown) not in BREAKDOWN:
        return {}
    row = ref["tables"][key]["rows"][row["ref"]["row"] - 1]
    actions = ref["tables"][key]["actions"]
    return {a: float(row["values"][a]) for a in actions if row["values"].get(a) is not None}
