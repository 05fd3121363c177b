"""RULER task specifications, reproduced from NVIDIA/RULER.

- `scripts/synthetic.yaml`: the 13 tasks and their arguments (NIAH_ARGS, VT, CWE, FWE, QA below);
- `scripts/data/synthetic/constants.py`: templates, answer prefixes, tokens_to_generate;
- `scripts/data/template.py` + `scripts/data/prepare.py`: prompt = model template around the
  task template, then the answer prefix (here: Framing head/tail around the task text, then
  the answer prefix, all counted in the budget);
- `scripts/data/synthetic/niah.py`: needle sentence, 40 depths, singular wording.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsuite.types import Payload
from evalsuite.workload.haystacks import NOISE  # noqa: F401 - the RULER noise unit, re-exported for the generators

TASKS = ("niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
         "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2")
DEFAULT_SAMPLES = 500
DEFAULT_SEED = 42
THRESHOLD = 85.6          # RULER README: Llama-2-7B (4k) average, the effective-length bar

# constants.py: TASKS[...]['tokens_to_generate']
MAX_NEW = {"niah": 128, "vt": 30, "cwe": 120, "fwe": 50, "qa": 32}

NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
# niah.py: DEPTHS = np.round(np.linspace(0, 100, num=40)).astype(int)
DEPTHS = [int(d) for d in np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int)]


@dataclass(frozen=True)
class NiahArgs:
    type_haystack: str     # noise | essay | needle
    type_needle_k: str     # words | uuids
    type_needle_v: str     # numbers | uuids
    num_needle_k: int = 1
    num_needle_v: int = 1
    num_needle_q: int = 1


NIAH_ARGS = {
    "niah_single_1": NiahArgs("noise", "words", "numbers"),
    "niah_single_2": NiahArgs("essay", "words", "numbers"),
    "niah_single_3": NiahArgs("essay", "words", "uuids"),
    "niah_multikey_1": NiahArgs("essay", "words", "numbers", num_needle_k=4),
    "niah_multikey_2": NiahArgs("needle", "words", "numbers"),
    "niah_multikey_3": NiahArgs("needle", "uuids", "uuids"),
    "niah_multivalue": NiahArgs("essay", "words", "numbers", num_needle_v=4),
    "niah_multiquery": NiahArgs("essay", "words", "numbers", num_needle_q=4),
}

# Templates split at {context}: (before, after, answer_prefix).
NIAH_TEMPLATE = (
    "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the {type_needle_v} afterwards.\n",
    "\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?",
    " The special magic {type_needle_v} for {query} mentioned in the provided text are",
)
VT_TEMPLATE = (
    "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n",
    "\nQuestion: Find all variables that are assigned the value {query} in the text above.",
    " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables "
    "are assigned the value {query}, they are: ",
)
VT_ARGS = {"num_chains": 1, "num_hops": 4}
CWE_TEMPLATE = (
    "Below is a numbered list of words. In these words, some appear more often than others. "
    "Memorize the ones that appear most often.\n",
    "\nQuestion: What are the 10 most common words in the above list?",
    " Answer: The top 10 words that appear most often in the list are:",
)
CWE_ARGS = {"freq_cw": 30, "freq_ucw": 3, "num_cw": 10, "num_fewshot": 1}
FWE_TEMPLATE = (
    "Read the following coded text and track the frequency of each coded word. "
    "Find the three most frequently appeared coded words.",       # then " {context}"
    "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. "
    "What are the three most frequently appeared words in the above coded text?",
    " Answer: According to the coded text above, the three most frequently appeared words are:",
)
FWE_ARGS = {"alpha": 2.0, "coded_wordlen": 6}
QA_TEMPLATE = (
    "Answer the question based on the given documents. Only give me the answer and do not output "
    "any other words.\n\nThe following are given documents.\n\n",
    "Answer the question based on the given documents. Only give me the answer and do not output "
    "any other words.\n\nQuestion: {query}",                      # the context ends with "\n\n"
    " Answer:",
)
QA_DATASET = {"qa_1": "squad", "qa_2": "hotpotqa"}
DOCUMENT_PROMPT = "Document {i}:\n"


def singular(text: str) -> str:
    """niah.py: with one query and one value the template is made singular by these replacements."""
    for old, new in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
        text = text.replace(old, new)
    return text


def family(task: str) -> str:
    return "niah" if task.startswith("niah") else "qa" if task.startswith("qa") else task


@dataclass(frozen=True)
class RulerPayload(Payload):
    """What a RULER sample asked, for reading prompts and reports (None where a task has none)."""

    query: str | None = None        # niah: the key(s) asked for
    value: str | None = None        # vt: the value whose variables are asked for
    question: str | None = None     # qa: the question (first 200 characters)
