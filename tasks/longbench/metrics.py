"""LongBench v1 metrics, written from the specification of the reference scorer.

Paper: Bai et al., "LongBench" (arXiv 2308.14508). Reference implementation: THUDM/LongBench,
`LongBench/metrics.py` (the metric functions) and `LongBench/eval.py` (`dataset2metric`, the
first-line rule, the maximum over gold answers, the LongBench-E buckets). Quirks kept on purpose,
because scores must match the reference scripts:

- qa_f1: SQuAD normalisation (lower case, drop ASCII punctuation, drop the articles a/an/the,
  squeeze white space), token-level F1 on white-space tokens.
- qa_f1_zh: jieba tokens (accurate mode), each normalised (lower case, drop ASCII and Chinese
  punctuation, drop white space), empty tokens dropped, then token F1.
- rouge (English): ROUGE-L F of the `rouge` package (pltrust/rouge 1.0.1, summary-level LCS over
  "."-separated sentences); any error inside it (empty hypothesis, RecursionError on very long
  sentences) scores 0, as the reference's bare `except` does.
- rouge_zh: both texts cut by jieba and joined with spaces, then the English rouge.
- classification: the classes found as substrings of the prediction; a found class that is a
  substring of (but not equal to) the gold class is removed *while the list is being iterated*
  (the reference removes inside its own for loop, so the element after a removed one is skipped);
  score 1/len(found) when the gold class survives, else 0.
- retrieval / retrieval_zh: the gold paragraph number (`Paragraph N` / `段落N`), then the share of
  all integers in the prediction that equal it.
- count: the share of all integers in the prediction that equal the gold count.
- code_sim: the first line of the prediction (after leading newlines) that holds no "`", "#" or
  "//" (else ""), then fuzzywuzzy 0.18 `fuzz.ratio` / 100 in its pure-Python form (the reference's
  requirements.txt installs fuzzywuzzy without python-Levenshtein): 100 for equal strings, 0 when
  one is empty, else round(100 * difflib.SequenceMatcher(None, a, b).ratio()). Computed here with
  the standard library; python-Levenshtein or rapidfuzz would give different numbers.
- Per sample: the maximum over gold answers (starting from 0); trec, triviaqa, samsum and lsht
  score only the first line of the prediction (`prediction.lstrip("\\n").split("\\n")[0]`).
"""
from __future__ import annotations

import logging
import re
import string
import warnings
from collections import Counter
from difflib import SequenceMatcher
from typing import Callable, Sequence

from evalsuite.types import EvalError

from .prompts import FIRST_LINE

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_INT = re.compile(r"\d+")
_EN_PUNCT = frozenset(string.punctuation)
# metrics.py normalize_zh_answer: Chinese punctuation (plus ASCII punctuation)
_ZH_PUNCT = _EN_PUNCT | frozenset("！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.")


def _jieba():
    try:
        with warnings.catch_warnings():          # jieba 0.42.1 imports the deprecated pkg_resources
            warnings.simplefilter("ignore", DeprecationWarning)
            import jieba
    except ImportError:
        raise EvalError("LongBench Chinese metrics need jieba: pip install jieba==0.42.1") from None
    jieba.setLogLevel(logging.WARNING)
    return jieba


def _cut(text: str) -> list[str]:
    return list(_jieba().cut(text, cut_all=False))


def normalize_en(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _EN_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_zh(text: str) -> str:
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCT).split())


def token_f1(pred: Sequence[str], gold: Sequence[str]) -> float:
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def qa_f1(pred: str, gold: str, all_classes=None) -> float:
    return token_f1(normalize_en(pred).split(), normalize_en(gold).split())


def qa_f1_zh(pred: str, gold: str, all_classes=None) -> float:
    p = [t for t in (normalize_zh(x) for x in _cut(pred)) if t]
    g = [t for t in (normalize_zh(x) for x in _cut(gold)) if t]
    return token_f1(p, g)


def rouge_l(pred: str, gold: str, all_classes=None) -> float:
    try:
        from rouge import Rouge
    except ImportError:
        raise EvalError("LongBench summarization metrics need rouge: pip install rouge==1.0.1") from None
    try:
        return float(Rouge().get_scores([pred], [gold], avg=True)["rouge-l"]["f"])
    except Exception:          # the reference scores every failure inside rouge as 0
        return 0.0


def rouge_l_zh(pred: str, gold: str, all_classes=None) -> float:
    return rouge_l(" ".join(_cut(pred)), " ".join(_cut(gold)))


def classification(pred: str, gold: str, all_classes=None) -> float:
    if all_classes is None:
        raise EvalError("classification scoring needs the sample's all_classes list (null given)")
    found = [c for c in all_classes if c in pred]
    i = 0
    while i < len(found):              # same visiting order as removing inside a for loop
        term = found[i]
        if term in gold and term != gold:
            found.remove(term)
        i += 1
    return 1.0 / len(found) if gold in found else 0.0


def _share_equal(pred: str, target: str) -> float:
    numbers = _INT.findall(pred)
    return sum(n == target for n in numbers) / len(numbers) if numbers else 0.0


def _paragraph(gold: str, rx: re.Pattern) -> str:
    ids = rx.findall(gold)
    if not ids:
        raise EvalError(f"retrieval answer {gold[:60]!r} names no paragraph (expected {rx.pattern!r})")
    return ids[0]


_PARAGRAPH_EN = re.compile(r"Paragraph (\d+)")
_PARAGRAPH_ZH = re.compile(r"段落(\d+)")


def retrieval(pred: str, gold: str, all_classes=None) -> float:
    return _share_equal(pred, _paragraph(gold, _PARAGRAPH_EN))


def retrieval_zh(pred: str, gold: str, all_classes=None) -> float:
    return _share_equal(pred, _paragraph(gold, _PARAGRAPH_ZH))


def count(pred: str, gold: str, all_classes=None) -> float:
    return _share_equal(pred, str(gold))


def fuzz_ratio(a: str, b: str) -> int:
    """fuzzywuzzy 0.18 fuzz.ratio without python-Levenshtein."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * SequenceMatcher(None, a, b).ratio()))


def code_sim(pred: str, gold: str, all_classes=None) -> float:
    line = next((x for x in pred.lstrip("\n").split("\n")
                 if "`" not in x and "#" not in x and "//" not in x), "")
    return fuzz_ratio(line, gold) / 100


# eval.py dataset2metric
METRIC: dict[str, Callable[..., float]] = {
    "narrativeqa": qa_f1, "qasper": qa_f1, "multifieldqa_en": qa_f1, "multifieldqa_zh": qa_f1_zh,
    "hotpotqa": qa_f1, "2wikimqa": qa_f1, "musique": qa_f1, "dureader": rouge_l_zh,
    "gov_report": rouge_l, "qmsum": rouge_l, "multi_news": rouge_l, "vcsum": rouge_l_zh,
    "trec": classification, "triviaqa": qa_f1, "samsum": rouge_l, "lsht": classification,
    "passage_retrieval_en": retrieval, "passage_count": count, "passage_retrieval_zh": retrieval_zh,
    "lcc": code_sim, "repobench-p": code_sim,
}


def score_sample(dataset: str, prediction: str, answers: Sequence[str],
                 all_classes: Sequence[str] | None) -> float:
    """One sample's score in [0, 1], as eval.py's scorer computes it before averaging."""
    if dataset not in METRIC:
        raise EvalError(f"unknown LongBench data set {dataset!r}: choose from {', '.join(METRIC)}")
    if dataset in FIRST_LINE:
        prediction = prediction.lstrip("\n").split("\n")[0]
    best = 0.0
    for gold in answers:
        best = max(best, METRIC[dataset](prediction, gold, all_classes=all_classes))
    return float(best)
