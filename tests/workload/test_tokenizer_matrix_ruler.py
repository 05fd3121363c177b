"""RULER prompts read as the reference writes them, for every tokenizer of the matrix.

For each tokenizer (tests/helpers/tokenizer_zoo.py: Mistral SentencePiece, Llama-3, SmolLM2 byte-level
BPE, demo), every one of the 13 tasks at 2k and 4k, base template: the prompt ids (BOS
dropped) decode to the text NVIDIA/RULER's template gives for the same content. The content
(haystack lines and sentences, needles, words, documents) is read back from the prompt and
checked against its sources, and the expected text is rebuilt from the template strings of
tasks/ruler/spec.py and the request's fields, joined as the reference scripts join them
(niah.py, variable_tracking.py, common_words_extraction.py, freq_words_extraction.py, qa.py):
no space or newline the template lacks, no haystack line or sentence cut. The budget holds:
prompt + max_new_tokens <= length, short of it by less than one haystack unit.
"""
import re
from collections import Counter

import pytest

from evalsuite.tasks.ruler import RulerSuite
from evalsuite.tasks.ruler.qa import load
from evalsuite.tasks.ruler.sources import cwe_words
from evalsuite.tasks.ruler.spec import (
    CWE_TEMPLATE,
    DOCUMENT_PROMPT,
    FWE_TEMPLATE,
    NEEDLE,
    NIAH_ARGS,
    NIAH_TEMPLATE,
    NOISE,
    QA_DATASET,
    QA_TEMPLATE,
    TASKS,
    VT_TEMPLATE,
    singular,
)
from evalsuite.workload.haystacks import _demo_block
from tests.helpers.suites import make
from tests.tasks.test_ruler import write_qa_fixtures

pytestmark = pytest.mark.integration     # real tokenizers / the tiny model on hf

LENGTHS = (2048, 4096)
CWE_LENGTHS = (2048, 8192)      # cwe's example needs ~1.2k tokens (demo tokenizer), and at >= 4k 10 words x 30 more
SAMPLES = 2
# prompt + max_new may fall short of the length by less than one unit: a noise line (~25 tokens),
# a distractor uuid line (~45 with the demo tokenizer), an essay sentence; a QA document of the fixtures
SLACK = {"niah": 64, "vt": 64, "qa": 128, "cwe": 0, "fwe": 0}
SENTENCE_END = re.compile(r"(?<=[.?!]) (?=[^\W\d_])")     # where the essay stream starts a sentence


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_qa_fixtures(tmp_path_factory.mktemp("ruler-matrix-data"))


def essay_source() -> str:
    return re.sub(r"\s+", " ", _demo_block(0)).strip()


def needle_re(type_v: str, key: str, value: str) -> str:
    return re.escape(NEEDLE.format(type_needle_v=type_v, key="KEY", value="VALUE")).replace(
        "KEY", f"({key})").replace("VALUE", f"({value})")


PATTERNS = {"words": r"[A-Za-z][A-Za-z -]*-[A-Za-z -]*[A-Za-z]", "numbers": r"\d{7}",
            "uuids": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"}


def split_template(text: str, head: str, tail: str) -> str:
    assert text.startswith(head), (text[:len(head) + 40], head)
    assert text.endswith(tail), (text[-len(tail) - 40:], tail)
    return text[len(head):len(text) - len(tail)]


def expect_niah(task: str, text: str, r) -> str:
    args = NIAH_ARGS[task]
    one = args.num_needle_q * args.num_needle_v == 1
    templ = [singular(t) for t in NIAH_TEMPLATE] if one else list(NIAH_TEMPLATE)
    type_v = args.type_needle_v[:-1] if one else args.type_needle_v
    head = templ[0].format(type_needle_v=type_v)
    tail = templ[1].format(type_needle_v=type_v, query=r.payload.query) + \
        templ[2].format(type_needle_v=type_v, query=r.payload.query)
    context = split_template(text, head, tail)
    one_needle = needle_re(args.type_needle_v, PATTERNS[args.type_needle_k], PATTERNS[args.type_needle_v])
    queries = r.payload.query.replace(", and ", ", ").split(", ")
    n_needles = max(args.num_needle_k, args.num_needle_q) * args.num_needle_v
    if args.type_haystack == "essay":
        parts = re.split(f"({one_needle.replace('(', '(?:')})", context)
        needles, raw = parts[1::2], parts[0::2]
        assert len(needles) == n_needles
        # niah.py: " ".join([seg_0, needle_1, seg_1, ..., needle_k, seg_k]) (a segment may be "")
        assert raw[0].endswith(" ") and raw[-1].startswith(" ") and all(
            s.startswith(" ") and s.endswith(" ") for s in raw[1:-1]), raw
        segs = [raw[0][:-1]] + [s[1:-1] for s in raw[1:-1]] + [raw[-1][1:]]
        hay = " ".join(s for s in segs if s)
        source = essay_source()
        assert source.startswith(hay) and source[len(hay)] == " " and hay[-1] in ".?!"     # whole sentences
        sents = SENTENCE_END.split(hay)
        counts = [len(SENTENCE_END.split(s)) if s else 0 for s in segs]
        assert all(not s or s[-1] in ".?!" for s in segs)
        cuts = [sum(counts[:k + 1]) for k in range(len(needles))]
        if r.depth is not None:                                  # sentence int(n * depth / 100)
            assert cuts[0] == int(len(sents) * (r.depth / 100)), (cuts, len(sents), r.depth)
        bounds = [0] + cuts + [len(sents)]
        pieces = []
        for k in range(len(bounds) - 1):
            pieces.append(" ".join(sents[bounds[k]:bounds[k + 1]]))
            if k < len(needles):
                pieces.append(needles[k])
        rebuilt = " ".join(pieces)
    else:
        lines = context.split("\n")
        if args.type_haystack == "noise":
            needles = [ln for ln in lines if ln != NOISE]
        else:
            assert all(re.fullmatch(one_needle, ln) for ln in lines)          # distractor lines, all whole
            needles = [ln for ln in lines if ln.split(" for ")[1].split(" is:")[0] in queries]
        assert len(needles) == n_needles and all(re.fullmatch(one_needle, nd) for nd in needles), needles
        rebuilt = "\n".join(lines)                           # lines joined by "\n", every line whole
    found = {}
    for nd in needles:
        key, value = re.fullmatch(one_needle, nd).groups()
        found.setdefault(key, []).append(value)
    assert sorted(v for q in queries for v in found[q]) == sorted(r.references)
    return head + rebuilt + tail


def expect_vt(text: str, r) -> str:
    value, names = r.payload.value, list(r.references)
    tail = VT_TEMPLATE[1].format(query=value) + VT_TEMPLATE[2].format(num_v=len(names), query=value)
    _, example, main = text.split(VT_TEMPLATE[0])
    lines = split_template(main, "", tail).split("\n")
    chain = [f"VAR {names[0]} = {value}"] + [f"VAR {names[j + 1]} = VAR {names[j]} " for j in range(len(names) - 1)]
    assert [ln for ln in lines if ln != NOISE] == chain
    ex_ctx, ex_rest = example.split("\nQuestion: ")
    var = r"VAR [A-Z]{3} = (\d{5}|VAR [A-Z]{3} )"
    assert all(ln == NOISE or re.fullmatch(var, ln) for ln in ex_ctx.split("\n"))
    # variable_tracking.py: example input (ending "they are: ") + " " + " ".join(outputs) + "\n", then "\n"
    assert re.fullmatch(r"Find all .* they are:  [A-Z]{3}( [A-Z]{3}){4}\n\n", ex_rest, re.S)
    return VT_TEMPLATE[0] + example + VT_TEMPLATE[0] + "\n".join(lines) + tail


def numbered(ctx: str) -> list[str]:
    """common_words_extraction.py's ' '.join(f"{i + 1}. {word}") read back (a few words hold a space)."""
    parts = re.split(r"(?:^| )(\d+)\. ", ctx)
    words = parts[2::2]
    assert parts[0] == "" and parts[1::2] == [str(i + 1) for i in range(len(words))], ctx[:200]
    assert " ".join(f"{i + 1}. {w}" for i, w in enumerate(words)) == ctx
    return words


def expect_cwe(text: str, r, n: int) -> str:
    q = CWE_TEMPLATE[1] + CWE_TEMPLATE[2]
    ex_ctx, ex_answer, ctx = re.fullmatch(re.escape(CWE_TEMPLATE[0]) + "(.*)" + re.escape(q) + " (.*)\n"
                                          + re.escape(CWE_TEMPLATE[0]) + "(.*)" + re.escape(q), text, re.S).groups()
    known = set(cwe_words())
    ex_words, words = numbered(ex_ctx), numbered(ctx)
    assert set(ex_words + words) <= known and len(numbered(ex_answer)) == 10
    counts = Counter(words)
    assert all(counts[w] == (6 if n < 4096 else 30) for w in r.references)
    assert max(c for w, c in counts.items() if w not in r.references) < min(counts[w] for w in r.references)
    listing = " ".join(f"{i + 1}. {w}" for i, w in enumerate(words))
    return CWE_TEMPLATE[0] + ex_ctx + q + " " + ex_answer + "\n" + CWE_TEMPLATE[0] + listing + q


def expect_fwe(text: str, r) -> str:
    ctx = split_template(text, FWE_TEMPLATE[0] + " ", FWE_TEMPLATE[1] + FWE_TEMPLATE[2])
    words = ctx.split(" ")
    assert all(w == "..." or re.fullmatch("[a-z]{6}", w) for w in words)
    top = [w for w, _ in Counter(w for w in words if w != "...").most_common(3)]
    assert set(top) == set(r.references)
    return FWE_TEMPLATE[0] + " " + " ".join(words) + FWE_TEMPLATE[1] + FWE_TEMPLATE[2]


def expect_qa(task: str, text: str, r, data_dir) -> str:
    data = load(QA_DATASET[task], str(data_dir))
    qa = data.qas[r.index % len(data.qas)]
    tail = QA_TEMPLATE[1].format(query=qa.query) + QA_TEMPLATE[2]
    ctx = split_template(text, QA_TEMPLATE[0], tail)
    parts = re.split(r"(?:^|\n\n)Document (\d+):\n", ctx[:-2])
    assert parts[0] == "" and ctx.endswith("\n\n")
    numbers, docs = parts[1::2], parts[2::2]
    assert numbers == [str(i + 1) for i in range(len(docs))]
    assert set(docs) <= set(data.docs) and {data.docs[g] for g in qa.gold} <= set(docs)   # whole documents
    return QA_TEMPLATE[0] + "\n\n".join(DOCUMENT_PROMPT.format(i=i + 1) + d for i, d in enumerate(docs)) + "\n\n" + tail


def family(task: str) -> str:
    return "niah" if task.startswith("niah") else "qa" if task.startswith("qa") else task


@pytest.mark.parametrize("task", TASKS)
def test_prompts_read_as_the_reference_writes_them(zoo_tokenizer, data_dir, task):
    tok = zoo_tokenizer
    for n in CWE_LENGTHS if task == "cwe" else LENGTHS:
        reqs = make(RulerSuite, samples=SAMPLES, subtasks=(task,), data_dir=str(data_dir)).requests(tok, n)
        assert len(reqs) == SAMPLES
        for r in reqs:
            ids = [int(i) for i in r.prompt_ids]
            assert ids[:len(tok.bos)] == list(tok.bos) and r.length == n
            body = ids[len(tok.bos):]
            text = tok.hf.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            fam = family(task)
            expected = (expect_niah(task, text, r) if fam == "niah" else expect_vt(text, r) if fam == "vt"
                        else expect_cwe(text, r, n) if fam == "cwe" else expect_fwe(text, r) if fam == "fwe"
                        else expect_qa(task, text, r, data_dir))
            assert text == expected, (tok.name, task, n)
            # the prompt starts as the whole text encodes (SentencePiece: "▁" on the first word only)
            assert body[:4] == tok.encode(text)[:4]
            total = len(ids) + r.max_new_tokens
            assert n - SLACK[fam] <= total <= n, (tok.name, task, n, total)
