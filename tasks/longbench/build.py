"""Token-exact LongBench prompts with an explicit, recorded middle-truncation policy.

Reference: THUDM/LongBench `LongBench/pred.py` (get_pred): the filled prompt is tokenized; when it
holds more than max_length tokens, the first and the last int(max_length / 2) tokens are kept
("truncate in the middle, since the left and right side may contain crucial instructions"); the
chat prompt is built afterwards, except for NO_CHAT data sets.

Differences, on purpose:
- the budget is the context length minus the output budget minus every framing token (BOS and,
  with --template chat, the chat template's tokens): prompt + max_new_tokens <= length always.
  pred.py adds the template after truncating, so its prompts overrun max_length (LongBench#21);
- the kept halves stay token ids; pred.py decodes them and re-tokenizes the joined text, which can
  change the count at the seam;
- the number of cut tokens is recorded per sample (Request meta `truncated_tokens`);
- a cut never splits the bytes of one character (byte-level tokens of CJK text): each half gives
  up the at most three tokens of a partial character, where pred.py's decoded halves read U+FFFD.
`--longbench-max-prompt P` is pred.py's own budget instead (`max_length` in config/model2maxlen.json,
e.g. 3500 for a 4k model, 31500 for a 32k one): the tokenized prompt, BOS included as pred.py counts
it, keeps its first and last int(P/2) tokens when longer than P, the chat template comes on top, and
neither the context length nor the data set's output budget moves the cut (so scores compare with
published LongBench tables); prompt + output must still fit the context length.
Each sample's prompt text is encoded once per tokenizer and reused for every context length: as a
text start after BOS, or, inside a chat template, as the piece of running text it is there (no
SentencePiece dummy-prefix space after the template's "[INST] " or "<|im_start|>user\n").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsuite.types import EvalError
from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Framing, Tokenizer

from .data import Sample
from .prompts import NO_CHAT, fill

ENCODE_BATCH = 16


@dataclass(frozen=True)
class Built:
    ids: np.ndarray          # framing head + (possibly middle-truncated) prompt + framing tail
    prompt_tokens: int       # tokens of the filled prompt before truncation (framing excluded)
    truncated: int           # tokens cut from the middle
    chat: bool               # whether the chat template wraps this prompt


def framing(tok: Tokenizer, dataset: str, template: str) -> tuple[Framing, bool]:
    """BOS, plus the chat template unless the reference leaves this data set without one."""
    chat = template == "chat" and dataset not in NO_CHAT
    return Framing.for_tokenizer(tok, "chat" if chat else ("base" if template == "chat" else template)), chat


_IDS: dict[tuple, np.ndarray] = BoundedDict(8192)     # documents (a call needs at most 500)


def encoded(tok: Tokenizer, source: tuple, dataset: str, samples: list[Sample],
            indices: list[int], chat: bool = False) -> dict[int, np.ndarray]:
    """Token ids (no special tokens) of the filled prompts of samples[i] for i in indices, as a text
    start (after BOS) or, with `chat`, as a piece inside the chat template. `source` names the data
    (file set and data set) so that the cache never mixes sources."""
    todo = [i for i in indices if (tok.fingerprint, source, chat, i) not in _IDS]
    for lo in range(0, len(todo), ENCODE_BATCH):
        chunk = todo[lo: lo + ENCODE_BATCH]
        texts = [fill(dataset, samples[i].context, samples[i].input) for i in chunk]
        for i, ids in zip(chunk, tok.encode_pieces(texts) if chat else tok.encode_batch(texts)):
            _IDS[(tok.fingerprint, source, chat, i)] = np.asarray(ids, dtype=np.int32)
    return {i: _IDS[(tok.fingerprint, source, chat, i)] for i in indices}


def assemble(tok: Tokenizer, body: np.ndarray, frame: Framing, chat: bool, max_new: int, length: int, what: str,
             max_prompt: int | None = None) -> Built:
    if max_prompt:                             # pred.py: len(tokenizer(prompt)) <= max_length, BOS included
        budget, bos = max_prompt - len(tok.bos), len(tok.bos)
        first, last = max_prompt // 2 - bos, max_prompt // 2
    else:
        budget = length - max_new - len(frame.head) - len(frame.tail)
        first = last = budget // 2             # pred.py: half = int(max_length / 2) on each side
    if budget < 2 or first < 1:
        raise EvalError(f"{what} needs more than {length - budget} tokens ({max_new} to generate, "
                        f"{len(frame.head) + len(frame.tail)} of BOS/template): use longer --lengths")
    kept = body
    if len(body) > budget:
        a, b = _whole_characters(tok, body, first, len(body) - last)
        kept = np.concatenate([body[:a], body[b:]])
    ids = np.concatenate([np.asarray(frame.head, dtype=np.int32), kept,
                          np.asarray(frame.tail, dtype=np.int32)]).astype(np.int32)
    if len(ids) + max_new > length:
        raise EvalError(f"{what}: a prompt of {len(ids)} tokens (--longbench-max-prompt {max_prompt} and the "
                        f"template) and {max_new} to generate exceed the length {length}: raise --lengths")
    return Built(ids, len(body), len(body) - len(kept), chat)


def _whole_characters(tok: Tokenizer, body: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """Cut points a <= b moved outward from the middle (a down, b up) until neither splits the
    bytes of one character: a byte-level token holding part of a character decodes as U+FFFD."""
    def reads(ids: np.ndarray) -> str:
        return tok.hf.decode([int(i) for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    for _ in range(3):
        if a > 0 and reads(body[max(0, a - 4):a]).endswith("\ufffd"):
            a -= 1
        if b < len(body) and reads(body[b:b + 4]).startswith("\ufffd"):
            b += 1
    return a, b


def min_length(tok: Tokenizer, dataset: str, template: str, max_new: int) -> int:
    frame, _ = framing(tok, dataset, template)
    return max_new + len(frame.head) + len(frame.tail) + 2
