"""Needle in a haystack: a depth x length grid with deterministic recall scoring.

Reference implementation: gkamradt/LLMTest_NeedleInAHaystack
(`needlehaystack/llm_needle_haystack_tester.py`: needle, question, insertion at a
token depth moved back to the previous sentence end, depth 100 appends;
`viz` notebook: the red-yellow-green heatmap). The reference scores with an LLM
judge; here the score is the recall of the needle's answer keywords in the output
(no paid, noisy judge), and exact containment is kept as an extra.

The needle goes in between newlines, as the reference's default needle is written
(`needlehaystack/run.py`: needle = "\nThe best thing ... on a sunny day.\n"); a
user's `--niah-needle` is wrapped the same way. The prompt is joined from separately
encoded pieces as ids: every piece that does not start the text is encoded as text
after other text (`Tokenizer.encode_piece`), the first piece after BOS (the
haystack's first sentence, or the needle at depth 0) as the start of a text, so
the ids decode to the reference's text on SentencePiece tokenizers too. With
--samples > 1, repeat r > 0 reads the haystack from a later sentence, starting at
its first word.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.config.options import option
from evalsuite.suite import Suite
from evalsuite.types import EvalError, Payload, Request, Result, SampleScore, output_text
from evalsuite.workload.haystacks import depth_grid, get_haystack, source_fingerprint
from evalsuite.workload.tokenization import Framing, Tokenizer, fit_check

NEEDLE = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
# gkamradt/LLMTest_NeedleInAHaystack needlehaystack/run.py writes its needle as "\n" + NEEDLE + "\n"
NEEDLE_WRAP = "\n{needle}\n"
QUESTION = "What is the best thing to do in San Francisco?"
ANSWER_PREFIX = "The best thing to do in San Francisco is"
ANSWER = "eat a sandwich and sit in Dolores Park on a sunny day"
# reference prompt's instruction after the question (chat template only)
CHAT_INSTRUCTION = " Don't give information outside the document or repeat your findings"
# base template (no chat): the question and the start of the answer after the context
BASE_TAIL = "\nQuestion: {question}\nAnswer: {answer_prefix}"
MAX_NEW_TOKENS = 32
_STOPWORDS = {"a", "an", "the", "and", "in", "on", "of", "to", "is", "at"}
_WORD = re.compile(r"[a-z0-9]+")


def keywords(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass(frozen=True)
class NiahPayload(Payload):
    """The needle and question of a sample, and which haystack repeat it reads (0: from the start)."""

    needle: str
    question: str
    repeat: int


@dataclass(frozen=True)
class NiahOptions:
    depths: int = option(10, "niah: needle depths per length, evenly spaced over 0-100%", flag="--depths",
                         minimum=1)
    haystack: str | None = option(None, "niah: haystack text file or directory (default: the demo corpus)",
                                  flag="--haystack")
    needle: str = option(NEEDLE, "the sentence hidden in the haystack, put in between newlines as gkamradt's "
                                 "needle is (default: gkamradt's San Francisco needle)")
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
    in_default_run = True
    version = 2                  # 2: the needle between newlines, pieces joined without dummy-prefix spaces
    subtasks = ("niah",)
    description = "one needle at a token depth snapped to a sentence end; keyword-recall score"
    default_samples = 1               # per depth x length cell, as in the reference grid
    heatmap = True
    report_order = 4
    Options = NiahOptions
    payload_type = NiahPayload

    def planned_samples(self) -> int:
        return (self.samples or 1) * self.opts.depths

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "haystack": source_fingerprint(self.opts.haystack)}

    def _tail(self, tok: Tokenizer, framing: Framing) -> list[int]:
        question, prefix = self.opts.question, self.opts.answer_prefix
        if framing.tail:
            before, after = tok.encode_pieces(["\n\n" + question + CHAT_INSTRUCTION, prefix])
            return before + framing.tail + after
        return tok.encode_piece(BASE_TAIL.format(question=question, answer_prefix=prefix))

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        framing = Framing.for_tokenizer(tok, self.cfg.template)
        head, tail = framing.head, self._tail(tok, framing)
        base = not framing.tail                      # the context (or the needle) is the first text after BOS
        text = NEEDLE_WRAP.format(needle=self.opts.needle)
        needle_mid = tok.encode_piece(text)
        needle_first = tok.encode(text) if base else needle_mid
        budget = self.opts.max_new_tokens
        room = length - budget - len(head) - len(tail)          # context + needle
        fit_check(len(head) + len(tail) + max(len(needle_mid), len(needle_first)), budget, length,
                  "a needle-in-a-haystack prompt")
        repeats = self.samples or 1
        hay = get_haystack(tok, self.opts.haystack, room * (repeats + 1))
        plan = []
        for depth in depth_grid(self.opts.depths):
            for r in range(repeats):
                # repeat r reads the haystack from a later sentence start
                rng = random.Random(f"niah-{self.seed}-{length}-{depth}-{r}")
                start = 0 if r == 0 else hay.snap(rng.randrange(len(hay.ids) // 2))
                n_context = room - len(needle_mid)
                at = n_context if depth >= 100 else hay.snap(start + round(n_context * depth / 100))
                plan.append((depth, r, start, depth < 100 and at <= start, at))
        leads = hay.leads([(start, base and not first) for _, _, start, first, _ in plan])
        out: list[Request] = []
        for (depth, r, start, first, at), lead in zip(plan, leads):
            needle = needle_first if first else needle_mid
            n_context = room - len(needle)
            end = hay.sentence_end(start)
            rest = hay.take(max(end, end + n_context - len(lead)))[end:]
            context = np.concatenate([lead, rest])[:n_context]
            pos = 0 if first else n_context if depth >= 100 else min(len(lead) + at - end, n_context)
            ids = np.concatenate([head, context[:pos], needle, context[pos:], tail])
            out.append(Request(self.name, "niah", length, len(out), ids.astype(np.int32),
                               budget, (self.opts.answer,), depth=round(depth, 2), seed=self.seed,
                               stop=(self.opts.stop,) if self.opts.stop else (),
                               payload=NiahPayload(self.opts.needle, self.opts.question, r)))
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        output = output_text(result)
        wanted = keywords(request.references[0])
        got = set(keywords(output))
        recall = sum(w in got for w in wanted) / len(wanted)
        exact = float(request.references[0].lower() in output.lower())
        return SampleScore(recall, (("exact", exact),))
