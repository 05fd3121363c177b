"""Token-exact assembly helpers shared by the RULER generators.

Reference: NVIDIA/RULER `scripts/data/synthetic/*.py` fit a prompt by binary-searching
the haystack size and then re-tokenizing every sample. Here every piece of text is
encoded once (per tokenizer, or once per sample for the few random strings) and a
prompt is a concatenation of token arrays, sized to the exact budget.

Pieces are cut only where the joint text would also be cut by the tokenizer's
pre-tokenizer (before a space-led word, after a newline), so decoding a prompt and
encoding it again gives the same ids for byte-level BPE tokenizers (Llama-3, GPT-2
style); `benchmarks/ruler_generation.py` measures how often that holds.
"""
from __future__ import annotations

import hashlib

import numpy as np

from evalsuite.tokenization import Tokenizer
from evalsuite.types import EvalError

_SPACE_MARKS = (" ", "\u0120", "\u2581")       # " ", byte-level "Ġ", sentencepiece "▁"


class Encoder:
    """Memoized piece encoder plus per-token character classes for safe cuts."""

    _by_tok: dict[str, Encoder] = {}

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        self.memo: dict[str, np.ndarray] = {}
        n = max(len(tok.hf), max(tok.hf.get_vocab().values()) + 1)
        self.known = np.zeros(n, dtype=bool)
        self.space_word = np.zeros(n, dtype=bool)     # " word": starts with a space then a letter
        self.alnum_end = np.zeros(n, dtype=bool)      # last character is a letter or digit
        self.alnum_start = np.zeros(n, dtype=bool)    # first character is a letter or digit
        self.sent_end = np.zeros(n, dtype=bool)       # ends a sentence: . ? !
        self.newline_end = np.zeros(n, dtype=bool)

    @classmethod
    def get(cls, tok: Tokenizer) -> Encoder:
        enc = cls._by_tok.get(tok.fingerprint)
        if enc is None or enc.tok is not tok:
            enc = cls._by_tok[tok.fingerprint] = cls(tok)
        return enc

    def batch(self, texts: list[str]) -> list[np.ndarray]:
        """Encode without special tokens, one array per text (no memo: for random strings)."""
        if not texts:
            return []
        backend = getattr(self.tok.hf, "backend_tokenizer", None)
        if backend is not None:
            raw = [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
        else:
            raw = self.tok.encode_batch(texts)
        return [np.asarray(r, dtype=np.int32) for r in raw]

    def __call__(self, text: str) -> np.ndarray:
        ids = self.memo.get(text)
        if ids is None:
            ids = self.memo[text] = self.batch([text])[0]
        return ids

    def many(self, texts: list[str]) -> list[np.ndarray]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        for t, ids in zip(missing, self.batch(missing)):
            self.memo[t] = ids
        return [self.memo[t] for t in texts]

    def classify(self, ids: np.ndarray) -> None:
        """Fill the character-class tables for every id not seen yet."""
        ids = np.asarray(ids)
        fresh = ids[~self.known[ids]]                # usually empty: skip the sort of a 128k stream
        if not len(fresh):
            return
        new = np.unique(fresh).tolist()
        hf = self.tok.hf
        pieces = hf.convert_ids_to_tokens(new)
        for i, piece in zip(new, pieces):
            text = hf.decode([i])
            spaced = bool(piece) and piece[0] in _SPACE_MARKS
            core = text.lstrip(" ") if spaced or text.startswith(" ") else text
            self.space_word[i] = (spaced or text.startswith(" ")) and core[:1].isalpha()
            self.alnum_start[i] = not spaced and not text.startswith(" ") and text[:1].isalnum()
            self.alnum_end[i] = text[-1:].isalnum()
            self.sent_end[i] = text.rstrip(" ").endswith((".", "?", "!"))
            self.newline_end[i] = text.endswith("\n")
        self.known[new] = True


class Stream:
    """A token stream with the positions where it may be cut or receive an insertion.

    Cut tests are evaluated only at the positions asked for: a per-sample distractor
    stream of 128k tokens is cut once, so whole-stream masks would be wasted work.
    """

    def __init__(self, enc: Encoder, ids: np.ndarray, slots: np.ndarray):
        self.enc, self.ids, self.slots = enc, ids, slots     # slots: sorted sentence or line starts

    @classmethod
    def of(cls, enc: Encoder, ids: np.ndarray, slot_kind: str) -> Stream:
        ids = np.asarray(ids, dtype=np.int32)
        enc.classify(ids)
        after_nl = np.flatnonzero(enc.newline_end[ids[:-1]]) + 1
        if slot_kind == "line":
            slots = np.concatenate([[0], after_nl]) if len(ids) else after_nl
        else:
            slots = np.flatnonzero(enc.sent_end[ids[:-1]] & enc.space_word[ids[1:]]) + 1
        return cls(enc, ids, slots)

    def end_ok(self, pos: np.ndarray) -> np.ndarray:
        """A window may end before pos (1 <= pos < len): a word ends there and no word goes on."""
        return self.enc.alnum_end[self.ids[pos - 1]] & ~self.enc.alnum_start[self.ids[pos]]

    def start_ok(self, limit: int) -> np.ndarray:
        """Positions below limit where a window may begin: a space-led word or a line start."""
        ids = self.ids[:limit]
        ok = self.enc.space_word[ids]
        ok[0] = True
        ok[1:] |= self.enc.newline_end[ids[:-1]]
        return np.flatnonzero(ok)

    def window(self, n: int) -> int:
        """First start s such that [s, s+n) begins and ends at safe cuts (0 if none)."""
        if n <= 0:
            return 0
        if n >= len(self.ids):
            raise EvalError(f"haystack stream of {len(self.ids)} tokens is shorter than the {n} needed")
        limit = len(self.ids) - n
        # prefer the stream start and the first sentence/line starts, then any word start
        first = np.concatenate([[0], self.slots[:64]])
        first = first[first < limit]
        good = first[self.end_ok(first + n)]
        if len(good):
            return int(good[0])
        starts = self.start_ok(limit)
        good = starts[self.end_ok(starts + n)]
        return int(good[0]) if len(good) else 0

    def slots_in(self, s: int, e: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.slots, [s, e])
        return self.slots[lo:hi]


def ragged(segments: list[tuple[list[np.ndarray], np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows made of segments: row j = concat(table_k[idx_k[j]] for k). Returns (flat ids, row lengths).

    A table is a list of id arrays; idx an int array with one entry per row. Vectorized:
    one pass per segment and per token column, no Python loop over rows.
    """
    n_rows = len(segments[0][1])
    padded = [(*_padded(table), np.asarray(idx)) for table, idx in segments]
    seg_lens = (np.stack([lens[idx] for _, lens, idx in padded], axis=1) if n_rows
                else np.zeros((0, len(padded)), np.int64))
    row_lens = seg_lens.sum(axis=1)
    seg_starts = np.cumsum(seg_lens, axis=1) - seg_lens + (np.cumsum(row_lens) - row_lens)[:, None]
    out = np.empty(int(row_lens.sum()), dtype=np.int32)
    for k, (pad, _lens, idx) in enumerate(padded):
        sl = seg_lens[:, k]
        for col in range(pad.shape[1]):
            rows = np.flatnonzero(sl > col)
            out[seg_starts[rows, k] + col] = pad[idx[rows], col]
    return out, row_lens


_PADDED: dict[int, tuple[list, int, np.ndarray, np.ndarray]] = {}


def _padded(table: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(rows x width zero-padded ids, row lengths), cached per table object (tables are reused)."""
    hit = _PADDED.get(id(table))
    if hit is not None and hit[0] is table and hit[1] == len(table):
        return hit[2], hit[3]
    lens = np.fromiter((len(t) for t in table), dtype=np.int64, count=len(table))
    pad = np.zeros((len(table), max(int(lens.max()) if len(lens) else 0, 1)), dtype=np.int32)
    for r, t in enumerate(table):
        pad[r, : len(t)] = t
    if len(table) >= 512:                     # shared tables only (words, numbers, pools)
        _PADDED[id(table)] = (table, len(table), pad, lens)
    return pad, lens


def np_rng(*parts) -> np.random.Generator:
    digest = hashlib.sha256("-".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def insert_at(ids: np.ndarray, positions: list[int], pieces: list[np.ndarray]) -> list[np.ndarray]:
    """Split ids at sorted positions and put pieces[k] at positions[k] (equal positions stack)."""
    out, last = [], 0
    for p, piece in sorted(zip(positions, range(len(pieces))), key=lambda x: (x[0], x[1])):
        out.append(ids[last:p])
        out.append(pieces[piece])
        last = p
    out.append(ids[last:])
    return out


def join(parts: list) -> np.ndarray:
    """One int32 prompt from its pieces (id lists or arrays) in a single copy."""
    return np.concatenate(parts, dtype=np.int32, casting="unsafe")


def pick_slots(rng, slots: np.ndarray, k: int, offset: int) -> list[int]:
    """rng.sample (or rng.choices when there are fewer than k) of slots - offset, drawn by
    index: the same draws as sampling the list itself, without building that list."""
    m = len(slots)
    idx = rng.sample(range(m), k) if m >= k else rng.choices(range(m), k=k)
    return [int(slots[j]) - offset for j in idx]


def need(n: int, what: str, length: int) -> None:
    if n < 0:
        raise EvalError(f"{what} does not fit the context length {length} ({-n} tokens short): use longer --lengths")
