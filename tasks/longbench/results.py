"""LongBench summary cells (category and overall averages, LongBench-E buckets) and report blocks.

Reference: THUDM/LongBench `LongBench/README.md` (leaderboard: averages per task category;
"Avg" = mean of the category averages) and `LongBench/eval.py` (scorer_e: LongBench-E scores per
length bucket 0-4k / 4-8k / 8k+). Derived cells, per setting and context length:
  avg_<category>     mean of the data sets of one category that were run
  avg                mean over all data sets run
  avg_categories     mean of the category averages over both languages at once
  avg_en, avg_zh     the README leaderboard's "Avg" of each language: the mean of its category
                     averages, the two code data sets counting in both languages
LongBench-E cells are named <dataset>@<bucket>; derived: <dataset> (all buckets, sample-weighted,
i.e. the plain mean over its samples), and each average above per bucket (avg@0-4k, ...) and overall.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import Sequence

from evalsuite.reports.blocks import Block, Table
from evalsuite.run.summary import ScoreCell
from evalsuite.types import Record

from .prompts import CATEGORIES, CATEGORY_OF, DATASETS, E_BUCKETS, LANGUAGES, language_of

TRUNCATION_NOTE = (
    "Middle truncation: a prompt longer than its budget keeps its first and last halves (THUDM/LongBench "
    "pred.py). The budget is the context length minus the output budget minus the BOS and chat-template "
    "tokens, so prompt + output <= length always holds; the reference adds the chat template after "
    "truncating and re-tokenizes the decoded halves, so its prompts can exceed its max length "
    "(LongBench#21). The cut is recorded per sample (payload truncated_tokens). Prompts are not padded: "
    "prompt tokens are the sample's real count. samsum: the reference also stops at the first newline; "
    "the first-line rule of its scorer gives the same score under greedy decoding.")


def split_task(task: str) -> tuple[str, str | None]:
    ds, _, bucket = task.partition("@")
    return ds, bucket or None


def _averages(base: ScoreCell, scores: dict[str, tuple[float, int]], suffix: str) -> list[ScoreCell]:
    """Category, overall and category-macro averages of {dataset: (score, samples)}."""
    scores = {ds: v for ds, v in scores.items() if not math.isnan(v[0])}
    if not scores:
        return []
    out, cat_means = [], []
    for cat, members in CATEGORIES.items():
        got = [scores[ds] for ds in members if ds in scores]
        if got:
            mean = sum(s for s, _ in got) / len(got)
            cat_means.append(mean)
            out.append(replace(base, task=f"avg_{cat}{suffix}", score=mean, samples=sum(n for _, n in got),
                               derived=True))
    total = sum(n for _, n in scores.values())
    out.append(replace(base, task=f"avg{suffix}", score=sum(s for s, _ in scores.values()) / len(scores),
                       samples=total, derived=True))
    out.append(replace(base, task=f"avg_categories{suffix}", score=sum(cat_means) / len(cat_means),
                       samples=total, derived=True))
    for lang in LANGUAGES:
        out += _language_average(base, scores, lang, suffix)
    return out


def _language_average(base: ScoreCell, scores: dict[str, tuple[float, int]], lang: str,
                      suffix: str) -> list[ScoreCell]:
    """The leaderboard's Avg of one language: the mean of its category averages, the code data
    sets counting in both; none where no data set of the language itself ran (code alone is not one)."""
    mine = {ds: v for ds, v in scores.items() if language_of(ds) in (lang, "code")}
    if not any(language_of(ds) == lang for ds in mine):
        return []
    means = [sum(mine[ds][0] for ds in members if ds in mine) / sum(ds in mine for ds in members)
             for members in CATEGORIES.values() if any(ds in mine for ds in members)]
    return [replace(base, task=f"avg_{lang}{suffix}", score=sum(means) / len(means),
                    samples=sum(n for _, n in mine.values()), derived=True)]


def derived_cells(cells: list[ScoreCell]) -> list[ScoreCell]:
    groups: dict[tuple, list[ScoreCell]] = defaultdict(list)
    for c in cells:
        groups[(c.setting, c.suite, c.length)].append(c)
    out = []
    for group in groups.values():
        base = group[0]
        if all(split_task(c.task)[1] is None for c in group):
            out += _averages(base, {c.task: (c.score, c.samples) for c in group}, "")
            continue
        by_ds: dict[str, list] = defaultdict(list)
        for c in group:
            by_ds[split_task(c.task)[0]].append(c)
        overall = {}
        for ds, cs in by_ds.items():
            n = sum(c.samples for c in cs)
            overall[ds] = (sum(c.score * c.samples for c in cs) / n, n)
            out.append(replace(base, task=ds, score=overall[ds][0], samples=n, derived=True))
        for b in E_BUCKETS:
            out += _averages(base, {split_task(c.task)[0]: (c.score, c.samples)
                                    for c in group if split_task(c.task)[1] == b}, f"@{b}")
        out += _averages(base, overall, "")
    return out


def _order(task: str) -> tuple:
    ds, bucket = split_task(task)
    b = E_BUCKETS.index(bucket) + 1 if bucket in E_BUCKETS else 0
    if ds in DATASETS:
        return (0, DATASETS.index(ds), b)
    cats = [f"avg_{c}" for c in CATEGORIES] + ["avg", "avg_categories"] + [f"avg_{lang}" for lang in LANGUAGES]
    return (1, cats.index(ds) if ds in cats else len(cats), b)


def report_blocks(suite: str, cells: Sequence[ScoreCell], records: Sequence[Record]) -> list[Block]:
    if not cells:
        return []
    settings = sorted({c.label for c in cells})
    table: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for c in cells:
        table[(c.task, c.length)][c.label] = c.score
    rows = []
    for (task, length) in sorted(table, key=lambda k: (k[1], _order(k[0]))):
        ds = split_task(task)[0]
        rows.append((task, CATEGORY_OF.get(ds, ""), length)
                    + tuple(f"{table[(task, length)][s]:.2f}" if s in table[(task, length)] else "-"
                            for s in settings))
    scores = Table(f"{suite}: per data set and category, side by side",
                   "Scores 0-100 as THUDM/LongBench eval.py computes them (mean over samples of the maximum over "
                   "gold answers). avg = mean over the data sets run; avg_categories = mean of the category "
                   "averages; avg_en / avg_zh = the README leaderboard's Avg per language (code counts in both).",
                   ("task", "category", "length") + tuple(settings), tuple(rows))
    seen: dict[tuple, tuple[int, int]] = {}
    for r in records:                  # prompts do not depend on the RoPE setting: count each once
        cut = int((r.payload or {}).get("truncated_tokens", 0))
        seen[(r.model, r.length, r.task, r.index)] = (cut, r.prompt_tokens)
    agg: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    for (model, length, _task, _i), v in seen.items():
        agg[(model, length)].append(v)
    trunc_rows = []
    for (model, length), vs in sorted(agg.items()):
        cuts = [t for t, _ in vs if t > 0]
        trunc_rows.append((model, length, len(vs), len(cuts), f"{sum(cuts) / len(cuts):.0f}" if cuts else "0",
                           max((t for t, _ in vs), default=0), f"{sum(p for _, p in vs) / len(vs):.0f}",
                           max(p for _, p in vs)))
    truncation = Table(f"{suite}: truncation policy", TRUNCATION_NOTE,
                       ("model", "length", "samples", "truncated samples", "mean tokens cut (truncated)",
                        "max tokens cut", "mean prompt tokens", "max prompt tokens"), tuple(trunc_rows))
    return [scores, truncation]
