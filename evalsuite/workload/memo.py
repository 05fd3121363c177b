"""Bounded per-process memos for what workload builders reuse (encoded haystacks, documents, tables).

A long-lived process (a matrix of many tokenizers and sources, a test session) must not grow
without bound, so every such memo keeps at most `maxsize` entries and forgets the least recently
used one first. A memo is a dict in every other respect."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(OrderedDict[K, V]):
    """A dict of at most `maxsize` entries, least recently used evicted first."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def __getitem__(self, key: K) -> V:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)

    def get(self, key: K, default: Any = None) -> Any:
        return self[key] if key in self else default

    def setdefault(self, key: K, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]
