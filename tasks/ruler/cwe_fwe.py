"""RULER aggregation tasks: common words extraction (cwe) and frequent words extraction (fwe).

Paper: Hsieh et al., "RULER" (2024). Reference implementation: NVIDIA/RULER
`scripts/data/synthetic/common_words_extraction.py` (numbered list "1. w 2. w ...", 10 common
words x30 and the rest x3, or x6/x1 below 4k; one example of 40 words x10/x3, 20 words x3/x1
below 4k, formatted with the full prompt template and its answer) and
`scripts/data/synthetic/freq_words_extraction.py` (vocabulary of length//50 random 6-letter
words, the first replaced by "...", counts floor(N k^-alpha / zeta(alpha)), alpha 2, answer =
ranks 2-4), `scripts/synthetic.yaml`, `scripts/data/synthetic/constants.py`.

Token-exact: the word count N is the largest that fits; the few tokens left are filled with
extra single occurrences of unused words (cwe), or of zero-count words and "..." (fwe); those
never reach the answer counts. Divergence: above ~8.7k distinct cwe words the reference draws
from `english_words.json` (not shipped); here the wonderwords list is reused in a new order.
"""
from __future__ import annotations

import math
import random

import numpy as np

from evalsuite.types import Request
from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Framing, Tokenizer

from .build import Encoder, _padded, join, need, np_rng, ragged
from .sources import cwe_words
from .spec import CWE_ARGS, CWE_TEMPLATE, FWE_ARGS, FWE_TEMPLATE, MAX_NEW

_NUMS: dict[str, list[np.ndarray]] = BoundedDict(8)


def _numbers(tok: Tokenizer, n: int) -> list[np.ndarray]:
    """Token ids of "1.", "2.", ... (grown on demand, shared by every length)."""
    table = _NUMS.setdefault(tok.fingerprint, [])
    if len(table) < n:
        table += Encoder.get(tok).batch([f"{j + 1}." for j in range(len(table), max(n, 2 * len(table)))])
    return table


def _fill(r: int, supply: dict[int, int], item_cost: int, max_items: int) -> list[int] | None:
    """Word lengths of extra items, each costing item_cost + its length, summing exactly to r,
    with at most supply[length] words of each length (0/1 knapsack, fewest items)."""
    items = [ln for ln in sorted(supply) for _ in range(min(supply[ln], max_items, r // max(item_cost + ln, 1)))]
    best: list[list[int] | None] = [[]] + [None] * r
    for ln in items:
        c = item_cost + ln
        for t in range(r, c - 1, -1):
            prev, cur = best[t - c], best[t]
            if prev is not None and len(prev) < max_items and (cur is None or len(prev) + 1 < len(cur)):
                best[t] = prev + [ln]
    return best[r]


def _list_ids(tok, sep, words_ids, order):
    nums = _numbers(tok, len(order))
    seps = np.ones(len(order), np.int64)
    seps[:1] = 0
    flat, _ = ragged([([np.zeros(0, np.int32), sep], seps), (nums, np.arange(len(order))), (words_ids, order)])
    return flat


def cwe_requests(tok: Tokenizer, framing: Framing, length: int, samples: int, seed: int) -> list[Request]:
    enc = Encoder.get(tok)
    max_new = MAX_NEW["cwe"]
    budget = length - max_new
    words = cwe_words()
    word_ids = enc.many([" " + w for w in words])
    wl = np.fromiter((len(x) for x in word_ids), np.int64, len(words))
    sep = enc(" ")
    small = length < 4096
    (ex_n, ex_fc, ex_fu), (fc, fu) = (((20, 3, 1), (6, 1)) if small
                                      else ((40, 10, 3), (CWE_ARGS["freq_cw"], CWE_ARGS["freq_ucw"])))
    ncw = CWE_ARGS["num_cw"]
    pre, post, prefix = enc(CWE_TEMPLATE[0]), enc(CWE_TEMPLATE[1]), enc(CWE_TEMPLATE[2])
    head_rest = framing.head[len(tok.bos):] if framing.tail else []
    ex_texts = []
    for i in range(samples):
        rng = random.Random(f"ruler-cwe-ex-{seed}-{length}-{i}")
        pick = rng.sample(words, ex_n)
        lst = pick[:ncw] * ex_fc + pick[ncw:] * ex_fu
        rng.shuffle(lst)
        ctx = " ".join(f"{j + 1}. {w}" for j, w in enumerate(lst))
        ex_texts += [CWE_TEMPLATE[0] + ctx + CWE_TEMPLATE[1],
                     CWE_TEMPLATE[2] + " " + " ".join(f"{j + 1}. {w}" for j, w in enumerate(pick[:ncw])) + "\n"]
    ex_enc = enc.batch(ex_texts)
    ex_enc[0::2] = enc.leads(ex_texts[0::2], framing)          # the example starts the prompt
    out = []
    for i in range(samples):
        ex_body, ex_ans = ex_enc[2 * i], ex_enc[2 * i + 1]
        fixed = len(framing.head) + len(ex_body) + len(framing.tail) + len(ex_ans) + len(head_rest) \
            + len(pre) + len(post) + len(framing.tail) + len(prefix)
        C = budget - fixed
        need(C, "ruler cwe", length)
        g = np_rng("ruler-cwe", seed, length, i)
        order = g.permutation(len(words))
        reps = max(1, math.ceil(C / 3 / fc / len(words)) + 1)
        if reps > 1:                                   # more words than the list holds: reuse it
            order = np.concatenate([order] + [g.permutation(len(words)) for _ in range(reps - 1)])
        n_words, extra = _cwe_size(tok, wl, order, len(sep), C, ncw, fc, fu, length)
        common, uncommon = order[:ncw], order[ncw:n_words]
        entries = np.concatenate([np.repeat(common[None], fc, 0).ravel(), np.repeat(uncommon[None], fu, 0).ravel(),
                                  np.asarray(extra, np.int64)])
        entries = entries[g.permutation(len(entries))]
        context = _list_ids(tok, sep, word_ids, entries)
        ids = join([framing.head, ex_body, framing.tail, ex_ans, head_rest, pre, context, post,
                    framing.tail, prefix])
        out.append(Request("ruler", "cwe", length, i, ids, max_new, tuple(words[k] for k in common), seed=seed))
    return out


def _cwe_size(tok, wl, order, sep_len, C, ncw, fc, fu, length) -> tuple[int, list[int]]:
    """Largest word count N whose list fits C tokens, and extra single entries filling the rest."""
    # at least the common words alone (ncw x fc entries): a budget too small for them is a shortfall
    max_entries = max(min(C // 2 + 2, ncw * fc + (len(order) - ncw) * fu), ncw * fc)
    nums = _numbers(tok, max_entries + 16)
    num_cum = np.concatenate([[0], np.cumsum(_padded(nums)[1][: max_entries + 16])])
    wcum = np.concatenate([[0], np.cumsum(wl[order])])
    n = np.arange(ncw, len(order) + 1)
    entries = ncw * fc + (n - ncw) * fu
    n, entries = n[entries <= max_entries], entries[entries <= max_entries]
    cost = num_cum[entries] + (entries - 1) * sep_len + fc * wcum[ncw] + fu * (wcum[n] - wcum[ncw])
    ok = np.flatnonzero(cost <= C)
    if len(ok) == 0:
        need(-int(cost[0] - C), "ruler cwe (its example and 10 common words)", length)
    k = int(ok[-1])
    while k >= 0:
        N, E = int(n[k]), int(entries[k])
        r = C - int(cost[k])
        spare = list(dict.fromkeys(order[N:N + 400].tolist()))
        supply: dict[int, int] = {}
        for w in spare:
            supply[int(wl[w])] = supply.get(int(wl[w]), 0) + 1
        pick = _fill(r, supply, sep_len + len(nums[E]), 8)
        if pick is not None and sum(sep_len + len(nums[E + j]) + ln for j, ln in enumerate(pick)) == r:
            extra, used = [], set()
            for ln in pick:
                w = next(int(w) for w in spare if wl[w] == ln and int(w) not in used)
                used.add(w)
                extra.append(w)
            return N, extra
        k -= 1
    need(-1, "ruler cwe", length)
    return 0, []


def fwe_requests(tok: Tokenizer, framing: Framing, length: int, samples: int, seed: int) -> list[Request]:
    enc = Encoder.get(tok)
    max_new = MAX_NEW["fwe"]
    budget = length - max_new
    alpha, wordlen = FWE_ARGS["alpha"], FWE_ARGS["coded_wordlen"]
    vocab_size = max(budget // 50, 5)
    zeta = sum(k ** -alpha for k in range(1, 200_000)) + 1 / ((alpha - 1) * 200_000 ** (alpha - 1))
    pre, post, prefix = enc.lead(FWE_TEMPLATE[0], framing), enc(FWE_TEMPLATE[1]), enc(FWE_TEMPLATE[2])
    C = budget - len(framing.head) - len(pre) - len(post) - len(framing.tail) - len(prefix)
    need(C, "ruler fwe", length)
    n_enc = min(vocab_size, int(math.sqrt(C / zeta)) + 64)
    vocabs = []
    shuffle = np.random.default_rng(seed).permutation(vocab_size)   # the same every sample, as the
    for i in range(samples):                                          # reference's fresh Random(seed)
        g = np_rng("ruler-fwe-vocab", seed, length, i)
        vocab = np.zeros(0, dtype=f"S{wordlen}")
        while len(vocab) < vocab_size:
            shape = (int(vocab_size) + 16, wordlen)
            codes = (g.integers(0, 26, shape, dtype=np.uint8) + ord("a")).view(f"S{wordlen}")  # type: ignore[arg-type]
            vocab = np.unique(np.concatenate([vocab, codes.ravel()]))
        vocab = vocab[np.sort(g.permutation(len(vocab))[:vocab_size])]   # sorted, as the reference
        vocab_l = [w.decode() for w in vocab[shuffle[:n_enc]]]
        vocab_l[0] = "..."                            # the top rank is noise
        vocabs.append(vocab_l)
    encoded = enc.batch([" " + w for v in vocabs for w in v])
    out = []
    k = np.arange(1, n_enc + 1, dtype=np.float64)
    share = k ** -alpha / zeta
    for i, vocab_words in enumerate(vocabs):
        ids_tab = encoded[i * n_enc:(i + 1) * n_enc]
        wl = np.fromiter((len(x) for x in ids_tab), np.int64, n_enc)
        counts = _fwe_counts(C, share, wl)
        g = np_rng("ruler-fwe", seed, length, i)
        seq = np.repeat(np.arange(n_enc), counts)
        seq = seq[g.permutation(len(seq))]
        words = np.flatnonzero(seq != 0)
        if len(words) and seq[-1] == 0:               # "...\n" would merge: end on a coded word
            j = int(words[-1])
            seq[j], seq[-1] = seq[-1], seq[j]
        context, _ = ragged([(ids_tab, seq)])
        ids = join([framing.head, pre, context, post, framing.tail, prefix])
        out.append(Request("ruler", "fwe", length, i, ids, max_new, tuple(vocab_words[1:4]), seed=seed))
    return out


def _fwe_counts(C: int, share: np.ndarray, wl: np.ndarray) -> np.ndarray:
    """Counts floor(N * share) for the largest N that fits C, plus fillers to hit C exactly."""
    lo, hi = 1, C
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int((np.floor(mid * share).astype(np.int64) * wl).sum()) <= C:
            lo = mid
        else:
            hi = mid - 1
    for N in range(lo, 0, -1):
        counts = np.floor(N * share).astype(np.int64)
        r = C - int((counts * wl).sum())
        zero = np.flatnonzero(counts == 0)
        supply = {int(wl[0]): 10 ** 6}
        for z in zero:
            supply[int(wl[z])] = supply.get(int(wl[z]), 0) + 1
        pick = _fill(r, supply, 0, 64)
        if pick is None:
            continue
        used: set[int] = set()
        for ln in pick:
            cand = [int(z) for z in zero if wl[z] == ln and int(z) not in used]
            z = cand[0] if cand else 0
            if z:
                used.add(z)
            counts[z] += 1
        return counts
    raise AssertionError("unreachable: a 1-word context always fits")
