"""Per-cell aggregation of stored records and the summary.csv / terminal table."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Iterable

from evalsuite.config.lengths import format_length
from evalsuite.plugins import suite_classes
from evalsuite.run.identity import SettingFacts, setting_labels
from evalsuite.run.store import write_atomic
from evalsuite.types import Record

COLUMNS = ["setting", "model", "revision", "backend", "engine", "dtype", "template", "rope", "suite", "task",
           "length", "metric", "higher_is_better", "score", "stderr", "samples", "unit", "derived"]


@dataclass(frozen=True)
class ScoreCell:
    """The aggregated score of one setting x suite x task x length."""

    setting: str                 # the run identity's key (see evalsuite.run.identity)
    facts: SettingFacts
    label: str                   # the setting's unique report label
    suite: str
    task: str
    length: int
    metric: str
    higher_is_better: bool
    score: float
    samples: int
    unit: str = "sample"         # what one sample is (Suite.sample_unit)
    derived: bool = False        # computed from other cells (an average): not a sample mean
    stderr: float = float("nan")  # standard error of the score (NaN where undefined, and for derived cells)


def facts_of(r: Record) -> SettingFacts:
    return SettingFacts.of(r)


def labels_of(records: Iterable[Record]) -> dict[str, str]:
    return setting_labels(facts_of(r) for r in records)


def _cell_key(r: Record) -> tuple[str, str, str, int]:
    return (r.setting, r.suite, r.task, r.length)


def summarize(records: list[Record]) -> list[ScoreCell]:
    classes = suite_classes()
    labels = labels_of(records)
    cells = []
    for key, group in groupby(sorted(records, key=_cell_key), key=_cell_key):
        rows = list(group)
        cls = classes.get(key[1])
        if cls is None:
            continue                 # a suite whose plugin is not installed here
        cells.append(ScoreCell(key[0], facts_of(rows[0]), labels[key[0]], key[1], key[2], key[3],
                               metric=cls.metric, higher_is_better=cls.higher_is_better,
                               score=cls.aggregate_records(rows), samples=len(rows),
                               stderr=cls.aggregate_stderr(rows), unit=cls.sample_unit(key[2])))
    for suite in sorted({c.suite for c in cells}):
        derived = classes[suite].derived_cells([c for c in cells if c.suite == suite])
        cells.extend(replace(c, derived=True, stderr=float("nan")) for c in derived)
    return sorted(cells, key=lambda c: (c.label, c.suite, c.derived, c.task, c.length))


def write_summary_csv(cells: list[ScoreCell], path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for c in cells:
        f = c.facts
        stderr = "" if math.isnan(c.stderr) else f"{c.stderr:.4f}"
        w.writerow([c.label, f.model, f.revision, f.backend, f.engine, f.dtype, f.template, f.rope, c.suite,
                    c.task, c.length, c.metric, int(c.higher_is_better), f"{c.score:.4f}", stderr, c.samples,
                    c.unit, int(c.derived)])
    write_atomic(path, buf.getvalue())


def format_table(cells: list[ScoreCell]) -> str:
    """Plain-text table: one row per setting x task, one column per length."""
    if not cells:
        return "(no results)"
    lengths = sorted({c.length for c in cells})
    rows: dict[tuple[str, str], dict[int, float]] = {}
    for c in cells:
        rows.setdefault((c.label, f"{c.suite}/{c.task}"), {})[c.length] = c.score
    head = ["setting", "task"] + [format_length(n) for n in lengths]
    body = [[s, t] + [("-" if n not in v or math.isnan(v[n]) else f"{v[n]:.1f}") for n in lengths]
            for (s, t), v in rows.items()]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths))
                     for row in [head, ["-" * w for w in widths]] + body)
