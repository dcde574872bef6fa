"""``kspbench table``: the paper's Tables 2-4, published rows beside the rows measured in ``results/``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "table",
        help="regenerate the paper's Tables 2-4 beside the measured results",
        description="Build Table 2 (Human3.6M protocol II, per action, P-MPJPE with N-MPJPE beside it), Table 3 "
        "(MPI-INF-3DHP: 3DPCK, AUC, MPJPE, the alignment of every row printed) and Table 4 (ablations) "
        "from every result JSON under --results, with every published row of the paper (reference data "
        "shipped with kspbench, with notes on the paper's inconsistencies). Each measured row names the "
        "dataset it was measured on. A result file that is corrupt or was edited by hand stops the "
        "table (exit 2, naming the file).",
        epilog="Examples:\n"
        "  kspbench table --out tables.md\n"
        "  kspbench table --format latex --out tables.tex\n"
        "  kspbench table --format csv --out tables.csv --results results/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "--results", default="results", help="folder of result JSONs, searched recursively (default: results)"
    )
    t.add_argument("--out", help="file to write (atomically); default: print to stdout")
    t.add_argument(
        "--format", choices=("md", "latex", "csv", "json"), help="output format (default: from --out's suffix, else md)"
    )
    t.add_argument(
        "--metrics",
        help="also write every row's metrics for `dvc metrics`: a folder gets one small JSON "
        "per row and protocol (<row>/<protocol>.json, what `dvc metrics diff` "
        "compares), a .json path one nested file",
    )
    t.set_defaults(func=_table)


def _table(args: argparse.Namespace) -> int:
    from kspbench.cli import UserError
    from kspbench.evaluation.results import discover, frames_path
    from kspbench.infra.atomic import check_output, check_output_dir, refuse_inputs, write_text
    from kspbench.reporting.table import build_tables, metrics_summary, render

    fmt = args.format or {".tex": "latex", ".csv": "csv", ".json": "json"}.get(Path(args.out or "").suffix, "md")
    metrics_dir = args.metrics and Path(args.metrics).suffix.lower() != ".json"
    outs = [p for p in (args.out, args.metrics) if p]
    if args.out:
        check_output(args.out)
    if args.metrics:
        (check_output_dir if metrics_dir else check_output)(args.metrics, option="--metrics")
    if metrics_dir:
        m, r = Path(args.metrics).resolve(), Path(args.results).resolve()
        if m == r or r in m.parents or m in r.parents:
            # Its JSONs would be read back as results (or it holds them): keep the two apart.
            raise UserError(
                f"--metrics {args.metrics}: a folder inside or around --results {args.results}; "
                "use another, e.g. reports/metrics"
            )
    results = discover(args.results)
    refuse_inputs(outs, [p for r in results for p in (r.path, frames_path(r.path, r.data))])
    tables = build_tables(results)
    text = render(tables, fmt)
    if args.out:
        write_text(Path(args.out), text)
        measured = sum(1 for t in tables for r in t.rows if r.source != "published")
        print(f"wrote {args.out}: Tables 2-4, {measured} measured rows from {len(results)} result files")
    else:
        print(text, end="")
    if metrics_dir:
        from kspbench.reporting.dvc_reports import write_metrics

        written = write_metrics(metrics_summary(results), args.metrics)
        print(f"wrote {len(written)} metrics files under {args.metrics}")
    elif args.metrics:
        write_text(Path(args.metrics), json.dumps(metrics_summary(results), indent=1, sort_keys=True) + "\n")
    return 0
