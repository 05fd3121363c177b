"""Passkey retrieval.

Paper: Mohtashami & Jaggi, "Landmark Attention" (2023); used by YaRN and LongRoPE.
Reference implementation: jquesnelle/yarn `eval/passkey.py` (template, key range,
10 new tokens, first-integer scoring). Anchors fit the length in characters;
this module fits it to the token: prompt + output budget == context length.
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
from evalsuite.types import Request, Result, SampleScore, output_text

# Template from yarn eval/passkey.py (lines joined by "\n").
INTRO = ("There is an important info hidden inside a lot of irrelevant text. "
         "Find it and memorize them. I will quiz you about the important information there.")
INFO = "The pass key is {key}. Remember it. {key} is the pass key."
QUESTION = "What is the pass key? The pass key is"
MAX_NEW_TOKENS = 10
KEY_RANGE = (1, 50000)
_FIRST_INT = re.compile(r"\d+")


@dataclass(frozen=True)
class PasskeyOptions:
    haystack: str | None = option(None, "passkey: filler text file or directory (default: the noise sentences)",
                                  flag="--haystack")


class PasskeySuite(Suite):
    name = "passkey"
    version = 1
    subtasks = ("passkey",)
    description = "pass key hidden in repeated noise; first integer of the answer must match"
    default_samples = 10
    report_order = 3
    Options = PasskeyOptions

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "haystack": source_fingerprint(self.opts.haystack or "noise")}

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        framing = Framing.for_tokenizer(tok, self.cfg.template)
        head = framing.head + tok.encode(INTRO + "\n")
        tail = tok.encode("\n" + QUESTION) if not framing.tail else \
            tok.encode("\n" + QUESTION.split("? ")[0] + "?") + framing.tail + tok.encode("The pass key is")
        n = self.samples or 1
        hay = get_haystack(tok, self.opts.haystack or "noise", length)
        out = []
        for i, depth in enumerate(depth_grid(n)):
            rng = random.Random(f"passkey-{self.seed}-{length}-{i}")
            key = rng.randint(*KEY_RANGE)
            info = tok.encode("\n" + INFO.format(key=key) + "\n")
            fixed = len(head) + len(info) + len(tail)
            fit_check(fixed, MAX_NEW_TOKENS, length, "a passkey prompt")
            n_filler = length - MAX_NEW_TOKENS - fixed
            n_before = hay.snap(round(n_filler * depth / 100))
            filler = hay.take(n_filler)
            ids = np.concatenate([head, filler[:n_before], info, hay.take(n_filler - n_before), tail])
            out.append(Request(self.name, "passkey", length, i, ids.astype(np.int32), MAX_NEW_TOKENS,
                               (str(key),), depth=round(depth, 2), seed=self.seed))
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        found = _FIRST_INT.search(output_text(result))
        return SampleScore(float(found is not None and found.group() == request.references[0]))
