"""Model backends behind one abstract interface (found through entry point group evalsuite.backends).

`Backend` is an abstract base class so that a plugin missing a method fails when it
is instantiated, not halfway through a run. `engine_version` and `resolve_dtype` are
classmethods: the runner builds a run identity from them before loading anything.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

from evalsuite.config.engine_args import EngineArgs
from evalsuite.config.vocab import DTYPES
from evalsuite.rope import BaseRope, RopeSpec
from evalsuite.types import EvalError, Generation, LogprobResult, Request
from evalsuite.workload.tokenization import Tokenizer


@dataclass(frozen=True)
class LoadedModel:
    """What a backend has loaded, handed to a suite that drives another harness over it (lm-eval), so
    the model is not loaded twice. `kind` says what `handle` is: "transformers" (the model object),
    "vllm" (a `vllm.LLM` engine) or "completions" (an OpenAIBackend: the endpoint client of a server)."""

    kind: Literal["transformers", "vllm", "completions"]
    handle: Any


@dataclass(frozen=True)
class BackendFlag:
    """A `evalsuite run` flag a backend declares, as suites declare their options. Backends may share
    a flag (--concurrency); the first declaration's help and type are used."""

    name: str                                   # "endpoint" -> --endpoint, args.endpoint
    help: str
    type: Callable[[str], Any] | None = None
    repeat: bool = False                        # repeatable: a list of values
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


class Backend(ABC):
    """One backend per (model, RoPE setting); every suite and length goes through it."""

    name: ClassVar[str]
    default_batch_size: ClassVar[int] = 8
    flags: ClassVar[tuple[BackendFlag, ...]] = ()     # its own `evalsuite run` flags

    @classmethod
    def options_from(cls, given: dict[str, Any]) -> Any:
        """The backend's typed options from the values of its flags the user gave (by dest; flags not
        given are absent), checked before anything is built; None: a backend without options."""
        return None

    def __init__(self, model: str, rope: RopeSpec, base: BaseRope, max_length: int,
                 tok: Tokenizer, dtype: str = "auto", *, revision: str | None = None,
                 engine_args: EngineArgs = (), options: Any = None) -> None:
        """`options`: a backend's own typed options (openai: EndpointOptions); None for in-process engines."""
        self.model, self.rope, self.base = model, rope, base
        self.engine_args = dict(engine_args)     # checked by check_engine_args before any engine loads
        self.max_length, self.tok, self.dtype, self.revision = max_length, tok, dtype, revision
        self.load_seconds = 0.0          # engine load time spent after __init__ (lazy backends)
        self.engine_loads: list[tuple[str, float]] = []   # (engine description, seconds), every load
        self.stop_ids = stop_token_ids(model, tok, revision)

    def loaded_model(self, max_length: int) -> LoadedModel | None:
        """The loaded model that serves prompts of up to `max_length` tokens, for suites that drive
        another harness over it; None: this backend does not expose one."""
        return None

    @classmethod
    @abstractmethod
    def engine_version(cls) -> str:
        """e.g. "vllm-0.32.0": the engine package and version, read without importing it."""

    @classmethod
    def identity_engine(cls, options: Any, model: str, tok: Tokenizer, lengths: Sequence[int]) -> str:
        """The run identity's engine field. In-process engines: `engine_version()`; a server
        backend asks its servers here (before any workload is built)."""
        return cls.engine_version()

    @classmethod
    @abstractmethod
    def resolve_dtype(cls, dtype: str) -> str:
        """The concrete dtype that `dtype` ("auto" included) means on this machine."""

    @classmethod
    def check_engine_args(cls, args: EngineArgs) -> None:
        """Refuse engine arguments this backend cannot pass on (called before anything loads)."""
        if args:
            raise EvalError(f"the {cls.name} backend takes no --engine-arg (they go to the vllm and "
                            "vllm-server backends)")

    @abstractmethod
    def generate(self, reqs: Sequence[Request]) -> list[Generation]:
        """Greedy generations; `seconds` excludes engine loading."""

    @abstractmethod
    def logprobs(self, reqs: Sequence[Request]) -> list[LogprobResult]:
        """Per-token log-probs of prompt positions [score_start, len); `seconds` excludes engine loading."""

    def run_batches(self, batches: Iterable[list[Request]], size: int
                    ) -> Iterator[tuple[list[Request], list[Generation | LogprobResult]]]:
        """(requests, results) for the runner to store, batch after batch; a backend with its own
        queue (openai) yields groups as they finish instead. Each batch holds one kind."""
        for batch in batches:
            yield batch, list(self.generate(batch) if batch[0].kind == "generate" else self.logprobs(batch))

    @abstractmethod
    def close(self) -> None:
        """Free the engine before the next RoPE setting loads its own."""

    def _record_load(self, what: str, seconds: float, *, in_init: bool = False) -> None:
        self.engine_loads.append((what, seconds))
        if not in_init:
            self.load_seconds += seconds


class QueuedBackend(Backend):
    """A backend whose `run_batches` yields groups in the order they finish (a work queue over
    servers): `generate` and `logprobs` collect one call's results back into request order."""

    def _in_order(self, reqs: Sequence[Request]) -> list[Generation | LogprobResult]:
        out: dict[int, Generation | LogprobResult] = {}
        position = {id(r): i for i, r in enumerate(reqs)}
        for got, results in self.run_batches([list(reqs)], max(len(reqs), 1)):
            out.update((position[id(r)], res) for r, res in zip(got, results))
        return [out[i] for i in range(len(reqs))]

    def generate(self, reqs: Sequence[Request]) -> list[Generation]:
        return self._in_order(reqs)  # type: ignore[return-value]

    def logprobs(self, reqs: Sequence[Request]) -> list[LogprobResult]:
        return self._in_order(reqs)  # type: ignore[return-value]


def package_version(*distributions: str) -> str:
    """`name-version` of the first installed distribution, read from metadata (no import)."""
    for dist in distributions:
        try:
            return f"{dist}-{metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    raise EvalError(f"{' or '.join(distributions)} is not installed")


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise EvalError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    return dtype


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def stop_token_ids(model: str, tok: Tokenizer, revision: str | None = None) -> list[int]:
    """Token ids that end a generation: the tokenizer's EOS plus every eos_token_id of the model's
    generation_config.json (a list for Llama-3 instruct: 128001 and 128009 <|eot_id|>; stopping on
    the tokenizer's EOS alone lets such a model run on past its turn)."""
    ids = [tok.eos_id] if tok.eos_id is not None else []
    from evalsuite.models.gguf import config_source
    path = Path(config_source(model)) / "generation_config.json"
    try:
        if path.is_file():
            extra = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
        else:
            from transformers import GenerationConfig  # hub id: the cached or fetched file, if any
            extra = GenerationConfig.from_pretrained(model, revision=revision or "main").eos_token_id
    except (OSError, ValueError, AttributeError):    # none (or an unreadable one): the tokenizer's EOS alone
        extra = None
    for t in (extra if isinstance(extra, list) else [extra]):
        if isinstance(t, int) and t not in ids:
            ids.append(t)
    return ids


def forced_last_token_logprobs(seq: list[int], score_start: int, prompt_logprob: Callable[[int], float],
                               last: float) -> tuple[float, ...]:
    """Log-probs of the scored tokens of a sequence sent as the forced-last-token trick (vLLM, in
    process and served): the prompt is `seq[:-1]` with prompt log-probs, and `seq[-1]` is forced as the
    one generated token (allowed_token_ids) whose log-prob is `last`. So a sequence of exactly
    max_model_len tokens needs no room for a generated token (which would flip LongRoPE's factors).
    `prompt_logprob(p)` is the log-prob of `seq[p]` at position p; the first token has none."""
    first = max(score_start, 1)
    values = [prompt_logprob(p) for p in range(first, len(seq) - 1)]
    values.append(last)
    return tuple(values[-(len(seq) - first):])
