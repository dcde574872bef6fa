"""LaTeX tables that pdflatex accepts as they are: ASCII only, a ``table`` float with caption and label, booktabs rules,
text columns left and number columns right, and the best value of each ranked column in bold.

Used by ``kspbench table --format latex`` and ``kspbench leaderboard --format latex``. The output needs
``\\usepackage{booktabs}`` in the preamble (said in its first comment line) and nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

__all__ = ["escape", "table_env", "best_rows"]

# LaTeX's special characters first (backslash before the braces its replacement adds), then the Unicode our tables
# print. Anything else non-ASCII is decomposed (é -> e) or, failing that, written as '?': never passed through.
_SPECIAL = [
    ("\\", r"\textbackslash{}"),
    ("&", r"\&"),
    ("%", r"\%"),
    ("$", r"\$"),
    ("#", r"\#"),
    ("_", r"\_"),
    ("{", r"\{"),
    ("}", r"\}"),
    ("~", r"\textasciitilde{}"),
    ("^", r"\textasciicircum{}"),
]
_UNICODE = {
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "×": r"$\times$",
    "µ": r"$\mu$",
    "μ": r"$\mu$",
    "→": r"$\to$",
    "←": r"$\leftarrow$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "∪": r"$\cup$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "−": "-",
    "’": "'",
    "‘": "`",
    "“": "``",
    "”": "''",
    "…": r"\ldots{}",
    "°": r"$^\circ$",
    "¹": r"$^1$",
    "²": r"$^2$",
    "³": r"$^3$",
    "Δ": r"$\Delta$",
    "\u00a0": "~",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def escape(text: str) -> str:
    """``text`` as LaTeX source made of printable ASCII only (specials escaped, known symbols as math)."""
    out = []
    for ch in text:
        special = next((rep for c, rep in _SPECIAL if c == ch), None)
        if special is not None:
            out.append(special)
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ch.isascii():
            out.append(ch if ch.isprintable() else " ")
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(escape(plain) if plain else "?")
    return "".join(out)


_NUMBER = re.compile(r"^-?\d+(\.\d+)?")


def _bold_number(cell: str) -> str:
    # Only the leading value is bold; its interval or sd stays regular (escaped text starts with the number).
    m = _NUMBER.match(cell)
    return cell if m is None else rf"\textbf{{{m.group(0)}}}{cell[m.end() :]}"


def best_rows(values: Sequence[float | None], higher_is_better: bool | None) -> set[int]:
    """Indices of the best value (all ties) of one column; empty when the column is not ranked or has no value."""
    known = [v for v in values if v is not None]
    if higher_is_better is None or not known:
        return set()
    best = max(known) if higher_is_better else min(known)
    return {i for i, v in enumerate(values) if v is not None and v == best}


def table_env(
    caption: str,
    label: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[bool],
    bold: Sequence[set[int]] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """A ``table`` float: caption, label, a tabular with booktabs rules and the given cells (plain text, escaped
    here); ``numeric[c]`` right-aligns column c, ``bold[c]`` holds the row indices whose value in c is bold.
    ``notes`` become a footnotesize paragraph under the tabular."""
    bold = bold or [set() for _ in headers]
    spec = "".join("r" if n else "l" for n in numeric)
    lines = [
        r"\begin{table}[tbp]",
        r"\centering",
        r"\small",
        rf"\caption{{{escape(caption)}}}",
        rf"\label{{{_label(label)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(escape(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(rows):
        cells = [_bold_number(escape(c)) if i in bold[k] else escape(c) for k, c in enumerate(row)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        lines += [escape(n) + r"\par" for n in notes] + [r"\end{minipage}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _label(label: str) -> str:
    # A \label key with only characters that are safe in any key (letters, digits, : - .).
    return re.sub(r"[^A-Za-z0-9:.\-]", "-", label)
