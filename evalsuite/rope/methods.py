"""One class per RoPE method, each registered by its `--rope` name: parameters, capacity,
transformers mapping and vLLM mapping together. A new method is one class here."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.rope.base import (
    BaseRope,
    RopeSpec,
    _finite_theta,
    _float_list,
    _text_float_list,
    dynamic_theta,
    register,
)
from evalsuite.rope.factors import llama3_factors, ntk_factors, pi_factors, theta_factors, yarn_factors
from evalsuite.types import EvalError


@register
class NoRope(RopeSpec):
    method, aliases = "none", ("default", "native")
    help = ("the model's own RoPE, unchanged (a checkpoint that ships rope_scaling, e.g. YaRN or Llama-3.1, "
            "keeps it and holds its config's max_position_embeddings)")

    def capacity(self, base: BaseRope) -> int:
        return max(base.original, base.declared)

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return base.own_parameters()

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        return np.ones(base.dim // 2)



@register
class PIRope(RopeSpec):
    method, aliases, help = "pi", ("linear",), "position interpolation (rope_type linear): factor"
    allowed, required, shrinks = frozenset({"factor", "original"}), frozenset({"factor"}), True

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return {"rope_type": "linear", "rope_theta": base.theta, "factor": float(self.p["factor"])}

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        return pi_factors(base, float(self.p["factor"]))



@register
class NTKRope(RopeSpec):
    method, aliases, help = "ntk", ("ntk-aware",), "static NTK-aware: theta * factor^(d/(d-2)); factor"
    allowed, required = frozenset({"factor", "original"}), frozenset({"factor"})

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        d = base.dim
        theta = base.theta * float(self.p["factor"]) ** (d / (d - 2))
        return {"rope_type": "default", "rope_theta": _finite_theta(theta, self.method)}

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        return ntk_factors(base, float(self.p["factor"]))



@register
class DynamicNTKRope(RopeSpec):
    """HF recomputes theta as the sequence grows; vLLM's "dynamic" is static, so vLLM gets
    HF's theta at each request's length, with an engine per length past the original."""

    method, aliases = "dynamic", ("dynamic-ntk",)
    help = "dynamic NTK (HF: true dynamic; vLLM: static theta per length); factor"
    allowed, required = frozenset({"factor", "original"}), frozenset({"factor"})

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return {"rope_type": "dynamic", "rope_theta": base.theta, "factor": float(self.p["factor"]),
                "original_max_position_embeddings": self.original(base)}

    def max_position_embeddings(self, base: BaseRope, max_length: int) -> int:
        return self.original(base)    # HF treats it as the original length

    def vllm_parameters(self, base: BaseRope, length: int) -> dict[str, Any]:
        theta = dynamic_theta(base.theta, base.dim, float(self.p["factor"]), self.original(base), length)
        return {"rope_type": "default", "rope_theta": _finite_theta(theta, self.method)}

    def vllm_max_model_len(self, base: BaseRope, max_length: int, length: int) -> int:
        return length if length > self.original(base) else max_length

    def to_vllm(self, base: BaseRope, max_length: int, length: int | None = None) -> tuple[dict[str, Any], int]:
        overrides, max_model_len = super().to_vllm(base, max_length, length)
        overrides["max_position_embeddings"] = max(max_length, base.original)
        return overrides, max_model_len

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        """At `length` (default: the capacity): the theta transformers computes there."""
        at = length or self.capacity(base)
        theta = dynamic_theta(base.theta, base.dim, float(self.p["factor"]), self.original(base), at)
        return theta_factors(base, theta)



@register
class YarnRope(RopeSpec):
    method, help = "yarn", "YaRN: factor, original, beta_fast=32, beta_slow=1, attention_factor"
    allowed = frozenset({"factor", "original", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                         "attention_factor"})
    required = frozenset({"factor"})

    @classmethod
    def check(cls, params: dict[str, object]) -> dict[str, object]:
        fast, slow = params.get("beta_fast", 32.0), params.get("beta_slow", 1.0)
        if not fast > slow:    # type: ignore[operator]
            raise EvalError(f"RoPE yarn needs beta_fast > beta_slow, got beta_fast={fast:g}, beta_slow={slow:g}")
        return params

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        p = self.p
        out = {"rope_type": "yarn", "rope_theta": base.theta, "factor": float(p["factor"]),
               "original_max_position_embeddings": self.original(base),
               "beta_fast": float(p.get("beta_fast", 32.0)), "beta_slow": float(p.get("beta_slow", 1.0))}
        out.update({k: float(p[k]) for k in ("mscale", "mscale_all_dim", "attention_factor") if k in p})
        return out

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        p = self.p
        return yarn_factors(base, float(p["factor"]), self.original(base), float(p.get("beta_fast", 32.0)),
                            float(p.get("beta_slow", 1.0)))



@register
class LongRope(RopeSpec):
    """LongRoPE/LongRoPE2: per-plane factors. vLLM uses the long factors whenever
    max_model_len > original, so short requests get an engine within the original length."""

    method = "longrope"
    help = "LongRoPE/LongRoPE2: file=factors.json|config.json or short=[..],long=[..] (head_dim/2 each)"
    allowed = frozenset({"file", "short", "long", "factor", "original", "attention_factor"})

    @classmethod
    def parse_value(cls, key: str, value: str) -> object:
        if key in ("short", "long"):
            return _text_float_list(key, value)
        return value if key == "file" else super().parse_value(key, value)

    @classmethod
    def check(cls, params: dict[str, object]) -> dict[str, object]:
        if "file" in params:
            _read_factor_file(cls, Path(str(params.pop("file"))), params)
        if "long" not in params:
            raise EvalError("RoPE longrope needs factor arrays: file=factors.json or long=[...] (short= optional)")
        long = params["long"]
        assert isinstance(long, tuple)
        params.setdefault("short", tuple(1.0 for _ in long))
        short = params["short"]
        assert isinstance(short, tuple)
        if len(short) != len(long):
            raise EvalError(f"longrope short ({len(short)}) and long ({len(long)}) factor arrays differ in size")
        return params

    def label_extra(self) -> list[str]:
        # the factor arrays are too long to show, but two different arrays must never share
        # a label: labels key the stored records, so a collision would skip real work on resume
        digest = hashlib.sha256(json.dumps([self.p["short"], self.p["long"]]).encode()).hexdigest()[:8]
        return [f"dims={len(self.p['long'])},factors={digest}"]

    def capacity(self, base: BaseRope) -> int:
        factor = self.p.get("factor", max(self.p["long"]))
        return round(float(factor) * self.original(base))

    def validate(self, base: BaseRope) -> None:
        if len(self.p["long"]) != base.dim // 2:
            what = "head_dim/2" if base.dim == base.head_dim else "rotary dims/2"
            raise EvalError(f"longrope factor arrays have {len(self.p['long'])} entries; this model "
                            f"needs {what} = {base.dim // 2}")

    def _attention(self, base: BaseRope) -> float:
        if "attention_factor" in self.p:
            return float(self.p["attention_factor"])
        scale = self.capacity(base) / self.original(base)
        return 1.0 if scale <= 1 else math.sqrt(1 + math.log(scale) / math.log(self.original(base)))

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        orig = self.original(base)
        return {"rope_type": "longrope", "rope_theta": base.theta,
                "short_factor": list(self.p["short"]), "long_factor": list(self.p["long"]),
                "original_max_position_embeddings": orig, "factor": self.capacity(base) / orig,
                "attention_factor": self._attention(base)}

    def vllm_parameters(self, base: BaseRope, length: int) -> dict[str, Any]:
        params = self.rope_parameters(base)     # vLLM ignores factor and attention_factor: mscales
        params.pop("factor")
        params["short_mscale"] = params["long_mscale"] = params.pop("attention_factor")
        return params

    def vllm_max_model_len(self, base: BaseRope, max_length: int, length: int) -> int:
        return min(max_length, self.original(base)) if length <= self.original(base) else max_length

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray | None:
        """The long factors (what it uses past the original length); None if they do not fit the model."""
        long = np.asarray(self.p["long"], dtype=np.float64)
        return long if len(long) == base.dim // 2 else None


def _read_factor_file(cls: type[RopeSpec], path: Path, params: dict[str, object]) -> None:
    """Fill params from a factors JSON or a checkpoint config.json; one-line errors name the field."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:       # ValueError: bad JSON or not UTF-8
        raise EvalError(f"cannot read longrope factors from {path}: {str(e).splitlines()[0]}") from None
    if isinstance(data, dict):
        data = data.get("rope_parameters") or data.get("rope_scaling") or data
    if not isinstance(data, dict):
        raise EvalError(f"longrope factor file {path}: expected a JSON object with short_factor/long_factor, "
                        f"found {json.dumps(data)[:40]}")
    where = f"in {path}"
    for src, dst in (("short_factor", "short"), ("long_factor", "long")):
        if src in data and dst not in params:
            params[dst] = _float_list(src, data[src], where)
    fields = {"factor": "factor", "attention_factor": "attention_factor",
              "original_max_position_embeddings": "original"}
    for src, dst in fields.items():
        value = data.get(src)
        if value is None or dst in params:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EvalError(f"longrope factor file {path}: field {src} must be a number, not {json.dumps(value)}")
        params[dst] = cls.check_number(dst, float(value), f"longrope factor file {path}: field {src}={value}")



@register
class Llama3Rope(RopeSpec):
    method, help = "llama3", "Llama-3 scaling: factor, low_freq_factor=1, high_freq_factor=4"
    allowed = frozenset({"factor", "original", "low_freq_factor", "high_freq_factor"})
    required = frozenset({"factor"})

    @classmethod
    def check(cls, params: dict[str, object]) -> dict[str, object]:
        low, high = params.get("low_freq_factor", 1.0), params.get("high_freq_factor", 4.0)
        if not high > low:    # type: ignore[operator]
            raise EvalError(f"RoPE llama3 needs high_freq_factor > low_freq_factor, "
                            f"got high_freq_factor={high:g}, low_freq_factor={low:g}")
        return params

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        p = self.p
        return {"rope_type": "llama3", "rope_theta": base.theta, "factor": float(p["factor"]),
                "original_max_position_embeddings": self.original(base),
                "low_freq_factor": float(p.get("low_freq_factor", 1.0)),
                "high_freq_factor": float(p.get("high_freq_factor", 4.0))}

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        p = self.p
        return llama3_factors(base, float(p["factor"]), self.original(base), float(p.get("low_freq_factor", 1.0)),
                              float(p.get("high_freq_factor", 4.0)))



@register
class ABFRope(RopeSpec):
    method = "abf"
    help = "adjusted base frequency: theta (capacity stays the original unless max= is given)"
    allowed, required = frozenset({"theta", "max"}), frozenset({"theta"})

    def capacity(self, base: BaseRope) -> int:
        return int(self.p.get("max", base.original))

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return {"rope_type": "default", "rope_theta": float(self.p["theta"])}

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray:
        return theta_factors(base, float(self.p["theta"]))

