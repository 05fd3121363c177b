"""RULER: deterministic prompts within the budget for all 13 tasks; reference scoring; summary rows."""
import json
import random

import numpy as np
import pandas as pd
import pytest

from evalsuite.tasks.passkey import PasskeySuite
from evalsuite.tasks.ruler import RulerSuite, effective_length, effective_length_label, weighted_average
from evalsuite.tasks.ruler.scoring import postprocess, score, string_match_all, string_match_part
from evalsuite.tasks.ruler.spec import TASKS
from evalsuite.types import EvalError
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.cli import evalsuite
from tests.helpers.suites import make, record


def write_qa_fixtures(folder):
    """Tiny SQuAD v2 and HotpotQA dev files in the released formats (varied document lengths)."""
    rng = random.Random(0)
    cities = ["Paris", "Lima", "Oslo", "Cairo", "Quito", "Perth", "Turin", "Dakar", "Accra"]
    data = []
    for a in range(5):
        paras = []
        for p in range(3):
            city, year = cities[(a * 3 + p) % len(cities)], 1900 + 10 * a + p
            extra = " It was painted green later." * rng.randint(0, 3)
            paras.append({"context": f"The old bridge of {city} was built in {year}. It crosses the river.{extra}",
                          "qas": [{"id": f"{a}{p}", "question": f"When was the bridge of {city} built?",
                                   "is_impossible": False, "answers": [{"text": str(year), "answer_start": 0},
                                                                       {"text": f"in {year}", "answer_start": 0}]},
                                  {"id": f"{a}{p}x", "question": "Who painted it?", "is_impossible": True,
                                   "answers": [], "plausible_answers": []}]})
        data.append({"title": f"Article {a}", "paragraphs": paras})
    (folder / "dev-v2.0.json").write_text(json.dumps({"version": "v2.0", "data": data}))
    rows = []
    for q in range(6):
        ctx = [[f"Title {q}-{k}", [f"Topic {q} sentence {k}. " * rng.randint(1, 3), f"The code of {q}-{k} is {100 + 7 * k + q}."]]
               for k in range(10)]
        rows.append({"_id": str(q), "question": f"What is the code of {q}-3?", "answer": str(100 + 21 + q),
                     "context": ctx, "supporting_facts": [[ctx[3][0], 1]], "type": "bridge", "level": "easy"})
    (folder / "hotpot_dev_distractor_v1.json").write_text(json.dumps(rows))
    return folder


@pytest.fixture(scope="module")
def tok(tiny_model):
    return Tokenizer.load(str(tiny_model))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_qa_fixtures(tmp_path_factory.mktemp("ruler-data"))


def lengths_for(task):
    return (2048, 3072) if task == "cwe" else (1024, 2048)   # cwe's example + 10 words x 6 need ~2k


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("seed", [0, 7])
def test_budget_deterministic_and_answer_in_prompt(tok, data_dir, task, seed):
    cfg = dict(samples=3, seed=seed, subtasks=(task,), data_dir=str(data_dir))
    for n in lengths_for(task):
        reqs = make(RulerSuite, **cfg).requests(tok, n)
        assert len(reqs) == 3 and {r.task for r in reqs} == {task}
        again = make(RulerSuite, **cfg).requests(tok, n)
        assert [r.key for r in again] == [r.key for r in reqs]                    # byte-identical ids
        for r in reqs:
            total = len(r.prompt_ids) + r.max_new_tokens
            assert r.length == n and (total == n if task in ("cwe", "fwe") else n - 128 < total <= n)
            assert r.prompt_ids[0] == tok.bos[0] and r.seed == seed
            ids = [int(i) for i in r.prompt_ids]
            text = tok.decode(ids)
            assert all(ref in text for ref in r.references), (task, r.references)
            assert tok.encode(tok.hf.decode(ids[1:])) == ids[1:]                   # pieces join cleanly


def test_prompt_texts_follow_the_reference_templates(tok, data_dir):
    def first(task, n=1024):
        r = make(RulerSuite, samples=1, subtasks=(task,), data_dir=str(data_dir)).requests(tok, n)[0]
        return r, tok.decode(r.prompt_ids)
    r, text = first("niah_single_1")                              # singular wording, noise lines
    assert text.startswith("A special magic number is hidden within the following text.")
    assert f"is: {r.references[0]}.\n" in text and "The grass is green." in text
    assert text.endswith("mentioned in the provided text? The special magic number for "
                         f"{r.payload.query} mentioned in the provided text is")
    r, text = first("niah_multivalue")
    assert text.startswith("Some special magic numbers are hidden") and text.endswith("provided text are")
    assert len(r.references) == 4
    r, text = first("niah_multikey_3")
    assert text.count("One of the special magic uuids for") > 3 and len(r.references[0]) == 36
    r, text = first("vt")
    assert text.count("Memorize and track the chain(s)") == 2                  # one in-context example
    assert f"VAR {r.references[1]} = VAR {r.references[0]} \n" in text
    assert text.endswith(f"5 variables are assigned the value {r.payload.value}, they are: ")
    r, text = first("fwe")
    assert text.endswith("the three most frequently appeared words are:") and " ... " in text
    words = text.split("coded words. ", 1)[1].split("\nQuestion:")[0].split()
    counts = {w: words.count(w) for w in set(words) - {"..."}}
    top = sorted(counts, key=counts.get, reverse=True)[:3]
    assert set(top) == set(r.references)
    r, text = first("cwe", 3072)
    body = text.split("Memorize the ones that appear most often.\n")[2].split("\nQuestion:")[0]
    listed = [w for w in body.split() if not w.endswith(".")]
    assert all(listed.count(w) == 6 for w in r.references)                      # < 4k: x6 / x1
    assert text.count("Question: What are the 10 most common words in the above list?") == 2
    r, text = first("qa_1")
    assert text.startswith("Answer the question based on the given documents.") and "Document 1:\n" in text
    assert text.endswith(" Answer:") and r.references[0] in text


def test_seeds_change_samples_and_default_seed_is_42(tok):
    a = make(RulerSuite, samples=4, seed=0, subtasks=("niah_single_2",)).requests(tok, 1024)
    b = make(RulerSuite, samples=4, seed=7, subtasks=("niah_single_2",)).requests(tok, 1024)
    assert [r.references for r in a] != [r.references for r in b]
    assert make(RulerSuite).cfg.seed == 42 and make(PasskeySuite).cfg.seed == 0
    assert make(RulerSuite, seed=0).cfg.seed == 0


def test_chat_template_tokens_are_counted(tok):
    tok.hf.chat_template = "<s>[INST] {{ messages[0]['content'] }} [/INST]"
    try:
        reqs = make(RulerSuite, samples=2, template="chat", subtasks=("niah_single_1", "vt")).requests(tok, 1024)
    finally:
        tok.hf.chat_template = None
    for r in reqs:
        text = tok.decode(r.prompt_ids)
        assert len(r.prompt_ids) + r.max_new_tokens <= 1024
        assert text.startswith("[INST] ") and "? [/INST] The special magic" in text or "[/INST] Answer:" in text


def test_qa_without_data_is_one_clear_error(tok, tmp_path):
    with pytest.raises(EvalError, match="--data-dir"):
        make(RulerSuite, samples=1, subtasks=("qa_1",), data_dir=str(tmp_path)).requests(tok, 1024)


def test_unknown_subtask_is_an_error():
    with pytest.raises(EvalError, match="has no task 'niah_single_9'"):
        make(RulerSuite, subtasks=("niah_single_9",))


# (prediction, references, string_match_all, string_match_part): reference scripts/eval/synthetic/constants.py
SCORING = [
    ("The numbers are 123 and 456.", ["123", "456"], 1.0, 1.0),
    ("The numbers are 123.", ["123", "456"], 0.5, 1.0),           # where the two differ
    ("nothing here", ["123", "456"], 0.0, 0.0),
    ("  PARIS is the answer ", ["paris"], 1.0, 1.0),              # case-insensitive
    ("in 1901", ["1901", "in 1901", "the year 1901"], 2 / 3, 1.0),
    ("ABC\x00DEF", ["abc\ndef"], 1.0, 1.0),                       # control characters become "\n"
    ("ab\tcd", ["ab cd"], 0.0, 0.0),
    ("", ["x"], 0.0, 0.0),
]


@pytest.mark.parametrize("pred,refs,all_,part", SCORING)
def test_scoring_table(pred, refs, all_, part):
    assert string_match_all(pred, refs) == pytest.approx(all_)
    assert string_match_part(pred, refs) == pytest.approx(part)
    value, extras = score("qa_1", pred, refs)
    assert value == pytest.approx(part) and dict(extras)["lm_eval_qa"] == pytest.approx(all_)
    assert score("niah_multivalue", pred, refs)[0] == pytest.approx(all_)


def test_postprocess():
    assert postprocess("  a\x01b\n ") == "a\nb"


def _record(task, length, score_, rope="none"):
    return record(rope=rope, suite="ruler", task=task, length=length, seed=42, prompt_tokens=1, score=score_)


def test_average_cells_effective_length_and_weighted_average():
    from evalsuite.run.summary import labels_of, summarize
    recs = [_record(t, n, s) for n, s in [(4096, 1.0), (8192, 0.9), (16384, 0.5)] for t in ("vt", "cwe")]
    recs.append(_record("vt", 32768, 1.0))
    cells = summarize(recs)
    avg = {c.length: c.score for c in cells if c.task == "average"}
    assert avg == pytest.approx({4096: 100.0, 8192: 90.0, 16384: 50.0, 32768: 100.0})
    assert effective_length(avg) == 8192                     # stops at the first drop below 85.6
    assert weighted_average({1: 90.0, 2: 60.0}, True) == pytest.approx(70.0)
    assert weighted_average({1: 90.0, 2: 60.0}, False) == pytest.approx(80.0)
    block = RulerSuite.report_blocks(cells, recs, labels_of(recs))[0]
    assert block.rows[0][-3:] == ("8K", f"{weighted_average(avg, True):.2f}", f"{weighted_average(avg, False):.2f}")
    assert all(c.derived == (c.task == "average") for c in cells)


@pytest.mark.integration
def test_run_end_to_end_hf(tiny_model, tmp_path):
    out = tmp_path / "run"
    res = evalsuite(["run", "--suite", "ruler:niah_single_1,vt", "--lengths", "1024", "--samples", "2",
                     "--force", "--no-progress", "--model", str(tiny_model), "--backend", "hf",
                     "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["task"]) == {"niah_single_1", "vt", "average"}
    assert summary.set_index("task").loc["average", "samples"] == 4
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and {r["seed"] for r in recs} == {42} and {r["length"] for r in recs} == {1024}
    # whole noise lines: up to one line (~25 tokens) short of the budget, the real count recorded
    assert all(1024 - 64 < r["prompt_tokens"] + (128 if r["task"] == "niah_single_1" else 30) <= 1024 for r in recs)
    assert "RULER summary" in (out / "report.html").read_text()
    assert np.isclose(summary.set_index("task").loc["average", "score"],
                      summary[summary.task != "average"]["score"].mean())


def test_effective_length_label_in_the_reference_style():
    """RULER README's Effective Length column: "32K", ">128K" when every length passes, "<4K" when none."""
    assert effective_length_label({4096: 90.0, 8192: 88.0, 16384: 70.0}) == "8K"
    assert effective_length_label({4096: 90.0, 131072: 86.0}) == ">128K"
    assert effective_length_label({4096: 80.0, 8192: 90.0}) == "<4K"
    assert effective_length_label({1500: 90.0, 3000: 10.0}) == "1500"


@pytest.mark.integration
@pytest.mark.parametrize("task", ["cwe", "vt"])
def test_a_length_too_short_for_a_task_is_one_line_on_every_tokenizer(zoo_tokenizer, task):
    """cwe at 512 tokens ended in an IndexError on the byte-level BPE tokenizers (Llama-3, SmolLM2)."""
    with pytest.raises(EvalError, match=f"ruler {task}.* does not fit the context length 512"):
        make(RulerSuite, samples=1, subtasks=(task,)).requests(zoo_tokenizer, 512)
