"""``kspbench leaderboard`` and ``kspbench compare``: rank result files; paired bootstrap tests of differences."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

FORMATS = ("md", "csv", "json", "html", "latex")


def register(sub: argparse._SubParsersAction) -> None:
    lb = sub.add_parser(
        "leaderboard",
        help="rank the result files of each protocol, with paired tests against the best row",
        description="Read every result JSON under a results folder (each validated: a file edited by hand or with "
        "a changed per-frame file is refused, naming it), group seeds of a row, rank the rows of each "
        "protocol best first, and test each row against the best with a paired block bootstrap on "
        "per-frame errors (the same temporal blocks resampled for both rows). Rows scored on other "
        "frames (other overrides) are listed but not paired, with the reason.",
        epilog="Examples:\n"
        "  kspbench leaderboard\n"
        "  kspbench leaderboard --protocol h36m-p2 --metric mpjpe_mm\n"
        "  kspbench leaderboard --results results --format json --out results/leaderboard.json\n"
        "  kspbench leaderboard --protocol 3dhp --format csv\n"
        "  kspbench leaderboard --per-action --per-joint --format html --out leaderboard.html\n"
        "  kspbench leaderboard --protocol h36m-p2 --format latex --out leaderboard.tex",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lb.add_argument(
        "--results", default="results", help="folder searched recursively for result JSONs (default: results)"
    )
    lb.add_argument("--protocol", help="only this protocol (default: one table per protocol found)")
    lb.add_argument("--metric", help="metric to rank by (default: each protocol's primary metric)")
    lb.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="md (GitHub table), csv (raw numbers), json (everything), html (one self-contained page: "
        "sortable, intervals, links to the result files) or latex (a table float per protocol); "
        "default: from --out's suffix, else md",
    )
    lb.add_argument(
        "--per-action",
        action="store_true",
        help="also a table of the ranking metric per action (per activity for 3DHP), published "
        "per-action numbers beside the measured ones",
    )
    lb.add_argument("--per-joint", action="store_true", help="also a table of the ranking metric per joint")
    lb.add_argument(
        "--no-published",
        action="store_true",
        help="leave out the paper's published rows (shown by default, marked, under h36m-p2 and 3dhp)",
    )
    lb.add_argument("--out", help="file to write (atomically) instead of printing")
    lb.set_defaults(func=_leaderboard)

    cp = sub.add_parser(
        "compare",
        help="paired test of two result files, every metric",
        description="Compare two results of the same protocol on the same frames: each row's metrics with their "
        "intervals, and the paired difference B - A with its 95% interval and two-sided p-value "
        "(paired block bootstrap on per-frame errors). Results on different frame sets, protocols "
        "or datasets are refused.",
        epilog="Examples:\n"
        "  kspbench compare results/unsup/h36m-p2.json results/weakly/h36m-p2.json\n"
        "  kspbench compare results/a/3dhp.json results/b/3dhp.json --metric pck150",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cp.add_argument("a", metavar="A.json", help="first result (the reference)")
    cp.add_argument("b", metavar="B.json", help="second result (differences are B - A)")
    cp.add_argument("--metric", help="only this metric (default: every metric of the protocol)")
    cp.set_defaults(func=_compare)


# --- formatting -------------------------------------------------------------------------------------------------


def _f(v: float) -> str:
    return f"{v:.2f}"


def _p(p: float, resamples: int) -> str:
    # p = 0 means no resample crossed zero: all we know is p < 1/resamples.
    return f"<{1 / resamples:.2g}" if p == 0 else f"{p:.3f}"


def _score_cell(e: dict[str, Any]) -> str:
    if e["n_seeds"] > 1:
        return f"{_f(e['score'])} ± {_f(e['sd'])}"
    if e["ci95"]:
        return f"{_f(e['score'])} [{_f(e['ci95'][0])}, {_f(e['ci95'][1])}]"
    return _f(e["score"])


def _spread_cell(e: dict[str, Any]) -> str:
    return "–" if e["spread_ratio"] is None else f"{e['spread_ratio']:.2f}"


def _label(e: dict[str, Any]) -> str:
    from kspbench.evaluation.results import OUT_OF_DOMAIN_LABEL

    return (
        e["label"]
        + (f" ({OUT_OF_DOMAIN_LABEL})" if e["out_of_domain"] else "")
        + (" (collapsed)" if e["collapsed"] else "")
        + (f" ({e['partial']})" if e["partial"] else "")
    )


def _delta_cells(e: dict[str, Any]) -> tuple[str, str]:
    if e["rank"] == 1:
        return "best", ""
    if e["paired"] is None:
        return f"not paired: {e['pairing_reason']}", ""
    d = e["paired"]
    return f"{d['difference']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]", _p(d["p_value"], d["resamples"])


def _datasets(entries: list[dict[str, Any]]) -> list[str]:
    return sorted({f"{e['dataset']} (sha256 {e['dataset_sha256'][:12]})" for e in entries})


def _test_line(results: list, entries: list[dict[str, Any]]) -> str:
    ci = results[0].data["ci_method"]
    agg = results[0].data["protocol"]["aggregation"]
    what = "scores" if entries[0]["units"] == "%" else "errors"
    strata = f", stratified by {agg['by']}" if agg["overall"] == "mean_of_groups" else ""
    seeds = (
        " Rows with several seeds: mean ± sd over seeds; their Δ and p use each row's lowest seed."
        if any(e["n_seeds"] > 1 for e in entries)
        else ""
    )
    return (
        f"Δ vs best = row minus best row, paired block bootstrap on per-frame {what} (the same "
        f"{ci['block_frames']}-frame blocks resampled for both rows{strata}; {ci['resamples']} resamples, "
        f"seed {ci['seed']}); p two-sided; [..] 95% intervals.{seeds}"
    )


def _dataset_line(entries: list[dict[str, Any]]) -> str:
    ds = _datasets(entries)
    if len(ds) > 1:
        return (
            f"WARNING: THESE ROWS COME FROM {len(ds)} DIFFERENT DATASETS ({'; '.join(ds)}): their scores are "
            "NOT comparable, and rows on another dataset than the best are not paired."
        )
    return f"dataset: {ds[0]}"


def _others(b: dict[str, Any]) -> list[str]:
    return [m for m in b["metrics"] if m != b["metric"]]


def _md(b: dict[str, Any]) -> str:
    from tabulate import tabulate

    protocol, results, entries = b["protocol"], b["results"], b["rows"]
    e0 = entries[0]
    direction = "higher is better" if e0["higher_is_better"] else "lower is better"
    other = _others(b)
    extra = b["extra"]
    rows = [
        [
            e["rank"],
            _label(e),
            e["kind"],
            e["dataset"],
            e["n_seeds"],
            _score_cell(e),
            *[_f(extra[e["row"]][m]["score"]) if m in extra.get(e["row"], {}) else "–" for m in other],
            _spread_cell(e),
            *_delta_cells(e),
        ]
        for e in entries
    ]
    rows += [
        [
            "–",
            f"{p['label']} [published]",
            "published",
            p["dataset"],
            "",
            _f(p["score"]),
            *[_f(p["metrics"][m]) if m in p["metrics"] else "–" for m in other],
            "–",
            "",
            "",
        ]
        for p in b["published"]
    ]
    table = tabulate(
        rows,
        headers=[
            "rank",
            "row",
            "kind",
            "dataset",
            "seeds",
            e0["metric"],
            *other,
            "spread ratio",
            "Δ vs best [95%]",
            "p",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    lines = [
        f"### {protocol} v{e0['protocol_version']}: {e0['metric']} ({e0['units']}, {direction})",
        "",
        table,
        "",
        _test_line(results, entries),
        _SPREAD_LINE,
        _dataset_line(entries),
    ]
    if b["published"]:
        lines.append(PUBLISHED_LINE)
    if any(e["collapsed"] for e in entries):
        from kspbench.evaluation.results import COLLAPSE_NOTE

        lines.append(COLLAPSE_NOTE)
    if any(e["partial"] for e in entries):
        from kspbench.evaluation.results import PARTIAL_NOTE

        lines.append(PARTIAL_NOTE)
    if any(e["out_of_domain"] for e in entries):
        from kspbench.evaluation.results import OUT_OF_DOMAIN_NOTE

        lines.append(OUT_OF_DOMAIN_NOTE)
    lines += [f"not paired: {e['label']}: {e['pairing_error']}" for e in entries if e["pairing_error"]]
    for by, rows_by in b["breakdowns"].items():
        groups = _groups(b, by)
        body = [
            [
                v["label"] + (" [published]" if v["published"] else ""),
                v["source"],
                *[_f(v["values"][g]) if g in v["values"] else "–" for g in groups],
            ]
            for v in rows_by.values()
        ]
        lines += [
            "",
            f"#### {e0['metric']} per {by}",
            "",
            tabulate(body, headers=["row", "source", *groups], tablefmt="github", disable_numparse=True)
            if groups
            else f"no result holds per-{by} numbers (written before them: re-run `kspbench eval`)",
        ]
    return "\n".join(lines)


PUBLISHED_LINE = (
    "[published] rows: the paper's printed numbers (kspbench/reporting/reference/ksp_aaai2020.yaml) on its own "
    "dataset, not re-measured: no rank, interval or test; compare them with measured rows only when "
    "both are on the same dataset."
)


def _groups(b: dict[str, Any], by: str) -> list[str]:
    order = b["group_order"].get(by)
    groups = {g for v in b["breakdowns"][by].values() for g in v["values"]}
    return sorted(groups, key=order) if order else sorted(groups)


def _group_orders() -> dict[str, Any]:
    from kspbench.core import skeleton

    def by(names: tuple[str, ...]):
        return lambda g: (names.index(g), g) if g in names else (len(names), g)

    return {
        "action": by(tuple(skeleton.H36M_ACTIONS)),
        "joint": by(tuple(skeleton.JOINT_NAMES) + tuple(skeleton.MPI3DHP_JOINT_NAMES)),
    }


def boards(
    found: list,
    protocols: list[str],
    metric: str | None,
    *,
    per_action: bool = False,
    per_joint: bool = False,
    published: bool = True,
) -> list[dict[str, Any]]:
    """One board per protocol: the ranked measured rows (:func:`kspbench.reporting.leaderboard.leaderboard`), every
    metric of each row, the published rows of the protocol (kspbench.reporting.published) and the requested
    breakdowns."""
    from kspbench.reporting.leaderboard import breakdown, extra_metrics, leaderboard, metric_units
    from kspbench.reporting.published import published_breakdown, published_rows
    from kspbench.reporting.table import reference

    ref = reference()
    out = []
    for p in protocols:
        results = [r for r in found if r.protocol == p]
        entries = leaderboard(results, p, metric)
        m = entries[0]["metric"]
        proto = results[0].data["protocol"]
        pub = published_rows(ref, p, m) if published else []
        pub.sort(key=lambda x: -x["score"] if entries[0]["higher_is_better"] else x["score"])
        wanted = []
        if per_action:
            # 3DHP has activities where Human3.6M has actions; a protocol with neither gets no table.
            wanted += [
                g
                for g in ("action", "activity")
                if g in proto.get("breakdowns", []) or g in results[0].data["per_group"]
            ][:1]
        if per_joint:
            wanted.append("joint")
        labels = {e["row"]: _label(e) for e in entries}
        breakdowns = {}
        for by in wanted:
            per = breakdown(results, p, m, by)
            # Keyed by row (a published row by its table cell); "label" is what a table prints.
            rows_by = {
                e["row"]: {
                    "label": labels[e["row"]],
                    "published": False,
                    "source": f"measured: {e['dataset']}",
                    "values": per[e["row"]],
                }
                for e in entries
            }
            for x in pub:
                vals = published_breakdown(ref, p, m, by, x)
                if vals:
                    rows_by[f"published: {x['table']}"] = {
                        "label": x["label"],
                        "published": True,
                        "source": x["dataset"],
                        "values": vals,
                    }
            breakdowns[by] = rows_by
        notes = [_test_line(results, entries), _SPREAD_LINE, _dataset_line(entries)]
        if pub:
            notes.append(PUBLISHED_LINE)
        if any(e["partial"] for e in entries):
            from kspbench.evaluation.results import PARTIAL_NOTE

            notes.append(PARTIAL_NOTE)
        out.append(
            {
                "protocol": p,
                "version": entries[0]["protocol_version"],
                "metric": m,
                "results": results,
                "rows": entries,
                "published": pub,
                "metrics": list(proto["metrics"]),
                "metric_info": {k: v["higher_is_better"] for k, v in proto["metrics"].items()},
                "units_of": {k: metric_units(results[0], k) for k in proto["metrics"]},
                "extra": extra_metrics(results, p),
                "breakdowns": breakdowns,
                "group_order": _group_orders(),
                "notes": notes,
            }
        )
    return out


_SPREAD_LINE = (
    "spread ratio: how much the predicted poses vary in shape over the test frames relative to the true "
    "poses, position, orientation and size removed (kspbench.evaluation.metrics.spread_ratio); 1 = as varied as "
    "the truth, 0 = one pose for every input."
)


def _csv(tables: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "protocol",
            "rank",
            "row",
            "kind",
            "dataset",
            "seeds",
            "metric",
            "units",
            "higher_is_better",
            "score",
            "sd",
            "ci_lo",
            "ci_hi",
            "delta",
            "delta_lo",
            "delta_hi",
            "p_value",
            "resamples",
            "pairing_error",
            "spread_ratio",
            "collapsed",
            "partial",
            "out_of_domain",
            "published",
            "source",
        ]
    )
    for b in tables:
        protocol = b["protocol"]
        for e in b["rows"]:
            d = e["paired"] or {}
            lo, hi = e["ci95"] or ("", "")
            dlo, dhi = d.get("ci95", ("", ""))
            w.writerow(
                [
                    protocol,
                    e["rank"],
                    e["label"],
                    e["kind"],
                    e["dataset"],
                    e["n_seeds"],
                    e["metric"],
                    e["units"],
                    e["higher_is_better"],
                    e["score"],
                    "" if e["sd"] is None else e["sd"],
                    lo,
                    hi,
                    d.get("difference", ""),
                    dlo,
                    dhi,
                    d.get("p_value", ""),
                    d.get("resamples", ""),
                    e["pairing_error"] or "",
                    "" if e["spread_ratio"] is None else e["spread_ratio"],
                    e["collapsed"],
                    e["partial"] or "",
                    e["out_of_domain"],
                    False,
                    "; ".join(e["paths"]),
                ]
            )
        for x in b["published"]:
            e0 = b["rows"][0]
            w.writerow(
                [
                    protocol,
                    "",
                    x["label"],
                    "published",
                    x["dataset"],
                    "",
                    e0["metric"],
                    e0["units"],
                    e0["higher_is_better"],
                    x["score"],
                    *[""] * 11,
                    "",
                    "",
                    True,
                    x["table"],
                ]
            )
    return buf.getvalue()


def _json(tables: list[dict[str, Any]]) -> str:
    out = [
        {
            "protocol": b["protocol"],
            "version": b["version"],
            "metric": b["metric"],
            "units": b["rows"][0]["units"],
            "higher_is_better": b["rows"][0]["higher_is_better"],
            "test": _test_line(b["results"], b["rows"]),
            "datasets": _datasets(b["rows"]),
            "rows": b["rows"],
            "metrics": b["extra"],
            "published": b["published"],
            "breakdowns": b["breakdowns"],
        }
        for b in tables
    ]
    return json.dumps({"leaderboards": out}, indent=2) + "\n"


def _latex(tables: list[dict[str, Any]]) -> str:
    """A LaTeX table float per protocol: measured rows, then published ones; every metric, the best bold."""
    from kspbench.reporting.latex import best_rows, table_env

    out = ["% kspbench leaderboard: needs \\usepackage{booktabs}", ""]
    for b in tables:
        ms = b["metrics"]
        head = ["Rank", "Row", "Source", "Seeds", *[f"{m} ({b['units_of'][m]})" for m in ms]]
        rows, values = [], []
        for e in b["rows"]:
            x = b["extra"].get(e["row"], {})
            rows.append(
                [
                    str(e["rank"]),
                    _label(e),
                    f"measured: {e['dataset']}",
                    str(e["n_seeds"]),
                    *[_latex_cell(x.get(m)) for m in ms],
                ]
            )
            values.append([x[m]["score"] if m in x else None for m in ms])
        for p in b["published"]:
            rows.append(
                [
                    "",
                    p["label"],
                    f"published ({p['table']})",
                    "",
                    *[_f(p["metrics"][m]) if m in p["metrics"] else "–" for m in ms],
                ]
            )
            values.append([p["metrics"].get(m) for m in ms])
        bold = [set(), set(), set(), set()] + [
            best_rows([v[k] for v in values], b["metric_info"][m]) for k, m in enumerate(ms)
        ]
        caption = (
            f"{b['protocol']} v{b['version']}, ranked by {b['metric']}; measured rows: value [95% interval] "
            "or mean ± sd over seeds; published rows as printed in the paper, on its own dataset."
        )
        out.append(
            table_env(
                caption,
                f"tab:leaderboard-{b['protocol']}",
                head,
                rows,
                [True, False, False, True] + [True] * len(ms),
                bold,
                b["notes"],
            )
        )
    return "\n".join(out)


def _latex_cell(x: dict[str, Any] | None) -> str:
    if x is None:
        return "–"
    if x["sd"] is not None:
        return f"{_f(x['score'])} ± {_f(x['sd'])}"
    return f"{_f(x['score'])} [{_f(x['ci95'][0])}, {_f(x['ci95'][1])}]" if x["ci95"] else _f(x["score"])


# --- commands ---------------------------------------------------------------------------------------------------


def _leaderboard(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.evaluation.results import discover, frames_path
    from kspbench.infra.atomic import check_output, refuse_inputs, write_text

    if args.out:
        check_output(args.out)
    found = discover(args.results)
    refuse_inputs([args.out], [p for r in found for p in (r.path, frames_path(r.path, r.data))])
    protocols = sorted({r.protocol for r in found})
    if args.protocol:
        if args.protocol not in protocols:
            raise UserError(
                f"{args.results}: no result of protocol {args.protocol} (found: "
                f"{', '.join(protocols) or 'none'}); score one with `kspbench eval --out`"
            )
        protocols = [args.protocol]
    elif args.metric:
        # One table per protocol that has the metric (pck150 is a 3DHP metric, not an H36M one).
        protocols = [
            p for p in protocols if args.metric in next(r for r in found if r.protocol == p).data["protocol"]["metrics"]
        ]
        if not protocols:
            raise UserError(f"--metric {args.metric}: no protocol of the results in {args.results} has it")
    if not protocols:
        raise UserError(f"{args.results}: no result JSON found; score with `kspbench eval --out` or `dvc repro`")
    tables = boards(
        found,
        protocols,
        args.metric,
        per_action=args.per_action,
        per_joint=args.per_joint,
        published=not args.no_published,
    )

    fmt = args.format or {".csv": "csv", ".json": "json", ".html": "html", ".htm": "html", ".tex": "latex"}.get(
        Path(args.out or "").suffix.lower(), "md"
    )
    if fmt == "md":
        text = "\n\n".join(_md(b) for b in tables) + "\n"
    elif fmt == "csv":
        text = _csv(tables)
    elif fmt == "html":
        from kspbench.reporting.leaderboard_html import render_html
        from kspbench.reporting.table import reference

        # Result links are relative to the page's folder, so the page and results/ move together.
        base = Path(args.out).resolve().parent if args.out else Path.cwd()
        text = render_html(tables, base, reference()["source"]["citation"])
    elif fmt == "latex":
        text = _latex(tables)
    else:
        text = _json(tables)
    if args.out:
        write_text(Path(args.out), text)  # atomic: a reader never sees half a leaderboard
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from kspbench.cli import UserError
    from kspbench.evaluation.results import load_result
    from kspbench.reporting.leaderboard import paired_bootstrap, paired_frames

    a, b = load_result(args.a), load_result(args.b)
    metrics = list(a.data["protocol"]["metrics"])
    if args.metric and args.metric not in metrics:
        raise UserError(f"--metric {args.metric}: protocol {a.protocol} has {', '.join(metrics)}")
    pairing = paired_frames(a, b)
    tests = [paired_bootstrap(a, b, m, pairing=pairing) for m in ([args.metric] if args.metric else metrics)]

    rows = []
    for t in tests:
        a_lo, a_hi = a.ci95[t["metric"]]
        b_lo, b_hi = b.ci95[t["metric"]]
        lo, hi = t["ci95"]
        rows.append(
            [
                f"{t['metric']} ({t['units']}, {'higher' if t['higher_is_better'] else 'lower'} is better)",
                f"{_f(a.metrics[t['metric']])} [{_f(a_lo)}, {_f(a_hi)}]",
                f"{_f(b.metrics[t['metric']])} [{_f(b_lo)}, {_f(b_hi)}]",
                f"{t['difference']:+.2f} [{lo:+.2f}, {hi:+.2f}]",
                _p(t["p_value"], t["resamples"]),
            ]
        )
    t0 = tests[0]
    print(
        f"{a.protocol} v{a.data['protocol']['version']} on {a.dataset}: {t0['n_frames']} paired frames, "
        f"{t0['n_blocks']} blocks"
    )
    from kspbench.evaluation.results import partial_note

    for tag, r in (("A", a), ("B", b)):
        note = partial_note([r])
        print(f"{tag}: {r.label}{f' ({note})' if note else ''} ({r.path})")
    print(tabulate(rows, headers=["metric", "A [95%]", "B [95%]", "B - A [95%]", "p"], disable_numparse=True))
    strata = f", stratified by {t0['strata']}" if t0["strata"] else ""
    print(
        f"paired block bootstrap on per-frame values (the same {t0['block_frames']}-frame blocks resampled for "
        f"A and B{strata}; {t0['resamples']} resamples, seed {t0['seed']}); p two-sided"
    )
    return 0
