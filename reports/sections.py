"""One section per suite/task (and per headline average): a score-vs-length chart across
settings and the ranked setting x length pivot beneath it."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from evalsuite.suite import suite_classes
from evalsuite.summary import ScoreCell
from evalsuite.types import Record

from .export import FigureSink, slug
from .headline import (
    LANGUAGES,
    LONGBENCH_SUITES,
    effective_lengths,
    longbench_language_cells,
    threshold_note,
)
from .tables import TableView, length_pivot


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


def _order(suite: str, task: str) -> tuple:
    first = {"ruler": 0, "longbench": 1, "longbench-e": 2, "passkey": 3, "niah": 4, "perplexity": 5}
    return (first.get(suite, 9), suite, task not in ("average", "avg_categories"), task)


def build_sections(cells: list[ScoreCell], opts: Options, sink: FigureSink) -> tuple[list[Section], list[Section]]:
    """(headline sections, per-task sections). Headline: RULER's task average with its effective
    length, LongBench per language, and every task of the other suites; per task: the rest."""
    by_task: dict[tuple[str, str], list[ScoreCell]] = defaultdict(list)
    for c in cells:
        by_task[(c.suite, c.task)].append(c)
    classes = suite_classes()
    head, rest = [], []
    for (suite, task), group in sorted(by_task.items(), key=lambda kv: _order(*kv[0])):
        cls = classes.get(suite)
        desc = cls.description if cls else ""
        key = slug(f"{suite}-{task}")
        if suite == "ruler" and task == "average":
            eff = effective_lengths(group, opts.threshold)
            head.append(section(key, "RULER: average over its tasks", desc, group, opts, sink,
                                {f"effective length (>= {opts.threshold:g})": eff}, threshold_note(opts.threshold)))
        elif suite in ("ruler",) or suite in LONGBENCH_SUITES:
            rest.append(section(key, f"{suite} / {task}", desc, group, opts, sink))
        else:
            head.append(section(key, f"{suite} / {task}", desc, group, opts, sink))
    lang = longbench_language_cells(cells)
    lang_sections = []
    for suite in LONGBENCH_SUITES:
        for code, name in LANGUAGES.items():
            group = [c for c in lang if c.suite == suite and c.task == f"avg_{code}"]
            if group:
                lang_sections.append(section(
                    slug(f"{suite}-{name}"), f"{suite}: {name} average (leaderboard Avg)", "", group, opts, sink,
                    note=f"Mean of the {name} category averages; the code data sets count in both languages, as in "
                         "the THUDM/LongBench README leaderboard."))
    at = next((i for i, s in enumerate(head) if not s.key.startswith("ruler")), len(head))
    return head[:at] + lang_sections + head[at:], rest


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
