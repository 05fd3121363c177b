"""RULER: 13 synthetic long-context tasks (retrieval, multi-hop tracing, aggregation, QA).

Paper: Hsieh et al., "RULER: What's the Real Context Size of Your Long-Context Language
Models?" (COLM 2024). Reference implementation: NVIDIA/RULER — `scripts/synthetic.yaml`,
`scripts/data/synthetic/{constants,niah,variable_tracking,common_words_extraction,
freq_words_extraction,qa}.py`, `scripts/data/template.py`, `scripts/data/prepare.py`,
`scripts/eval/synthetic/constants.py`, `scripts/eval/evaluate.py`; effective length and
weighted averages as in the README's results table (threshold 85.6).

Budget: prompt tokens (BOS and chat-template tokens included) + the task's output budget ==
the context length, exactly (the reference counts template tokens but not BOS, and fits
with <=). Default 500 samples per task and seed 42, as in the reference.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from evalsuite.haystacks import source_fingerprint
from evalsuite.task import Task
from evalsuite.tokenization import Framing, Tokenizer
from evalsuite.types import Request, SampleScore

from . import scoring
from .spec import DEFAULT_SAMPLES, DEFAULT_SEED, NIAH_ARGS, QA_DATASET, TASKS, THRESHOLD


class RulerTask(Task):
    name = "ruler"
    version = 1
    subtasks = TASKS
    default_seed = DEFAULT_SEED
    metric = "string_match"
    description = "RULER (NVIDIA): 8 NIAH variants, variable tracking, cwe, fwe, SQuAD/HotpotQA QA"
    parallel_build = True

    def cache_params(self) -> dict:
        cfg = self.cfg
        params = {"samples": cfg.samples or DEFAULT_SAMPLES, "seed": cfg.seed, "template": cfg.template,
                  "tasks": list(self.selected)}
        if any(NIAH_ARGS[t].type_haystack == "essay" for t in self.selected if t in NIAH_ARGS):
            params["haystack"] = cfg.haystack if (cfg.haystack or "").startswith("hf:") \
                else source_fingerprint(cfg.haystack)
        for t in self.selected:
            if t in QA_DATASET:
                params[t] = _data_fingerprint(QA_DATASET[t], cfg.data_dir)
        return params

    def parts(self) -> list["RulerTask"]:
        """One cache cell per task: each is generated independently of the others."""
        if len(self.selected) == 1:
            return [self]
        return [RulerTask(replace(self.cfg, subtasks=(t,))) for t in self.selected]

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        from .cwe_fwe import cwe_requests, fwe_requests
        from .niah import niah_requests
        from .qa import qa_requests
        from .vt import vt_requests
        framing = Framing.for_tokenizer(tok, self.cfg.template)
        n, seed = self.cfg.samples or DEFAULT_SAMPLES, self.cfg.seed
        out: list[Request] = []
        for task in self.selected:
            if task in NIAH_ARGS:
                out += niah_requests(task, tok, framing, length, n, seed, self.cfg.haystack)
            elif task == "vt":
                out += vt_requests(tok, framing, length, n, seed)
            elif task == "cwe":
                out += cwe_requests(tok, framing, length, n, seed)
            elif task == "fwe":
                out += fwe_requests(tok, framing, length, n, seed)
            else:
                out += qa_requests(task, tok, framing, length, n, seed, self.cfg.data_dir)
        return out

    def score(self, request: Request, output: str) -> SampleScore:
        value, extras = scoring.score(request.task, output, request.references)
        return SampleScore(value, extras)

    def min_length(self, tok: Tokenizer) -> int:
        return 256

    @classmethod
    def derived_cells(cls, cells: list) -> list:
        """One "average" task per setting x length: the mean of the task scores (RULER's Avg.)."""
        from evalsuite.summary import Cell
        groups: dict[tuple, list] = defaultdict(list)
        for c in cells:
            if c.task != "average" and not math.isnan(c.score):
                groups[(c.model, c.backend, c.rope, c.length)].append(c)
        return [Cell(m, b, r, cls.name, "average", n, cls.metric, True,
                     sum(c.score for c in g) / len(g), sum(c.samples for c in g))
                for (m, b, r, n), g in sorted(groups.items())]

    @classmethod
    def report_extras(cls, cells: list, records) -> list[dict]:
        from evalsuite.lengths import format_length
        avg = [c for c in cells if c.task == "average"]
        if not avg:
            return []
        lengths = sorted({c.length for c in avg})
        rows = []
        for setting in sorted({c.setting for c in avg}):
            by_len = {c.length: c.score for c in avg if c.setting == setting}
            n_tasks = len({c.task for c in cells if c.setting == setting and c.task != "average"})
            rows.append([setting, str(n_tasks)] + [f"{by_len[n]:.2f}" if n in by_len else "-" for n in lengths]
                        + [effective_length_label(by_len), f"{weighted_average(by_len, True):.2f}",
                           f"{weighted_average(by_len, False):.2f}"])
        header = ["setting", "tasks"] + [format_length(n) for n in lengths] + ["effective length", "wAvg (inc)", "wAvg (dec)"]
        return [{"title": "RULER summary",
                 "note": f"Average over the tasks run, per length. Effective length: the longest length up to which "
                         f"every average is >= {THRESHOLD} (RULER's Llama-2-7B 4k bar). wAvg: weights 1..n "
                         "increasing (inc) or decreasing (dec) with length, as in the RULER README.",
                 "table": {"header": header, "rows": rows}}]


def effective_length(by_len: dict[int, float], threshold: float = THRESHOLD) -> int | None:
    best = None
    for n in sorted(by_len):
        if by_len[n] < threshold:
            break
        best = n
    return best


def effective_length_label(by_len: dict[int, float]) -> str:
    from evalsuite.lengths import format_length
    n = effective_length(by_len)
    return f"< {format_length(min(by_len))}" if n is None else format_length(n)


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
