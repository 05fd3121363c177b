"""LongBench: reference metrics (tables of quirks), loaders, token-exact prompts with middle
truncation, LongBench-E buckets, a real run on the tiny model, and `evalsuite score`."""
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalsuite.tasks.longbench import LongBenchESuite, LongBenchSuite, data, metrics, prompts
from evalsuite.types import EvalError, Generation
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.cli import evalsuite
from tests.helpers.suites import make

TREC_CLASSES = ["Abbreviation", "Animal", "City", "Country", "Description of something", "Definition of something"]
LSHT_CLASSES = ["体育", "财经", "科技"]

# (data set, prediction, gold answers, all_classes, expected score) -- each row one quirk of
# THUDM/LongBench metrics.py / eval.py
METRIC_TABLE = [
    # qa_f1: SQuAD normalisation, token F1, max over answers
    ("hotpotqa", "The Eiffel Tower", ["eiffel tower"], None, 1.0),
    ("hotpotqa", "Paris, France.", ["Paris"], None, 2 / 3),
    ("hotpotqa", "an apple a day", ["apple day"], None, 1.0),
    ("hotpotqa", "Barack Obama", ["Obama", "Barack Obama"], None, 1.0),
    ("hotpotqa", "yes", ["no"], None, 0.0),
    ("hotpotqa", "", ["no"], None, 0.0),
    ("hotpotqa", "Paris\nLondon", ["Paris"], None, 2 / 3),            # no first-line rule here
    ("triviaqa", "\n\nParis\nLondon", ["Paris"], None, 1.0),          # first-line rule
    ("narrativeqa", "he ran ran", ["he ran"], None, 0.8),            # token counts, not sets
    # qa_f1_zh: jieba tokens, Chinese punctuation dropped
    ("multifieldqa_zh", "北京大学", ["北京大学"], None, 1.0),
    ("multifieldqa_zh", "是北京大学。", ["北京大学"], None, 2 / 3),
    ("multifieldqa_zh", "上海", ["北京大学"], None, 0.0),
    # rouge-L F (rouge 1.0.1); errors (empty hypothesis) score 0
    ("gov_report", "the cat sat on the mat", ["the cat was on the mat"], None, 0.8),
    ("gov_report", "", ["the cat was on the mat"], None, 0.0),
    ("qmsum", "...", ["the cat was on the mat"], None, 0.0),
    ("samsum", "the cat sat on the mat\nand more words here", ["the cat was on the mat"], None, 0.8),
    # rouge 1.0.1 counts LCS tokens as a set (exclusive n-grams): 0.5714..., not the textbook 0.625
    ("multi_news", "the cat sat on the mat\nand more words here", ["the cat was on the mat"], None, 0.5714285668),
    ("dureader", "我来到北京清华大学", ["我来到北京清华大学"], None, 1.0),
    ("vcsum", "", ["会议总结"], None, 0.0),
    # classification: 1/len(found); substring classes removed while iterating (one is skipped)
    ("trec", "Animal", ["Animal"], TREC_CLASSES, 1.0),
    ("trec", "Animal or City", ["Animal"], TREC_CLASSES, 0.5),
    ("trec", "City", ["Animal"], TREC_CLASSES, 0.0),
    ("trec", "Type: Animal\nCity", ["Animal"], TREC_CLASSES, 1.0),    # first line only
    ("trec", "abc", ["abc"], ["a", "ab", "abc"], 0.5),                 # "ab" survives: the reference's skip
    ("trec", "Cat food", ["Cat food"], ["Cat", "Cat food", "Dog"], 1.0),
    ("lsht", "\n体育\n财经", ["体育"], LSHT_CLASSES, 1.0),
    # retrieval: share of the integers that equal the gold paragraph
    ("passage_retrieval_en", "Paragraph 12", ["Paragraph 12"], None, 1.0),
    ("passage_retrieval_en", "Paragraph 12 or Paragraph 3", ["Paragraph 12"], None, 0.5),
    ("passage_retrieval_en", "the twelfth", ["Paragraph 12"], None, 0.0),
    ("passage_retrieval_en", "Paragraph 112", ["Paragraph 12"], None, 0.0),
    ("passage_retrieval_zh", "答案是段落5，不是段落15", ["段落5"], None, 0.5),
    # count
    ("passage_count", "There are 7 unique paragraphs", ["7"], None, 1.0),
    ("passage_count", "7 of 10", ["7"], None, 0.5),
    ("passage_count", "seven", ["7"], None, 0.0),
    # code_sim: first line without ` # //, fuzzywuzzy ratio (pure Python) / 100
    ("lcc", "    return x + 1\n    pass", ["    return x + 1"], None, 1.0),
    ("lcc", "\n# comment\n// note\n```\nreturn x", ["return x"], None, 1.0),
    ("lcc", "# only a comment", ["return x"], None, 0.0),
    ("repobench-p", "abcd", ["abce"], None, 0.75),
    ("repobench-p", "abc", ["abd"], None, 0.67),                       # round(66.67) / 100
    ("repobench-p", "", [""], None, 1.0),                               # equal strings first: 100
]


@pytest.mark.parametrize("dataset,pred,answers,classes,expected", METRIC_TABLE)
def test_metric_table(dataset, pred, answers, classes, expected):
    assert metrics.score_sample(dataset, pred, answers, classes) == pytest.approx(expected, abs=1e-6)


def test_every_dataset_has_a_metric_prompt_and_budget():
    assert len(prompts.DATASETS) == 21 and len(prompts.E_DATASETS) == 13
    assert set(metrics.METRIC) == set(prompts.DATASETS) == set(prompts.MAX_NEW_TOKENS) == set(prompts.CATEGORY_OF)
    # reference typos kept (config/dataset2prompt.json)
    assert "asconcisely" in prompts.PROMPTS["narrativeqa"]
    assert prompts.PROMPTS["passage_count"].endswith("The final answer is: ")
    assert prompts.MAX_NEW_TOKENS["gov_report"] == 512 and prompts.MAX_NEW_TOKENS["hotpotqa"] == 32
    with pytest.raises(EvalError, match="names no paragraph"):
        metrics.score_sample("passage_retrieval_en", "1", ["twelve"], None)


# ---------------------------------------------------------------- fixtures in the released format

WORDS = ("the grass is green the sky is blue the sun is yellow here we go there and back again "
         "alice met bob in the old library and they talked about the river city for a long time").split()


def _text(n_words: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n_words))


def _row(dataset, i, context, question, answers, length, classes=None, language="en"):
    return {"input": question, "context": context, "answers": answers, "length": length, "dataset": dataset,
            "language": language, "all_classes": classes, "_id": f"{dataset}-{i:04d}"}


def make_fixtures(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    hotpot = [_row("hotpotqa", 0, "Passage 1:\n" + _text(1500, 0), "Where did alice meet bob?", ["the old library"], 1510),
              _row("hotpotqa", 1, "Passage 1:\n" + _text(40, 1), "What color is the sky?", ["blue"], 48),
              _row("hotpotqa", 2, "Passage 1:\n" + _text(700, 2), "Where is the sun?", ["yellow", "up"], 706)]
    trec = [_row("trec", i, "\n".join(f"Question: {_text(8, 10 + k)}?\nType: {TREC_CLASSES[k % 6]}" for k in range(n)),
                 f"Question: {_text(6, 20 + i)}?\nType:", [TREC_CLASSES[i]], 9 * n, TREC_CLASSES)
            for i, n in enumerate((3, 60))]
    hotpot_e = [_row("hotpotqa", i, _text(30, 30 + i), "Where?", ["library"], length)
                for i, length in enumerate((1200, 5000, 9100, 300, 7999, 8000))]
    for name, rows in (("hotpotqa.jsonl", hotpot), ("trec.jsonl", trec), ("hotpotqa_e.jsonl", hotpot_e)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return folder


@pytest.fixture()
def fixtures(tmp_path):
    return make_fixtures(tmp_path / "longbench")


# ---------------------------------------------------------------- loaders

def test_local_loader_reads_released_format(fixtures):
    rows = data.read_jsonl(fixtures / "trec.jsonl")
    assert [r.id for r in rows] == ["trec-0000", "trec-0001"]
    assert rows[0].all_classes == tuple(TREC_CLASSES) and rows[0].answers == ("Abbreviation",)
    assert data.load("hotpotqa", True, str(fixtures))[2].length == 9100     # the _e file
    bad = fixtures / "bad" / "hotpotqa.jsonl"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"input": "q", "context": "c", "answers": "x"}) + "\n")
    with pytest.raises(EvalError, match=r"hotpotqa.jsonl:1: missing LongBench field"):
        data.read_jsonl(bad)
    with pytest.raises(EvalError, match="not in --data-dir"):
        data.load("musique", False, str(fixtures))


def test_hub_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EvalError, match="not in the local cache, and the hub is offline.*--data-dir") as err:
        data.load("qasper", False, None)
    assert "\n" not in str(err.value)


def test_hub_loader_reads_the_released_archive_through_datasets(fixtures, tmp_path, monkeypatch):
    """Everything but the download: data.zip -> member file -> datasets' json builder -> samples."""
    import datasets
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(fixtures / "trec.jsonl", "data/trec.jsonl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setattr(data, "_download_archive", lambda: archive)
    assert data._hub_samples("trec.jsonl") == data.read_jsonl(fixtures / "trec.jsonl")
    with pytest.raises(EvalError, match="holds no lsht.jsonl"):
        data._hub_samples("lsht.jsonl")


# ---------------------------------------------------------------- prompts and truncation

def _task(cls, fixtures, subtasks, template="base", samples=None):
    return make(cls, data_dir=str(fixtures), subtasks=subtasks, template=template, samples=samples)


def test_prompts_are_token_exact_and_middle_truncated(tiny_model, fixtures):
    tok = Tokenizer.load(str(tiny_model))
    reqs = _task(LongBenchSuite, fixtures, ("hotpotqa",)).requests(tok, 512)
    samples = data.load("hotpotqa", False, str(fixtures))
    assert [r.index for r in reqs] == [0, 1, 2]
    for r, s in zip(reqs, samples):
        body = tok.encode(prompts.fill("hotpotqa", s.context, s.input))      # one encode of the whole prompt
        meta = r.payload
        assert r.max_new_tokens == 32 and r.references == s.answers
        assert len(r.prompt_ids) + r.max_new_tokens <= 512
        budget = 512 - 32 - len(tok.bos)
        if len(body) > budget:
            half = budget // 2
            assert list(r.prompt_ids) == tok.bos + body[:half] + body[-half:]
            assert meta.truncated_tokens == len(body) - 2 * half > 0
            assert len(r.prompt_ids) + r.max_new_tokens >= 511          # the budget is used
        else:
            assert list(r.prompt_ids) == tok.bos + body                  # not padded
            assert meta.truncated_tokens == 0
    assert reqs[0].payload.truncated_tokens > 1000
    assert reqs[1].payload.truncated_tokens == 0 and len(reqs[1].prompt_ids) < 512 - 32 - 100
    # the same ids on a second build (encode cache) and at another length only the cut moves
    again = _task(LongBenchSuite, fixtures, ("hotpotqa",)).requests(tok, 512)
    assert [list(a.prompt_ids) for a in again] == [list(r.prompt_ids) for r in reqs]
    longer = _task(LongBenchSuite, fixtures, ("hotpotqa",)).requests(tok, 1024)
    assert longer[0].payload.truncated_tokens == reqs[0].payload.truncated_tokens - 512


def test_chat_template_is_counted_and_skipped_for_no_chat_sets(tiny_model, fixtures):
    tok = Tokenizer.load(str(tiny_model))
    tok.hf.chat_template = "{% for m in messages %}<s>[INST] {{ m['content'] }} [/INST]{% endfor %}"
    head, tail = tok.encode("<s>[INST] "), tok.encode(" [/INST]")
    reqs = _task(LongBenchSuite, fixtures, ("hotpotqa", "trec"), template="chat").requests(tok, 512)
    for r in reqs:
        assert len(r.prompt_ids) + r.max_new_tokens <= 512
        ids = list(r.prompt_ids)
        if r.task == "hotpotqa":
            assert ids[:len(head)] == head and ids[-len(tail):] == tail and r.payload.chat
        else:                                   # trec: pred.py builds no chat prompt
            assert ids[:len(head)] != head and ids[0] == tok.bos[0] and not r.payload.chat
    long = reqs[0]
    budget = 512 - 32 - len(head) - len(tail)
    assert len(long.prompt_ids) == len(head) + 2 * (budget // 2) + len(tail)


def test_too_short_length_is_a_clear_error(tiny_model, fixtures):
    tok = Tokenizer.load(str(tiny_model))
    task = _task(LongBenchSuite, fixtures, ("hotpotqa", "trec"))
    assert task.min_length(tok) == 64 + len(tok.bos) + 2
    with pytest.raises(EvalError, match="use longer --lengths"):
        task.requests(tok, 60)


def test_longbench_e_buckets_by_length_field(tiny_model, fixtures):
    tok = Tokenizer.load(str(tiny_model))
    reqs = _task(LongBenchESuite, fixtures, ("hotpotqa",)).requests(tok, 512)
    assert [(r.index, r.task) for r in reqs] == [
        (0, "hotpotqa@0-4k"), (1, "hotpotqa@4-8k"), (2, "hotpotqa@8k+"), (3, "hotpotqa@0-4k"),
        (4, "hotpotqa@4-8k"), (5, "hotpotqa@8k+")]
    assert all(r.length == 512 for r in reqs)                         # context length stays a field
    one_each = _task(LongBenchESuite, fixtures, ("hotpotqa",), samples=1).requests(tok, 512)
    assert [r.task for r in one_each] == ["hotpotqa@0-4k", "hotpotqa@4-8k", "hotpotqa@8k+"]


def test_derived_cells_average_categories_and_buckets():
    from evalsuite.run.identity import SettingFacts
    from evalsuite.run.summary import ScoreCell as Cell
    facts = SettingFacts("s", "m", "local:x", None, "hf", "e", "float32", "base", "none")
    base = dict(setting="s", facts=facts, label="m / hf / none", suite="longbench", length=4096, metric="s",
                higher_is_better=True)
    cells = [Cell(task="hotpotqa", score=40.0, samples=2, **base), Cell(task="2wikimqa", score=20.0, samples=2, **base),
             Cell(task="trec", score=90.0, samples=4, **base)]
    got = {c.task: (c.score, c.samples) for c in LongBenchSuite.derived_cells(cells)}
    assert got == {"avg_multi_doc_qa": (30.0, 4), "avg_few_shot": (90.0, 4), "avg": (50.0, 8),
                   "avg_categories": (60.0, 8), "avg_en": (60.0, 8)}
    # per language, as the README leaderboard: Chinese apart, the code data sets in both
    more = cells + [Cell(task="lsht", score=50.0, samples=2, **base), Cell(task="lcc", score=70.0, samples=2, **base)]
    got = {c.task: c.score for c in LongBenchSuite.derived_cells(more)}
    assert got["avg_en"] == pytest.approx((30 + 90 + 70) / 3) and got["avg_zh"] == pytest.approx((50 + 70) / 2)
    ebase = dict(base, suite="longbench-e")
    ecells = [Cell(task="hotpotqa@0-4k", score=60.0, samples=1, **ebase),
              Cell(task="hotpotqa@8k+", score=30.0, samples=2, **ebase),
              Cell(task="trec@8k+", score=10.0, samples=2, **ebase)]
    got = {c.task: (c.score, c.samples) for c in LongBenchESuite.derived_cells(ecells)}
    assert got["hotpotqa"] == (40.0, 3) and got["trec"] == (10.0, 2)
    assert got["avg@0-4k"] == (60.0, 1) and got["avg@8k+"] == (20.0, 4) and got["avg"] == (25.0, 5)
    assert "avg@4-8k" not in got and got["avg_few_shot@8k+"] == (10.0, 2)
    assert all(c.derived for c in LongBenchESuite.derived_cells(ecells))


# ---------------------------------------------------------------- stop tokens from generation_config.json

def test_generation_config_eos_list_stops_generation(tiny_model, tmp_path):
    import shutil

    from evalsuite.backends.base import stop_token_ids
    from evalsuite.models.resolve import load_model_config
    from evalsuite.plugins import backend_class
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.types import Request
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    tok = Tokenizer.load(str(model))
    base, rope = BaseRope.from_config(load_model_config(str(model))), RopeSpec.parse("none")
    req = Request("t", "t", 64, 0, np.asarray(tok.bos + tok.encode(_text(40, 5)), dtype=np.int32), 12, ())

    def generate():
        backend = backend_class("hf")(str(model), rope, base, 128, tok, "float32")
        try:
            return backend.generate([req])[0].token_ids
        finally:
            backend.close()
    free = generate()
    assert len(free) == 12 and tok.eos_id not in free
    stop = free[3]
    cfg = json.loads((model / "generation_config.json").read_text())
    cfg["eos_token_id"] = [tok.eos_id, stop]                         # as Llama-3 instruct lists 128009
    (model / "generation_config.json").write_text(json.dumps(cfg))
    assert stop_token_ids(str(model), tok) == [tok.eos_id, stop]
    assert generate() == free[: free.index(stop)]


# ---------------------------------------------------------------- end to end and rescoring

def _write_preds(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.integration
def test_run_longbench_end_to_end_and_rescore(tiny_model, fixtures, tmp_path):
    out = tmp_path / "run"
    res = evalsuite(["run", "--suite", "longbench:hotpotqa,trec", "--data-dir", str(fixtures), "--backend", "hf",
                     "--lengths", "512", "--model", str(tiny_model), "--no-progress", "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = pd.read_csv(out / "summary.csv")
    rows = {t: (s, n) for t, s, n in zip(summary["task"], summary["score"], summary["samples"])}
    assert set(rows) == {"hotpotqa", "trec", "avg_multi_doc_qa", "avg_few_shot", "avg", "avg_categories", "avg_en"}
    assert rows["hotpotqa"][1] == 3 and rows["trec"][1] == 2 and rows["avg"][1] == 5
    assert rows["avg"][0] == pytest.approx((rows["hotpotqa"][0] + rows["trec"][0]) / 2, abs=1e-3)
    assert set(summary["length"]) == {512} and set(summary["suite"]) == {"longbench"}
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 5
    for r in recs:
        assert r["prompt_tokens"] + prompts.MAX_NEW_TOKENS[r["task"]] <= 512
        assert isinstance(r["payload"]["truncated_tokens"], int)
    assert any(r["payload"]["truncated_tokens"] > 0 for r in recs)
    assert any(r["payload"]["truncated_tokens"] == 0 for r in recs)
    page = (out / "report.html").read_text()
    assert "longbench: truncation policy" in page and "avg_few_shot" in page

    # the run's outputs in the reference's pred/ format rescore to the same numbers
    samples = {ds: data.load(ds, False, str(fixtures)) for ds in ("hotpotqa", "trec")}
    preds = tmp_path / "pred" / "tiny"
    for ds in ("hotpotqa", "trec"):
        rows_ds = sorted((r for r in recs if r["task"] == ds), key=lambda r: r["index"])
        _write_preds(preds, f"{ds}.jsonl", [
            {"pred": r["output"], "answers": r["references"],
             "all_classes": list(samples[ds][r["index"]].all_classes or []) or None,
             "length": samples[ds][r["index"]].length} for r in rows_ds])
    (preds / "result.json").write_text("{}")                          # skipped, as eval.py does
    scored = evalsuite(["score", str(preds)], tmp_path)
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert set(result) == {"hotpotqa", "trec"}
    for ds in ("hotpotqa", "trec"):
        assert result[ds] == pytest.approx(round(rows[ds][0], 2), abs=0.006)


def test_task_scores_equal_rescoring_of_the_same_predictions(tiny_model, fixtures, tmp_path):
    """Suite.score inside a run and `evalsuite score` on pred files agree, on non-zero scores too."""
    from evalsuite.tasks.longbench.rescore import rescore
    tok = Tokenizer.load(str(tiny_model))
    task = _task(LongBenchSuite, fixtures, ("hotpotqa", "trec"))
    outputs = {("hotpotqa", 0): "The old library.", ("hotpotqa", 1): "blue sky", ("hotpotqa", 2): "up there",
               ("trec", 0): "Abbreviation\nAnimal", ("trec", 1): "Animal or City"}
    by_ds: dict[str, list] = {}
    for r in task.requests(tok, 512):
        out = outputs[(r.task, r.index)]
        s = data.load(r.task, False, str(fixtures))[r.index]
        by_ds.setdefault(r.task, []).append((task.score(r, Generation(out, (), 0.0)).score, {
            "pred": out, "answers": list(s.answers), "all_classes": list(s.all_classes) if s.all_classes else None,
            "length": s.length}))
    for ds, rows in by_ds.items():
        _write_preds(tmp_path / "pred", f"{ds}.jsonl", [row for _, row in rows])
    got = rescore(tmp_path / "pred")
    assert got == {ds: round(100 * sum(v for v, _ in rows) / len(rows), 2) for ds, rows in by_ds.items()}
    assert got == {"hotpotqa": round(100 * (1 + 2 / 3 + 2 / 3) / 3, 2), "trec": 75.0}


def test_score_command_on_reference_format(tmp_path):
    preds = tmp_path / "pred" / "model"
    _write_preds(preds, "hotpotqa.jsonl", [
        {"pred": "The Eiffel Tower", "answers": ["eiffel tower"], "all_classes": None, "length": 100},
        {"pred": "Paris, France.", "answers": ["Paris"], "all_classes": None, "length": 5000},
        {"pred": "no idea", "answers": ["Rome"], "all_classes": None, "length": 9000}])
    _write_preds(preds, "trec.jsonl", [
        {"pred": "Animal or City\nCountry", "answers": ["Animal"], "all_classes": TREC_CLASSES, "length": 10},
        {"pred": "City", "answers": ["City"], "all_classes": TREC_CLASSES, "length": 20}])
    res = evalsuite(["score", str(preds)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"hotpotqa": round(100 * (1 + 2 / 3 + 0) / 3, 2), "trec": 75.0}
    res = evalsuite(["score", str(preds / "hotpotqa.jsonl"), "--e"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"hotpotqa": {"0-4k": 100.0, "4-8k": 66.67, "8k+": 0.0}}
    res = evalsuite(["score", str(preds / "trec.jsonl"), "--e"], tmp_path)
    assert json.loads(res.stdout) == {"trec": {"0-4k": 75.0, "4-8k": None, "8k+": None}}


@pytest.mark.parametrize("name,content,message", [
    ("missing", None, "does not exist"),
    ("hotpotqa.jsonl", '{"pred": "x"', "hotpotqa.jsonl:1: not a JSON line"),
    ("hotpotqa.jsonl", '{"pred": "x", "answers": ["x"]}', "missing field"),
    ("nosuchset.jsonl", '{"pred": "x", "answers": ["x"], "all_classes": null}', "not a LongBench data set"),
    ("trec.jsonl", '{"pred": "x", "answers": ["x"], "all_classes": null}', "needs the sample's all_classes"),
])
def test_score_command_bad_input_is_one_line(tmp_path, name, content, message):
    target = tmp_path / "preds"
    target.mkdir()
    if content is not None:
        (target / name).write_text(content + "\n")
    path = target / name if content is not None else tmp_path / name
    res = evalsuite(["score", str(path)], tmp_path)
    assert res.returncode == 2 and message in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


# ---------------------------------------------------------------- samsum: newline stop token, one forced token

def test_samsum_requests_carry_the_reference_stops(tiny_model, tmp_path):
    """pred.py: samsum's eos_token_id list adds tokenizer.encode("\\n")[-1], min_length forces one new token."""
    folder = make_fixtures(tmp_path / "lb")
    rows = [_row("samsum", 0, "Dialogue: A: hi\nB: hello\nSummary: A greets B.", "Dialogue: C: bye\nSummary:",
                 ["C leaves."], 12)]
    (folder / "samsum.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tok = Tokenizer.load(str(tiny_model))
    reqs = _task(LongBenchSuite, folder, ("samsum", "trec")).requests(tok, 512)
    samsum, trec = reqs[0], reqs[1]
    assert samsum.stop_token_ids == (tok.encode("\n")[-1],) and samsum.min_new_tokens == 1
    assert trec.stop_token_ids == () and trec.min_new_tokens == 0
    assert samsum.payload.newline_stop and not trec.payload.newline_stop


@pytest.mark.slow
def test_stop_tokens_and_min_new_tokens_on_both_backends():
    """On the demo model, whatever its greedy tokens g: a stop token g[2] ends the output before it,
    g[0] as stop token gives nothing, and with min_new_tokens=1 g[0] is barred from the first place
    (so the output starts otherwise); HF and vLLM agree token for token."""
    from dataclasses import replace

    from evalsuite.models.resolve import load_model_config, resolve_model
    from evalsuite.plugins import backend_class
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.types import Request

    model = resolve_model(None)
    tok = Tokenizer.load(model)
    base = BaseRope.from_config(load_model_config(model))
    prompt = np.asarray(tok.bos + tok.encode("The grass is green. The sky is blue. The grass is"), dtype=np.int32)
    free = Request("longbench", "samsum", 256, 0, prompt, 12, ("x",))
    outputs = {}
    for name in ("hf", "vllm"):
        backend = backend_class(name)(model, RopeSpec.parse("none"), base, 256, tok, "float32")
        try:
            g = list(backend.generate([free])[0].token_ids)
            assert len(g) >= 4 and g[2] not in g[:2], g
            cases = [replace(free, index=1, stop_token_ids=(g[2],)),
                     replace(free, index=2, stop_token_ids=(g[0],)),
                     replace(free, index=3, stop_token_ids=(g[0],), min_new_tokens=1)]
            got = [list(x.token_ids) for x in backend.generate(cases)]
        finally:
            backend.close()
        assert got[0] == g[:2] and got[1] == []
        assert got[2] and got[2][0] != g[0] and g[0] not in got[2]
        outputs[name] = (g, got)
    assert outputs["hf"] == outputs["vllm"]
