"""Render one self-contained HTML page from one or more run directories.

A pure function of the stores (no clock, no model, no GPU): the same run directories give the
same page. jinja2 runs with autoescape and StrictUndefined, so model outputs are escaped and a
missing template value is an error, not a blank. Figures are matplotlib SVG inlined in the page
(their text is escaped by matplotlib); every setting is named by its unique label
(evalsuite.run.identity.setting_labels).

Baseline: the setting whose label is given, else the first setting in label order (a stable
choice that does not depend on the order the run directories were given in).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from evalsuite.plugins import suite_classes
from evalsuite.run.store import write_atomic
from evalsuite.run.summary import ScoreCell, facts_of, labels_of, summarize
from evalsuite.types import EvalError, Record

from .blocks import Block
from .export import FigureSink, slug, write_table
from .load import load_runs
from .sections import Options, Section, build_sections, needle_grids
from .svg import heat_color
from .tables import TableView
from .views import backend_tables, settings_table, timings_table

TEMPLATES = Path(__file__).parent / "templates"
SAMPLES_SHOWN = 6
THRESHOLD = 85.6


@dataclass(frozen=True)
class HeatFigure:
    key: str
    title: str
    svg: str


@dataclass(frozen=True)
class SampleGroup:
    setting: str
    suite: str
    task: str
    rows: tuple[Record, ...]


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["heat"] = heat_color
    env.filters["inline_svg"] = Markup          # matplotlib's own SVG: its text is already XML-escaped
    return env


def _samples(records: list[Record], labels: dict[str, str]) -> list[SampleGroup]:
    """A few outputs per setting and task, failures first, for eyeballing."""
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.output:
            groups[(labels[r.setting], r.suite, r.task)].append(r)
    return [SampleGroup(setting, suite, task, tuple(sorted(rows, key=lambda r: (r.score, r.length, r.index))
                                                    [:SAMPLES_SHOWN]))
            for (setting, suite, task), rows in sorted(groups.items())]


def _blocks(cells: list[ScoreCell], records: list[Record], labels: dict[str, str]) -> list[Block]:
    classes = suite_classes()
    blocks: list[Block] = []
    for suite in sorted({c.suite for c in cells}):
        blocks.extend(classes[suite].report_blocks([c for c in cells if c.suite == suite],
                                                   [r for r in records if r.suite == suite], labels))
    return blocks


def _heatmaps(records: list[Record], labels: dict[str, str], sink: FigureSink) -> list[HeatFigure]:
    from .figures import heatmaps
    out = []
    for (suite, task), grids in needle_grids(records, labels).items():
        key = slug(f"heatmap-{suite}-{task}")
        title = f"{suite} / {task}: score by needle depth and context length"
        out.append(HeatFigure(key, title, sink.emit(heatmaps(grids), key)))
    return out


def _baseline(baseline: str | None, labels: dict[str, str]) -> str | None:
    names = sorted(labels.values())
    if baseline is None:
        return names[0] if names else None
    if baseline not in names:
        raise EvalError(f"--baseline {baseline!r} is not a setting of these runs; they have: {', '.join(names)}")
    return baseline


def render_report(run_dirs: list[Path], out: Path, *, baseline: str | None = None, figures: Path | None = None,
                  threshold: float = THRESHOLD) -> None:
    """Write the comparison page to `out`; with `figures`, also every figure as PNG + PDF and every
    table as CSV, Markdown and LaTeX into that folder."""
    if not math.isfinite(threshold):
        raise EvalError(f"--threshold must be a number, got {threshold}")
    runs = load_runs(run_dirs)
    records = list(runs.records)
    cells = summarize(records)
    labels = labels_of(records)
    base = _baseline(baseline, labels)
    if figures is not None:
        try:
            Path(figures).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EvalError(f"cannot write --figures {figures}: {e.strerror or e}") from None
    sink = FigureSink(Path(figures) if figures is not None else None)
    opts = Options(base, threshold)
    head, per_task = build_sections(cells, opts, sink)
    facts = list({r.setting: facts_of(r) for r in records}.values())
    setting_view = settings_table(facts, labels, base)
    timing_view = timings_table(runs.timings, records, labels)
    agree = backend_tables(cells)
    heat = _heatmaps(records, labels, sink)
    from .rope_view import rope_figures
    rope = rope_figures([Path(d) for d in run_dirs], records, labels, sink)
    if figures is not None:
        tables: list[TableView] = [setting_view, timing_view, *agree] + [s.table for s in head + per_task]
        for t in tables:
            write_table(t, Path(figures))
    page = _env().get_template("report.html.j2").render(
        title="evalsuite report", runs=runs.infos, n_records=len(records), settings=setting_view,
        baseline=base, threshold=threshold, head=head, per_task=per_task, heatmaps=heat, agree=agree,
        timings=timing_view, rope=rope, blocks=_blocks(cells, records, labels), samples=_samples(records, labels))
    write_atomic(Path(out), page)


__all__ = ["render_report", "Section", "THRESHOLD"]
