"""Render one self-contained HTML page from one or more run directories.

A pure function of the stores: no model or GPU is needed to re-render.
jinja2 runs with autoescape and StrictUndefined, so model outputs are escaped
and a missing template value is an error, not a blank.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from evalsuite.lengths import format_length
from evalsuite.store import ResultStore, write_atomic
from evalsuite.summary import Cell, summarize
from evalsuite.task import task_classes
from evalsuite.types import Record

from .svg import heat_color, heatmap, line_chart

TEMPLATES = Path(__file__).parent / "templates"
SAMPLES_SHOWN = 6


def _setting(r: Record) -> str:
    return f"{Path(r.model).name} / {r.backend} / {r.rope}"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["heat"] = heat_color
    return env


def _task_sections(cells: list[Cell]) -> list[dict]:
    """One section per suite/task: chart across settings and a settings x lengths table."""
    classes = task_classes()
    by_task: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        by_task[(c.suite, c.task)].append(c)
    sections = []
    for (suite, task), group in sorted(by_task.items()):
        lengths = sorted({c.length for c in group})
        labels = [format_length(n) for n in lengths]
        settings = sorted({c.setting for c in group})
        series = {s: [(c.length, c.score) for c in group if c.setting == s] for s in settings}
        hib = group[0].higher_is_better
        accuracy = hib and group[0].metric != "perplexity"
        chart = line_chart(series, lengths, labels, group[0].metric,
                           y_range=(0.0, 100.0) if accuracy else None, log_y=not hib)
        rows = []
        for s in settings:
            vals = {c.length: c for c in group if c.setting == s}
            scores = [vals[n].score for n in lengths if n in vals and not math.isnan(vals[n].score)]
            rows.append({"setting": s,
                         "cells": [(vals[n].score, vals[n].samples) if n in vals else None for n in lengths],
                         "mean": sum(scores) / len(scores) if scores else float("nan")})
        rows.sort(key=lambda r: -r["mean"] if hib else r["mean"])
        cls = classes.get(suite)
        sections.append({"suite": suite, "task": task, "metric": group[0].metric, "higher_is_better": hib,
                         "accuracy": accuracy, "lengths": labels, "rows": rows, "chart": chart,
                         "description": cls.description if cls else ""})
    return sections


def _heatmaps(records: list[Record]) -> list[dict]:
    classes = task_classes()
    maps = []
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        cls = classes.get(r.suite)
        if cls is not None and getattr(cls, "heatmap", False) and r.depth is not None:
            groups[(_setting(r), r.suite, r.task)].append(r)
    for (setting, suite, task), rows in sorted(groups.items()):
        lengths = sorted({r.length for r in rows})
        depths = sorted({r.depth for r in rows})
        acc: dict[tuple[int, int], list[float]] = defaultdict(list)
        for r in rows:
            acc[(lengths.index(r.length), depths.index(r.depth))].append(r.score)
        grid = {k: sum(v) / len(v) for k, v in acc.items()}
        overall = sum(r.score for r in rows) / len(rows)
        maps.append({"setting": setting, "suite": suite, "task": task, "overall": 100 * overall,
                     "svg": heatmap([format_length(n) for n in lengths], depths, grid)})
    return maps


def _samples(records: list[Record]) -> list[dict]:
    """A few outputs per setting and task, failures first, for eyeballing."""
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.output:
            groups[(_setting(r), r.suite, r.task)].append(r)
    out = []
    for (setting, suite, task), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: (r.score, r.length, r.index))[:SAMPLES_SHOWN]
        out.append({"setting": setting, "suite": suite, "task": task, "rows": rows})
    return out


def _extras(cells: list[Cell], records: list[Record]) -> list[dict]:
    classes = task_classes()
    blocks = []
    for suite in sorted({c.suite for c in cells}):
        blocks.extend(classes[suite].report_extras([c for c in cells if c.suite == suite],
                                                    [r for r in records if r.suite == suite]))
    return blocks


def render_report(run_dirs: list[Path], out: Path) -> None:
    records: list[Record] = []
    runs = []
    for d in run_dirs:
        recs = ResultStore(d).records()
        records.extend(recs)
        info_path = Path(d) / "run.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        commands = info.get("commands") or [info.get("argv", [])]
        runs.append({"dir": str(d), "records": len(recs), "commands": [" ".join(c) for c in commands]})
    cells = summarize(records)
    page = _env().get_template("report.html.j2").render(
        title="evalsuite report", generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        runs=runs, settings=sorted({c.setting for c in cells}), sections=_task_sections(cells),
        heatmaps=_heatmaps(records), extras=_extras(cells, records), samples=_samples(records), n_records=len(records), isnan=math.isnan)
    write_atomic(Path(out), page)

