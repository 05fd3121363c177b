"""Passkey retrieval.

Paper: Mohtashami & Jaggi, "Landmark Attention" (2023); used by YaRN and LongRoPE.
Reference implementation: jquesnelle/yarn `eval/passkey.py` (template, key range,
10 new tokens, first-integer scoring). Anchors fit the length in characters;
this module fits it to the token: prompt + output budget == context length.

The prompt is joined from separately encoded pieces as ids. Every piece after the
first is encoded as text that follows other text (`Tokenizer.encode_piece`), so the
ids decode to exactly the reference's text on SentencePiece tokenizers too (no
dummy-prefix space at a join); the first piece after BOS is encoded as the start
of a text, as the reference's whole-prompt encode has it. The filler before the
key ends at a sentence end; the filler after it starts where the noise starts and
is cut at a token, as the reference cuts it at a character.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.config.options import option
from evalsuite.suite import Suite
from evalsuite.types import Payload, Request, Result, SampleScore, output_text
from evalsuite.workload.haystacks import depth_grid, get_haystack, source_fingerprint
from evalsuite.workload.tokenization import Framing, Tokenizer, fit_check

# Template from yarn eval/passkey.py (lines joined by "\n").
INTRO = ("There is an important info hidden inside a lot of irrelevant text. "
         "Find it and memorize them. I will quiz you about the important information there.")
INFO = "The pass key is {key}. Remember it. {key} is the pass key."
QUESTION = "What is the pass key? The pass key is"
MAX_NEW_TOKENS = 10
KEY_RANGE = (1, 50000)
_FIRST_INT = re.compile(r"\d+")


@dataclass(frozen=True)
class PasskeyPayload(Payload):
    """The key hidden in the sample (also its reference)."""

    key: int


@dataclass(frozen=True)
class PasskeyOptions:
    haystack: str | None = option(None, "passkey: filler text file or directory (default: the noise sentences)",
                                  flag="--haystack")


class PasskeySuite(Suite):
    name = "passkey"
    in_default_run = True
    version = 2                  # 2: pieces joined without dummy-prefix spaces; a typed payload
    subtasks = ("passkey",)
    description = "pass key hidden in repeated noise; first integer of the answer must match"
    default_samples = 10
    report_order = 3
    Options = PasskeyOptions
    payload_type = PasskeyPayload

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "haystack": source_fingerprint(self.opts.haystack or "noise")}

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        framing = Framing.for_tokenizer(tok, self.cfg.template)
        base = not framing.tail
        # base: the instruction is the first text after BOS; chat: it follows the template's head
        intro = tok.encode(INTRO + "\n") if base else tok.encode_piece(INTRO + "\n")
        head = framing.head + intro
        if base:
            tail = tok.encode_piece("\n" + QUESTION)
        else:
            question, answer = tok.encode_pieces(["\n" + QUESTION.split("? ")[0] + "?", QUESTION.split("? ")[1]])
            tail = question + framing.tail + answer
        n = self.samples or 1
        keys = [random.Random(f"passkey-{self.seed}-{length}-{i}").randint(*KEY_RANGE) for i in range(n)]
        infos = tok.encode_pieces(["\n" + INFO.format(key=key) + "\n" for key in keys])
        hay = get_haystack(tok, self.opts.haystack or "noise", length)
        out = []
        for i, (depth, key, info) in enumerate(zip(depth_grid(n), keys, infos)):
            fixed = len(head) + len(info) + len(tail)
            fit_check(fixed, MAX_NEW_TOKENS, length, "a passkey prompt")
            n_filler = length - MAX_NEW_TOKENS - fixed
            n_before = hay.snap(round(n_filler * depth / 100))
            filler = hay.take(n_filler)
            ids = np.concatenate([head, filler[:n_before], info, hay.take(n_filler - n_before), tail])
            out.append(Request(self.name, "passkey", length, i, ids.astype(np.int32), MAX_NEW_TOKENS,
                               (str(key),), depth=round(depth, 2), seed=self.seed, payload=PasskeyPayload(key)))
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        """The first integer of the output equals the key as a number, as yarn's `int(re.search(r'\\d+',
        response).group()) == pass_key` has it ("07" is 7; compared without int() so no length limit)."""
        found = _FIRST_INT.search(output_text(result))
        return SampleScore(float(found is not None and _number(found.group()) == _number(request.references[0])))


def _number(digits: str) -> str:
    """A digit string as the number it writes (leading zeros dropped)."""
    return digits.lstrip("0") or "0"
