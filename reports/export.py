"""Paper exports: each figure as PNG and PDF, each table as CSV, Markdown and LaTeX, under stable
file names (the table's or figure's key), so a paper's build can point at them.

Markdown is written here (no `tabulate` dependency); LaTeX through pandas `to_latex` on cells
escaped here, so the best-cell bold survives and a label's `_` or `%` does not break the build.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from evalsuite.run.store import write_atomic
from evalsuite.types import EvalError

from .tables import CellView, TableView

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\u00b1": r"$\pm$",
          "\u2020": r"$^\dagger$"}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _cell(c: CellView, bold: str, escape: bool) -> str:
    text = latex_escape(c.text) if escape else c.text.replace("|", "\\|")
    if c.delta:
        text += f" ({c.delta})"
    return bold.format(text) if "best" in c.classes.split() else text


def markdown(t: TableView) -> str:
    lines = [f"**{t.title}**", "", "| " + " | ".join(h.replace("|", "\\|") for h in t.header) + " |",
             "|" + "|".join("---" if i < 2 and t.header[0] in ("#", "setting") else "---:"
                            for i in range(len(t.header))) + "|"]
    lines += ["| " + " | ".join(_cell(c, "**{}**", False) for c in row) + " |" for row in t.rows]
    return "\n".join(lines + ["", t.note, ""])


def latex(t: TableView) -> str:
    import pandas as pd
    frame = pd.DataFrame([[_cell(c, r"\textbf{{{}}}", True) for c in row] for row in t.rows],
                         columns=[latex_escape(h) for h in t.header])
    body = frame.to_latex(index=False, escape=False, column_format="l" * 2 + "r" * (len(t.header) - 2))
    return f"% {latex_escape(t.title)}\n% {latex_escape(t.note)}\n{body}"


def write_table(t: TableView, folder: Path) -> None:
    frame = t.frame
    if frame is not None:
        write_atomic(folder / f"{t.key}.csv", frame.to_csv(index=False))
    write_atomic(folder / f"{t.key}.md", markdown(t))
    write_atomic(folder / f"{t.key}.tex", latex(t))


class FigureSink:
    """Turns each figure into inline SVG for the page and, with a folder, into PNG + PDF there."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.written: list[str] = []

    def emit(self, fig: Figure, key: str) -> str:
        from .figures import close, save, to_svg
        try:
            svg = to_svg(fig, key)
            if self.folder is not None:
                try:
                    save(fig, key, self.folder)
                except OSError as e:
                    raise EvalError(f"cannot write {self.folder / key}.png/.pdf: {e.strerror or e}") from None
                self.written.append(key)
            return svg
        finally:
            close(fig)
