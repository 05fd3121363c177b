"""Needle in a haystack: a depth x length grid with deterministic recall scoring.

Reference implementation: gkamradt/LLMTest_NeedleInAHaystack
(`needlehaystack/llm_needle_haystack_tester.py`: needle, question, insertion at a
token depth moved back to the previous sentence end, depth 100 appends;
`viz` notebook: the red-yellow-green heatmap). The reference scores with an LLM
judge; here the score is the recall of the needle's answer keywords in the output
(no paid, noisy judge), and exact containment is kept as an extra.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.haystacks import depth_grid, get_haystack, source_fingerprint
from evalsuite.options import option
from evalsuite.suite import Suite
from evalsuite.tokenization import Framing, Tokenizer, fit_check
from evalsuite.types import EvalError, Request, Result, SampleScore, output_text

NEEDLE = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
QUESTION = "What is the best thing to do in San Francisco?"
ANSWER_PREFIX = "The best thing to do in San Francisco is"
ANSWER = "eat a sandwich and sit in Dolores Park on a sunny day"
# reference prompt's instruction after the question (chat template only)
CHAT_INSTRUCTION = " Don't give information outside the document or repeat your findings"
MAX_NEW_TOKENS = 32
_STOPWORDS = {"a", "an", "the", "and", "in", "on", "of", "to", "is", "at"}
_WORD = re.compile(r"[a-z0-9]+")


def keywords(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass(frozen=True)
class NiahOptions:
    depths: int = option(10, "niah: needle depths per length, evenly spaced over 0-100%", flag="--depths",
                         minimum=1)
    haystack: str | None = option(None, "niah: haystack text file or directory (default: the demo corpus)",
                                  flag="--haystack")
    needle: str = option(NEEDLE, "the sentence hidden in the haystack (default: gkamradt's San Francisco needle)")
    question: str = option(QUESTION, "the question asked after the haystack")
    answer: str = option(ANSWER, "the expected answer: its keywords are what the score recalls")
    answer_prefix: str = option(ANSWER_PREFIX, "the start of the answer the prompt ends with (may be empty)")
    max_new_tokens: int = option(MAX_NEW_TOKENS, "the output budget (the prompt fills the rest of the length)",
                                 minimum=1)
    stop: str = option("", "end the answer at this string, e.g. a newline (default: none, as the reference)")

    def __post_init__(self) -> None:
        if not self.needle.strip() or not self.question.strip():
            raise EvalError("--niah-needle and --niah-question must not be empty")
        if not keywords(self.answer):
            raise EvalError(f"--niah-answer {self.answer!r} has no keyword to recall (only stop words): "
                            "give the answer's content words")


class NiahSuite(Suite):
    name = "niah"
    version = 1
    subtasks = ("niah",)
    description = "one needle at a token depth snapped to a sentence end; keyword-recall score"
    default_samples = 1               # per depth x length cell, as in the reference grid
    heatmap = True
    report_order = 4
    Options = NiahOptions

    def planned_samples(self) -> int:
        return (self.samples or 1) * self.opts.depths

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "haystack": source_fingerprint(self.opts.haystack)}

    def _tail(self, tok: Tokenizer, framing: Framing) -> list[int]:
        question, prefix = self.opts.question, self.opts.answer_prefix
        if framing.tail:
            after = tok.encode(prefix) if prefix else []
            return tok.encode("\n\n" + question + CHAT_INSTRUCTION) + framing.tail + after
        return tok.encode("\nQuestion: " + question + "\nAnswer: " + prefix)

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        framing = Framing.for_tokenizer(tok, self.cfg.template)
        head, tail = framing.head, self._tail(tok, framing)
        needle, budget = tok.encode(" " + self.opts.needle), self.opts.max_new_tokens
        fixed = len(head) + len(needle) + len(tail)
        fit_check(fixed, budget, length, "a needle-in-a-haystack prompt")
        n_context = length - budget - fixed
        repeats = self.samples or 1
        hay = get_haystack(tok, self.opts.haystack, n_context * (repeats + 1))
        out: list[Request] = []
        for depth in depth_grid(self.opts.depths):
            for r in range(repeats):
                # repeat r reads the haystack from a later sentence start
                rng = random.Random(f"niah-{self.seed}-{length}-{depth}-{r}")
                start = 0 if r == 0 else hay.snap(rng.randrange(len(hay.ids) // 2))
                context = hay.take(start + n_context)[start:]
                pos = n_context if depth >= 100 else hay.snap(start + round(n_context * depth / 100)) - start
                pos = max(pos, 0)
                ids = np.concatenate([head, context[:pos], needle, context[pos:], tail])
                out.append(Request(self.name, "niah", length, len(out), ids.astype(np.int32),
                                   budget, (self.opts.answer,), depth=round(depth, 2), seed=self.seed,
                                   stop=(self.opts.stop,) if self.opts.stop else ()))
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        output = output_text(result)
        wanted = keywords(request.references[0])
        got = set(keywords(output))
        recall = sum(w in got for w in wanted) / len(wanted)
        exact = float(request.references[0].lower() in output.lower())
        return SampleScore(recall, (("exact", exact),))
