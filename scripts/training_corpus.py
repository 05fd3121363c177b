"""Training documents of the demo model: retrieval formats written into natural filler.

Why here: only ``scripts/train_demo_model.py`` uses these generators, so they live
beside it, out of the ``evalsuite`` package; editing one changes no evaluation
workload.  The filler itself (:class:`evalsuite.workload.corpus.Writer`) and the noise
sentence (``evalsuite.workload.haystacks.NOISE``) come from evalsuite, so training and
evaluation text cannot drift apart.  Every function takes its randomness from an
explicit ``random.Random``: the same seed gives byte-identical documents.

Retrieval formats follow the public specifications (not their code):

* passkey: landmark-attention / YaRN ``eval/passkey.py`` prompt lines;
* needle in a haystack: gkamradt/LLMTest_NeedleInAHaystack needle and question;
* RULER (NVIDIA/RULER ``scripts/data/synthetic/constants.py``): the
  "special magic {type}" needles and the variable-tracking chains.

Public entry point: :func:`training_document`; the prompt helpers are shared with
the training script's own passkey and NIAH evaluation.
"""
from __future__ import annotations

import itertools
import random
import uuid

from evalsuite.workload.corpus import CITIES, COLORS, FOODS, NAMES, OBJECTS, STREETS, Writer
from evalsuite.workload.haystacks import NOISE

# --- prompt strings (YaRN eval/passkey.py, gkamradt NIAH, RULER constants.py) ----------------
PASSKEY_INTRO = ("There is an important info hidden inside a lot of irrelevant text. "
                 "Find it and memorize them. I will quiz you about the important information there.")
PASSKEY_QUESTION = "What is the pass key? The pass key is"
NIAH_EVAL_CITY = "San Francisco"
NIAH_EVAL_ACTIVITY = "eat a sandwich and sit in Dolores Park on a sunny day"
RULER_NIAH_INTRO = ("Some special magic {t} are hidden within the following text. Make sure to memorize it. "
                    "I will quiz you about the {t} afterwards.")
RULER_VT_INTRO = "Memorize and track the chain(s) of variable assignment hidden in the following text."

ADJECTIVES = ("wise", "quiet", "brave", "gentle", "bright", "calm", "clever", "eager", "fancy", "fierce",
              "happy", "jolly", "kind", "lively", "lucky", "mighty", "noble", "polite", "proud", "rapid",
              "shy", "silly", "swift", "tender", "vivid", "warm", "wild", "young", "ancient", "bitter",
              "cold", "curly", "dusty", "empty", "faint", "fresh", "giant", "hollow", "icy", "lazy")
NOUNS = ("bridge", "river", "tiger", "garden", "window", "forest", "candle", "mountain", "island",
         "castle", "engine", "feather", "harbor", "jungle", "ladder", "meadow", "needle", "ocean",
         "pepper", "planet", "rabbit", "saddle", "shadow", "spider", "thunder", "tunnel", "valley",
         "wagon", "whistle", "anchor", "basket", "button", "cactus", "dragon", "falcon", "glacier",
         "hammer", "kettle", "lantern", "marble", "orchard", "pillow", "quarry", "rocket", "statue")
# parts of NIAH activities ("eat a sandwich and sit in Dolores Park on a sunny day" style)
ACT_FIRST = ("eat a sandwich", "drink a coffee", "buy a map", "rent a bicycle", "read a book",
             "take a photo", "eat an ice cream", "order a pizza", "try the noodles", "buy fresh bread",
             "drink a lemonade", "eat a pastry", "listen to music", "buy a postcard", "eat some tacos",
             "share a pie", "feed the ducks", "fly a kite", "paint a picture", "play chess",
             "drink green tea", "eat grilled fish", "buy flowers", "write a letter", "eat a bagel")
ACT_SECOND = ("sit in {park}", "walk along {street}", "visit the {museum}", "watch the boats at {place}",
              "relax in {park}", "climb the hill near {place}", "swim at {place}", "wander around {street}",
              "rest under a tree in {park}", "look at the old houses on {street}")
PARKS = ("Golden Park", "Maple Park", "River Park", "Cedar Park", "Lincoln Park", "Oak Garden",
         "Rose Garden", "Central Park", "Hyde Park", "Elm Square", "Willow Park", "Dolores Park")
MUSEUMS = ("art museum", "science museum", "old castle", "city museum", "botanical garden", "aquarium",
           "history museum", "old library")
SPOTS = ("the beach", "the lake", "the harbor", "the marina", "the pier", "the bay", "the river")
ACT_TIME = ("on a sunny day", "in the early morning", "after the rain", "at sunset", "on a warm evening",
            "on a quiet Sunday", "in the spring", "late at night", "before lunch", "on a cold morning",
            "with a good friend", "during the summer", "on a windy afternoon", "with the whole family")


def noise_filler(n_chars: int, rng: random.Random, cut: bool) -> str:
    """The passkey noise unit repeated; cut at n_chars (mid-word, as the reference slices) or at a unit."""
    if n_chars <= 0:
        return ""
    units = " ".join([NOISE] * (n_chars // (len(NOISE) + 1) + 2))
    if cut:
        return units[:n_chars]
    n_units = max(1, round(n_chars / (len(NOISE) + 1)))
    return " ".join([NOISE] * n_units)


def natural_filler(n_chars: int, rng: random.Random, cut: bool = False) -> str:
    """Natural sentences of about n_chars, optionally cut at n_chars characters."""
    if n_chars <= 0:
        return ""
    text = Writer(rng).text(n_chars)
    return text[:n_chars] if cut else text


def passkey_line(k: int) -> str:
    return f"The pass key is {k}. Remember it. {k} is the pass key."


def niah_needle(city: str, activity: str) -> str:
    return f"The best thing to do in {city} is {activity}."


def niah_question(city: str) -> str:
    return f"Question: What is the best thing to do in {city}?\nAnswer: The best thing to do in {city} is"


def _activity(rng: random.Random) -> str:
    first = rng.choice(ACT_FIRST)
    shape = rng.randrange(4)
    second = rng.choice(ACT_SECOND).format(park=rng.choice(PARKS), street=rng.choice(STREETS),
                                           museum=rng.choice(MUSEUMS), place=rng.choice(SPOTS))
    if shape == 0:
        act = f"{first} {rng.choice(ACT_TIME)}"
    elif shape == 1:
        act = f"{first} and {second}"
    else:
        act = f"{first} and {second} {rng.choice(ACT_TIME)}"
    return NIAH_EVAL_ACTIVITY.replace("eat", "buy") if act == NIAH_EVAL_ACTIVITY else act


def _ruler_key(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"


def _ruler_value(rng: random.Random, kind: str) -> str:
    if kind == "numbers":
        return str(rng.randint(1000000, 9999999))
    if kind == "uuids":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return rng.choice(NOUNS)


def _insert(sentences: list[str], items: list[str], rng: random.Random) -> list[str]:
    """Insert items (in order) at uniformly random sentence boundaries."""
    out = list(sentences)
    cuts = sorted(rng.randint(0, len(sentences)) for _ in items)
    for shift, (pos, item) in enumerate(zip(cuts, items)):
        out.insert(pos + shift, item)
    return out


def _haystack_sentences(rng: random.Random, n_chars: int) -> list[str]:
    if rng.random() < 0.5:
        return [NOISE] * max(1, n_chars // (len(NOISE) + 1))
    return Writer(rng).sentences(n_chars)


# --- training documents -----------------------------------------------------------------------
def _passkey_doc(rng: random.Random, target: int) -> str:
    k = rng.randint(1, 50000)
    info = passkey_line(k)
    budget = max(0, target - len(PASSKEY_INTRO) - len(info) - len(PASSKEY_QUESTION) - 12)
    depth = rng.random()
    natural, cut = rng.random() < 0.3, rng.random() < 0.5
    if rng.random() < 0.05:   # the depth-0 / depth-100 edge cases of the eval grid
        depth = float(rng.random() < 0.5)
    n_pre = round(depth * budget)
    fill = (lambda n: natural_filler(n, rng, cut)) if natural else (lambda n: noise_filler(n, rng, cut))
    lines = [PASSKEY_INTRO, fill(n_pre), info, fill(budget - n_pre), f"{PASSKEY_QUESTION} {k}."]
    return "\n".join(lines)


def _niah_doc(rng: random.Random, target: int) -> str:
    city = rng.choice(CITIES)
    activity = _activity(rng)
    needles = [niah_needle(city, activity)]
    if rng.random() < 0.15:   # distractor needles about other cities
        for c in rng.sample([c for c in CITIES if c != city], rng.randint(1, 3)):
            needles.append(niah_needle(c, _activity(rng)))
        rng.shuffle(needles)
    q = niah_question(city)
    budget = max(0, target - sum(len(n) + 2 for n in needles) - len(q) - len(activity) - 4)
    hay = Writer(rng).sentences(budget)
    seps = []
    for _ in needles:
        seps.append((rng.choice((" ", " ", "\n")), rng.choice((" ", " ", "\n", "\n "))))
    sents = _insert(hay, needles, rng)
    out = []
    for s in sents:
        if s in needles:
            before, after = seps[needles.index(s)]
            out.append(before + s + after)
        else:
            out.append(s + " ")
    body = "".join(out).strip()
    return f"{body}\n{q} {activity}."


def _ruler_niah_doc(rng: random.Random, target: int) -> str:
    kind = rng.choices(("numbers", "words", "uuids"), weights=(7, 1.5, 1.5))[0]
    key = _ruler_key(rng)
    values = [_ruler_value(rng, kind) for _ in range(rng.choice((1, 1, 1, 2, 3, 4)))]
    needles = [f"One of the special magic {kind} for {key} is: {v}." for v in values]
    for _ in range(rng.choice((0, 0, 1, 2, 3))):   # distractor keys (niah_multikey)
        dk = _ruler_key(rng)
        if dk != key:
            needles.append(f"One of the special magic {kind} for {dk} is: {_ruler_value(rng, kind)}.")
    rng.shuffle(needles)
    intro = RULER_NIAH_INTRO.format(t=kind)
    q = f"What are all the special magic {kind} for {key} mentioned in the provided text?"
    a = f"The special magic {kind} for {key} mentioned in the provided text are {', '.join(values)}."
    budget = max(0, target - len(intro) - len(q) - len(a) - sum(len(n) + 1 for n in needles) - 4)
    context = " ".join(_insert(_haystack_sentences(rng, budget), needles, rng))
    return f"{intro}\n{context}\n{q} {a}"


def _vt_doc(rng: random.Random, target: int) -> str:
    def var() -> str:
        return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))

    chains = []
    for _ in range(rng.choice((1, 1, 2))):
        names = [var() for _ in range(rng.choice((3, 4, 5, 5, 5)))]
        value = rng.randint(10000, 99999)
        chain = [f"VAR {names[0]} = {value}."] + [f"VAR {b} = VAR {a}." for a, b in itertools.pairwise(names)]
        chains.append((names, value, chain))
    names, value, _ = chains[0]
    q = (f"Question: Find all variables that are assigned the value {value} in the text above. "
         f"Answer: According to the chain(s) of variables assigned in the text above, {len(names)} "
         f"variables are assigned the value {value}, they are: {' '.join(names)}")
    statements = [s for _, _, c in chains for s in c]
    budget = max(0, target - len(RULER_VT_INTRO) - len(q) - sum(len(s) + 1 for s in statements) - 4)
    hay = [NOISE] * max(1, budget // (len(NOISE) + 1))
    # keep each chain in order; interleave chains at random positions
    order = [i for i, (_, _, c) in enumerate(chains) for _ in c]
    rng.shuffle(order)
    pos = [0] * len(chains)
    items = []
    for i in order:
        items.append(chains[i][2][pos[i]])
        pos[i] += 1
    context = " ".join(_insert(hay, items, rng))
    return f"{RULER_VT_INTRO}\n\n{context}\n{q}"


def _kv_pair(rng: random.Random, w: Writer) -> tuple[str, str, str]:
    """(fact, question, answer sentence) for one key-value fact; key is the first element's key."""
    k = rng.randrange(5)
    if k == 0:
        name, v = rng.choice(NAMES), rng.randint(1, 50000)
        return (f"The pass key of {name} is {v}.", f"What is the pass key of {name}?",
                f"The pass key of {name} is {v}.")
    if k == 1:
        city, act = rng.choice(CITIES), _activity(rng)
        return niah_needle(city, act), f"What is the best thing to do in {city}?", niah_needle(city, act)
    if k == 2:
        key, v = _ruler_key(rng), rng.randint(1000000, 9999999)
        return (f"One of the special magic numbers for {key} is: {v}.",
                f"What is the special magic number for {key}?", f"The special magic number for {key} is {v}.")
    if k == 3:
        thing, v = f"{rng.choice(COLORS)} {rng.choice(OBJECTS)}", rng.randint(100, 99999)
        return (f"The code of the {thing} is {v}.", f"What is the code of the {thing}?",
                f"The code of the {thing} is {v}.")
    name, cat = rng.choice(NAMES), rng.choice(("city", "color", "food"))
    v = rng.choice({"city": CITIES, "color": COLORS, "food": FOODS}[cat])
    return (f"{name}'s favorite {cat} is {v}.", f"What is {name}'s favorite {cat}?",
            f"{name}'s favorite {cat} is {v}.")


def _kv_doc(rng: random.Random, target: int) -> str:
    """Several key-value facts scattered in filler, then every fact asked back in random order.

    Dense retrieval signal (many answers per document) makes copying from context
    worth learning early; the single-needle formats alone give a few tokens per document.
    """
    w = Writer(rng)
    pairs, seen = [], set()
    for _ in range(rng.randint(2, 8)):
        p = _kv_pair(rng, w)
        if p[1] not in seen:
            seen.add(p[1])
            pairs.append(p)
    qa = [f"Question: {q}\nAnswer: {a}" for _, q, a in pairs]
    rng.shuffle(qa)
    budget = max(0, target - sum(len(f) + len(x) + 2 for (f, _, _), x in zip(pairs, qa)))
    context = " ".join(_insert(_haystack_sentences(rng, budget), [f for f, _, _ in pairs], rng))
    return context + "\n" + "\n".join(qa)


def _repeat_doc(rng: random.Random, target: int) -> str:
    """A passage, some filler, then the same passage again: the plainest copy-from-context signal.

    Exact repeats make induction (copying what followed an earlier match) pay off on
    every repeated token, which is what lets a tiny model learn retrieval quickly.
    """
    n = rng.randint(60, max(80, target // 3))
    if rng.random() < 0.5:
        seg = Writer(rng).text(n)
    else:
        pool = rng.choice((NAMES, CITIES, NOUNS, COLORS))
        items = []
        while sum(len(x) + 1 for x in items) < n:
            items.append(str(rng.randint(1, 99999)) if rng.random() < 0.5 else rng.choice(pool))
        seg = " ".join(items)
    lead = rng.choice(("Read this carefully:", "Here is a list:", "Notes:", ""))
    again = rng.choice(("Again:", "Repeat it:", "Once more:", ""))
    filler = natural_filler(max(0, target - 2 * len(seg) - 30), rng) if rng.random() < 0.5 else \
        noise_filler(max(0, target - 2 * len(seg) - 30), rng, cut=False)
    return "\n".join(x for x in (f"{lead} {seg}".strip(), filler, f"{again} {seg}".strip()) if x)


def _natural_doc(rng: random.Random, target: int) -> str:
    return Writer(rng).text(target)


_KINDS = ((_passkey_doc, 0.23), (_niah_doc, 0.23), (_kv_doc, 0.20), (_repeat_doc, 0.12),
          (_ruler_niah_doc, 0.08), (_vt_doc, 0.04), (_natural_doc, 0.10))


KIND_NAMES = {"passkey": _passkey_doc, "niah": _niah_doc, "kv": _kv_doc, "repeat": _repeat_doc,
              "ruler": _ruler_niah_doc, "vt": _vt_doc, "natural": _natural_doc}


def training_document(rng: random.Random, target_chars: int,
                      weights: dict[str, float] | None = None) -> str:
    """One training document of about target_chars characters.

    Mix: passkey 23%, gkamradt NIAH 23%, key-value facts asked back 20%, repeated
    passages 12%, RULER needles 8%, variable tracking 4%, plain natural text 10%.  The
    retrieval fact sits at a uniform random depth and the answer is written out at the end, so plain next-token training teaches retrieval.
    ``weights`` (kind name -> weight, see KIND_NAMES) overrides the mix.
    """
    if weights:   # e.g. a copy-heavy warm-up mix; keys are KIND_NAMES
        make = KIND_NAMES[rng.choices(sorted(weights), weights=[weights[k] for k in sorted(weights)])[0]]
    else:
        make = rng.choices([k for k, _ in _KINDS], weights=[w for _, w in _KINDS])[0]
    return make(rng, target_chars)
