"""Passkey and NIAH prompts read exactly as their reference templates, on every tokenizer of the matrix.

For the four tokenizer families of tests/helpers/tokenizer_zoo.py (SentencePiece with BOS, Llama-3,
GPT-2-style byte-level BPE, demo), each prompt's ids are decoded and compared with the text
the reference template writes from the same content, haystack runs checked against the
haystack source text as the reference joins it; the token budget holds exactly.
"""
import pytest

from evalsuite.tasks import niah, passkey
from evalsuite.workload.haystacks import NOISE, get_haystack, stream_text
from tests.helpers.prompt_checks import (
    HAY,
    assert_budget,
    assert_source_run,
    assert_starts_text_as,
    decode_mid,
    match,
    split_framing,
)
from tests.helpers.suites import make

pytestmark = pytest.mark.integration     # real tokenizers / the tiny model on hf

LENGTHS = [1024, 4096]
# yarn eval/passkey.py: garbage_inf = " ".join([garbage] * 10000); prefix and suffix are its first characters
GARBAGE = " ".join([NOISE] * 10000)


def test_a_grown_stream_reads_as_its_blocks_joined(zoo_tokenizer):
    """Blocks of a generated haystack are encoded apart and joined as ids: no space at a join
    beyond the one that joins the blocks' text."""
    tok = zoo_tokenizer
    first = len(get_haystack(tok, "noise", 1).ids)
    hay = get_haystack(tok, "noise", first + 100)
    blocks = round(len(hay.ids) / first)
    assert blocks >= 2 and decode_mid(tok, hay.ids) == stream_text("noise", blocks)


@pytest.mark.parametrize("length", LENGTHS)
def test_passkey_reads_as_yarn_writes_it(zoo_tokenizer, length):
    tok = zoo_tokenizer
    for r in make(passkey.PasskeySuite, samples=3).requests(tok, length):
        assert_budget(r, length)
        text, _ = split_framing(tok, r, "base")
        key = r.payload.key
        assert r.references == (str(key),)
        prefix, suffix = match(text, [passkey.INTRO + "\n", HAY, "\n" + passkey.INFO.format(key=key) + "\n", HAY,
                                      "\n" + passkey.QUESTION])
        assert_source_run(prefix, GARBAGE, at_start=True, what="the filler before the key")
        assert_source_run(suffix, GARBAGE, at_start=True, what="the filler after the key")
        assert (prefix == "") == (r.depth == 0)
        assert_starts_text_as(tok, r, passkey.INTRO + "\n")


@pytest.mark.parametrize("length", LENGTHS)
def test_niah_reads_as_gkamradt_writes_it(zoo_tokenizer, length):
    tok, source = zoo_tokenizer, stream_text("demo", 3)
    task = make(niah.NiahSuite, depths=3, samples=2)
    for r in task.requests(tok, length):
        assert_budget(r, length)
        text, _ = split_framing(tok, r, "base")
        assert (r.payload.needle, r.payload.question) == (niah.NEEDLE, niah.QUESTION)
        needle = "\n" + r.payload.needle + "\n"          # gkamradt needlehaystack/run.py
        tail = niah.BASE_TAIL.format(question=r.payload.question, answer_prefix=niah.ANSWER_PREFIX)
        if r.depth == 100:                          # appended after the context, cut at a token
            (before,), after = match(text, [HAY, needle, tail]), ""
        else:
            before, after = match(text, [HAY, needle, HAY, tail])
            assert before == "" or before.endswith("."), before[-40:]       # moved back to a sentence end
        assert (before == "") == (r.depth == 0)
        assert_source_run(before + after, source, at_start=r.payload.repeat == 0, what="the context around the needle")
        assert before + after == (before + after).lstrip()
        first = needle if r.depth == 0 else (before + after)[: (before + after).index(". ") + 1]
        assert_starts_text_as(tok, r, first)         # the first piece after BOS as a text's start


@pytest.mark.parametrize("zoo_tokenizer", ["gpt2bpe"], indirect=True)
def test_chat_template_text_between_the_affixes(zoo_tokenizer):
    """SmolLM2's ChatML template: the user message and the answer start read as the base template's."""
    tok, length, source = zoo_tokenizer, 1024, stream_text("demo", 3)
    for r in make(passkey.PasskeySuite, samples=3, template="chat").requests(tok, length):
        assert_budget(r, length)
        body, after = split_framing(tok, r, "chat")
        question, answer = passkey.QUESTION.split("? ")
        prefix, suffix = match(body, [passkey.INTRO + "\n", HAY, "\n" + passkey.INFO.format(key=r.payload.key) + "\n",
                                      HAY, "\n" + question + "?"])
        assert after == answer
        assert_source_run(prefix, GARBAGE, at_start=True)
        assert_source_run(suffix, GARBAGE, at_start=True)
    for r in make(niah.NiahSuite, depths=3, template="chat").requests(tok, length):
        assert_budget(r, length)
        body, after = split_framing(tok, r, "chat")
        parts = [HAY, "\n" + niah.NEEDLE + "\n"] + ([] if r.depth == 100 else [HAY])
        runs = match(body, parts + ["\n\n" + niah.QUESTION + niah.CHAT_INSTRUCTION])
        assert after == niah.ANSWER_PREFIX
        assert_source_run("".join(runs), source, at_start=True)
        assert (runs[0] == "") == (r.depth == 0)
