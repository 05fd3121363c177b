"""Short-context retention: each RoPE setting's score as a percentage of the `none` baseline of the
same model (same weights, backend, engine, dtype and template), per task and on average.

This is how context-extension papers report what an extension cost at short lengths (LongRoPE2,
Shang et al. 2025, Table 3: "retains 97.6% of short-context performance", the mean over tasks of
score / baseline score). For a metric where lower is better the ratio is inverted (baseline /
score), so above 100% still means better than the baseline.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from evalsuite.run.summary import ScoreCell

from .blocks import Table

BASELINE_ROPE = "none"


def _model_of(c: ScoreCell) -> tuple[str, ...]:
    f = c.facts
    return (f.model, f.revision, f.backend, f.engine, f.dtype, f.template)


def retention(score: float, baseline: float, higher_is_better: bool = True) -> float:
    """Percent of the baseline kept; NaN where a ratio is undefined."""
    num, den = (score, baseline) if higher_is_better else (baseline, score)
    if math.isnan(num) or math.isnan(den) or den == 0:
        return math.nan
    return 100.0 * num / den


def retention_table(cells: Sequence[ScoreCell], averaged: Collection[str] | None = None,
                    higher_is_better: Mapping[str, bool] | None = None) -> Table | None:
    """One row per setting that has a `none` baseline of its model; one column per task, each cell
    "retention% (score)"; the last column averages the retention over the `averaged` tasks (all
    tasks when None). None when no setting has a baseline to compare with."""
    base = [c for c in cells if not c.derived]
    tasks = sorted({c.task for c in base})
    by_model: dict[tuple[str, ...], dict[str, dict[str, ScoreCell]]] = defaultdict(lambda: defaultdict(dict))
    for c in base:
        by_model[_model_of(c)][c.label][c.task] = c
    better = higher_is_better or {}
    counted = [t for t in tasks if averaged is None or t in averaged] or tasks
    rows = []
    for settings in by_model.values():
        baseline = next((cs for cs in settings.values() if next(iter(cs.values())).facts.rope == BASELINE_ROPE), None)
        if baseline is None:
            continue
        for label, row in sorted(settings.items(), key=lambda kv: (kv[1] is not baseline, kv[0])):
            ratios = {t: retention(row[t].score, baseline[t].score, better.get(t, True))
                      for t in tasks if t in row and t in baseline}
            shown = [f"{ratios[t]:.1f}% ({row[t].score:.1f})" if t in ratios and not math.isnan(ratios[t])
                     else "-" for t in tasks]
            kept = [ratios[t] for t in counted if t in ratios and not math.isnan(ratios[t])]
            rows.append((label, *shown, f"{sum(kept) / len(kept):.1f}%" if kept else "-"))
    if not rows:
        return None
    note = (f"Each setting's score as a percentage of the {BASELINE_ROPE!r} setting of the same model "
            "(score in parentheses); the average is the mean of the per-task percentages"
            + ("" if averaged is None else " over each task's first metric") + ", as LongRoPE2 reports it.")
    return Table("Short-context retention", note, ("setting", *tasks, "average"), tuple(rows))
