"""Aggregation and report blocks of the perplexity suite (see tasks/perplexity.py).

Reference: jquesnelle/yarn `eval/perplexity.py` aggregates PPL = exp(mean of per-window mean
NLL) over all windows of all documents; the token-weighted PPL = exp(sum NLL / scored tokens)
is reported beside it, per corpus and per document. The NLL-vs-position curve (mean NLL of the
tokens in each of N_BINS equal slices of the window) follows the per-position NLL figure of
"A Controlled Study on Long Context Extension and Generalization in LLMs" (arXiv 2409.12181).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from evalsuite.config.lengths import format_length
from evalsuite.reports.blocks import Block, Chart, Table
from evalsuite.reports.svg import line_chart
from evalsuite.types import Payload, Record

N_BINS = 32
DOCS_SHOWN = 12


@dataclass(frozen=True)
class NllDetail(Payload):
    """One scored window (or needle answer): its NLL total and the NLL per position slice."""

    nll_sum: float
    tokens: int
    bins: tuple[int, ...] = ()           # slices of the window that hold scored tokens
    bin_nll: tuple[float, ...] = ()      # NLL sum of the scored tokens in each of those slices
    bin_tokens: tuple[int, ...] = ()     # scored tokens in each of those slices


def _nll(r: Record) -> NllDetail:
    return r.detail_as(NllDetail)


def _doc(r: Record) -> int:
    return int((r.payload or {}).get("doc", -1))


def yarn_ppl(records: Sequence[Record]) -> float:
    """exp(mean over records (windows, or needle samples) of the record's mean NLL)."""
    means = [d.nll_sum / d.tokens for d in map(_nll, records) if d.tokens]
    return math.exp(sum(means) / len(means)) if means else float("nan")


def token_ppl(records: Sequence[Record]) -> float:
    details = [_nll(r) for r in records]
    n = sum(d.tokens for d in details)
    return math.exp(sum(d.nll_sum for d in details) / n) if n else float("nan")


def position_curve(records: Sequence[Record]) -> list[tuple[int, float]]:
    """(bin, mean NLL of the scored tokens in that slice of the window)."""
    sums, counts = [0.0] * N_BINS, [0.0] * N_BINS
    for d in map(_nll, records):
        for b, total, n in zip(d.bins, d.bin_nll, d.bin_tokens):
            sums[b] += total
            counts[b] += n
    return [(b, sums[b] / counts[b]) for b in range(N_BINS) if counts[b]]


def _fmt(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.3f}"


def _aggregation_table(records: Sequence[Record], labels: dict[str, str]) -> Table | None:
    cells: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        if r.task != "needle":
            cells[(labels[r.setting], r.task, r.length)].append(r)
    rows = []
    for (setting, task, length), recs in sorted(cells.items()):
        by_doc: dict[int, list[Record]] = defaultdict(list)
        for r in recs:
            by_doc[_doc(r)].append(r)
        docs = [f"#{d}: {yarn_ppl(rs):.2f} / {token_ppl(rs):.2f}" for d, rs in sorted(by_doc.items())]
        if len(docs) > DOCS_SHOWN:
            docs = docs[:DOCS_SHOWN] + [f"... {len(docs) - DOCS_SHOWN} more"]
        rows.append((setting, task, format_length(length), _fmt(yarn_ppl(recs)), _fmt(token_ppl(recs)),
                     len(by_doc), len(recs), sum(_nll(r).tokens for r in recs), "; ".join(docs)))
    if not rows:
        return None
    return Table("Perplexity: YaRN and token-weighted aggregation",
                 "YaRN PPL = exp(mean of per-window mean NLL), as yarn eval/perplexity.py reports (the summary "
                 "score); token-weighted PPL = exp(total NLL / scored tokens). Per document: YaRN / "
                 "token-weighted. Lower is better.",
                 ("setting", "task", "length", "PPL (YaRN)", "PPL (token-weighted)", "documents", "windows",
                  "scored tokens", "per document"), tuple(rows))


def _position_chart(records: Sequence[Record], labels: dict[str, str], task: str) -> Chart | None:
    recs = [r for r in records if r.task == task]
    if not recs:
        return None
    longest = max(r.length for r in recs)
    series = {}
    for key in sorted({r.setting for r in recs}, key=lambda k: labels[k]):
        series[labels[key]] = position_curve([r for r in recs if r.length == longest and r.setting == key])
    bins = sorted({b for pts in series.values() for b, _ in pts})
    if not bins:
        return None
    ticks = [format_length(round((b + 0.5) * longest / N_BINS)) if b % 8 == 0 or b == bins[-1] else ""
             for b in bins]
    return Chart(f"Mean NLL by token position ({task}, length {format_length(longest)})",
                 f"Window split into {N_BINS} equal slices; each point is the mean NLL of the scored tokens in "
                 "that slice (x: position in the window). A rise towards the end of the window marks positions "
                 "the RoPE setting does not handle.",
                 line_chart(series, bins, ticks, "mean NLL (nats)"))


def _needle_table(records: Sequence[Record], labels: dict[str, str]) -> Table | None:
    needle = [r for r in records if r.task == "needle"]
    if not needle:
        return None
    depths = sorted({r.depth for r in needle if r.depth is not None})
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for r in needle:
        groups[(labels[r.setting], r.length)].append(r)
    rows = tuple((setting, format_length(length))
                 + tuple(_fmt(yarn_ppl([r for r in recs if r.depth == d])) for d in depths)
                 + (_fmt(yarn_ppl(recs)),) for (setting, length), recs in sorted(groups.items()))
    return Table("Needle-driven perplexity by needle depth",
                 "Perplexity of the answer tokens only (LongRoPE2), exp(mean per-sample NLL); lower is better.",
                 ("setting", "length") + tuple(f"{d:g}%" for d in depths) + ("all",), rows)


def blocks(records: Sequence[Record], labels: dict[str, str]) -> list[Block]:
    found = [_aggregation_table(records, labels), _position_chart(records, labels, "sliding"),
             _position_chart(records, labels, "truncate"), _needle_table(records, labels)]
    return [b for b in found if b is not None]
