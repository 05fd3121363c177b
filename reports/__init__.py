"""HTML reports (imported as evalsuite.reports): a pure function of run stores.

The renderer (jinja2, pandas, matplotlib) loads on first use, so suites can import the block
types (evalsuite.reports.blocks) and `import evalsuite` stays light."""
from __future__ import annotations

from pathlib import Path


def render_report(run_dirs: list[Path], out: Path, *, baseline: str | None = None, figures: Path | None = None,
                  threshold: float = 85.6) -> None:
    """See evalsuite.reports.render.render_report."""
    from .render import render_report as render
    render(run_dirs, out, baseline=baseline, figures=figures, threshold=threshold)


__all__ = ["render_report"]
