"""Haystack streams and word lists for RULER.

Reference: NVIDIA/RULER `scripts/data/synthetic/niah.py` and `variable_tracking.py`:
- noise haystack: the noise sentence repeated, one per line (lines joined by "\n");
- essay haystack: Paul Graham essays with all whitespace collapsed to single spaces
  (`re.sub(r'\\s+', ' ', essay)`), repeated when too short; here any text source:
  the bundled demo corpus (default, offline), a local file or directory (sorted), or a
  hub data set `hf:NAME[:SPLIT[:COLUMN]]` through `datasets`;
- keys: "adjective-noun" pairs from the wonderwords package lists (`nounlist.txt`,
  `adjectivelist.txt`); cwe words: nouns + adjectives + verbs, sorted and de-duplicated.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from evalsuite.types import EvalError
from evalsuite.workload.haystacks import _demo_block, _repeat_noise
from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Tokenizer, read_text_source

from .build import Encoder, Stream
from .spec import NOISE

_STREAMS: dict[tuple[str, str], Stream] = BoundedDict(16)
_ESSAY_TEXT: dict[tuple[str, str], list[np.ndarray]] = BoundedDict(16)


def noise_stream(tok: Tokenizer, n: int) -> Stream:
    """NOISE lines, each encoded with its newline (the ".\\n" merge stays as in the joint text)."""
    enc = Encoder.get(tok)
    key = (tok.fingerprint, "ruler-noise")
    st = _STREAMS.get(key)
    if st is None or len(st.ids) <= n:
        unit = enc(NOISE + "\n")
        reps = max(2 * (-(-n // len(unit))), 64)
        st = _STREAMS[key] = Stream.of(enc, np.tile(unit, reps), "line")
    return st


def essay_stream(tok: Tokenizer, source: str | None, n: int) -> Stream:
    """The essay haystack as one token stream of more than n tokens, with sentence slots.

    niah.py: the essay's whitespace collapsed to single spaces, repeated (joined by a space)
    when too short; every part is encoded as it reads mid-text (after the template's "\\n").
    The generated sources (demo, noise) are the blocks `evalsuite.workload.haystacks` joins, so the
    workload cache's source fingerprint covers this text.
    """
    enc = Encoder.get(tok)
    source = source or "demo"
    key = (tok.fingerprint, source)
    st = _STREAMS.get(key)
    if st is not None and len(st.ids) > n:
        return st
    parts = _ESSAY_TEXT.setdefault(key, [])
    total = sum(len(p) for p in parts)
    if source in ("demo", "noise"):
        block = _demo_block if source == "demo" else _repeat_noise
        while total <= n:
            text = _collapse(block(len(parts)))
            parts.append(enc.batch([text if not parts else " " + text])[0])
            total += len(parts[-1])
    else:
        text = _collapse(_read(source))
        if not text:
            raise EvalError(f"haystack source {source} is empty")
        if not parts:
            parts.append(enc.batch([text])[0])
            total = len(parts[0])
        if total <= n:
            again = enc.batch([" " + text])[0]       # repeats join with a space, as the word list does
            while total <= n:
                parts.append(again)
                total += len(again)
    st = _STREAMS[key] = Stream.of(enc, np.concatenate(parts), "sentence")
    return st


def _collapse(text: str) -> str:
    """niah.py: re.sub(r'\\s+', ' ', essay) (and no space at either end)."""
    return re.sub(r"\s+", " ", text).strip()


def _read(source: str) -> str:
    if source.startswith("hf:"):
        return _hub_text(source)
    return read_text_source(source)


def _hub_text(source: str) -> str:
    """`hf:NAME[:SPLIT[:COLUMN]]`: rows of one text column joined in data set order."""
    name, split, column = (source[3:].split(":") + ["train", "text"])[:3]
    try:
        import datasets
    except ImportError:
        raise EvalError(f"--haystack {source} needs the `datasets` package: pip install datasets") from None
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as e:          # offline, unknown name, bad split: one line for the user
        raise EvalError(f"cannot load --haystack {source}: {str(e).splitlines()[0][:200]}; "
                        "pass a local text file or directory instead") from None
    if column not in ds.column_names:
        raise EvalError(f"--haystack {source}: no column {column!r}; it has {', '.join(ds.column_names)}")
    return "\n\n".join(str(t) for t in ds[column])


@lru_cache(maxsize=32)
def wonder_words() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(adjectives, nouns, verbs) as shipped by wonderwords (read offline from the package)."""
    try:
        from importlib.resources import files

        import wonderwords  # noqa: F401
    except ImportError:
        raise EvalError("RULER needs the word lists of the `wonderwords` package: pip install wonderwords") from None
    base = files("wonderwords") / "assets"

    def read(name):
        return tuple(w.rstrip() for w in (base / name).read_text(encoding="utf-8").splitlines() if w.strip())
    return read("adjectivelist.txt"), read("nounlist.txt"), read("verblist.txt")


@lru_cache(maxsize=32)
def cwe_words() -> tuple[str, ...]:
    """common_words_extraction.py: sorted(set(nouns + adjs + verbs)) (shuffled per sample here)."""
    adjs, nouns, verbs = wonder_words()
    return tuple(sorted(set(nouns + adjs + verbs)))
