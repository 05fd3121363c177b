"""RoPE settings: one class per method, found through a registry by its `--rope` name.

`RopeSpec.parse("yarn:factor=4,original=4096")` picks the method's class, which
checks its parameters once and owns everything else about the method: its
capacity, its transformers config (`to_hf`) and its vLLM overrides (`to_vllm`).
A new method is one registered class. The silent pitfalls measured in vLLM 0.32 and
transformers 5 are handled here:

1. the whole `rope_parameters` dict is always sent, `rope_theta` and `rope_type` included
   (and the checkpoint's `partial_rotary_factor`, which the dict would otherwise drop);
2. theta changes go through `rope_parameters`, never a bare `rope_theta` override;
3. `max_position_embeddings` is raised to the setting's capacity (factor x original),
   so the HF YaRN/LongRoPE attention factor (derived from that ratio) equals vLLM's;
4. vLLM's static "dynamic" type is never used: dynamic NTK gives vLLM a static theta per
   request length, and the vLLM backend groups requests with equal overrides into one engine;
5. LongRoPE gives short requests an engine with max_model_len <= original (short factors).

Values are checked to be finite and sane (`MAX_FACTOR`, `MAX_THETA`, `MAX_TOKENS`): a bad
value is one-line `EvalError`, never a traceback or an overflow passed on to an engine.
"""
from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .types import EvalError

MAX_FACTOR = 1e4          # largest scale factor (and any other float parameter) accepted
MAX_THETA = 1e12          # largest rope_theta accepted
MAX_TOKENS = 1 << 30      # largest length parameter accepted
_LIMITS = {"theta": MAX_THETA, "original": MAX_TOKENS, "max": MAX_TOKENS}
_INT_PARAMS = {"original", "max"}


@dataclass(frozen=True)
class BaseRope:
    """The RoPE facts of the checkpoint, read from its config.json."""

    head_dim: int
    theta: float
    original: int                    # pretrained context length
    parameters: tuple[tuple[str, object], ...] = ()   # the checkpoint's own rope_parameters
    partial: float = 1.0             # fraction of head_dim that is rotated (GPT-NeoX, Phi)
    declared: int = 0                # config max_position_embeddings: a scaled checkpoint's own context

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> BaseRope:
        params = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
        if "type" in params and "rope_type" not in params:
            params["rope_type"] = params.pop("type")
        theta = _config_number("rope_theta", params.get("rope_theta", cfg.get("rope_theta", 10000.0)))
        params["rope_theta"] = theta
        params.setdefault("rope_type", "default")
        neox_default = 0.25 if cfg.get("model_type") == "gpt_neox" else 1.0   # transformers' default
        partial = params.get("partial_rotary_factor",
                             cfg.get("partial_rotary_factor", cfg.get("rotary_pct", neox_default)))
        partial = _config_number("partial_rotary_factor", partial)
        heads = cfg.get("num_attention_heads")
        head_dim = cfg.get("head_dim") or (cfg["hidden_size"] // heads if heads else None)
        original = params.get("original_max_position_embeddings", cfg.get("max_position_embeddings"))
        if not head_dim or not original:
            raise EvalError("model config lacks head_dim/hidden_size or max_position_embeddings: "
                            "give the original length explicitly, e.g. --rope yarn:factor=4,original=4096")
        if partial > 1 or int(head_dim * partial) < 4:
            raise EvalError(f"model config rotates {int(head_dim * partial)} of {head_dim} head dims "
                            f"(partial_rotary_factor={partial}): RoPE needs at least 4")
        declared = cfg.get("max_position_embeddings")
        declared = int(declared) if isinstance(declared, int) and not isinstance(declared, bool) else 0
        return cls(int(head_dim), theta, int(original),
                   tuple(sorted((k, _freeze(v)) for k, v in params.items())), partial, declared)

    @property
    def dim(self) -> int:
        """Rotated dims per head: what the NTK formulas and LongRoPE factor arrays count."""
        return int(self.head_dim * self.partial)

    def own_parameters(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.parameters}


def _freeze(v: object) -> object:
    return tuple(v) if isinstance(v, list) else v


def _config_number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise EvalError(f"model config has a bad {key}: {value!r} (a positive finite number is needed)")
    return float(value)


def _finite_theta(theta: float, method: str) -> float:
    if not math.isfinite(theta) or not 0 < theta <= MAX_THETA:
        raise EvalError(f"RoPE {method} gives rope_theta={theta:g}, beyond {MAX_THETA:g}: lower the factor")
    return theta


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


def _float_list(name: str, values: object, where: str) -> tuple[float, ...]:
    """A non-empty list of positive finite factors; `where` names the source in errors."""
    if not isinstance(values, list) or not values:
        raise EvalError(f"bad longrope {name} {where}: give a JSON list of numbers, e.g. {name}=[1.0,1.2]")
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x <= MAX_FACTOR:
            raise EvalError(f"bad longrope {name} {where}: entry {i} is {json.dumps(x)}, "
                            f"not a positive finite number <= {MAX_FACTOR:g}")
    return tuple(float(x) for x in values)


def _text_float_list(name: str, text: str) -> tuple[float, ...]:
    try:
        values = json.loads(text) if text.startswith("[") else None
    except json.JSONDecodeError:
        values = None
    return _float_list(name, values, f"value {text!r}")


def dynamic_theta(theta: float, head_dim: int, factor: float, original: int, length: int) -> float:
    """transformers' dynamic NTK base at sequence length `length`."""
    if length <= original:
        return theta
    return theta * ((factor * length / original) - (factor - 1)) ** (head_dim / (head_dim - 2))


_REGISTRY: dict[str, type[RopeSpec]] = {}
ALIASES: dict[str, str] = {}


def register(cls: type[RopeSpec]) -> type[RopeSpec]:
    """Class decorator: make a method (and its aliases) known to `RopeSpec.parse`."""
    for name in (cls.method, *cls.aliases):
        if name in _REGISTRY or name in ALIASES:
            raise ValueError(f"RoPE method name {name!r} is registered twice")
    _REGISTRY[cls.method] = cls
    ALIASES.update({alias: cls.method for alias in cls.aliases})
    return cls


@dataclass(frozen=True)
class RopeSpec(ABC):
    """One validated RoPE setting; each subclass is one method."""

    params: tuple[tuple[str, object], ...] = ()
    source: str | None = field(default=None, compare=False)   # a factor file's name, for reading only

    method: ClassVar[str]                              # canonical name, used in labels
    aliases: ClassVar[tuple[str, ...]] = ()
    help: ClassVar[str]                                # one line for `evalsuite list`
    allowed: ClassVar[frozenset[str]] = frozenset()
    required: ClassVar[frozenset[str]] = frozenset()
    shrinks: ClassVar[bool] = False                    # may factor be below 1?

    # ---- parsing -------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> RopeSpec:
        """`method:key=value,...` -> the method's class, parameters checked."""
        text = text.strip()
        name, _, rest = text.partition(":")
        method = ALIASES.get(name.strip().lower(), name.strip().lower())
        if method not in _REGISTRY:
            raise EvalError(f"unknown RoPE method {name!r}: choose one of {', '.join(_REGISTRY)} "
                            "(see `evalsuite list`)")
        spec = _REGISTRY[method]
        source = next((Path(p.partition("=")[2].strip()).name for p in _split_params(rest)
                       if p.partition("=")[0].strip() == "file"), None)
        return spec(tuple(sorted(spec.parse_params(rest, text).items())), source)

    @classmethod
    def parse_params(cls, rest: str, text: str) -> dict[str, object]:
        params: dict[str, object] = {}
        for item in _split_params(rest):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not value.strip():
                raise EvalError(f"bad RoPE parameter {item!r} in {text!r}: write key=value")
            if key not in cls.allowed:
                raise EvalError(f"RoPE method {cls.method!r} takes no parameter {key!r}; "
                                f"it takes: {', '.join(sorted(cls.allowed)) or 'none'}")
            if key in params:
                raise EvalError(f"RoPE parameter {key!r} is given twice in {text!r}: give it once")
            params[key] = cls.parse_value(key, value.strip())
        missing = cls.required - params.keys()
        if missing:
            raise EvalError(f"RoPE method {cls.method!r} needs {', '.join(sorted(missing))}, "
                            f"e.g. --rope {cls.method}:{min(missing)}=4")
        return cls.check(params)

    @classmethod
    def parse_value(cls, key: str, value: str) -> object:
        try:
            number = float(value)
        except ValueError:
            raise EvalError(f"RoPE parameter {key}={value!r} is not a number") from None
        return cls.check_number(key, number, f"RoPE parameter {key}={value}")

    @classmethod
    def check_number(cls, key: str, number: float, shown: str) -> float | int:
        """A parameter's number, checked; `shown` names it (and its source) in errors."""
        if not math.isfinite(number) or number <= 0:
            raise EvalError(f"{shown} must be a positive number")
        if key == "factor" and number < 1 and not cls.shrinks:
            raise EvalError(f"{shown} must be >= 1 (RoPE {cls.method} scales the context up)")
        limit = _LIMITS.get(key, MAX_FACTOR)
        if number > limit:
            raise EvalError(f"{shown} is out of range: at most {limit:g}")
        if key in _INT_PARAMS:
            if number != int(number):
                raise EvalError(f"{shown} must be a whole number of tokens")
            return int(number)
        return number

    @classmethod
    def check(cls, params: dict[str, object]) -> dict[str, object]:
        """Checks across parameters (after each was checked alone); may complete them."""
        return params

    # ---- facts ---------------------------------------------------------------
    @property
    def p(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        """Readable, canonical name used in stores, tables and charts."""
        shown = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                 for k, v in self.params if k not in ("short", "long")] + self.label_extra()
        return self.method + (":" + ",".join(shown) if shown else "")

    def label_extra(self) -> list[str]:
        return []

    @property
    def name(self) -> str:
        """What tables show: the label, or for a setting read from a file, the method and the
        file's name (`longrope:longrope_8x.json`); the full label stays in the run identity."""
        return f"{self.method}:{self.source}" if self.source else self.label

    def original(self, base: BaseRope) -> int:
        return int(self.p.get("original", base.original))

    def capacity(self, base: BaseRope) -> int:
        """The longest context this setting is meant to hold."""
        return round(float(self.p["factor"]) * self.original(base))

    def validate(self, base: BaseRope) -> None:  # noqa: B027 - most methods have nothing to check
        """Checks against the model (parse-time checks cannot see it)."""

    # ---- overrides -----------------------------------------------------------
    @abstractmethod
    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        """The complete rope_parameters dict, transformers flavour."""

    def vllm_parameters(self, base: BaseRope, length: int) -> dict[str, Any]:
        """rope_parameters for a vLLM engine serving requests of context `length`."""
        return self.rope_parameters(base)

    def max_position_embeddings(self, base: BaseRope, max_length: int) -> int:
        return max(self.capacity(base), max_length, base.original)

    def vllm_max_model_len(self, base: BaseRope, max_length: int, length: int) -> int:
        return max_length

    def to_hf(self, base: BaseRope, max_length: int) -> dict[str, Any]:
        """Config attributes for transformers: rope_parameters + max_position_embeddings."""
        self.validate(base)
        return {"rope_parameters": _with_partial(self.rope_parameters(base), base),
                "max_position_embeddings": self.max_position_embeddings(base, max_length)}

    def to_vllm(self, base: BaseRope, max_length: int, length: int | None = None) -> tuple[dict[str, Any], int]:
        """(hf_overrides, max_model_len) of the vLLM engine for requests of context `length`
        (default: max_length). Requests whose pairs are equal may share one engine."""
        self.validate(base)
        length = max_length if length is None else length
        overrides = {"rope_parameters": _with_partial(self.vllm_parameters(base, length), base),
                     "max_position_embeddings": self.max_position_embeddings(base, max_length)}
        return overrides, self.vllm_max_model_len(base, max_length, length)


def _with_partial(params: dict[str, Any], base: BaseRope) -> dict[str, Any]:
    if base.partial != 1.0:
        params["partial_rotary_factor"] = base.partial
    return params


@register
class NoRope(RopeSpec):
    method, aliases = "none", ("default", "native")
    help = ("the model's own RoPE, unchanged (a checkpoint that ships rope_scaling, e.g. YaRN or Llama-3.1, "
            "keeps it and holds its config's max_position_embeddings)")

    def capacity(self, base: BaseRope) -> int:
        return max(base.original, base.declared)

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return base.own_parameters()


@register
class PIRope(RopeSpec):
    method, aliases, help = "pi", ("linear",), "position interpolation (rope_type linear): factor"
    allowed, required, shrinks = frozenset({"factor", "original"}), frozenset({"factor"}), True

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return {"rope_type": "linear", "rope_theta": base.theta, "factor": float(self.p["factor"])}


@register
class NTKRope(RopeSpec):
    method, aliases, help = "ntk", ("ntk-aware",), "static NTK-aware: theta * factor^(d/(d-2)); factor"
    allowed, required = frozenset({"factor", "original"}), frozenset({"factor"})

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        d = base.dim
        theta = base.theta * float(self.p["factor"]) ** (d / (d - 2))
        return {"rope_type": "default", "rope_theta": _finite_theta(theta, self.method)}


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


@register
class ABFRope(RopeSpec):
    method = "abf"
    help = "adjusted base frequency: theta (capacity stays the original unless max= is given)"
    allowed, required = frozenset({"theta", "max"}), frozenset({"theta"})

    def capacity(self, base: BaseRope) -> int:
        return int(self.p.get("max", base.original))

    def rope_parameters(self, base: BaseRope) -> dict[str, Any]:
        return {"rope_type": "default", "rope_theta": float(self.p["theta"])}


def method_classes() -> dict[str, type[RopeSpec]]:
    """Registered methods by canonical name, in registration order."""
    return dict(_REGISTRY)


def method_help() -> list[tuple[str, str]]:
    """(name, one-line help) per method, for `evalsuite list`."""
    return [(name, cls.help) for name, cls in _REGISTRY.items()]

