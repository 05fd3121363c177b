"""Typed, frozen records that flow through a run: request -> generation -> record.

Prompts travel as token ids, never as text: the ids are what was counted against
the length budget, so no backend can re-tokenize its way past it. What a suite
needs beyond the common fields travels in its own frozen `Payload` subclass
(request side) and `Detail` subclass (score side), never in strings.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Sequence, TypeVar, Union

import numpy as np


class EvalError(Exception):
    """A user-facing problem: the CLI prints it as one line and exits non-zero."""


P = TypeVar("P", bound="Payload")
TokenIds = Union[Sequence[int], np.ndarray]      # a list, or a slice of the memory-mapped cache


@dataclass(frozen=True)
class Payload:
    """Base of every suite's typed payload: plain JSON-able fields (str, int, float, bool,
    None, and tuples of them). Subclasses are frozen dataclasses."""

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls: type[P], data: Any, where: str = "") -> P:
        """Rebuild from JSON, rejecting unknown or missing fields (a damaged or foreign file)."""
        if not isinstance(data, dict):
            raise EvalError(f"{where}{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise EvalError(f"{where}{cls.__name__} has unknown field(s) {unknown}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as e:
            raise EvalError(f"{where}{cls.__name__}: {e}") from None


@dataclass(frozen=True, eq=False)
class Request:
    """One sample to run: a token-exact prompt plus what is needed to score it.

    `prompt_ids` may be a numpy array (a slice of the memory-mapped workload cache).
    """

    suite: str
    task: str                        # the subtask within the suite (e.g. RULER's "vt")
    length: int                      # the context length this sample was built for
    index: int                       # sample number within (task, length)
    prompt_ids: TokenIds
    max_new_tokens: int
    references: tuple[str, ...]      # gold answers, used by the suite's scorer
    depth: float | None = None       # needle depth in percent, where the task has one
    seed: int = 0
    kind: str = "generate"           # "generate" or "logprobs"
    score_start: int = 0             # logprobs: first prompt position that is scored
    payload: Payload | None = None   # the suite's typed facts about this sample
    stop: tuple[str, ...] = ()       # the output ends before the first of these strings
    # generation also ends at these token ids (beside EOS), as an HF eos_token_id list does
    stop_token_ids: tuple[int, ...] = ()
    min_new_tokens: int = 0          # EOS and stop_token_ids are barred until this many tokens are out

    @property
    def key(self) -> str:
        """Content hash: the same prompt and references give the same key on every run."""
        h = hashlib.sha256()
        fields = [self.suite, self.task, self.length, self.index, self.seed, self.max_new_tokens,
                  list(self.references), self.kind, self.score_start]
        h.update(json.dumps(fields + ([list(self.stop)] if self.stop else [])
                            + ([list(self.stop_token_ids), self.min_new_tokens]
                               if self.stop_token_ids or self.min_new_tokens else [])).encode())
        h.update(np.asarray(self.prompt_ids, dtype=np.int32).tobytes())
        return h.hexdigest()[:24]

    def header_json(self) -> dict[str, Any]:
        """Every field but the prompt ids (those go into the cache's id array)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "prompt_ids"}
        d["references"] = list(self.references)
        d["payload"] = self.payload.to_json() if self.payload is not None else None
        d["stop"] = list(self.stop)
        d["stop_token_ids"] = list(self.stop_token_ids)
        return d

    @classmethod
    def from_header(cls, d: dict[str, Any], prompt_ids: TokenIds,
                    payload_type: type[Payload] | None = None) -> Request:
        d = dict(d)
        d["references"] = tuple(d["references"])
        d["stop"] = tuple(d.get("stop", ()))
        d["stop_token_ids"] = tuple(d.get("stop_token_ids", ()))
        raw = d.pop("payload", None)
        if raw is not None and payload_type is None:
            raise EvalError("a cached request has a payload, but its suite declares no payload type")
        payload = payload_type.from_json(raw) if raw is not None and payload_type is not None else None
        return cls(prompt_ids=prompt_ids, payload=payload, **d)


@dataclass(frozen=True)
class Generation:
    """What a backend returns for one generate request."""

    text: str
    token_ids: tuple[int, ...]
    seconds: float


@dataclass(frozen=True)
class LogprobResult:
    """Per-token log-probabilities of prompt positions [score_start, len(prompt))."""

    token_logprobs: tuple[float, ...]
    seconds: float


Result = Union[Generation, LogprobResult]


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string. Under greedy decoding this equals stopping the engine
    there (later tokens cannot change earlier ones), on every backend alike."""
    ends = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[:min(ends)] if ends else text


def output_text(result: Result) -> str:
    """The generated text of a generate result (a suite that generates scores this)."""
    if not isinstance(result, Generation):
        raise TypeError("this suite scores generations, but the backend returned log-probs")
    return result.text


@dataclass(frozen=True)
class SampleScore:
    score: float                     # 0..1 for accuracy-like metrics
    extras: tuple[tuple[str, float], ...] = ()   # named secondary scores, shown generically
    detail: Payload | None = None    # the suite's typed per-sample facts for its own aggregation


@dataclass(frozen=True)
class Record:
    """One finished sample as persisted in a run's store (one JSON line).

    `setting` is the run identity's key (evalsuite.run.identity): model, revision, backend, engine
    version, dtype, engine arguments, template and RoPE setting; the fields beside it repeat
    the parts of that identity a reader needs, so a store is readable on its own."""

    SCHEMA: ClassVar[int] = 2

    key: str
    setting: str
    model: str
    revision: str
    label: str | None
    backend: str
    engine: str
    dtype: str
    template: str
    rope: str
    suite: str
    task: str
    length: int
    index: int
    depth: float | None
    seed: int
    prompt_tokens: int
    output: str
    score: float
    seconds: float
    references: tuple[str, ...] = ()
    extras: tuple[tuple[str, float], ...] = field(default=())
    payload: dict[str, Any] | None = None
    detail: dict[str, Any] | None = None
    rope_name: str | None = None         # the RoPE setting as tables show it (see RopeSpec.name)
    capacity: int | None = None          # the longest context the RoPE setting is meant to hold
    trained_length: int | None = None    # the model's own (pretrained) context length

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["references"] = list(self.references)
        d["extras"] = dict(self.extras)
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = "store record") -> Record:
        """Validate one stored line's schema: a damaged or foreign line is a one-line error."""
        if not isinstance(d, dict):
            raise EvalError(f"{where} is not a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown, missing = set(d) - set(known), {k for k, f in known.items() if _required(f)} - set(d)
        if unknown or missing:
            raise EvalError(f"{where} has unknown fields {sorted(unknown)} / lacks {sorted(missing)}: it was "
                            "written by another evalsuite version; use a new --out")
        for name, kinds in _record_types().items():
            value = d.get(name)
            if name in d and not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
                raise EvalError(f"{where}: field {name!r} has the wrong type ({type(value).__name__})")
        extras = d.get("extras", {})
        if not isinstance(extras, dict) or not all(isinstance(v, (int, float)) for v in extras.values()):
            raise EvalError(f"{where}: field 'extras' must map names to numbers")
        if not all(isinstance(a, str) for a in d.get("references", [])):
            raise EvalError(f"{where}: field 'references' must be a list of strings")
        d = dict(d)
        d["references"] = tuple(d.get("references", ()))
        d["extras"] = tuple(sorted((k, float(v)) for k, v in extras.items()))
        return cls(**d)

    def detail_as(self, kind: type[P]) -> P:
        """The suite's typed per-sample detail."""
        return kind.from_json(self.detail, f"record {self.key}: ")

    def payload_as(self, kind: type[P]) -> P:
        return kind.from_json(self.payload, f"record {self.key}: ")


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@functools.cache
def _record_types() -> dict[str, tuple[type, ...]]:
    """The JSON types each Record field may have, read from its annotation (one list: the class):
    a float also takes an int, a tuple is a JSON list; `extras` is checked on its own."""
    json_kind = {float: (int, float), tuple: (list,), dict: (dict,), str: (str,), int: (int,),
                 type(None): (type(None),)}
    out: dict[str, tuple[type, ...]] = {}
    for name, hint in typing.get_type_hints(Record).items():
        if name == "extras" or typing.get_origin(hint) is ClassVar:
            continue
        parts = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
        out[name] = tuple(k for p in parts for k in json_kind[typing.get_origin(p) or p])
    return out

