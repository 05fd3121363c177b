"""RoPE settings as one validated value object per `--rope` value.

`RopeSpec.parse("yarn:factor=4,original=4096")` checks the method and its
parameters once; `to_hf` and `to_vllm` then produce complete overrides with the
silent pitfalls of ../shared/reference/rope-backends.md handled:

1. the whole `rope_parameters` dict is always sent, `rope_theta` and `rope_type` included;
2. theta changes go through `rope_parameters`, never a bare `rope_theta` override;
3. `max_position_embeddings` is raised to the setting's capacity (factor x original),
   so the HF YaRN/LongRoPE attention factor (derived from that ratio) equals vLLM's;
4. vLLM's static "dynamic" type is never used: dynamic NTK is emulated per length
   with a static theta (`engine_key` groups requests per length);
5. LongRoPE short factors in vLLM need their own engine with max_model_len <= original
   (`engine_key` separates short from long lengths).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .types import EvalError

# method -> (allowed parameters, required parameters, one-line help)
METHODS: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "none": (frozenset(), frozenset(), "the model's own RoPE, unchanged"),
    "pi": (frozenset({"factor", "original"}), frozenset({"factor"}),
           "position interpolation (rope_type linear): factor"),
    "ntk": (frozenset({"factor", "original"}), frozenset({"factor"}),
            "static NTK-aware: theta * factor^(d/(d-2)); factor"),
    "dynamic": (frozenset({"factor", "original"}), frozenset({"factor"}),
                "dynamic NTK (HF: true dynamic; vLLM: static theta per length); factor"),
    "yarn": (frozenset({"factor", "original", "beta_fast", "beta_slow", "mscale",
                        "mscale_all_dim", "attention_factor"}), frozenset({"factor"}),
             "YaRN: factor, original, beta_fast=32, beta_slow=1, attention_factor"),
    "longrope": (frozenset({"file", "short", "long", "factor", "original", "attention_factor"}),
                 frozenset(),
                 "LongRoPE/LongRoPE2: file=factors.json|config.json or short=[..],long=[..] (head_dim/2 each)"),
    "llama3": (frozenset({"factor", "original", "low_freq_factor", "high_freq_factor"}),
               frozenset({"factor"}), "Llama-3 scaling: factor, low_freq_factor=1, high_freq_factor=4"),
    "abf": (frozenset({"theta", "max"}), frozenset({"theta"}),
            "adjusted base frequency: theta (capacity stays the original unless max= is given)"),
}
ALIASES = {"linear": "pi", "ntk-aware": "ntk", "dynamic-ntk": "dynamic", "default": "none"}
_FLOAT_PARAMS = {"factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                 "attention_factor", "low_freq_factor", "high_freq_factor", "theta"}
_INT_PARAMS = {"original", "max"}


@dataclass(frozen=True)
class BaseRope:
    """The RoPE facts of the checkpoint, read from its config.json."""

    head_dim: int
    theta: float
    original: int                    # pretrained context length
    parameters: tuple[tuple[str, object], ...] = ()   # the checkpoint's own rope_parameters

    @classmethod
    def from_config(cls, cfg: dict) -> "BaseRope":
        params = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
        if "type" in params and "rope_type" not in params:
            params["rope_type"] = params.pop("type")
        theta = float(params.get("rope_theta", cfg.get("rope_theta", 10000.0)))
        params["rope_theta"] = theta
        params.setdefault("rope_type", "default")
        heads = cfg.get("num_attention_heads")
        head_dim = cfg.get("head_dim") or (cfg["hidden_size"] // heads if heads else None)
        original = params.get("original_max_position_embeddings", cfg.get("max_position_embeddings"))
        if not head_dim or not original:
            raise EvalError("model config lacks head_dim/hidden_size or max_position_embeddings: "
                            "give the original length explicitly, e.g. --rope yarn:factor=4,original=4096")
        return cls(int(head_dim), theta, int(original),
                   tuple(sorted((k, _freeze(v)) for k, v in params.items())))

    def own_parameters(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.parameters}


def _freeze(v):
    return tuple(v) if isinstance(v, list) else v


def _split_params(text: str) -> list[str]:
    """Split `a=1,b=[1,2]` on commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in (p.strip() for p in parts) if p]


def _float_list(name: str, text: str) -> tuple[float, ...]:
    try:
        values = json.loads(text) if text.startswith("[") else None
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, list) or not values or not all(isinstance(x, (int, float)) for x in values):
        raise EvalError(f"bad longrope {name}={text!r}: give a JSON list of numbers, e.g. {name}=[1.0,1.2]")
    return tuple(float(x) for x in values)


@dataclass(frozen=True)
class RopeSpec:
    method: str
    params: tuple[tuple[str, object], ...] = ()

    # ---- parsing -------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> "RopeSpec":
        text = text.strip()
        name, _, rest = text.partition(":")
        method = ALIASES.get(name.strip().lower(), name.strip().lower())
        if method not in METHODS:
            raise EvalError(f"unknown RoPE method {name!r}: choose one of {', '.join(METHODS)} "
                            "(see `evalsuite list`)")
        allowed, required, _ = METHODS[method]
        params: dict[str, object] = {}
        for item in _split_params(rest):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not value.strip():
                raise EvalError(f"bad RoPE parameter {item!r} in {text!r}: write key=value")
            if key not in allowed:
                raise EvalError(f"RoPE method {method!r} takes no parameter {key!r}; "
                                f"it takes: {', '.join(sorted(allowed)) or 'none'}")
            params[key] = cls._value(method, key, value.strip())
        missing = required - params.keys()
        if missing:
            raise EvalError(f"RoPE method {method!r} needs {', '.join(sorted(missing))}, "
                            f"e.g. --rope {method}:{sorted(missing)[0]}=4")
        if method == "longrope":
            params = cls._longrope_params(params)
        return cls(method, tuple(sorted(params.items())))

    @staticmethod
    def _value(method: str, key: str, value: str):
        if key in ("short", "long"):
            return _float_list(key, value)
        if key == "file":
            return value
        try:
            number = float(value)
        except ValueError:
            raise EvalError(f"RoPE parameter {key}={value!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise EvalError(f"RoPE parameter {key}={value} must be a positive number")
        if key == "factor" and number < 1 and method != "pi":
            raise EvalError(f"RoPE {method} factor={value} must be >= 1 (it scales the context up)")
        if key in _INT_PARAMS:
            if number != int(number):
                raise EvalError(f"RoPE parameter {key}={value} must be a whole number of tokens")
            return int(number)
        return number

    @staticmethod
    def _longrope_params(params: dict) -> dict:
        if "file" in params:
            path = Path(str(params.pop("file")))
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise EvalError(f"cannot read longrope factors from {path}: {e}") from None
            data = data.get("rope_parameters") or data.get("rope_scaling") or data
            for src, dst in (("short_factor", "short"), ("long_factor", "long")):
                if src in data and dst not in params:
                    params[dst] = _float_list(src, json.dumps(data[src]))
            for key in ("factor", "attention_factor"):
                if key in data and key not in params and data[key] is not None:
                    params[key] = float(data[key])
            if "original_max_position_embeddings" in data and "original" not in params:
                params["original"] = int(data["original_max_position_embeddings"])
        if "long" not in params:
            raise EvalError("RoPE longrope needs factor arrays: file=factors.json or long=[...] (short= optional)")
        params.setdefault("short", tuple(1.0 for _ in params["long"]))
        if len(params["short"]) != len(params["long"]):
            raise EvalError(f"longrope short ({len(params['short'])}) and long ({len(params['long'])}) "
                            "factor arrays differ in size")
        return params

    # ---- facts ---------------------------------------------------------------
    @property
    def p(self) -> dict:
        return dict(self.params)

    @property
    def label(self) -> str:
        """Readable, canonical name used in stores, tables and charts."""
        shown = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                 for k, v in self.params if k not in ("short", "long")]
        if self.method == "longrope":
            # the factor arrays are too long to show, but two different arrays must never share
            # a label: labels key the stored records, so a collision would skip real work on resume
            digest = hashlib.sha256(json.dumps([self.p["short"], self.p["long"]]).encode()).hexdigest()[:8]
            shown.append(f"dims={len(self.p['long'])},factors={digest}")
        return self.method + (":" + ",".join(shown) if shown else "")

    def original(self, base: BaseRope) -> int:
        return int(self.p.get("original", base.original))

    def capacity(self, base: BaseRope) -> int:
        """The longest context this setting is meant to hold."""
        p = self.p
        if self.method == "none":
            return base.original
        if self.method == "abf":
            return int(p.get("max", base.original))
        factor = p.get("factor")
        if self.method == "longrope" and factor is None:
            factor = max(p["long"])
        return int(round(float(factor) * self.original(base)))

    def validate(self, base: BaseRope) -> None:
        if self.method == "longrope" and len(self.p["long"]) != base.head_dim // 2:
            raise EvalError(f"longrope factor arrays have {len(self.p['long'])} entries; this model "
                            f"needs head_dim/2 = {base.head_dim // 2}")

    # ---- overrides -----------------------------------------------------------
    def _longrope_attention(self, base: BaseRope) -> float:
        if "attention_factor" in self.p:
            return float(self.p["attention_factor"])
        scale = self.capacity(base) / self.original(base)
        return 1.0 if scale <= 1 else math.sqrt(1 + math.log(scale) / math.log(self.original(base)))

    def rope_parameters(self, base: BaseRope, length: int | None = None) -> dict:
        """The complete rope_parameters dict (HF flavour unless `length` asks for vLLM's
        per-length static emulation of dynamic NTK)."""
        p, theta, d = self.p, base.theta, base.head_dim
        orig = self.original(base)
        if self.method == "none":
            return base.own_parameters()
        if self.method == "abf":
            return {"rope_type": "default", "rope_theta": float(p["theta"])}
        if self.method == "pi":
            return {"rope_type": "linear", "rope_theta": theta, "factor": float(p["factor"])}
        if self.method == "ntk":
            return {"rope_type": "default", "rope_theta": theta * float(p["factor"]) ** (d / (d - 2))}
        if self.method == "dynamic":
            if length is None:
                return {"rope_type": "dynamic", "rope_theta": theta, "factor": float(p["factor"]),
                        "original_max_position_embeddings": orig}
            return {"rope_type": "default", "rope_theta": dynamic_theta(theta, d, p["factor"], orig, length)}
        if self.method == "yarn":
            out = {"rope_type": "yarn", "rope_theta": theta, "factor": float(p["factor"]),
                   "original_max_position_embeddings": orig,
                   "beta_fast": float(p.get("beta_fast", 32.0)), "beta_slow": float(p.get("beta_slow", 1.0))}
            for key in ("mscale", "mscale_all_dim", "attention_factor"):
                if key in p:
                    out[key] = float(p[key])
            return out
        if self.method == "llama3":
            return {"rope_type": "llama3", "rope_theta": theta, "factor": float(p["factor"]),
                    "original_max_position_embeddings": orig,
                    "low_freq_factor": float(p.get("low_freq_factor", 1.0)),
                    "high_freq_factor": float(p.get("high_freq_factor", 4.0))}
        assert self.method == "longrope"
        return {"rope_type": "longrope", "rope_theta": theta,
                "short_factor": list(p["short"]), "long_factor": list(p["long"]),
                "original_max_position_embeddings": orig,
                "factor": self.capacity(base) / orig,
                "attention_factor": self._longrope_attention(base)}

    def max_position_embeddings(self, base: BaseRope, max_length: int) -> int:
        if self.method == "dynamic":
            return self.original(base)    # HF treats it as the original length
        return max(self.capacity(base), max_length, base.original)

    def to_hf(self, base: BaseRope, max_length: int) -> dict:
        """Config attributes for transformers: rope_parameters + max_position_embeddings."""
        self.validate(base)
        return {"rope_parameters": self.rope_parameters(base),
                "max_position_embeddings": self.max_position_embeddings(base, max_length)}

    def engine_key(self, base: BaseRope, length: int) -> str:
        """Requests with the same key share one vLLM engine (see pitfalls 4 and 5)."""
        if self.method == "dynamic" and length > self.original(base):
            return f"len{length}"
        if self.method == "longrope" and length <= self.original(base):
            return "short"
        return "main"

    def to_vllm(self, base: BaseRope, max_length: int, engine_key: str = "main") -> dict:
        """hf_overrides for vllm.LLM / `vllm serve --hf-overrides`."""
        self.validate(base)
        if self.method == "dynamic":
            length = int(engine_key[3:]) if engine_key.startswith("len") else base.original
            params = self.rope_parameters(base, length=length)
            return {"rope_parameters": params, "max_position_embeddings": max(max_length, base.original)}
        params = self.rope_parameters(base)
        if self.method == "longrope":
            attention = params.pop("attention_factor")
            params.pop("factor")
            params["short_mscale"] = params["long_mscale"] = attention
        return {"rope_parameters": params,
                "max_position_embeddings": self.max_position_embeddings(base, max_length)}


def dynamic_theta(theta: float, head_dim: int, factor: float, original: int, length: int) -> float:
    """transformers' dynamic NTK base at sequence length `length`."""
    if length <= original:
        return theta
    return theta * ((factor * length / original) - (factor - 1)) ** (head_dim / (head_dim - 2))


