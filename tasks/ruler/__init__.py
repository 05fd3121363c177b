"""RULER: 13 synthetic long-context tasks (retrieval, multi-hop tracing, aggregation, QA).

Paper: Hsieh et al., "RULER: What's the Real Context Size of Your Long-Context Language
Models?" (COLM 2024). Reference implementation: NVIDIA/RULER — `scripts/synthetic.yaml`,
`scripts/data/synthetic/{constants,niah,variable_tracking,common_words_extraction,
freq_words_extraction,qa}.py`, `scripts/data/template.py`, `scripts/data/prepare.py`,
`scripts/eval/synthetic/constants.py`, `scripts/eval/evaluate.py`; effective length and
weighted averages as in the README's results table (threshold 85.6).

Budget: prompt tokens (BOS and chat-template tokens included) + the task's output budget <=
the context length (the reference counts template tokens but not BOS). Fit within, as the
reference does: the niah, vt and qa tasks hold the largest haystack of whole units that fits
(noise or distractor-needle lines, essay sentences, QA documents), so their prompts are up to
one unit short of the budget (a line: ~25 tokens; a sentence; a document: hundreds); the
request keeps its `length` bucket and the record's prompt_tokens is the real count. cwe and
fwe fill exactly (whole list entries: the few tokens a largest list leaves are filled with
extra single entries that never reach the answer counts). Every prompt piece is encoded as it
reads mid-text, so SentencePiece tokenizers get no stray space at the joins
(`build.Encoder`). Default 500 samples per task and seed 42, as in the reference.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from evalsuite.config.lengths import format_length
from evalsuite.config.options import option
from evalsuite.reports.blocks import Block, Table
from evalsuite.run.summary import ScoreCell
from evalsuite.suite import Headline, Suite
from evalsuite.types import Record, Request, Result, SampleScore, output_text
from evalsuite.workload.haystacks import source_fingerprint
from evalsuite.workload.tokenization import Framing, Tokenizer

from . import scoring
from .spec import DEFAULT_SAMPLES, DEFAULT_SEED, NIAH_ARGS, QA_DATASET, TASKS, THRESHOLD, RulerPayload


@dataclass(frozen=True)
class RulerOptions:
    haystack: str | None = option(None, "ruler: essay haystack text file or directory, or hf:<data set> "
                                        "(default: the demo corpus)", flag="--haystack")
    data_dir: str | None = option(None, "ruler: folder with the QA data sets (SQuAD, HotpotQA)", flag="--data-dir")


class RulerSuite(Suite):
    name = "ruler"
    version = 2                  # 2: whole-unit haystacks, mid-text pieces
    subtasks = TASKS
    default_seed = DEFAULT_SEED
    metric = "string_match"
    description = "RULER (NVIDIA): 8 NIAH variants, variable tracking, cwe, fwe, SQuAD/HotpotQA QA"
    parallel_build = True
    default_samples = DEFAULT_SAMPLES
    Options = RulerOptions
    payload_type = RulerPayload
    report_order = 0

    @classmethod
    def headlines(cls) -> tuple[Headline, ...]:
        return (Headline("average", "RULER: average over its tasks",
                         note="Effective length: the longest length up to which the task average stays >= "
                              "{threshold} (RULER's bar is 85.6, Llama-2-7B at 4k).",
                         column="effective length (>= {threshold})", value=effective_length_label),)

    def cache_params(self) -> dict[str, Any]:
        """Only what changes this selection's prompts: a task without essays ignores the haystack."""
        cfg, haystack = self.cfg, self.opts.haystack
        params: dict[str, Any] = {"samples": self.samples, "seed": cfg.seed, "template": cfg.template,
                                  "tasks": list(self.selected)}
        if any(NIAH_ARGS[t].type_haystack == "essay" for t in self.selected if t in NIAH_ARGS):
            params["haystack"] = haystack if (haystack or "").startswith("hf:") else source_fingerprint(haystack)
        for t in self.selected:
            if t in QA_DATASET:
                params[t] = _data_fingerprint(QA_DATASET[t], self.opts.data_dir)
        return params

    def parts(self) -> list[Suite]:
        """One cache cell per task: each is generated independently of the others."""
        if len(self.selected) == 1:
            return [self]
        return [RulerSuite(replace(self.cfg, subtasks=(t,)), self.opts) for t in self.selected]

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        from .cwe_fwe import cwe_requests, fwe_requests
        from .niah import niah_requests
        from .qa import qa_requests
        from .vt import vt_requests
        framing = Framing.for_tokenizer(tok, self.cfg.template)
        n, seed = self.samples or DEFAULT_SAMPLES, self.seed
        out: list[Request] = []
        for task in self.selected:
            if task in NIAH_ARGS:
                out += niah_requests(task, tok, framing, length, n, seed, self.opts.haystack)
            elif task == "vt":
                out += vt_requests(tok, framing, length, n, seed)
            elif task == "cwe":
                out += cwe_requests(tok, framing, length, n, seed)
            elif task == "fwe":
                out += fwe_requests(tok, framing, length, n, seed)
            else:
                out += qa_requests(task, tok, framing, length, n, seed, self.opts.data_dir)
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        value, extras = scoring.score(request.task, output_text(result), request.references)
        return SampleScore(value, extras)

    def min_length(self, tok: Tokenizer) -> int:
        return 256

    @classmethod
    def derived_cells(cls, cells: list[ScoreCell]) -> list[ScoreCell]:
        """One "average" task per setting x length: the mean of the task scores (RULER's Avg.)."""
        groups: dict[tuple[str, int], list[ScoreCell]] = defaultdict(list)
        for c in cells:
            if c.task != "average" and not math.isnan(c.score):
                groups[(c.setting, c.length)].append(c)
        return [replace(g[0], task="average", score=sum(c.score for c in g) / len(g),
                        samples=sum(c.samples for c in g), derived=True)
                for _, g in sorted(groups.items())]

    @classmethod
    def report_blocks(cls, cells: list[ScoreCell], records: Sequence[Record],
                      labels: dict[str, str]) -> list[Block]:
        avg = [c for c in cells if c.task == "average"]
        if not avg:
            return []
        lengths = sorted({c.length for c in avg})
        rows = []
        for label in sorted({c.label for c in avg}):
            by_len = {c.length: c.score for c in avg if c.label == label}
            n_tasks = len({c.task for c in cells if c.label == label and c.task != "average"})
            rows.append((label, str(n_tasks)) + tuple(f"{by_len[n]:.2f}" if n in by_len else "-" for n in lengths)
                        + (effective_length_label(by_len), f"{weighted_average(by_len, True):.2f}",
                           f"{weighted_average(by_len, False):.2f}"))
        header = (("setting", "tasks") + tuple(format_length(n) for n in lengths)
                  + ("effective length", "wAvg (inc)", "wAvg (dec)"))
        return [Table("RULER summary",
                      f"Average over the tasks run, per length. Effective length: the longest length up to which "
                      f"every average is >= {THRESHOLD} (RULER's Llama-2-7B 4k bar). wAvg: weights 1..n "
                      "increasing (inc) or decreasing (dec) with length, as in the RULER README.",
                      header, tuple(rows))]


def effective_length(by_len: dict[int, float], threshold: float = THRESHOLD) -> int | None:
    best = None
    for n in sorted(by_len):
        if by_len[n] < threshold:
            break
        best = n
    return best


def effective_length_label(by_len: dict[int, float], threshold: float = THRESHOLD) -> str:
    """As the RULER README's "Effective Length" column writes it: "32K"; ">128K" when every
    length run passes (the real effective length may be longer); "<4K" when none does."""
    n = effective_length(by_len, threshold)
    if n is None:
        return f"<{_upper_k(min(by_len))}"
    return f">{_upper_k(n)}" if n == max(by_len) else _upper_k(n)


def _upper_k(n: int) -> str:
    return format_length(n).upper()


def weighted_average(by_len: dict[int, float], increasing: bool) -> float:
    lengths = sorted(by_len)
    weights = range(1, len(lengths) + 1) if increasing else range(len(lengths), 0, -1)
    return sum(w * by_len[n] for w, n in zip(weights, lengths)) / sum(weights)


def _data_fingerprint(dataset: str, data_dir: str | None) -> str:
    from .qa import HUB, data_file
    path = data_file(dataset, data_dir)
    if path is None:
        return "hub:" + "/".join(str(x) for x in HUB[dataset])
    h = hashlib.sha256()
    with open(Path(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
