"""Typed report blocks: what a suite adds to the report beyond the standard sections.

A suite's `report_blocks` returns these; the template renders every `Table` and every
`Chart` through one macro each, so no block is a loosely-typed dict checked with `is defined`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

from .svg import LineChart


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"          # which template macro renders it

    title: str
    note: str
    header: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class Chart:
    kind: ClassVar[str] = "chart"

    title: str
    note: str
    chart: LineChart


Block = Union[Table, Chart]
