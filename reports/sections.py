"""One section per suite/task (and per headline average): a score-vs-length chart across
settings and the ranked setting x length pivot beneath it."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from evalsuite.plugins import suite_classes
from evalsuite.run.summary import ScoreCell
from evalsuite.suite import Headline
from evalsuite.types import Record

from .export import FigureSink, slug
from .tables import TableView, fmt, length_pivot


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    description: str
    svg: str
    table: TableView


@dataclass(frozen=True)
class Options:
    baseline: str | None
    threshold: float


def _series(group: Sequence[ScoreCell]) -> list:
    from .figures import Point, Series
    by_label: dict[str, list[ScoreCell]] = defaultdict(list)
    for c in group:
        by_label[c.label].append(c)
    return [Series(label, tuple(Point(c.length, c.score, c.facts.capacity is not None and c.length > c.facts.capacity)
                                for c in sorted(cs, key=lambda c: c.length)), cs[0].facts.capacity)
            for label, cs in sorted(by_label.items())]


def section(key: str, title: str, description: str, group: Sequence[ScoreCell], opts: Options, sink: FigureSink,
            extra: dict[str, dict[str, str]] | None = None, note: str = "") -> Section:
    from .figures import length_chart
    cls = suite_classes().get(group[0].suite)
    score_range = cls.score_range if cls else None
    hib = group[0].higher_is_better
    digits = 1 if score_range == (0.0, 100.0) else 2
    trained = sorted({c.facts.trained_length for c in group if c.facts.trained_length})
    fig = length_chart(_series(group), group[0].metric, title, trained=trained, y_range=score_range,
                       log_y=bool(cls and cls.log_scale))
    svg = sink.emit(fig, key)
    table = length_pivot(key, title, note, group, higher_is_better=hib, baseline=opts.baseline, digits=digits,
                         extra=extra)
    return Section(key, title, description, svg, table)


def build_sections(cells: list[ScoreCell], opts: Options, sink: FigureSink) -> tuple[list[Section], list[Section]]:
    """(headline sections, per-task sections). Each suite names the tasks it leads with
    (Suite.headlines: RULER's task average with its effective length, LongBench's average per
    language; small suites lead with every task) and its place in the report (report_order)."""
    by_task: dict[tuple[str, str], list[ScoreCell]] = defaultdict(list)
    for c in cells:
        by_task[(c.suite, c.task)].append(c)
    classes = suite_classes()

    def order(suite: str) -> tuple[int, str]:
        cls = classes.get(suite)
        return (cls.report_order if cls else 99, suite)

    head, rest = [], []
    for suite in sorted({s for s, _ in by_task}, key=order):
        cls = classes.get(suite)
        desc = cls.description if cls else ""
        tasks = sorted(t for s, t in by_task if s == suite)
        headlines = cls.headlines() if cls else None
        if headlines is None:
            head += [section(slug(f"{suite}-{t}"), f"{suite} / {t}", desc, by_task[(suite, t)], opts, sink)
                     for t in tasks]
            continue
        for h in headlines:
            group = by_task.get((suite, h.task))
            if group:
                head.append(_headline(suite, h, group, desc, opts, sink))
        shown = {h.task for h in headlines}
        rest += [section(slug(f"{suite}-{t}"), f"{suite} / {t}", desc, by_task[(suite, t)], opts, sink)
                 for t in tasks if t not in shown]
    return head, rest


def _headline(suite: str, h: Headline, group: list[ScoreCell], desc: str, opts: Options,
              sink: FigureSink) -> Section:
    threshold = fmt(opts.threshold, 1)
    extra = None
    if h.value is not None:
        by_label: dict[str, dict[int, float]] = defaultdict(dict)
        for c in group:
            by_label[c.label][c.length] = c.score
        extra = {h.column.format(threshold=threshold): {label: h.value(by_len, opts.threshold)
                                                        for label, by_len in by_label.items()}}
    return section(slug(f"{suite}-{h.task}"), h.title, desc, group, opts, sink, extra,
                   h.note.format(threshold=threshold))


def needle_grids(records: Sequence[Record], labels: dict[str, str]) -> dict[tuple[str, str], list]:
    """(suite, task) -> one depth x length grid (0-100) per setting, for the heatmap suites."""
    from .figures import Grid
    classes = suite_classes()
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        cls = classes.get(r.suite)
        if cls is not None and cls.heatmap and r.depth is not None:
            groups[(r.suite, r.task, labels[r.setting])].append(r)
    out: dict[tuple[str, str], list] = defaultdict(list)
    for (suite, task, label), rows in sorted(groups.items()):
        lengths = sorted({r.length for r in rows})
        depths = sorted({r.depth for r in rows if r.depth is not None})
        acc: dict[tuple[float, int], list[float]] = defaultdict(list)
        for r in rows:
            acc[(r.depth or 0.0, r.length)].append(r.score)
        values = tuple(tuple(100 * sum(acc[(d, n)]) / len(acc[(d, n)]) if acc.get((d, n)) else math.nan
                             for n in lengths) for d in depths)
        out[(suite, task)].append(Grid(label, tuple(lengths), tuple(depths), values, rows[0].capacity))
    return out
