"""Tokenizer matrix for perplexity and LongBench: for the Mistral SentencePiece, Llama-3, SmolLM2
byte-level BPE and demo tokenizers, at two lengths, the decoded prompt reads exactly as the
reference writes it (no space or newline that the template lacks) and the budget holds.

Texts are compared as the tokenizer decodes them (`_read`), so that a SentencePiece
tokenizer's own reading of a text start (its dummy-prefix space dropped) counts as the text.
"""
import copy
import json
import random
from os.path import commonprefix

import pytest

from evalsuite.tasks.longbench import LongBenchSuite, data, prompts
from evalsuite.tasks.perplexity import ANSWER, NEEDLE, QUESTION, PerplexitySuite, sliding_windows
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.suites import make

pytestmark = pytest.mark.integration     # real tokenizers / the tiny model on hf

LENGTHS = (1024, 2048)
SENTENCES = ("The grass is green.", "The sky was blue over the hills that morning.",
             "Alice met Bob at the old library.", "They talked about the river city for a long time!",
             "Why did the sun set so early?",
             "Here we go there and back again.", "A cold wind came down from the north.")
# Mistral-7B-Instruct v0.1's template, for the tokenizers that have none (the sentencepiece case is the point)
INST_TEMPLATE = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"


def _read(tok: Tokenizer, ids) -> str:
    return tok.hf.decode([int(i) for i in ids], skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _prose(n_sentences: int, seed: int) -> str:
    rng = random.Random(seed)
    paragraphs = [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 6))) for _ in range(n_sentences // 4)]
    return "\n\n".join(paragraphs)


# ---------------------------------------------------------------- perplexity

@pytest.fixture(scope="module")
def ppl_corpus(tmp_path_factory):
    """Short documents (enough for 1024, not for 2048) first in the suite's seeded order, so a
    per-length selection would mix documents."""
    d = tmp_path_factory.mktemp("ppl-corpus")
    order = list(range(6))
    random.Random("perplexity-docs-0").shuffle(order)           # perplexity_corpus.select's order, seed 0
    for rank, i in enumerate(order):
        (d / f"doc{i}.txt").write_text(_prose(140 if rank < 2 else 400, seed=i))
    return d


def test_perplexity_prompts_read_as_the_reference(zoo_tokenizer, ppl_corpus):
    tok = zoo_tokenizer
    bos = list(tok.bos)
    suite = make(PerplexitySuite, haystack=str(ppl_corpus), samples=2, depths=3, stride=512)
    suite.plan(LENGTHS)
    texts = {int(f.stem[3:]): f.read_text() for f in ppl_corpus.glob("doc*.txt")}
    docs_at = {}
    for length in LENGTHS:
        reqs = suite.requests(tok, length)
        docs_at[length] = {(r.task, r.payload.doc) for r in reqs}
        for r in reqs:
            ids = [int(i) for i in r.prompt_ids]
            assert ids[:len(bos)] == bos and len(ids) <= length
            doc = tok.encode(texts[r.payload.doc])
            assert len(doc) >= max(LENGTHS) - len(bos)            # long enough for the longest length
            if r.task == "sliding":                               # yarn: windows of the whole document's ids
                begin = r.payload.begin
                window = next(w for w in sliding_windows(len(doc), length - len(bos), 512) if w[0] == begin)
                assert ids[len(bos):] == doc[begin:window[1]]
                assert len(ids) - r.score_start == min(window[2], len(ids) - 1)      # no BOS: token 0 unscored
            elif r.task == "truncate":
                assert ids == bos + doc[:length - len(bos)]
            else:
                _check_needle(tok, ids, r, length, _read(tok, doc))
    # the same documents at every length of the run (yarn: one --dataset-min-tokens filter)
    assert docs_at[LENGTHS[0]] == docs_at[LENGTHS[1]]


def _check_needle(tok, ids, r, length, doc_text):
    assert len(ids) == length                                     # the needle prompt fills the length
    key = r.references[0]
    text = _read(tok, ids)
    needle, tail = NEEDLE.format(key=key), QUESTION + ANSWER.format(key=key)
    assert text.count(needle) == 1 and text.endswith(tail), (r.depth, text[-80:])
    before, after = text[:-len(tail)].split(needle)
    assert doc_text.startswith(before + after), (r.depth, before[-40:], after[:40])   # no stray space or newline
    if r.depth < 100:                                             # depth 100: right before the question
        assert before == "" or before.rstrip().endswith((".", "?", "!")), before[-40:]
    assert (before == "") == (r.depth == 0)
    assert len(ids) - r.score_start == len(tok.encode_piece(ANSWER.format(key=key)))


# ---------------------------------------------------------------- LongBench

def _contexts(dataset: str, long: bool) -> tuple[str, str]:
    """(context, input) in the shape of the data set's released samples, short or far too long."""
    n = 900 if long else 12
    if dataset in prompts.CHINESE:
        zh = ("今天天气很好。", "我们在图书馆见面。", "河边的城市很美丽！", "他们谈了很久。")
        return "".join(zh[i % 4] for i in range(n * 2)), "他们在哪里见面？"
    if dataset in prompts.CODE:
        code = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(n))
        return code, "class A:\n    pass\n"
    if dataset in ("trec", "triviaqa", "samsum"):
        shots = "\n".join(f"Question: {SENTENCES[i % 7]}\nType: Animal" for i in range(n))
        return shots, "Question: Where is the sun?\nType:"
    return "Passage 1:\n" + _prose(n * 2, n), "Where did Alice meet Bob?"


@pytest.fixture(scope="module")
def lb_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("longbench")
    for ds in prompts.DATASETS:
        rows = []
        for i, long in enumerate((False, True)):
            context, question = _contexts(ds, long)
            rows.append({"input": question, "context": context, "answers": ["x"], "length": len(context.split()),
                         "dataset": ds, "language": "zh" if ds in prompts.CHINESE else "en",
                         "all_classes": ["Animal"] if ds == "trec" else None, "_id": f"{ds}-{i}"})
        (d / f"{ds}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return d


def _with_chat(tok: Tokenizer) -> Tokenizer:
    if tok.chat_template:
        return tok
    hf = copy.deepcopy(tok.hf)
    hf.chat_template = INST_TEMPLATE
    return Tokenizer(hf, tok.name + "+inst")


def _reference_ids(tok: Tokenizer, text: str, chat: bool) -> list[int]:
    """pred.py: tokenizer(prompt) of the filled prompt, or of the model's chat prompt built around it."""
    if not chat:
        return tok.hf(text)["input_ids"]
    chat_text = tok.hf.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True)
    return tok.hf(chat_text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("template", ["base", "chat"])
def test_longbench_prompts_read_as_the_reference(zoo_tokenizer, lb_data, template):
    tok = _with_chat(zoo_tokenizer) if template == "chat" else zoo_tokenizer
    samples = {ds: data.load(ds, False, str(lb_data)) for ds in prompts.DATASETS}
    wants: dict[tuple, str] = {}                                  # the same reference text at both lengths
    for length in LENGTHS:
        reqs = make(LongBenchSuite, data_dir=str(lb_data), template=template).requests(tok, length)
        assert len(reqs) == 2 * len(prompts.DATASETS)
        for r in reqs:
            s = samples[r.task][r.index]
            assert len(r.prompt_ids) + r.max_new_tokens <= length               # the budget holds
            if (r.task, r.index) not in wants:
                wants[r.task, r.index] = _read(tok, _reference_ids(tok, prompts.fill(r.task, s.context, s.input),
                                                                   r.payload.chat))
            want = wants[r.task, r.index]
            got = _read(tok, r.prompt_ids)
            if r.payload.truncated_tokens == 0:
                assert got == want, (r.task, length, got[:60], want[:60])
            else:
                _check_middle_cut(got, want, r)


def _check_middle_cut(got: str, want: str, r) -> None:
    """got = want with a piece of its middle cut out: the instruction before the context and the
    question after it kept whole. (A cut between the bytes of one character reads as U+FFFD, as
    pred.py's decoded halves do.)"""
    got = got.replace("\ufffd", "")
    assert len(r.prompt_ids) + r.max_new_tokens >= r.length - 7     # the budget is used
    i = len(commonprefix([got, want]))
    assert want.endswith(got[i:]), (r.task, got[max(0, i - 40):i + 40])
    template = prompts.PROMPTS[r.task]
    head = template[:template.index("{context}")].strip()
    tail = template[template.index("{context}") + len("{context}"):].replace("{input}", "").strip()
    assert i >= len(head) and len(got) - i >= len(tail), r.task


def test_longbench_fixed_prompt_budget(zoo_tokenizer, lb_data):
    """pred.py's max_length: the tokenized prompt (BOS included) holds at most P tokens, its first
    and last int(P/2) kept; the context length and the output budget do not move it."""
    tok = zoo_tokenizer
    P = 1000
    out = {}
    for length in (1600, 2048):
        reqs = make(LongBenchSuite, data_dir=str(lb_data), subtasks=("hotpotqa", "gov_report", "lsht"),
                    max_prompt=P).requests(tok, length)
        out[length] = [list(r.prompt_ids) for r in reqs]
        for r in reqs:
            s = data.load(r.task, False, str(lb_data))[r.index]
            full = tok.hf(prompts.fill(r.task, s.context, s.input))["input_ids"]
            if len(full) <= P:
                assert list(r.prompt_ids) == full and r.payload.truncated_tokens == 0
            else:                                                 # whole characters: up to 3 fewer a side
                half, ids = P // 2, list(r.prompt_ids)
                a = len(commonprefix([ids, full]))
                assert half - 3 <= a <= half and half - 3 <= len(ids) - a <= half and ids[a:] == full[-(len(ids) - a):]
                assert r.payload.truncated_tokens == len(full) - len(ids)
                if r.task != "lsht":                              # English: exactly pred.py's halves
                    assert ids == full[:half] + full[-half:]
    assert out[1600] == out[2048]
