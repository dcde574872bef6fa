"""``kspbench leaderboard --format html``: one self-contained static page (inline CSS and JS, nothing fetched).

Each protocol's board is a table of measured rows (rank, paired test against the best row, a link to each result
file) and published rows (marked, with the paper's table and the dataset the paper measured on), every metric of
the protocol with its 95 % interval, and the requested breakdowns (per action, per joint) as further tables. Every
column sorts on a click (numbers numerically, blanks last; a second click reverses). The page is built from the
board dicts of :func:`kspbench.cli.leaderboard.boards`; this module only renders.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;min-width:60%}
th,td{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f3f5f7;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.num small,th small,small.why{display:block;color:#57606a;font-weight:400}
td.row{min-width:14em}td a{white-space:nowrap;display:block}
tr.published td{background:#fbf7e9;font-style:italic}
tr.best td{font-weight:600}
.badge{display:inline-block;font-size:11px;font-style:normal;padding:0 6px;border-radius:8px;margin-left:6px}
.b-pub{background:#e9d68a;color:#4a3b00}.b-meas{background:#b6e3c0;color:#0b3d1a}.b-warn{background:#f5c2c2}
p.note{color:#57606a;max-width:1100px;margin:2px 0}
"""

# Sort a table's body by the clicked column's data-v values (numbers when every filled cell parses, blanks last).
_JS = """
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("th").forEach(function(th,i){
    th.addEventListener("click",function(){
      var asc=th.getAttribute("aria-sort")!=="ascending";
      t.querySelectorAll("th").forEach(function(h){h.removeAttribute("aria-sort")});
      th.setAttribute("aria-sort",asc?"ascending":"descending");
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      var key=function(r){return r.cells[i].getAttribute("data-v")||""};
      var num=rows.every(function(r){var k=key(r);return k===""||!isNaN(parseFloat(k))});
      rows.sort(function(a,b){
        var x=key(a),y=key(b);if(x===""||y===""){return x===y?0:(x===""?1:-1)}
        var c=num?parseFloat(x)-parseFloat(y):x.localeCompare(y);return asc?c:-c});
      rows.forEach(function(r){body.appendChild(r)});
    });
  });
});
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float | None, ci: list[float] | None = None, sd: float | None = None) -> str:
    """A right-aligned numeric cell, sortable by its value; the interval (or sd over seeds) on a second line."""
    if value is None:
        return '<td class="num" data-v="">&ndash;</td>'
    extra = ""
    if sd is not None:
        extra = f"<small>&plusmn; {sd:.2f} sd</small>"
    if ci:
        extra += f"<small>[{ci[0]:.2f}, {ci[1]:.2f}]</small>"
    return f'<td class="num" data-v="{value!r}">{value:.2f}{extra}</td>'


def _text(value: str, sort: str | None = None) -> str:
    return f'<td data-v="{_e(value if sort is None else sort)}">{_e(value)}</td>'


def _link(path: str, base: Path) -> str:
    rel = os.path.relpath(path, base).replace(os.sep, "/")
    # The file's folder too: a row's results are often all called <protocol>.json.
    return f'<a href="{_e(rel)}">{_e("/".join(Path(path).parts[-2:]))}</a>'


def _board(b: dict[str, Any], base: Path) -> str:
    metrics = b["metrics"]
    units = b["units_of"]
    head = (
        ["rank", "row", "source", "dataset", "seeds"]
        + [
            f"{_e(m)}<small>{_e(units[m])}, {'higher' if b['metric_info'][m] else 'lower'} is better</small>"
            for m in metrics
        ]
        + ["&Delta; vs best [95%]", "p", "result files"]
    )
    body = []
    for e in b["rows"]:
        cls = "measured best" if e["rank"] == 1 else "measured"
        label = e["label"]
        badge = '<span class="badge b-meas">measured</span>' + "".join(
            f'<span class="badge b-warn">{w.replace("_", " ")}</span>'
            for w in ("collapsed", "partial", "out_of_domain")
            if e[w]
        )
        why = f'<small class="why">{_e(e["partial"])}</small>' if e["partial"] else ""
        cells = [
            _text(str(e["rank"]), str(e["rank"])),
            f'<td class="row" data-v="{_e(label)}">{_e(label)}{badge}{why}</td>',
            _text(_source(e)),
            _text(e["dataset"]),
            _text(str(e["n_seeds"]), str(e["n_seeds"])),
        ]
        for m in metrics:
            x = b["extra"].get(e["row"], {}).get(m)
            cells.append(_num(None) if x is None else _num(x["score"], x["ci95"], x["sd"]))
        d = e["paired"]
        if e["rank"] == 1:
            cells += [_text("best", ""), _text("", "")]
        elif d is None:
            cells += [_text(f"not paired: {e['pairing_reason']}", ""), _text("", "")]
        else:
            # p = 0: no resample crossed zero, so all we know is p < 1/resamples.
            ptext = f"<{1 / d['resamples']:.2g}" if d["p_value"] == 0 else f"{d['p_value']:.3f}"
            cells += [_num(d["difference"], d["ci95"]), f'<td class="num" data-v="{d["p_value"]!r}">{_e(ptext)}</td>']
        cells.append("<td>" + " ".join(_link(p, base) for p in e["paths"]) + "</td>")
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    for p in b["published"]:
        note = f' title="{_e(p["note"])}"' if p["note"] else ""
        cells = [
            _text("", ""),
            f'<td data-v="{_e(p["label"])}"{note}>{_e(p["label"])}<span class="badge b-pub">published</span></td>',
            _text(f"published: paper, {p['table']}"),
            _text(p["dataset"]),
            _text("", ""),
        ]
        cells += [_num(p["metrics"].get(m)) for m in metrics]
        cells += [_text("", ""), _text("", ""), "<td></td>"]
        body.append('<tr class="published">' + "".join(cells) + "</tr>")
    out = [
        f'<h2 id="{_e(b["protocol"])}">{_e(b["protocol"])} v{_e(b["version"])}: ranked by {_e(b["metric"])}</h2>',
        _table(head, body),
    ]
    out += [f'<p class="note">{_e(n)}</p>' for n in b["notes"]]
    for by, rows in b["breakdowns"].items():
        groups = sorted({g for v in rows.values() for g in v["values"]}, key=b["group_order"].get(by, str))
        head = ["row", "source"] + [_e(g) for g in groups]
        body = []
        for v in rows.values():
            label, pub = v["label"], v["published"]
            cls = ' class="published"' if pub else ""
            badge = (
                '<span class="badge b-pub">published</span>' if pub else '<span class="badge b-meas">measured</span>'
            )
            cells = [f'<td data-v="{_e(label)}">{_e(label)}{badge}</td>', _text(v["source"])]
            cells += [_num(v["values"].get(g)) for g in groups]
            body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
        out += [f"<h3>{_e(b['metric'])} per {_e(by)}</h3>", _table(head, body)]
        if not groups:
            out.append(
                f'<p class="note">No result holds per-{_e(by)} numbers (results written before them: re-run '
                "`kspbench eval`).</p>"
            )
    return "\n".join(out)


def _source(e: dict[str, Any]) -> str:
    m = e.get("model") or {}
    parts = [f"measured ({e['kind']})"] + [f"{k} {m[k]}" for k in ("supervision", "trainset") if m.get(k)]
    return ", ".join(parts)


def _table(head: list[str], body: list[str]) -> str:
    ths = "".join(f'<th scope="col">{h}</th>' for h in head)
    return f'<table class="sortable"><thead><tr>{ths}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def render_html(boards: list[dict[str, Any]], base: Path, citation: str) -> str:
    """The page. ``base``: the folder the page will live in (result links are relative to it)."""
    toc = " &middot; ".join(f'<a href="#{_e(b["protocol"])}">{_e(b["protocol"])}</a>' for b in boards)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>kspbench leaderboard</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>kspbench leaderboard</h1>",
        f'<p class="note">Measured rows: result files scored by <code>kspbench eval</code> (linked); one seed: '
        f"value with its 95% block-bootstrap interval; several seeds: mean, sd and the t interval over seeds. "
        f'Published rows (<span class="badge b-pub">published</span>, shaded) are the paper&#39;s printed '
        f"numbers on its own dataset, never re-measured: {_e(citation)} Click a column header to sort.</p>",
        f"<p>{toc}</p>",
    ]
    parts += [_board(b, base) for b in boards]
    parts += [f"<script>{_JS}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
