"""Does a prompt's token ids read exactly as the reference template writes it?

Shared by the tokenizer-matrix tests of every suite. A suite's test rebuilds the expected
text from the reference template strings (its module constants) and the request's payload
(key, needle, depth...), with `HAY` standing for each haystack run; `match` checks the
decoded prompt against that and returns the haystack runs, which `assert_source_run` then
checks against the haystack source text as the reference joins it. Decoding is exact
(special tokens kept, no clean-up of spaces), so a stray space or newline at a piece join
shows up as a difference.
"""
from __future__ import annotations

import re

from evalsuite.types import Request
from evalsuite.workload.tokenization import Framing, Tokenizer

HAY = object()          # a slot in an expected template: one contiguous run of haystack text
_LEAD = "a"             # read mid-text slices after this, so a leading space is not eaten by the decoder


def decode_exact(tok: Tokenizer, ids) -> str:
    """The text of ids that start the text (after BOS), as the tokenizer's decoder writes it."""
    return tok.hf.decode([int(i) for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False)


def decode_mid(tok: Tokenizer, ids) -> str:
    """The text of ids that follow other text: SentencePiece decoders drop a leading space at the
    start of a sequence, so the ids are read after a lead token whose text is then cut off."""
    lead = tok.hf.encode(_LEAD, add_special_tokens=False)
    text = decode_exact(tok, list(lead) + [int(i) for i in ids])
    assert text.startswith(_LEAD), text[:20]
    return text[len(_LEAD):]


def assert_budget(request: Request, length: int) -> None:
    assert request.length == length
    assert len(request.prompt_ids) + request.max_new_tokens == length, \
        (request.task, request.index, len(request.prompt_ids), request.max_new_tokens, length)


def assert_starts_text_as(tok: Tokenizer, request: Request, text: str) -> None:
    """Base template: the ids after BOS begin as the tokenizer encodes `text` at the start of a text
    (SentencePiece: with its dummy-prefix space), as the reference's whole-prompt encode has them."""
    ids, first = [int(i) for i in request.prompt_ids][len(tok.bos):], tok.encode(text)
    assert ids[: len(first)] == first, (tok.hf.convert_ids_to_tokens(ids[:8]), tok.hf.convert_ids_to_tokens(first[:8]))


def split_framing(tok: Tokenizer, request: Request, template: str) -> tuple[str, str]:
    """(text between the framing's head and tail, text of the tail) of a prompt.

    Base template: the head is BOS, the tail empty. Chat: head and tail are the template's
    affixes around the user message; the part after the tail (an answer prefix) is in the
    returned tail text's remainder, which the caller compares itself.
    """
    framing = Framing.for_tokenizer(tok, template)
    ids = [int(i) for i in request.prompt_ids]
    head = list(framing.head)
    assert ids[: len(head)] == head, "the prompt does not start with the framing's head"
    body = ids[len(head):]
    if not framing.tail:
        return decode_exact(tok, body) if template == "base" else decode_mid(tok, body), ""
    tail = list(framing.tail)
    at = [i for i in range(len(body) - len(tail), -1, -1) if body[i: i + len(tail)] == tail]
    assert at, "the prompt holds no chat tail affix"
    return decode_mid(tok, body[: at[0]]), decode_mid(tok, body[at[0] + len(tail):])


def match(text: str, parts: list) -> list[str]:
    """Check text == the concatenation of parts, where each `HAY` part matches any run;
    return the runs. On a mismatch, say which literal part failed and show the text there."""
    def pattern(ps, whole):
        body = "".join("(.*?)" if p is HAY else re.escape(p) for p in ps)
        return re.compile(r"\A" + body + (r"\Z" if whole else ""), re.DOTALL)

    found = pattern(parts, True).match(text)
    if found:
        return list(found.groups())
    for k in range(1, len(parts) + 1):          # the first part that no longer matches
        if parts[k - 1] is not HAY and not pattern(parts[:k], False).match(text):
            ok = pattern(parts[: k - 1], False).match(text)
            at = ok.end() if ok else 0
            raise AssertionError(f"expected part {k - 1} {parts[k - 1]!r} near char {at}: "
                                 f"text there reads {text[max(0, at - 60): at + 80]!r}")
    raise AssertionError(f"text has more after the template ends: {text[-120:]!r}")


def assert_source_run(run: str, source: str, *, at_start: bool = False, what: str = "haystack") -> None:
    """run is a contiguous run of source (its very beginning when at_start); on failure, show
    where the longest matching stretch ends."""
    ok = source.startswith(run) if at_start else run in source
    if ok:
        return
    lo, hi = 0, len(run)                        # longest prefix of run that still matches
    while lo < hi:
        mid = (lo + hi + 1) // 2
        good = source.startswith(run[:mid]) if at_start else run[:mid] in source
        lo, hi = (mid, hi) if good else (lo, mid - 1)
    raise AssertionError(f"{what} is not {'the start of' if at_start else 'a contiguous run of'} its source text: "
                         f"it departs after {lo} chars at {run[max(0, lo - 60): lo + 40]!r}")
