"""RULER variable tracking (vt).

Paper: Hsieh et al., "RULER" (2024). Reference implementation: NVIDIA/RULER
`scripts/data/synthetic/variable_tracking.py` (one chain of 4 hops over 5-letter upper-case
names, "VAR X = 12345" then "VAR Y = VAR X " lines inserted in order at random noise-line
positions, one in-context example of at most 500 tokens with 3-letter names and value 12345,
re-randomized per sample and placed after the model template), `scripts/synthetic.yaml`
(num_chains 1, num_hops 4, noise haystack) and `scripts/data/synthetic/constants.py`
(template, answer prefix, 30 new tokens).

Fit within, as the reference: the most whole noise lines that fit the budget (the prompt is
up to one line short of it); the chain lines are inserted before sampled line indices, in
order, and the lines are joined by "\\n" (each line carries its newline here).
"""
from __future__ import annotations

import random
import string

from evalsuite.types import Request
from evalsuite.workload.tokenization import Framing, Tokenizer

from .build import Encoder, insert_at, join, need, pick_slots
from .sources import noise_stream
from .spec import MAX_NEW, NOISE, VT_ARGS, VT_TEMPLATE, RulerPayload

ICL_BUDGET = 500          # variable_tracking.py main(): the example is built for max_seq_length=500


def _names(rng: random.Random, count: int, k: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.choices(string.ascii_uppercase, k=k))
        if name not in names:
            names.append(name)
    return names


def _chain(names: list[str], value: str) -> list[str]:
    return [f"VAR {names[0]} = {value}"] + [f"VAR {names[j + 1]} = VAR {names[j]} " for j in range(len(names) - 1)]


def _icl_text(n_noise: int, slots: list[int], names: list[str], value: str) -> str:
    lines = [NOISE] * n_noise
    for j, (pos, line) in enumerate(zip(slots, _chain(names, value))):
        lines.insert(pos + j, line)
    num_v = VT_ARGS["num_hops"] + 1
    return (VT_TEMPLATE[0] + "\n".join(lines) + VT_TEMPLATE[1].format(query=value)
            + VT_TEMPLATE[2].format(num_v=num_v, query=value))


def _icl_layout(tok: Tokenizer, seed: int) -> tuple[int, list[int]]:
    """Most noise lines such that the example prompt (answer excluded) fits ICL_BUDGET tokens."""
    enc = Encoder.get(tok)
    rng = random.Random(f"ruler-vt-icl-{seed}")
    hops = VT_ARGS["num_hops"]
    names = _names(rng, hops + 1, 3)
    lo, hi = 5, ICL_BUDGET
    while lo < hi:                                   # once per tokenizer and seed, not per sample
        mid = (lo + hi + 1) // 2
        if len(enc(_icl_text(mid, list(range(hops + 1)), names, "12345"))) <= ICL_BUDGET:
            lo = mid
        else:
            hi = mid - 1
    return lo, sorted(rng.sample(range(lo), hops + 1))


def vt_requests(tok: Tokenizer, framing: Framing, length: int, samples: int, seed: int) -> list[Request]:
    enc = Encoder.get(tok)
    max_new = MAX_NEW["vt"]
    budget = length - max_new
    hops = VT_ARGS["num_hops"]
    n_icl, icl_slots = _icl_layout(tok, seed)
    pre = enc(VT_TEMPLATE[0])
    plans, texts = [], []           # noise and chain lines carry their "\n": the question drops its own
    for i in range(samples):
        rng = random.Random(f"ruler-vt-{seed}-{length}-{i}")
        names = _names(rng, hops + 1, 5)
        value = str(rng.randint(10000, 99999))
        icl_names = _names(rng, hops + 1, 3)
        icl_value = str(rng.randint(10000, 99999))
        icl = _icl_text(n_icl, icl_slots, icl_names, icl_value) + " " + " ".join(icl_names) + "\n\n"
        plans.append((rng, names, value))
        texts += [icl, VT_TEMPLATE[1].format(query=value)[1:], VT_TEMPLATE[2].format(num_v=hops + 1, query=value)]
        texts += [line + "\n" for line in _chain(names, value)]
    encoded = enc.batch(texts)
    per = 3 + hops + 1
    encoded[::per] = enc.leads(texts[::per], framing)      # the example starts the prompt
    out = []
    for i, (rng, names, value) in enumerate(plans):
        icl_ids, post, prefix, *chain = encoded[i * per:(i + 1) * per]
        n_hay = budget - len(framing.head) - len(icl_ids) - len(pre) - len(post) - len(framing.tail) \
            - len(prefix) - sum(len(c) for c in chain)
        need(n_hay, "ruler vt", length)
        st = noise_stream(tok, n_hay + 4096)
        e = st.fit(n_hay)                  # the most whole noise lines that fit
        picks = sorted(pick_slots(rng, st.starts(e), len(chain), 0))
        context = insert_at(st.ids[:e], picks, chain)
        ids = join([framing.head, icl_ids, pre, *context, post, framing.tail, prefix])
        out.append(Request("ruler", "vt", length, i, ids, max_new, tuple(names), seed=seed,
                           payload=RulerPayload(value=value)))
    return out
