"""HTML reports (imported as evalsuite.reports): a pure function of run stores.

The renderer (jinja2) loads on first use, so suites can import the block types
(evalsuite.reports.blocks) without it."""
from __future__ import annotations

from pathlib import Path


def render_report(run_dirs: list[Path], out: Path) -> None:
    from .render import render_report as render
    render(run_dirs, out)


__all__ = ["render_report"]
