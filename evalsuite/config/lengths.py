"""Parse length grids: `4k..128k` (doubling), `4k,8k,32k` (list), `1k..16k/35` (linear)."""
from __future__ import annotations

import re

from evalsuite.types import EvalError

_ONE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")
MAX_LENGTH = 1 << 22      # 4M tokens: past every context a published RoPE extension reaches
MAX_GRID = 1000           # lengths in one grid


def parse_length(text: str) -> int:
    """`4k` -> 4096 (k = 1024), `1500` -> 1500, `1.5k` -> 1536."""
    m = _ONE.match(text)
    if not m:
        raise EvalError(f"bad length {text!r}: use a number with optional k/m suffix, e.g. 4k or 1500")
    value = float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if value != int(value) or value <= 0:
        raise EvalError(f"bad length {text!r}: must be a positive whole number of tokens")
    if value > MAX_LENGTH:
        raise EvalError(f"length {text.strip()} ({int(value)} tokens) is beyond evalsuite's limit of "
                        f"{MAX_LENGTH} tokens (4m)")
    return int(value)


def parse_lengths(text: str) -> list[int]:
    """Expand a length grid to a sorted list of unique token counts."""
    if not text or not text.strip():
        raise EvalError("empty --lengths: give e.g. 4k..128k, 4k,8k or 1k..16k/35")
    out: list[int] = []
    for part in text.split(","):
        if ".." not in part:
            out.append(parse_length(part))
            continue
        lo_text, hi_text = part.split("..", 1)
        steps = None
        if "/" in hi_text:
            hi_text, steps_text = hi_text.split("/", 1)
            if not steps_text.strip().isdigit() or int(steps_text) < 2:
                raise EvalError(f"bad length grid {part!r}: the count after / must be a whole number >= 2")
            steps = int(steps_text)
            if steps > MAX_GRID:
                raise EvalError(f"bad length grid {part!r}: {steps} lengths; at most {MAX_GRID} in one grid")
        lo, hi = parse_length(lo_text), parse_length(hi_text)
        if lo > hi:
            raise EvalError(f"bad length range {part!r}: start {lo} is above end {hi}")
        if steps:
            out.extend(round(lo + (hi - lo) * i / (steps - 1)) for i in range(steps))
        else:
            n = lo
            while n <= hi:
                out.append(n)
                n *= 2
            if out[-1] != hi:
                raise EvalError(f"bad length range {part!r}: {hi} is not {lo} times a power of two; "
                                f"use {lo_text}..{hi_text}/N for N evenly spaced lengths")
    if len(set(out)) > MAX_GRID:
        raise EvalError(f"--lengths {text!r} gives {len(set(out))} lengths; at most {MAX_GRID}")
    return sorted(set(out))


def format_length(n: int) -> str:
    """4096 -> '4k', 1500 -> '1500' (for tables and charts)."""
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)
