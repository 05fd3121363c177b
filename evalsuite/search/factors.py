"""Per-dimension RoPE scale factors, critical dimensions and LongRoPE2's search constraints.

Why: the factor search starts from what PI, NTK and YaRN already do, and the report compares
every setting on one per-dimension axis. Every method is reduced to one array: for rotary pair i,
lambda_i = original inv_freq_i / new inv_freq_i (the LongRoPE "long factor" convention), computed
from the same formulas transformers uses (modeling_rope_utils: linear, NTK theta^(d/(d-2)),
YaRN's ramp between beta_fast and beta_slow, Llama-3's wavelength bands, dynamic NTK at a length).
No torch: the report and the CLI use it too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evalsuite.rope import BaseRope, RopeSpec, dynamic_theta

NARROW = 1.25           # below the cut: at most this much above the larger of NTK's and YaRN's factor


def wavelengths(base: BaseRope) -> np.ndarray:
    """Period in tokens of each rotary pair: 2*pi*theta^(2i/d)."""
    d = base.dim
    return 2 * math.pi * base.theta ** (np.arange(0, d, 2) / d)


def theoretical_critical_dim(base: BaseRope, trained: int | None = None) -> int:
    """The first pair whose period exceeds the trained length (LongRoPE2's d_tcd): from there on
    the model never saw a full rotation, so those pairs must be interpolated by at least the scale."""
    over = np.flatnonzero(wavelengths(base) > (trained or base.original))
    return int(over[0]) if len(over) else base.dim // 2


def pi_factors(base: BaseRope, s: float) -> np.ndarray:
    return np.full(base.dim // 2, float(s))


def ntk_factors(base: BaseRope, s: float) -> np.ndarray:
    """theta' = theta * s^(d/(d-2)), so lambda_i = s^(2i/(d-2))."""
    d = base.dim
    return np.asarray(float(s)) ** (np.arange(0, d, 2) / (d - 2))


def theta_factors(base: BaseRope, theta: float) -> np.ndarray:
    d = base.dim
    return (theta / base.theta) ** (np.arange(0, d, 2) / d)


def yarn_factors(base: BaseRope, s: float, original: int | None = None, beta_fast: float = 32.0,
                 beta_slow: float = 1.0) -> np.ndarray:
    """transformers' _compute_yarn_parameters (truncate=True), as a per-pair factor."""
    d, orig = base.dim, original or base.original

    def corr(rot: float) -> float:
        return (d * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base.theta))

    low, high = float(max(math.floor(corr(beta_fast)), 0)), float(min(math.ceil(corr(beta_slow)), d - 1))
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(d // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    # inv_freq = inv/s * ramp + inv * (1 - ramp)
    return 1.0 / (ramp / s + (1.0 - ramp))


def llama3_factors(base: BaseRope, s: float, original: int, low: float, high: float) -> np.ndarray:
    wave = wavelengths(base)
    smooth = np.clip((original / wave - low) / (high - low), 0, 1)
    inv = np.where(wave < original / high, 1.0, np.where(wave > original / low, 1.0 / s, (1 - smooth) / s + smooth))
    return 1.0 / inv


def rcd(factors: np.ndarray, cut: int, s: float) -> np.ndarray:
    """LongRoPE2's critical-dimension correction: pairs at or past `cut` get at least the scale,
    then the curve is made non-decreasing (NTK-rcd, YaRN-rcd)."""
    out = np.asarray(factors, dtype=np.float64).copy()
    out[cut:] = np.maximum(out[cut:], s)
    return np.maximum.accumulate(out)


def setting_factors(spec: RopeSpec, base: BaseRope, length: int | None = None) -> np.ndarray | None:
    """A RoPE setting's per-pair factors at context `length` (dynamic NTK depends on it); None
    for a method this module cannot reduce to one array."""
    p, n = spec.p, base.dim // 2
    method = spec.method
    if method == "none":
        return np.ones(n)
    if method == "pi":
        return pi_factors(base, float(p["factor"]))
    if method == "ntk":
        return ntk_factors(base, float(p["factor"]))
    if method == "abf":
        return theta_factors(base, float(p["theta"]))
    if method == "yarn":
        return yarn_factors(base, float(p["factor"]), spec.original(base), float(p.get("beta_fast", 32.0)),
                            float(p.get("beta_slow", 1.0)))
    if method == "dynamic":
        at = length or spec.capacity(base)
        theta = dynamic_theta(base.theta, base.dim, float(p["factor"]), spec.original(base), at)
        return theta_factors(base, theta)
    if method == "llama3":
        return llama3_factors(base, float(p["factor"]), spec.original(base), float(p.get("low_freq_factor", 1.0)),
                              float(p.get("high_freq_factor", 4.0)))
    if method == "longrope":
        long = np.asarray(p["long"], dtype=np.float64)
        return long if len(long) == n else None
    return None


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
