"""RULER question answering: qa_1 (SQuAD v2 dev) and qa_2 (HotpotQA dev, distractor setting).

Paper: Hsieh et al., "RULER" (2024). Reference implementation: NVIDIA/RULER
`scripts/data/synthetic/qa.py` (documents: SQuAD paragraphs / HotpotQA "title\\n" + sentences,
de-duplicated and sorted; sample i asks question i; gold documents, then SQuAD paragraphs of
the same article, then random others; order shuffled with a fresh Random(seed); rendered as
"Document {i}:\\n{doc}" joined by blank lines), `scripts/data/synthetic/json/download_qa_dataset.sh`
(dev-v2.0.json, hotpot_dev_distractor_v1.json) and `constants.py` (template, 32 new tokens).

Fit within, as the reference: the most whole documents that fit the budget (qa.py
binary-searches the document count); the prompt is up to one document short of the budget.
Data: --data-dir with the released JSON files, else the hub copies through `datasets`.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from evalsuite.models.resolve import hub_cache_only
from evalsuite.types import EvalError, Request
from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Framing, Tokenizer

from .build import Encoder, join, need, np_rng
from .spec import DOCUMENT_PROMPT, MAX_NEW, QA_DATASET, QA_TEMPLATE, RulerPayload

FILES = {"squad": ("dev-v2.0.json", "squad.json"), "hotpotqa": ("hotpot_dev_distractor_v1.json", "hotpotqa.json")}
HUB = {"squad": ("rajpurkar/squad_v2", None), "hotpotqa": ("hotpotqa/hotpot_qa", "distractor")}


@dataclass(frozen=True)
class QA:
    query: str
    outputs: tuple[str, ...]
    gold: tuple[int, ...]
    more: tuple[int, ...] = ()


@dataclass
class QAData:
    docs: list[str]
    qas: list[QA]
    source: str


_DOC_IDS: dict[tuple[str, str], list[np.ndarray]] = BoundedDict(8)
_HEADERS: dict[str, tuple[list[np.ndarray], np.ndarray]] = BoundedDict(8)


def data_file(dataset: str, data_dir: str | None) -> Path | None:
    for name in FILES[dataset]:
        if data_dir and (Path(data_dir) / name).is_file():
            return Path(data_dir) / name
    return None


def _squad(articles) -> QAData:
    """articles: [(title, [(context, [(question, [answers], impossible)])])] in file order."""
    docs = sorted({p for _, paras in articles for p, _ in paras})
    index = {d: k for k, d in enumerate(docs)}
    qas = []
    for _, paras in articles:
        same = [index[p] for p, _ in paras]
        for p, questions in paras:
            for question, answers, impossible in questions:
                if not impossible:
                    qas.append(QA(question, tuple(answers), (index[p],), tuple(k for k in same if k != index[p])))
    return QAData(docs, qas, "squad")


def _hotpot(rows) -> QAData:
    """rows: [(question, answer, [(title, [sentences])])]."""
    render = [[f"{t}\n{''.join(s)}" for t, s in ctx] for _, _, ctx in rows]
    docs = sorted({d for r in render for d in r})
    index = {d: k for k, d in enumerate(docs)}
    qas = [QA(q, (a,), tuple(index[d] for d in r)) for (q, a, _), r in zip(rows, render)]
    return QAData(docs, qas, "hotpotqa")


@lru_cache(maxsize=32)
def load(dataset: str, data_dir: str | None) -> QAData:
    """A QA data set (local file under data_dir, else the hub), read once per process."""
    path = data_file(dataset, data_dir)
    if path is not None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if dataset == "squad":
            data = _squad([(a["title"], [(p["context"], [(q["question"], [x["text"] for x in q["answers"]],
                                                          q.get("is_impossible", not q["answers"]))
                                                         for q in p["qas"]]) for p in a["paragraphs"]])
                           for a in raw["data"]])
        else:
            data = _hotpot([(d["question"], d["answer"], [(t, s) for t, s in d["context"]]) for d in raw])
    else:
        data = _from_hub(dataset, data_dir)
    if not data.qas:
        raise EvalError(f"RULER {dataset} data holds no answerable questions")
    return data


def _from_hub(dataset: str, data_dir: str | None) -> QAData:
    want = " or ".join(FILES[dataset])
    hint = f"pass --data-dir with {want}" + (f" (no such file in {data_dir})" if data_dir else "")
    offline = hub_cache_only()
    try:
        import datasets
        datasets.disable_progress_bars()
        name, config = HUB[dataset]
        ds = datasets.load_dataset(name, config, split="validation")
    except Exception as e:          # no package, offline, moved data set: one actionable line
        why = offline or f"it could not be loaded ({type(e).__name__})"
        raise EvalError(f"RULER {dataset} needs the hub data set {HUB[dataset][0]}, and {why}: {hint}") from None
    if dataset == "squad":
        articles: dict[str, dict[str, list]] = {}
        for row in ds:
            paras = articles.setdefault(row["title"], {})
            paras.setdefault(row["context"], []).append(
                (row["question"], list(row["answers"]["text"]), not row["answers"]["text"]))
        return _squad([(t, list(p.items())) for t, p in articles.items()])
    return _hotpot([(r["question"], r["answer"], list(zip(r["context"]["title"], r["context"]["sentences"])))
                    for r in ds])


def _doc_ids(tok: Tokenizer, data: QAData) -> list[np.ndarray]:
    key = (tok.fingerprint, f"{data.source}-{len(data.docs)}-{hash(tuple(data.docs[:3]))}")
    if key not in _DOC_IDS:
        _DOC_IDS[key] = Encoder.get(tok).batch([d + "\n\n" for d in data.docs])   # blank line after each
    return _DOC_IDS[key]


def qa_requests(task: str, tok: Tokenizer, framing: Framing, length: int, samples: int, seed: int,
                data_dir: str | None) -> list[Request]:
    data = load(QA_DATASET[task], data_dir)
    enc = Encoder.get(tok)
    docs = _doc_ids(tok, data)
    doc_len = np.fromiter((len(d) for d in docs), np.int64, len(docs))
    max_new = MAX_NEW["qa"]
    budget = length - max_new
    pre, prefix = enc.lead(QA_TEMPLATE[0], framing), enc(QA_TEMPLATE[2])
    qas = [data.qas[i % len(data.qas)] for i in range(samples)]
    posts = enc.batch([QA_TEMPLATE[1].format(query=q.query) for q in qas])
    out = []
    for i, (qa, post) in enumerate(zip(qas, posts)):
        C = budget - len(framing.head) - len(pre) - len(post) - len(framing.tail) - len(prefix)
        cand = _candidates(qa, len(docs), C, doc_len, np_rng("ruler-qa", seed, length, i))
        headers, header_len = _headers(tok, len(cand))
        cost = np.cumsum(doc_len[cand] + header_len[:len(cand)])
        n = int(np.searchsorted(cost, C, side="right"))     # the most whole documents that fit
        if n < len(qa.gold):
            need(-int(cost[len(qa.gold) - 1] - C), f"ruler {task} (its gold documents)", length)
        bodies = [docs[k] for k in cand[:n].tolist()]
        parts: list = [None] * (2 * n)
        parts[0::2] = headers[:n]
        parts[1::2] = [bodies[k] for k in _shuffled(seed, n)]
        ids = join([framing.head, pre, *parts, post, framing.tail, prefix])
        out.append(Request("ruler", task, length, i, ids, max_new, qa.outputs, seed=seed,
                           payload=RulerPayload(question=qa.query[:200])))
    return out


def _headers(tok: Tokenizer, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Ids and lengths of "Document 1:\n", "Document 2:\n", ... (at least n; grown on demand,
    shared by every sample and length instead of formatted and looked up per sample)."""
    table, lens = _HEADERS.get(tok.fingerprint, ([], np.zeros(0, np.int64)))
    if len(table) < n:
        more = max(n, 2 * len(table)) - len(table)
        headers = [DOCUMENT_PROMPT.format(i=j + 1) for j in range(len(table), len(table) + more)]
        table = table + Encoder.get(tok).many(headers)
        lens = np.fromiter((len(h) for h in table), np.int64, len(table))
        _HEADERS[tok.fingerprint] = (table, lens)
    return table, lens


@lru_cache(maxsize=4096)
def _shuffled(seed: int, n: int) -> tuple[int, ...]:
    """qa.py shuffles the documents with a fresh Random(seed) every sample: the order depends
    on the seed and the count only, so it is computed once per count."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return tuple(order)


def _candidates(qa: QA, n_docs: int, C: int, doc_len: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """Gold documents, then the same article's paragraphs (random order), then random others;
    when the corpus is used up it is repeated (qa.py repeats DOCS)."""
    more = np.asarray(qa.more, np.int64)[g.permutation(len(qa.more))]
    taken = np.asarray(qa.gold + qa.more, np.int64)
    want = int(C / max(int(doc_len.min()), 1)) + 8
    parts = [np.asarray(qa.gold, np.int64), more]
    have = len(qa.gold) + len(more)
    pick = g.choice(n_docs, size=min(n_docs, want + len(taken)), replace=False)
    pick = pick[~np.isin(pick, taken)]
    parts.append(pick)
    have += len(pick)
    while have < want:                       # corpus exhausted: repeat it
        parts.append(g.permutation(n_docs))
        have += n_docs
    return np.concatenate(parts)[:max(want, len(qa.gold))]
