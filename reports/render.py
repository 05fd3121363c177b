"""Render one self-contained HTML page from one or more run directories.

A pure function of the stores: no model or GPU is needed to re-render.
jinja2 runs with autoescape and StrictUndefined, so model outputs are escaped
and a missing template value is an error, not a blank. Every setting is named by
its label (evalsuite.identity.setting_labels), unique across all runs read.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from evalsuite.lengths import format_length
from evalsuite.store import ResultStore, write_atomic
from evalsuite.suite import suite_classes
from evalsuite.summary import ScoreCell, labels_of, summarize
from evalsuite.types import EvalError, Record

from .blocks import Block
from .svg import HeatMap, LineChart, heat_color, heatmap, line_chart

TEMPLATES = Path(__file__).parent / "templates"
SAMPLES_SHOWN = 6


@dataclass(frozen=True)
class Row:
    setting: str
    cells: tuple[tuple[float, int] | None, ...]     # (score, samples) per length
    mean: float


@dataclass(frozen=True)
class Section:
    """One suite/task: a chart across settings and a ranked settings x lengths table."""

    suite: str
    task: str
    description: str
    metric: str
    higher_is_better: bool
    shade: bool                  # colour cells on the 0-100 scale
    lengths: tuple[str, ...]
    rows: tuple[Row, ...]
    chart: LineChart


@dataclass(frozen=True)
class Map:
    setting: str
    suite: str
    task: str
    overall: float
    svg: HeatMap


@dataclass(frozen=True)
class SampleGroup:
    setting: str
    suite: str
    task: str
    rows: tuple[Record, ...]


@dataclass(frozen=True)
class RunInfo:
    dir: str
    records: int
    commands: tuple[str, ...]


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["heat"] = heat_color
    return env


def _section(suite: str, task: str, group: list[ScoreCell]) -> Section:
    cls = suite_classes().get(suite)
    lengths = sorted({c.length for c in group})
    settings = sorted({c.label for c in group})
    series = {s: [(c.length, c.score) for c in group if c.label == s] for s in settings}
    hib = group[0].higher_is_better
    score_range = cls.score_range if cls else None
    chart = line_chart(series, lengths, [format_length(n) for n in lengths], group[0].metric,
                       y_range=score_range, log_y=bool(cls and cls.log_scale))
    rows = []
    for s in settings:
        vals = {c.length: c for c in group if c.label == s}
        scores = [vals[n].score for n in lengths if n in vals and not math.isnan(vals[n].score)]
        rows.append(Row(s, tuple((vals[n].score, vals[n].samples) if n in vals else None for n in lengths),
                        sum(scores) / len(scores) if scores else float("nan")))
    rows.sort(key=lambda r: -r.mean if hib else r.mean)
    return Section(suite, task, cls.description if cls else "", group[0].metric, hib,
                   score_range == (0.0, 100.0), tuple(format_length(n) for n in lengths), tuple(rows), chart)


def _sections(cells: list[ScoreCell]) -> list[Section]:
    by_task: dict[tuple[str, str], list[ScoreCell]] = defaultdict(list)
    for c in cells:
        by_task[(c.suite, c.task)].append(c)
    return [_section(suite, task, group) for (suite, task), group in sorted(by_task.items())]


def _heatmaps(records: list[Record], labels: dict[str, str]) -> list[Map]:
    classes = suite_classes()
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        cls = classes.get(r.suite)
        if cls is not None and cls.heatmap and r.depth is not None:
            groups[(labels[r.setting], r.suite, r.task)].append(r)
    maps = []
    for (setting, suite, task), rows in sorted(groups.items()):
        lengths = sorted({r.length for r in rows})
        depths = sorted({r.depth for r in rows if r.depth is not None})
        acc: dict[tuple[int, int], list[float]] = defaultdict(list)
        for r in rows:
            acc[(lengths.index(r.length), depths.index(r.depth or 0.0))].append(r.score)
        grid = {k: sum(v) / len(v) for k, v in acc.items()}
        overall = sum(r.score for r in rows) / len(rows)
        svg = heatmap([format_length(n) for n in lengths], depths, grid)
        maps.append(Map(setting, suite, task, 100 * overall, svg))
    return maps


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


def _run_info(d: Path, n_records: int) -> RunInfo:
    info_path = Path(d) / "run.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    except (OSError, ValueError) as e:
        raise EvalError(f"{info_path} is damaged ({e}): move it aside to render the report") from None
    if not isinstance(info, dict):
        raise EvalError(f"{info_path} is not a JSON object: move it aside to render the report")
    commands = info.get("commands") or [info.get("argv", [])]
    return RunInfo(str(d), n_records, tuple(" ".join(map(str, c)) for c in commands))


def render_report(run_dirs: list[Path], out: Path) -> None:
    records: list[Record] = []
    runs = []
    for d in run_dirs:
        recs = ResultStore(d).records()
        records.extend(recs)
        runs.append(_run_info(d, len(recs)))
    cells = summarize(records)
    labels = labels_of(records)
    page = _env().get_template("report.html.j2").render(
        title="evalsuite report", generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        runs=runs, settings=sorted(labels.values()), sections=_sections(cells),
        heatmaps=_heatmaps(records, labels), blocks=_blocks(cells, records, labels),
        samples=_samples(records, labels), n_records=len(records), isnan=math.isnan)
    write_atomic(Path(out), page)
