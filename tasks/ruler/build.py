"""Token-exact assembly helpers shared by the RULER generators.

Reference: NVIDIA/RULER `scripts/data/synthetic/*.py` fit a prompt by binary-searching
the haystack size (whole lines, sentences, documents or words) and re-tokenizing every
sample. Here every piece of text is encoded once (per tokenizer, or once per sample for
the few random strings) and a prompt is a concatenation of token arrays; the haystack is
the largest run of whole units (lines, sentences) that fits, found by a search over
the cumulative token counts instead of re-tokenizing.

Pieces are encoded as they read in the middle of a text (`Encoder.__call__`, `batch`):
a SentencePiece tokenizer of the Llama-2/Mistral kind prefixes "▁" (a space) to any text
it encodes on its own, which joined as ids would put a stray space at every join. Only
the prompt's first piece is encoded as the start of a text (`Encoder.lead`). Pieces are
cut only where the joint text would also be cut by the tokenizer's pre-tokenizer (before
a space-led word, after a newline), so decoding a prompt and encoding it again mostly
gives the same ids; `benchmarks/ruler_generation.py` measures how often.
"""
from __future__ import annotations

import hashlib

import numpy as np

from evalsuite.types import EvalError
from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Framing, Tokenizer

_SPACE_MARKS = (" ", "\u0120", "\u2581")       # " ", byte-level "Ġ", sentencepiece "▁"
_SENTINEL = "\n"


class Encoder:
    """Memoized mid-text piece encoder plus per-token character classes for unit boundaries."""

    _by_tok: dict[str, Encoder] = {}

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        self.memo: dict[str, np.ndarray] = {}
        self.backend = getattr(tok.hf, "backend_tokenizer", None)
        n = max(len(tok.hf), max(tok.hf.get_vocab().values()) + 1)
        self.known = np.zeros(n, dtype=bool)
        self.space_word = np.zeros(n, dtype=bool)     # " word": starts with a space then a letter
        self.sent_end = np.zeros(n, dtype=bool)       # ends a sentence: . ? !
        self.newline_end = np.zeros(n, dtype=bool)
        # a tokenizer that encodes a lone piece differently from the same piece mid-text
        # (SentencePiece dummy prefix) needs the sentinel route for every piece
        self.prefixing = self._raw(["a"])[0] != tok.encode_piece("a")
        self._head = self._raw([_SENTINEL])[0]

    @classmethod
    def get(cls, tok: Tokenizer) -> Encoder:
        enc = cls._by_tok.get(tok.fingerprint)
        if enc is None or enc.tok is not tok:
            enc = cls._by_tok[tok.fingerprint] = cls(tok)
        return enc

    def _raw(self, texts: list[str]) -> list[list[int]]:
        if self.backend is not None:
            return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]
        return self.tok.encode_batch(texts)

    def _decode(self, rows: list[list[int]]) -> list[str]:
        if self.backend is not None:
            return self.backend.decode_batch(rows, skip_special_tokens=False)
        return [self.tok.hf.decode(r, skip_special_tokens=False, clean_up_tokenization_spaces=False) for r in rows]

    def batch(self, texts: list[str]) -> list[np.ndarray]:
        """Ids of each text as it reads after other text, one array per text (no memo: for
        random strings). Byte-level BPE: the plain encoding. SentencePiece: the text is encoded
        after a newline sentinel whose ids are dropped, checked by decoding in one batch call;
        the rare text that merges with the sentinel goes through `Tokenizer.encode_pieces`."""
        if not texts:
            return []
        if not self.prefixing:
            raw = self._raw(texts)
        else:
            h = len(self._head)
            full = self._raw([_SENTINEL + t for t in texts])
            good = [ids[:h] == self._head for ids in full]
            decoded = self._decode([ids for ids, ok in zip(full, good) if ok])
            it = iter(decoded)
            bad = [i for i, (t, ok) in enumerate(zip(texts, good)) if not ok or next(it) != _SENTINEL + t]
            raw = [ids[h:] for ids in full]
            for i, ids in zip(bad, self.tok.encode_pieces([texts[i] for i in bad])):
                raw[i] = ids
        return [np.asarray(r, dtype=np.int32) for r in raw]

    def mid_text(self, token: int) -> str:
        """The text one token stands for in the middle of a text ("" when unknown): decoded
        after the sentinel, since SentencePiece decoding drops a leading space at the start."""
        text = self._decode([list(self._head) + [token]])[0]
        return text[len(_SENTINEL):] if text.startswith(_SENTINEL) else ""

    def leads(self, texts: list[str], framing: Framing) -> list[np.ndarray]:
        """Prompts' first text pieces: encoded as the start of a text when nothing but BOS
        precedes them (base template: "▁Some" for SentencePiece, as the whole prompt encodes),
        as mid-text pieces after a chat template's head."""
        if list(framing.head) != list(self.tok.bos):
            return self.batch(texts)
        return [np.asarray(r, dtype=np.int32) for r in self._raw(texts)] if texts else []

    def lead(self, text: str, framing: Framing) -> np.ndarray:
        return self.leads([text], framing)[0]

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
            self.sent_end[i] = text.rstrip(" ").endswith((".", "?", "!"))
            self.newline_end[i] = text.endswith("\n")
        self.known[new] = True


class Stream:
    """A token stream of whole units (lines or sentences) read from its start.

    `slots` are the unit starts after position 0: for lines, the positions after a newline;
    for sentences, a space-led word after a sentence end (the sentence boundaries of a text
    whose whitespace is collapsed to single spaces, as RULER's essay haystack is). A
    haystack of whole units is ids[:e] for e in slots, the largest that fits (`fit`).
    """

    def __init__(self, enc: Encoder, ids: np.ndarray, slots: np.ndarray):
        self.enc, self.ids, self.slots = enc, ids, slots

    @classmethod
    def of(cls, enc: Encoder, ids: np.ndarray, slot_kind: str) -> Stream:
        ids = np.asarray(ids, dtype=np.int32)
        enc.classify(ids)
        if slot_kind == "line":
            slots = np.flatnonzero(enc.newline_end[ids]) + 1
        else:
            slots = np.flatnonzero(enc.sent_end[ids[:-1]] & enc.space_word[ids[1:]]) + 1
        return cls(enc, ids, slots)

    def fit(self, n: int) -> int:
        """End of the longest run of whole units from the start within n tokens (0: none fits)."""
        if n >= len(self.ids):
            raise EvalError(f"haystack stream of {len(self.ids)} tokens is shorter than the {n} needed")
        k = int(np.searchsorted(self.slots, n, side="right"))
        return int(self.slots[k - 1]) if k else 0

    def starts(self, e: int) -> np.ndarray:
        """Unit starts of ids[:e]: 0 and every slot before e."""
        return np.concatenate([[0], self.slots[: int(np.searchsorted(self.slots, e))]]).astype(np.int64)


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


_PADDED: dict[int, tuple[list, int, np.ndarray, np.ndarray]] = BoundedDict(16)


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
