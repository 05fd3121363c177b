"""Tokenizer wrapper and token-exact prompt assembly.

Prompts are assembled from separately encoded pieces (template head, haystack
token stream, needle, question tail) and never re-encoded as a whole, so a
prompt of exactly N tokens costs one slice, not a binary search of encodes.
The haystack stream of each text source is encoded once per tokenizer.
"""
from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from evalsuite.types import EvalError

CHAT_PLACEHOLDER = "\x00EVALSUITE_USER_MESSAGE\x00"


class Tokenizer:
    """The few operations tasks need, over a transformers fast tokenizer."""

    def __init__(self, hf_tokenizer, name: str):
        self.hf = hf_tokenizer
        self.name = name
        # haystacks are encoded whole and sliced; the model's length is checked elsewhere
        self.hf.model_max_length = 1 << 40

    @classmethod
    def load(cls, model: str) -> Tokenizer:
        from transformers import AutoTokenizer  # lazy: `import evalsuite` stays light

        from evalsuite.models.gguf import config_source
        source = config_source(model)          # a GGUF's tokenizer, read once and kept
        try:
            tok = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as e:
            raise EvalError(f"cannot load a tokenizer from {model!r}: {str(e).splitlines()[0]}") from None
        return cls(tok, model)

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the full tokenizer definition: workload caches key on it."""
        backend = getattr(self.hf, "backend_tokenizer", None)
        spec = backend.to_str() if backend is not None else json.dumps(self.hf.get_vocab(), sort_keys=True)
        extra = json.dumps([self.hf.bos_token_id, self.hf.eos_token_id, self.chat_template or ""])
        return hashlib.sha256((spec + extra).encode()).hexdigest()[:16]

    @property
    def chat_template(self) -> str | None:
        return getattr(self.hf, "chat_template", None)

    @cached_property
    def bos(self) -> list[int]:
        """The BOS the tokenizer itself prepends (empty for tokenizers without one)."""
        with_special = self.hf.encode("a", add_special_tokens=True)
        plain = self.hf.encode("a", add_special_tokens=False)
        return list(with_special[: len(with_special) - len(plain)])

    @property
    def eos_id(self) -> int | None:
        return self.hf.eos_token_id

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.hf(texts, add_special_tokens=False)["input_ids"]

    def encode_piece(self, text: str) -> list[int]:
        """Ids of `text` as it reads after other text, for prompts joined from pieces as ids.

        `encode` treats its text as the start of a sequence: a SentencePiece tokenizer of the
        Llama-2/Mistral kind then prefixes "▁" (a space) to it, so "\nWhat" encoded alone
        decodes as " \nWhat" once joined after other ids. Encoding a sentinel before the piece
        and dropping the sentinel's ids gives the piece's ids in the middle of a text; the
        sentinel is one the piece cannot merge with (checked: the decoded ids must read
        sentinel + text exactly). Byte-level BPE tokenizers (GPT-2, Llama-3) get the ids
        `encode` gives.
        """
        return self.encode_pieces([text])[0]

    def encode_pieces(self, texts: list[str]) -> list[list[int]]:
        """`encode_piece` of many texts in one batched call per sentinel."""
        out: list[list[int]] = [[] for _ in texts]
        todo = [i for i, t in enumerate(texts) if t]
        for sentinel, head in self._sentinels:
            if not todo:
                break
            encoded = self.encode_batch([sentinel + texts[i] for i in todo])
            left = []
            for i, ids in zip(todo, encoded):
                if ids[: len(head)] == head and self._reads(ids, sentinel + texts[i]):
                    out[i] = list(ids[len(head):])
                else:
                    left.append(i)
            todo = left
        if todo:
            raise EvalError(f"tokenizer {self.name!r} cannot encode the prompt piece {texts[todo[0]][:40]!r} "
                            "apart from its neighbours (no sentinel tokenizes separately from it)")
        return out

    @cached_property
    def _sentinels(self) -> list[tuple[str, list[int]]]:
        # a newline before a word, a letter before spaces and punctuation, then rarer characters
        return [(s, self.encode(s)) for s in ("\n", "a", "\u00a7", "\u2016")]

    def _reads(self, ids: list[int], text: str) -> bool:
        """Do ids decode to exactly text? (Tokenizers that drop a leading space on decode
        still read the rest exactly; only the sentinel sits at the start here.)"""
        return self.hf.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == text

    def decode(self, ids) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=True)

    def chat_affixes(self) -> tuple[list[int], list[int]]:
        """Token ids the chat template puts before and after one user message."""
        if not self.chat_template:
            raise EvalError(f"tokenizer {self.name!r} has no chat template: use --template base")
        text = self.hf.apply_chat_template([{"role": "user", "content": CHAT_PLACEHOLDER}],
                                           tokenize=False, add_generation_prompt=True)
        before, found, after = text.partition(CHAT_PLACEHOLDER)
        if not found:
            raise EvalError(f"the chat template of {self.name!r} drops the user message")
        # The template writes BOS as text; encode it as special tokens exactly once.
        return self.hf.encode(before, add_special_tokens=False), self.encode_piece(after)


@dataclass
class Framing:
    """Token ids that wrap every prompt: BOS and, in chat mode, the template's affixes."""

    head: list[int]
    tail: list[int]

    @classmethod
    def for_tokenizer(cls, tok: Tokenizer, template: str) -> Framing:
        if template == "base":
            return cls(list(tok.bos), [])
        if template == "chat":
            before, after = tok.chat_affixes()
            head = before if before[: len(tok.bos)] == tok.bos else list(tok.bos) + before
            return cls(head, after)
        raise EvalError(f"unknown --template {template!r}: use base or chat")


class Haystack:
    """A text source encoded once into a token stream, with sentence ends indexed.

    The stream is encoded as text that follows other text (`Tokenizer.encode_piece`): in a prompt it
    comes after an instruction, a needle or a newline, where a SentencePiece tokenizer's dummy-prefix
    space would read as a stray space. A prompt that starts with the haystack re-encodes its first
    sentence as the start of a text (`leads`).
    """

    _LEAD_CAP = 64              # tokens re-encoded at most when no sentence ends sooner

    def __init__(self, tok: Tokenizer, text: str, source: str):
        if not text.strip():
            raise EvalError(f"haystack source {source} is empty")
        self.source = source
        self._tok = tok
        self.ids = np.asarray(_mid_text_ids(tok, text), dtype=np.int64)
        ends = _sentence_end_token_ids(tok, np.unique(self.ids))
        # positions p such that ids[:p] ends a sentence
        self.boundaries = np.flatnonzero(np.isin(self.ids, ends)) + 1

    def take(self, n: int) -> np.ndarray:
        """The first n tokens, cycling the source when it is shorter than n."""
        if n <= len(self.ids):
            return self.ids[:n]
        reps = -(-n // len(self.ids))
        return np.tile(self.ids, reps)[:n]

    def snap(self, pos: int) -> int:
        """The last sentence boundary at or before pos (0 when there is none)."""
        i = bisect_right(self.boundaries, pos, hi=len(self.boundaries))
        if i == 0:
            return 0
        b = int(self.boundaries[i - 1])
        return b if b <= pos else 0

    def sentence_end(self, start: int) -> int:
        """The first sentence boundary after start (at most _LEAD_CAP tokens on)."""
        i = bisect_right(self.boundaries, start, hi=len(self.boundaries))
        cap = min(start + self._LEAD_CAP, len(self.ids))
        return min(int(self.boundaries[i]), cap) if i < len(self.boundaries) else cap

    def leads(self, wanted: list[tuple[int, bool]]) -> list[np.ndarray]:
        """For each (start, starts_text): the stream's first sentence from start, re-encoded from
        its text as the start of the prompt's text (`encode`, the tokenizer's own start-of-text
        ids, as a whole-prompt encode gives them) or as text after other text (`encode_piece`).
        Leading whitespace is dropped unless start is 0, so a context read from a later sentence
        starts with its first word. One batched encode per kind, each distinct start once."""
        tok = self._tok
        distinct = sorted(set(wanted))
        texts = {}
        for start, _ in distinct:
            text = tok.hf.decode(self.ids[start: self.sentence_end(start)].tolist(), skip_special_tokens=False,
                                 clean_up_tokenization_spaces=False)
            texts[start] = text.lstrip() if start else text
        done: dict[tuple[int, bool], np.ndarray] = {}
        for first in (True, False):
            keys = [k for k in distinct if k[1] is first]
            if keys:
                batch = [texts[start] for start, _ in keys]
                encoded = tok.encode_batch(batch) if first else tok.encode_pieces(batch)
                done.update((k, np.asarray(ids, dtype=np.int64)) for k, ids in zip(keys, encoded))
        return [done[k] for k in wanted]


def _mid_text_ids(tok: Tokenizer, text: str) -> list[int]:
    """`encode_piece` of a haystack; a tokenizer that normalises text (so no prefix encodes apart
    from it and reads back exactly) gets its plain `encode`."""
    try:
        return tok.encode_piece(text)
    except EvalError:
        return tok.encode(text)


def _sentence_end_token_ids(tok: Tokenizer, unique_ids: np.ndarray) -> np.ndarray:
    ends = [i for i in unique_ids.tolist() if tok.decode([i]).rstrip().endswith((".", "?", "!"))]
    return np.asarray(ends, dtype=np.int64)


def read_text_source(path: str) -> str:
    """A local text file, or every *.txt/*.md file of a directory in sorted order."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in (".txt", ".md") and f.is_file())
        if not files:
            raise EvalError(f"haystack directory {path} holds no .txt or .md files")
        return "\n\n".join(_read_utf8(f) for f in files)
    if p.is_file():
        return _read_utf8(p)
    raise EvalError(f"haystack source {path} does not exist: give a text file or a directory of .txt files")


def _read_utf8(path: Path) -> str:
    """A haystack file as text: binary files (NUL bytes) and other encodings than UTF-8 are refused
    by name, never decoded with replacement characters and used as filler."""
    data = path.read_bytes()
    if b"\0" in data:
        raise EvalError(f"haystack file {path} is binary (it holds NUL bytes): give a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EvalError(f"haystack file {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): "
                        "convert it, e.g. iconv -f latin1 -t utf-8") from None


def fit_check(prompt_len: int, max_new_tokens: int, length: int, what: str) -> None:
    """No silent truncation: the fixed parts alone must leave room for the filler."""
    if prompt_len + max_new_tokens > length:
        raise EvalError(f"{what} needs {prompt_len + max_new_tokens} tokens without any filler, "
                        f"more than the context length {length}: use longer --lengths")
