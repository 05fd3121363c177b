"""Deterministic natural-looking filler: the demo haystack and the demo perplexity corpus.

Why: the bundled demo model (``evalsuite/demo_model``) must be evaluable on a
machine with no network, so the default NIAH/RULER haystack and the default
perplexity documents are generated here, in pure Python, from a seed.  Every
function takes its randomness from a ``random.Random`` built from an explicit
seed (no global state), so the same seed gives byte-identical text on every
machine and Python >= 3.10.

Only what evaluation needs lives here.  The demo model's training-document
generators (passkey, NIAH, RULER, key-value and repeat formats) live beside the
training script, in ``scripts/training_corpus.py``, and build on :class:`Writer`;
a workload cache is keyed by the generated haystack text itself
(``evalsuite.workload.haystacks.source_fingerprint``), not by this file's bytes.
"""
from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Writer", "haystack_text", "heldout_documents"]

# --- word lists (the cast and scenery of a document) ---------------------------------------
NAMES = ("Anna", "Ben", "Clara", "David", "Elena", "Felix", "Grace", "Henry", "Iris", "Jack", "Julia",
         "Karl", "Laura", "Leo", "Maria", "Martin", "Nina", "Oscar", "Paula", "Peter", "Rosa", "Sam",
         "Sara", "Tom", "Vera", "Victor", "Wendy", "Hugo", "Lucy", "Omar", "Mia", "Noah", "Emma",
         "Lena", "Ivan", "Chloe", "Daniel", "Eva", "George", "Hannah", "Adam", "Alice", "Bruno",
         "Diana", "Frank", "Helen", "Isaac", "Kevin", "Linda", "Lucas", "Marco", "Olga", "Ruth")
SURNAMES = ("Smith", "Brown", "Miller", "Wilson", "Moore", "Taylor", "Clark", "Lewis", "Walker", "Young",
            "King", "Wright", "Hill", "Green", "Baker", "Adams", "Nelson", "Carter", "Turner", "Parker",
            "Evans", "Collins", "Stewart", "Morris", "Rogers", "Cook", "Bell", "Murphy", "Cooper", "Ward")
CITIES = ("Paris", "London", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Lisbon", "Dublin", "Oslo",
          "Stockholm", "Helsinki", "Warsaw", "Athens", "Cairo", "Tokyo", "Osaka", "Seoul", "Beijing",
          "Delhi", "Mumbai", "Sydney", "Melbourne", "Toronto", "Boston", "Chicago", "Denver", "Seattle",
          "Austin", "Miami", "Houston", "Atlanta", "Portland", "Phoenix", "Dallas", "Montreal",
          "New York", "Los Angeles", "San Diego", "San Jose", "Santa Fe", "Las Vegas", "New Orleans",
          "Buenos Aires", "Rio de Janeiro", "Sao Paulo", "Mexico City", "Cape Town", "Hong Kong",
          "Tel Aviv", "Kuala Lumpur", "Salt Lake City", "Kansas City", "St. Louis", "Lima", "Bogota",
          "Nairobi", "Lagos", "Hamburg", "Munich", "Zurich", "Geneva", "Brussels", "Amsterdam",
          "Copenhagen", "Edinburgh", "Glasgow", "Manchester", "Krakow", "Budapest", "Istanbul",
          "Bangkok", "Hanoi", "Manila", "Jakarta", "Singapore", "Auckland", "Vancouver", "Quebec",
          "San Antonio", "Santa Cruz", "San Juan", "Santiago", "Barcelona", "Valencia", "Seville",
          "Naples", "Florence", "Venice", "Milan", "Porto", "Marseille", "Lyon", "Nice", "Kyoto")
FILLER_PLACES = CITIES + ("San Francisco", "Oakland", "Sacramento")
COLORS = ("red", "blue", "green", "yellow", "white", "black", "brown", "gray", "orange", "purple",
          "pink", "silver", "golden", "dark blue", "light green", "teal")
OBJECTS = ("lamp", "chair", "table", "book", "bicycle", "kettle", "umbrella", "clock", "basket", "mirror",
           "jacket", "notebook", "guitar", "vase", "camera", "backpack", "blanket", "teapot", "radio",
           "hat", "scarf", "box", "bottle", "pencil", "window", "door", "boat", "car", "kite", "ladder")
ANIMALS = ("cats", "dogs", "rabbits", "horses", "goats", "ducks", "chickens", "sheep", "parrots", "fish")
JOBS = ("teacher", "baker", "nurse", "doctor", "farmer", "painter", "driver", "writer", "engineer",
        "gardener", "carpenter", "musician", "pilot", "cook", "librarian", "tailor", "fisher", "clerk")
BUILDINGS = ("library", "bakery", "hospital", "school", "museum", "market", "station", "bank", "hotel",
             "theater", "post office", "factory", "harbor", "church", "cafe", "garage", "mill")
LANDMARKS = ("river", "old bridge", "town square", "city park", "main road", "lake", "hill", "forest",
             "beach", "train station", "fountain", "castle")
ROOMS = ("kitchen", "hall", "garden", "attic", "living room", "bedroom", "office", "cellar", "porch")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEATHER = ("sunny", "rainy", "cold", "warm", "windy", "cloudy", "foggy", "quiet", "bright", "snowy")
FOODS = ("soup", "bread", "apples", "cheese", "rice", "fish", "pasta", "cake", "salad", "tea", "coffee",
         "oranges", "pie", "noodles", "beans", "eggs", "honey", "plums")
CATEGORIES = ("color", "food", "animal", "city", "book", "song", "season", "number", "flower", "game")
FLOWERS = ("roses", "tulips", "lilies", "daisies", "orchids", "violets", "sunflowers", "poppies")
SEASONS = ("spring", "summer", "autumn", "winter")
FEELINGS = ("happy", "tired", "surprised", "calm", "proud", "worried", "glad", "curious", "hungry")
STREETS = ("Main Street", "the old harbor", "Market Street", "the river bank", "King Street",
           "the long pier", "the main square", "Hill Road", "the city wall", "Bay Street")


def _date(rng: random.Random) -> str:
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1950, 2030)}"


# One template per sentence kind, drawn by Writer.sentence: (writer, rng, p, q) -> text.  The
# random draws of each template happen left to right, as in the f-string, so the table order
# and each template's draw order are part of the generated text: change them and every
# haystack changes (and with it every cached workload key).
_SENTENCES: tuple[Callable[[Writer, random.Random, str, str], str], ...] = (
    lambda w, r, p, q: f"{p} lives in {r.choice(w.places)}.",
    lambda w, r, p, q: f"{p} moved to {r.choice(w.places)} in {r.randint(1950, 2030)}.",
    lambda w, r, p, q: f"{p} bought a {r.choice(COLORS)} {r.choice(w.objects)} for {r.randint(2, 500)} dollars.",
    lambda w, r, p, q: (f"On {_date(r)}, {p} visited the {r.choice(BUILDINGS)} in {r.choice(w.places)} "
                        f"with {q}."),
    lambda w, r, p, q: f"The {r.choice(w.objects)} in the {r.choice(ROOMS)} is {r.choice(COLORS)}.",
    lambda w, r, p, q: f"{p} has {r.randint(2, 12)} {r.choice(ANIMALS)} and a small {r.choice(OBJECTS)}.",
    lambda w, r, p, q: (f"{p} works as a {r.choice(JOBS)} at the {r.choice(BUILDINGS)} "
                        f"near the {r.choice(LANDMARKS)}."),
    lambda w, r, p, q: (f"It was a {r.choice(WEATHER)} day in {r.choice(w.places)}. {p} walked to the "
                        f"{r.choice(LANDMARKS)} and met {q}. They talked about {r.choice(FOODS)} for a while. "
                        f"Then {p.split()[0]} went home feeling {r.choice(FEELINGS)}."),
    lambda w, r, p, q: f"There are {r.randint(2, 60)} {r.choice(FLOWERS)} in the garden of the {r.choice(BUILDINGS)}.",
    lambda w, r, p, q: (f"In {r.choice(SEASONS)}, the {r.choice(LANDMARKS)} near {r.choice(w.places)} "
                        f"is {r.choice(WEATHER)}."),
    lambda w, r, p, q: f"{p} likes to cook {r.choice(FOODS)} with {r.choice(FOODS)} on {r.choice(MONTHS)} evenings.",
    lambda w, r, p, q: (f"{p} found an old {r.choice(w.objects)} in the {r.choice(ROOMS)}. It was "
                        f"{r.choice(COLORS)} and very {r.choice(('heavy', 'light', 'small', 'large', 'dusty'))}. "
                        f"{q} said it belonged to a {r.choice(JOBS)} from {r.choice(FILLER_PLACES)}."),
    lambda w, r, p, q: (f"The train from {r.choice(w.places)} to {r.choice(FILLER_PLACES)} "
                        f"takes {r.randint(2, 14)} hours."),
)
_N_KINDS = 16     # 0-12 templates, 13-14 a new fact, 15 an earlier fact restated


class Writer:
    """Writes natural-looking sentences about a small per-document cast.

    A document keeps the same few people, places and objects and restates some
    of its facts later on, so that long contexts carry real long-range signal
    (perplexity then depends on how much of the document the model can use).
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.people = [f"{n} {s}" if rng.random() < 0.3 else n
                       for n, s in zip(rng.sample(NAMES, 6), rng.sample(SURNAMES, 6))]
        self.places: list[str] = rng.sample(FILLER_PLACES, 4)
        self.objects: list[str] = rng.sample(OBJECTS, 5)
        self.facts: list[str] = []

    def _p(self) -> str:
        return self.rng.choice(self.people)

    def _fact(self) -> str:
        r = self.rng
        p = self._p()
        kind = r.randrange(6)
        if kind == 0:
            cat = r.choice(CATEGORIES)
            val = {"color": COLORS, "food": FOODS, "animal": ANIMALS, "city": FILLER_PLACES,
                   "flower": FLOWERS, "season": SEASONS}.get(cat)
            value = r.choice(val) if val else str(r.randint(2, 999))
            return f"{p}'s favorite {cat} is {value}."
        if kind == 1:
            return f"The code of the {r.choice(COLORS)} {r.choice(self.objects)} is {r.randint(100, 99999)}."
        if kind == 2:
            return f"{p} was born on {_date(r)}."
        if kind == 3:
            return f"The {r.choice(self.objects)} in the {r.choice(ROOMS)} weighs {r.randint(2, 90)} kilograms."
        if kind == 4:
            return f"{p} lives at number {r.randint(1, 400)} on {r.choice(STREETS).replace('the ', '').title()}."
        return (f"The phone number of the {r.choice(BUILDINGS)} in {r.choice(self.places)} "
                f"is {r.randint(1000000, 9999999)}.")

    def sentence(self) -> str:
        """One sentence or a short story of a few sentences, each ending in '.'."""
        r = self.rng
        k = r.randrange(_N_KINDS)
        p, q = self._p(), self._p()
        if k < len(_SENTENCES):
            return _SENTENCES[k](self, r, p, q)
        if k in (13, 14):
            fact = self._fact()
            self.facts.append(fact)
            return fact
        if self.facts:   # restate an earlier fact: long-range signal inside the document
            lead = r.choice(("As mentioned before, ", "Remember that ", "Note again that ", ""))
            fact = r.choice(self.facts)
            return lead + (fact[0].lower() + fact[1:] if lead and not fact.startswith(tuple(NAMES)) else fact)
        return f"{p} and {q} are old friends from {r.choice(self.places)}."

    def sentences(self, n_chars: int) -> list[str]:
        """Whole sentences whose ' '-joined length is at least n_chars (by less than one sentence)."""
        parts, size = [], 0
        while size < n_chars:
            parts.append(self.sentence())
            size += len(parts[-1]) + 1
        return parts

    def text(self, n_chars: int) -> str:
        """Whole sentences joined by ' ', at least n_chars long (by less than one sentence)."""
        return " ".join(self.sentences(n_chars))


def haystack_text(n_chars: int, seed: int = 0) -> str:
    """Natural filler of whole sentences ('. '-separated, ends with '.'), >= n_chars long.

    Contains no needles and no questions: the default essay haystack for NIAH/RULER.
    """
    return Writer(random.Random(seed)).text(n_chars) if n_chars > 0 else ""


def heldout_documents(n_docs: int, n_chars: int, seed: int = 1234) -> list[str]:
    """Natural-text documents (own cast, facts restated) for the default perplexity corpus.

    Each document has its own seed stream, derived from (seed, index), distinct
    from the training stream, so document i does not depend on n_docs.
    """
    return [Writer(random.Random(f"heldout-{seed}-{i}")).text(n_chars) for i in range(n_docs)]
