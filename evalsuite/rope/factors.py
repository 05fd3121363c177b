"""Per-pair RoPE scale factors of the formula methods: lambda_i = original inv_freq_i / new inv_freq_i
(the LongRoPE "long factor" convention), from the formulas transformers uses (modeling_rope_utils:
linear, NTK theta^(d/(d-2)), YaRN's ramp between beta_fast and beta_slow, Llama-3's wavelength
bands, a theta change). Each RoPE method's `factors()` uses them; the factor search and the
report's RoPE view read them through that method. No torch."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from evalsuite.rope.base import BaseRope


def wavelengths(base: BaseRope) -> np.ndarray:
    """Period in tokens of each rotary pair: 2*pi*theta^(2i/d)."""
    d = base.dim
    return 2 * math.pi * base.theta ** (np.arange(0, d, 2) / d)


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
