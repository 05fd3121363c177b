"""RoPE settings: the checkpoint's RoPE facts (BaseRope), the parsing helpers, the method
registry and the RopeSpec base class every method subclasses (evalsuite/rope/methods.py)."""
from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from evalsuite.plugins import ROPE_METHODS
from evalsuite.types import EvalError

if TYPE_CHECKING:
    import numpy as np

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


ALIASES: dict[str, str] = {}


def register(cls: type[RopeSpec]) -> type[RopeSpec]:
    """Class decorator: make a built-in method (and its aliases) known to `RopeSpec.parse`
    (evalsuite.plugins.ROPE_METHODS; a plugin package adds an entry point instead)."""
    for name in cls.aliases:
        if name in ALIASES or name in ROPE_METHODS.names():
            raise ValueError(f"RoPE method name {name!r} is registered twice")
    ROPE_METHODS.register(cls.method, cls)
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

    def factors(self, base: BaseRope, length: int | None = None) -> np.ndarray | None:
        """Per rotary pair, how much this setting stretches its wavelength at context `length`
        (evalsuite.rope.factors); None for a method that is not one array of factors."""
        return None

    # ---- parsing -------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> RopeSpec:
        """`method:key=value,...` -> the method's class, parameters checked."""
        text = text.strip()
        name, _, rest = text.partition(":")
        method = ALIASES.get(name.strip().lower(), name.strip().lower())
        spec = ROPE_METHODS.get(method)
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

    def to_json(self) -> dict[str, Any]:
        """The whole setting (factor arrays included), as run.json keeps it: `from_json` rebuilds it
        without the command line or the factor file."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        return {"method": self.method, "params": params, "source": self.source}

    @staticmethod
    def from_json(d: dict[str, Any]) -> RopeSpec:
        cls = ROPE_METHODS.get(str(d["method"]))
        params = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in dict(d["params"]).items()))
        return cls(params, d.get("source"))

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


def method_classes() -> dict[str, type[RopeSpec]]:
    """Registered methods by canonical name, built-in ones in registration order."""
    return ROPE_METHODS.all()


def method_help() -> list[tuple[str, str]]:
    """(name, one-line help) per method, for `evalsuite list`."""
    return [(name, cls.help) for name, cls in method_classes().items()]

