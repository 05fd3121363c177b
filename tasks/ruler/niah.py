"""RULER needle-in-a-haystack tasks (niah_single_*, niah_multikey_*, niah_multivalue, niah_multiquery).

Paper: Hsieh et al., "RULER: What's the Real Context Size of Your Long-Context Language
Models?" (2024). Reference implementation: NVIDIA/RULER `scripts/data/synthetic/niah.py`
(needle sentence, key/value formats, 7-digit numbers, uuid4 values, 40 depths, needle order
shuffled with a fresh Random(seed), query wording "a, b, and c", singular template when one
value is asked for), `scripts/synthetic.yaml` (per-task arguments) and
`scripts/data/synthetic/constants.py` (template, answer prefix, 128 new tokens).

Fit within, as the reference: the haystack is the largest run of whole units from the start
of a pre-encoded stream (noise lines, essay sentences, or generated distractor-needle lines)
that fits the tokens left over, found on cumulative token counts instead of niah.py's binary
search over re-tokenized prompts; the prompt is then up to one unit (a line, a sentence)
short of the budget and its real token count is what the record's prompt_tokens holds.
Line haystacks are the lines joined by "\\n" with the needles inserted as lines before
sampled line indices; essay needles go before sentence int(n_sentences * depth / 100), joined
by " " as niah.py joins them. Divergences: niah.py cuts the essay after a word count (its last
sentence may be cut); here it ends at a sentence end. Sentences end at ".", "?" or "!"
followed by a space and a letter (niah.py uses nltk's sent_tokenize). Distractor needles of the
`needle` haystack draw their values (and uuid keys) from a per-seed pool of random values
encoded once (about 4x the lines of a prompt, at most 65,536), not fresh per line (the asked
needles are always fresh).
"""
from __future__ import annotations

import math
import random
import uuid
from functools import lru_cache

import numpy as np

from evalsuite.types import Request
from evalsuite.workload.tokenization import Framing, Tokenizer

from .build import Encoder, Stream, insert_at, join, need, np_rng, pick_slots, ragged
from .sources import essay_stream, noise_stream, wonder_words
from .spec import DEPTHS, MAX_NEW, NEEDLE, NIAH_ARGS, NIAH_TEMPLATE, NiahArgs, RulerPayload, singular

POOL = 65_536


def _random(rng: random.Random, kind: str) -> str:
    if kind == "numbers":
        return str(rng.randint(10 ** 6, 10 ** 7 - 1))
    if kind == "uuids":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    adjs, nouns, _ = wonder_words()
    return f"{adjs[rng.randrange(len(adjs))]}-{nouns[rng.randrange(len(nouns))]}"


@lru_cache(maxsize=16)
def _value_pool(tok: Tokenizer, kind: str, seed: int, size: int) -> list[np.ndarray]:
    rng = random.Random(f"ruler-pool-{kind}-{seed}-{size}")
    return Encoder.get(tok).batch([" " + _random(rng, kind) for _ in range(size)])


def pool_size(n_tokens: int) -> int:
    """Distinct distractor values to draw from: about 4x the lines a prompt holds (power of 2)."""
    return int(min(POOL, max(1024, 2 ** math.ceil(math.log2(max(n_tokens, 1) / 4)))))


@lru_cache(maxsize=4)
def _word_tables(tok: Tokenizer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    adjs, nouns, _ = wonder_words()
    enc = Encoder.get(tok)
    return enc.many([" " + a for a in adjs]), enc.many(["-" + n for n in nouns])


def _distractors(tok: Tokenizer, args: NiahArgs, seed: int, rng: np.random.Generator, n: int) -> Stream:
    """Lines "One of the special magic {v} for {key} is: {value}.\\n" with random keys/values, >= n tokens."""
    enc = Encoder.get(tok)
    head = [enc(f"One of the special magic {args.type_needle_v} for")]
    mid, end = [enc(" is:")], [enc(".\n")]
    values = _value_pool(tok, args.type_needle_v, seed, pool_size(n))
    if args.type_needle_k == "words":
        adjs, nouns = _word_tables(tok)
        key_tables = [adjs, nouns]
    else:
        key_tables = [_value_pool(tok, args.type_needle_k, seed + 1, pool_size(n))]
    est = len(head[0]) + len(mid[0]) + len(end[0]) + sum(np.mean([len(t) for t in tb[:512]]) for tb in key_tables) \
        + np.mean([len(v) for v in values[:512]])
    rows = int((n + 64) / est * 1.1) + 8
    while True:
        segs = [(head, np.zeros(rows, np.int64))]
        segs += [(tb, rng.integers(0, len(tb), rows)) for tb in key_tables]
        segs += [(mid, np.zeros(rows, np.int64)), (values, rng.integers(0, len(values), rows)),
                 (end, np.zeros(rows, np.int64))]
        flat, _ = ragged(segs)
        if len(flat) > n + 32:
            return Stream.of(enc, flat, "line")
        rows *= 2


def niah_requests(task: str, tok: Tokenizer, framing: Framing, length: int, samples: int, seed: int,
                  haystack: str | None) -> list[Request]:
    args = NIAH_ARGS[task]
    enc = Encoder.get(tok)
    max_new = MAX_NEW["niah"]
    budget = length - max_new
    num_k = max(args.num_needle_k, args.num_needle_q)
    one = args.num_needle_q * args.num_needle_v == 1
    templ = [singular(t) for t in NIAH_TEMPLATE] if one else list(NIAH_TEMPLATE)
    type_v = args.type_needle_v[:-1] if one else args.type_needle_v
    pre = enc.lead(templ[0].format(type_needle_v=type_v), framing)
    fixed = len(framing.head) + len(pre) + len(framing.tail)
    essay = args.type_haystack == "essay"

    plans = []
    for i in range(samples):
        rng = random.Random(f"ruler-{task}-{seed}-{length}-{i}")
        keys, values, needles = [], [], []
        for _ in range(num_k):
            keys.append(_random(rng, args.type_needle_k))
            values.append([_random(rng, args.type_needle_v) for _ in range(args.num_needle_v)])
            needles += [NEEDLE.format(type_needle_v=args.type_needle_v, key=keys[-1], value=v) for v in values[-1]]
        random.Random(seed).shuffle(needles)            # niah.py: a fresh Random(seed) every sample
        asked = rng.sample(range(num_k), args.num_needle_q)
        queries = [keys[k] for k in asked]
        query = queries[0] if len(queries) == 1 else ", ".join(queries[:-1]) + ", and " + queries[-1]
        answers = [a for k in asked for a in values[k]]
        # essay: sentences joined by " "; lines: each line carries its "\n", so the last one
        # gives the template's "\n" before the question
        texts = [(" " + nd) if essay else (nd + "\n") for nd in needles]
        question = templ[1].format(type_needle_v=type_v, query=query)
        plans.append((rng, query, texts, answers, question if essay else question[1:],
                      templ[2].format(type_needle_v=type_v, query=query)))
    # one batch call for every random string of this length
    flat = [t for p in plans for t in p[2]] + [p[4] for p in plans] + [p[5] for p in plans]
    encoded = enc.batch(flat)
    n_needles = len(plans[0][2]) if plans else 0
    out = []
    for i, (rng, query, _texts, answers, _post, _prefix) in enumerate(plans):
        needle_ids = encoded[i * n_needles:(i + 1) * n_needles]
        post = encoded[samples * n_needles + i]
        prefix = encoded[samples * n_needles + samples + i]
        n_hay = budget - fixed - len(post) - len(prefix) - sum(len(x) for x in needle_ids)
        need(n_hay, f"ruler {task}", length)
        context, depth = _context(tok, args, seed, length, i, rng, haystack, n_hay, needle_ids)
        if essay:
            context, post = _merge_end(enc, context, post, plans[i][4])
        ids = join([framing.head, pre, *context, post, framing.tail, prefix])
        out.append(Request("ruler", task, length, i, ids, max_new, tuple(answers), depth=depth, seed=seed,
                           payload=RulerPayload(query=query)))
    return out


def _context(tok, args: NiahArgs, seed, length, i, rng: random.Random, haystack, n_hay, needle_ids):
    """The largest whole-line (whole-sentence) haystack within n_hay tokens with the needles
    inserted as niah.py does; returns (pieces, depth of a single needle)."""
    if args.type_haystack == "essay":
        return _essay_context(Encoder.get(tok), essay_stream(tok, haystack, n_hay + 4096), rng, n_hay, needle_ids)
    if args.type_haystack == "noise":
        st = noise_stream(tok, n_hay + 4096)
    else:
        st = _distractors(tok, args, seed, np_rng("ruler-distractors", seed, length, i), n_hay)
    e = st.fit(n_hay)
    picks = pick_slots(rng, st.starts(e), len(needle_ids), 0)
    # niah.py inserts needles[k] before the line at the k-th largest sampled index
    pairs = sorted(zip(sorted(picks, reverse=True), range(len(needle_ids))))
    depth = round(100.0 * picks[0] / max(e, 1), 2) if len(needle_ids) == 1 else None
    return insert_at(st.ids[:e], [p for p, _ in pairs], [needle_ids[k] for _, k in pairs]), depth


def _merge_end(enc: Encoder, context: list[np.ndarray], post: np.ndarray, question: str):
    """The essay's last token and the question's "\\n" encoded together, as the whole prompt
    encodes them (Llama-3's pre-tokenizer makes ".\\n" one token): (context, post)."""
    k = max((j for j, p in enumerate(context) if len(p)), default=-1)
    if k < 0:
        return context, post
    last = enc.mid_text(int(context[k][-1]))
    if not last or not last.isascii():
        return context, post
    joint = enc.batch([last + question])[0]
    if len(joint) > len(post) + 1:
        return context, post
    return context[:k] + [context[k][:-1]] + context[k + 1:], joint


def _essay_context(enc: Encoder, st: Stream, rng: random.Random, n_hay: int, needle_ids):
    """niah.py: needle k goes before sentence int(n_sents * depth_k / 100) (sorted depths), and
    the pieces are joined by " " (so a needle at depth 0 reads " One of...", one at the end is
    followed by " ", and two at one position are two spaces apart, as the reference writes)."""
    depths = sorted(rng.sample(DEPTHS, len(needle_ids)))
    space = enc(" ")
    e = st.fit(n_hay)
    while True:
        starts = st.starts(e)
        cuts = [int(starts[k]) if k < len(starts) else e for k in (int(len(starts) * (d / 100)) for d in depths)]
        pieces = [st.ids[:cuts[0]]]
        for k, needle in enumerate(needle_ids):
            seg = st.ids[cuts[k]:cuts[k + 1] if k + 1 < len(cuts) else e]
            pieces.append(needle)
            if seg.size == 0:                        # the join's space, where no " Word" token holds it
                pieces.append(space)
            elif cuts[k] == 0:                       # " " + the essay's first sentence, encoded together
                first = int(starts[1]) if len(starts) > 1 else e
                pieces.append(enc(" " + enc.tok.hf.decode(st.ids[:first].tolist(), clean_up_tokenization_spaces=False)))
                seg = seg[first:]
            pieces.append(seg)
        if sum(len(p) for p in pieces) - sum(len(x) for x in needle_ids) <= n_hay or e == 0:
            break
        e = st.fit(e - 1)
    depth = float(depths[0]) if len(needle_ids) == 1 else None
    return pieces, depth
