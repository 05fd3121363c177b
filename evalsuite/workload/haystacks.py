"""Haystack token streams shared by the retrieval tasks.

A stream depends only on (source, tokenizer), never on the lengths of a run, so
the prompt for a given length and seed is the same in every run. Sources:
`noise` (the RULER/passkey noise sentences), `demo` (the bundled corpus
generator, grown block by block) or a local file or directory.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Haystack, Tokenizer, read_text_source

# RULER scripts/data/synthetic/niah.py and YaRN eval/passkey.py use this noise unit.
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
_BLOCK_CHARS = 100_000
_FINGERPRINT_BLOCKS = 2                  # blocks of a generated stream that its fingerprint hashes
_CACHE: dict[tuple[str, str], Haystack] = BoundedDict(32)


def _demo_block(i: int) -> str:
    from evalsuite.workload import corpus  # the generator is pure Python; imported on use
    return corpus.haystack_text(_BLOCK_CHARS, seed=10_000 + i).strip()


@lru_cache(maxsize=32)
def _generated_fingerprint(source: str) -> str:
    """Hash of the first blocks of a generated stream, joined as _GrowingHaystack joins them
    (seed derivation and joining included); ~10 ms a demo block, once per process."""
    return hashlib.sha256(stream_text(source, _FINGERPRINT_BLOCKS).encode()).hexdigest()[:16]


def stream_text(source: str, blocks: int) -> str:
    """The text the first `blocks` blocks of a generated stream (demo, noise) read as: blocks
    joined by one space, as the stream's ids join them."""
    block = _demo_block if source == "demo" else _repeat_noise
    return " ".join(block(i) for i in range(blocks))


def _repeat_noise(i: int) -> str:
    return " ".join([NOISE] * (_BLOCK_CHARS // len(NOISE)))


class _GrowingHaystack(Haystack):
    """A stream of independently encoded blocks: a longer stream extends a shorter one.

    Each later block is encoded as the text it continues (" " + block, `Haystack` encodes mid-text),
    so the ids read as the blocks joined by one space, with no dummy-prefix space at a join.
    """

    def __init__(self, tok: Tokenizer, block, source: str):
        self._tok, self._block, self._n = tok, block, 0
        super().__init__(tok, self._next_text(), source)

    def _next_text(self) -> str:
        text = ("" if self._n == 0 else " ") + self._block(self._n)
        self._n += 1
        return text

    def grow_to(self, n_tokens: int) -> None:
        if len(self.ids) >= n_tokens:
            return
        parts = [self._next_text()]
        est = max(1, len(self.ids) // self._n)
        while len(self.ids) + est * len(parts) < n_tokens * 1.05:
            parts.append(self._next_text())
        more = Haystack(self._tok, "".join(parts), self.source)
        self.boundaries = np.concatenate([self.boundaries, more.boundaries + len(self.ids)])
        self.ids = np.concatenate([self.ids, more.ids])


def source_fingerprint(source: str | None) -> str:
    """Changes whenever the text behind a haystack source changes (keys the workload cache).

    The generated sources (demo, noise) are fingerprinted by their text, not by the code that
    writes it: an edit that leaves the text alone keeps every cached workload valid, and any
    change to the generator's output invalidates them.
    """
    if source in (None, "demo", "noise"):
        return _generated_fingerprint(source or "demo")
    return hashlib.sha256(read_text_source(source).encode()).hexdigest()[:16]


def depth_grid(n: int) -> list[float]:
    """n depths evenly spaced over 0..100% (one sample sits in the middle)."""
    return [50.0] if n == 1 else [100.0 * i / (n - 1) for i in range(n)]


def get_haystack(tok: Tokenizer, source: str | None, min_tokens: int) -> Haystack:
    """The token stream of `source` holding at least `min_tokens` (files cycle if shorter)."""
    source = source or "demo"
    key = (tok.fingerprint, source)
    hay = _CACHE.get(key)
    if hay is None:
        if source == "demo":
            hay = _GrowingHaystack(tok, _demo_block, "demo corpus")
        elif source == "noise":
            hay = _GrowingHaystack(tok, _repeat_noise, "noise")
        else:
            hay = Haystack(tok, read_text_source(source), source)
        _CACHE[key] = hay
    if isinstance(hay, _GrowingHaystack):
        hay.grow_to(min_tokens)
    return hay
