"""Write the JSON-lines data of evalsuite's own lm-eval tasks (run: python tasks/lmeval_tasks/make_data.py).

Why: the lmeval suite's tests and its offline demo need lm-eval tasks whose data ships with the
project. Both are short-context questions in the style the demo model was trained on
(scripts/training_corpus.py: key-value recall and passkey documents), so the demo model scores
well above chance within its 512 tokens, and a RoPE setting that hurts short contexts shows.
The text comes from evalsuite.workload.corpus (seeded), so rerunning this script rewrites the same bytes.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from evalsuite.workload.corpus import NAMES, Writer

HERE = Path(__file__).parent
DOCS = 48
# passkey lines as in yarn eval/passkey.py (the demo model's training format, scripts/training_corpus.py)
INTRO = ("There is an important info hidden inside a lot of irrelevant text. "
         "Find it and memorize them. I will quiz you about the important information there.")
INFO = "The pass key is {key}. Remember it. {key} is the pass key."
QUESTION = "What is the pass key? The pass key is"


def facts_doc(i: int) -> dict:
    """A person's pass key in filler (the key-value format of the demo model's training documents),
    asked back; the four choices are that key and three the text does not hold, all of five digits
    (chance: 25%). The filler holds other numbers (codes, years, prices) too."""
    rng = random.Random(f"lmeval-facts-{i}")
    person = rng.choice(NAMES)
    keys = [str(k) for k in rng.sample(range(10000, 50000), 4)]
    writer = Writer(rng)
    parts = writer.sentences(rng.randint(100, 500)) + [f"The pass key of {person} is {keys[0]}."] + \
        writer.sentences(rng.randint(100, 400))
    choices = list(keys)
    rng.shuffle(choices)
    return {"context": " ".join(parts), "name": person, "choices": choices, "label": choices.index(keys[0])}


def passkey_doc(i: int) -> dict:
    rng = random.Random(f"lmeval-passkey-{i}")
    key = rng.randint(1, 50000)
    writer = Writer(rng)
    before, after = writer.text(rng.randint(50, 400)), writer.text(rng.randint(50, 400))
    prompt = "\n".join([INTRO, before, INFO.format(key=key), after, QUESTION])
    return {"prompt": prompt, "answer": str(key)}


def main() -> None:
    for name, make in (("facts.jsonl", facts_doc), ("passkey.jsonl", passkey_doc)):
        lines = [json.dumps(make(i), ensure_ascii=False) for i in range(DOCS)]
        (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
