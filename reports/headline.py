"""Per-setting headline numbers that need a suite's own rule: RULER's effective length and
LongBench's per-language averages.

LongBench (THUDM/LongBench README.md, leaderboard): English and Chinese are averaged apart; each
language's "Avg" is the mean of its category averages, and the two code data sets (lcc,
repobench-p) count in both languages' Code Completion column. A language average is only
given where at least one data set of that language ran (code alone is not a language).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import Sequence

from evalsuite.summary import ScoreCell

from .tables import fmt

CHINESE = frozenset({"multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh"})
CODE = frozenset({"lcc", "repobench-p"})
LANGUAGES = {"en": "English", "zh": "Chinese"}
LONGBENCH_SUITES = ("longbench", "longbench-e")


def language_of(dataset: str) -> str:
    return "code" if dataset in CODE else "zh" if dataset in CHINESE else "en"


def longbench_language_cells(cells: Sequence[ScoreCell]) -> list[ScoreCell]:
    """One derived cell per setting x suite x length x language: task `avg_en` / `avg_zh`."""
    from evalsuite.tasks.longbench.prompts import CATEGORIES, DATASETS
    groups: dict[tuple[str, str, int], dict[str, ScoreCell]] = defaultdict(dict)
    for c in cells:
        if c.suite in LONGBENCH_SUITES and c.task in DATASETS and not math.isnan(c.score):
            groups[(c.setting, c.suite, c.length)][c.task] = c
    out = []
    for _, by_ds in sorted(groups.items()):
        base = next(iter(by_ds.values()))
        for lang in LANGUAGES:
            if not any(language_of(ds) == lang for ds in by_ds):
                continue
            means = []
            for members in CATEGORIES.values():
                got = [by_ds[ds].score for ds in members if ds in by_ds and language_of(ds) in (lang, "code")]
                if got:
                    means.append(sum(got) / len(got))
            samples = sum(c.samples for ds, c in by_ds.items() if language_of(ds) in (lang, "code"))
            out.append(replace(base, task=f"avg_{lang}", score=sum(means) / len(means), samples=samples,
                               derived=True, stderr=float("nan")))
    return out


def effective_lengths(average: Sequence[ScoreCell], threshold: float) -> dict[str, str]:
    """RULER effective length per setting label: the longest length up to which every task
    average is >= threshold (RULER README)."""
    from evalsuite.lengths import format_length
    from evalsuite.tasks.ruler import effective_length
    by_label: dict[str, dict[int, float]] = defaultdict(dict)
    for c in average:
        by_label[c.label][c.length] = c.score
    out = {}
    for label, by_len in by_label.items():
        n = effective_length(by_len, threshold)
        out[label] = f"< {format_length(min(by_len))}" if n is None else format_length(n)
    return out


def threshold_note(threshold: float) -> str:
    return (f"Effective length: the longest length up to which the task average stays >= {fmt(threshold, 1)} "
            "(RULER's bar is 85.6, Llama-2-7B at 4k).")
