"""Tables about the settings themselves: what each one is, how fast it ran, and whether two
backends that ran the same setting agree."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

from evalsuite.config.lengths import format_length
from evalsuite.run.identity import SettingFacts
from evalsuite.run.summary import ScoreCell
from evalsuite.types import Record

from .load import Timing
from .tables import CellView, TableView, fmt, signed, text_table


def _len(n: int | None) -> str:
    return "-" if n is None else format_length(n)


def settings_table(facts: Sequence[SettingFacts], labels: dict[str, str], baseline: str | None) -> TableView:
    rows = [(labels[f.key] + ("  (baseline)" if labels[f.key] == baseline else ""), f.model, f.backend, f.engine,
             f.dtype, f.template, f.rope, _len(f.trained_length), _len(f.capacity))
            for f in sorted(facts, key=lambda f: labels[f.key])]
    return text_table("settings", "Settings compared",
                      "Trained: the model's own context length; capacity: the longest context the RoPE setting is "
                      "meant to hold.",
                      ("setting", "model", "backend", "engine", "dtype", "template", "RoPE", "trained", "capacity"),
                      rows)


def timings_table(timings: Sequence[Timing], records: Sequence[Record], labels: dict[str, str]) -> TableView:
    """Engine load and seconds per sample per setting: timings.jsonl where a run wrote it, else the
    records' own per-sample seconds (no load time known then)."""
    by_setting: dict[str, list[Timing]] = defaultdict(list)
    for t in timings:
        if t.setting in labels:
            by_setting[t.setting].append(t)
    seconds: dict[str, list[float]] = defaultdict(list)
    for r in records:
        seconds[r.setting].append(r.seconds)
    rows: list[tuple[object, ...]] = []
    for key in sorted(labels, key=lambda k: labels[k]):
        ts = by_setting.get(key)
        if ts:
            n = sum(t.samples for t in ts)
            per = sum(t.seconds_per_sample * t.samples for t in ts) / n if n else math.nan
            rows.append((labels[key], len(ts), sum(t.engine_loads for t in ts), f"{sum(t.load_s for t in ts):.1f}",
                         n, f"{per:.3f}", "timings.jsonl"))
        else:
            s = seconds.get(key, [])
            rows.append((labels[key], "-", "-", "-", len(s), f"{sum(s) / len(s):.3f}" if s else "-",
                         "records (no timings.jsonl)"))
    return text_table("timings", "Timings",
                      "Engine load: backend start plus every engine load it reported, summed over the commands that "
                      "ran the setting; seconds per sample: wall time of the sample batches over the samples run, "
                      "sample-weighted. Where a run has no timings.jsonl, the mean of the records' own seconds.",
                      ("setting", "engine starts", "engine loads", "engine load (s)", "samples", "s / sample",
                       "source"), rows)


def _same_setting(f: SettingFacts) -> tuple[str, str, str, str, str]:
    return (f.model, f.revision, f.rope, f.dtype, f.template)


def backend_tables(cells: Sequence[ScoreCell], digits: int = 1) -> list[TableView]:
    """Per pair of backends that ran the same model/revision/RoPE/dtype/template: per cell both
    scores and their difference (the first backend in label order is the reference)."""
    import pandas as pd
    base = [c for c in cells if not c.derived]
    groups: dict[tuple[str, ...], dict[str, list[ScoreCell]]] = defaultdict(lambda: defaultdict(list))
    for c in base:
        groups[_same_setting(c.facts)][c.label].append(c)
    tables: list[TableView] = []
    for same, by_label in sorted(groups.items()):
        if len({cs[0].facts.backend for cs in by_label.values()}) < 2:
            continue
        labels = sorted(by_label)
        ref = labels[0]
        for other in labels[1:]:
            a = {(c.suite, c.task, c.length): c for c in by_label[ref]}
            b = {(c.suite, c.task, c.length): c for c in by_label[other]}
            rows: list[tuple[CellView, ...]] = []
            data: list[dict[str, object]] = []
            diffs: list[float] = []
            for k in sorted(set(a) & set(b)):
                d = b[k].score - a[k].score
                rows.append((CellView(f"{k[0]}/{k[1]}", classes="name"), CellView(format_length(k[2])),
                             CellView(fmt(a[k].score, digits, a[k].stderr)),
                             CellView(fmt(b[k].score, digits, b[k].stderr)),
                             CellView(signed(d, digits) or "-", classes="diff" if abs(d) > 1e-9 else "")))
                if not math.isnan(d):
                    diffs.append(abs(d))
                data.append({"suite": k[0], "task": k[1], "length": k[2], ref: a[k].score, other: b[k].score,
                             "difference": d})
            if not rows:
                continue
            note = (f"The same model, RoPE setting ({same[2]}), dtype and template on two backends; difference = "
                    f"{b[next(iter(b))].facts.backend} - {a[next(iter(a))].facts.backend}. Largest |difference|: "
                    f"{max(diffs):.{digits}f} over {len(rows)} cells." if diffs else "")
            tables.append(TableView(f"backends-{len(tables) + 1}", f"Backends agree? {ref} vs {other}", note,
                                    ("suite/task", "length", ref, other, "difference"), tuple(rows),
                                    pd.DataFrame(data)))
    return tables
