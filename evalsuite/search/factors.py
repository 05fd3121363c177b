"""Critical dimensions and LongRoPE2's search constraints over per-pair RoPE factors.

Why: the factor search starts from what PI, NTK and YaRN already do (their factors come from each
method's `RopeSpec.factors`, evalsuite.rope.factors), corrects them past the critical dimension
and searches within LongRoPE2's bounds. No torch: the report and the CLI use it too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsuite.rope import BaseRope
from evalsuite.rope.factors import ntk_factors, wavelengths, yarn_factors

NARROW = 1.25           # below the cut: at most this much above the larger of NTK's and YaRN's factor


def theoretical_critical_dim(base: BaseRope, trained: int | None = None) -> int:
    """The first pair whose period exceeds the trained length (LongRoPE2's d_tcd): from there on
    the model never saw a full rotation, so those pairs must be interpolated by at least the scale."""
    over = np.flatnonzero(wavelengths(base) > (trained or base.original))
    return int(over[0]) if len(over) else base.dim // 2


def rcd(factors: np.ndarray, cut: int, s: float) -> np.ndarray:
    """LongRoPE2's critical-dimension correction: pairs at or past `cut` get at least the scale,
    then the curve is made non-decreasing (NTK-rcd, YaRN-rcd)."""
    out = np.asarray(factors, dtype=np.float64).copy()
    out[cut:] = np.maximum(out[cut:], s)
    return np.maximum.accumulate(out)


@dataclass(frozen=True)
class Bounds:
    """LongRoPE2's search space at cut point `cut`: factors non-decreasing in the pair index; pairs
    below the cut within [1, min(s, NARROW * max(NTK, YaRN))] (a narrow band around what the formula
    methods already do there); pairs at or past it within [s, max(1 + s, 1.25 s)] (LongRoPE's
    evo_list reaches 1 + s)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    cut: int
    scale: float

    @classmethod
    def make(cls, base: BaseRope, s: float, cut: int) -> Bounds:
        n = base.dim // 2
        band = np.minimum(s, NARROW * np.maximum(ntk_factors(base, s), yarn_factors(base, s)))
        band = np.maximum.accumulate(np.maximum(band, 1.0))
        top = max(1.0 + s, 1.25 * s)
        lo = [1.0 if i < cut else float(s) for i in range(n)]
        hi = [float(band[i]) if i < cut else top for i in range(n)]
        return cls(tuple(lo), tuple(hi), cut, float(s))

    def holds(self, f: np.ndarray, tol: float = 1e-6) -> bool:
        f = np.asarray(f)
        return bool(np.all(np.diff(f) >= -tol) and np.all(f >= np.asarray(self.lo) - tol)
                    and np.all(f <= np.asarray(self.hi) + tol))

    def project(self, f: np.ndarray) -> np.ndarray:
        """The nearest-by-clipping factors that hold: clip to the box, then a running max (which
        stays in the box because both bounds are non-decreasing)."""
        out = np.clip(np.asarray(f, dtype=np.float64), self.lo, self.hi)
        return np.round(np.maximum.accumulate(out), 6)
