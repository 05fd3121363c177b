"""OpenAI-compatible completions endpoints (`vllm serve`, SGLang): `--backend openai --endpoint URL`.

The engine runs elsewhere; this backend sends each sample to /v1/completions through an
`EndpointPool` (evalsuite.backends.endpoints: one work queue over every endpoint, retries, dead
endpoints' work handed to the others) and streams results back as they finish.

- Prompts go as token ids (vLLM and SGLang accept a list of ids as `prompt`), so the length
  budget stays exact. A server that refuses ids (found by a one-token probe) gets the decoded
  text, and its `usage.prompt_tokens` must equal the budget: a mismatch is an error.
- Greedy decoding (temperature 0, every other sampling knob neutral, so the server's
  generation_config defaults cannot change it), `max_tokens` = the request's budget, the model's
  EOS ids as stop ids; stop strings cut the text afterwards as on the other backends.
- Perplexity: the prompt's log-probs (vLLM's `prompt_logprobs`) for all but the last token,
  which is forced as the one generated token (`allowed_token_ids`) and read from its log-prob,
  as the in-process vLLM backend does, so a prompt of exactly max_model_len tokens fits.
- Before the first request the server's model list is read: the served model must be --model
  (or the only one served), every length must fit its `max_model_len` (else a one-line error
  naming the endpoint), and the served name and server version (`system_fingerprint`, else
  /version) go into the run identity's engine field.
- The RoPE setting of an external server was fixed when it started: the run records the
  --rope the user declares, as declared; evalsuite cannot check it.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.backends.base import (
    BackendFlag,
    LoadedModel,
    QueuedBackend,
    check_dtype,
    forced_last_token_logprobs,
)
from evalsuite.backends.endpoints import EndpointPool, Job, RetryPolicy
from evalsuite.config.options import positive_seconds, whole_number
from evalsuite.types import EvalError, Generation, LogprobResult, Request, Result
from evalsuite.workload.tokenization import Tokenizer

GREEDY = {"temperature": 0.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0,
          "presence_penalty": 0.0, "frequency_penalty": 0.0, "n": 1, "seed": 0}


@dataclass(frozen=True)
class EndpointOptions:
    """What `--endpoint`, `--concurrency`, `--request-timeout` and `--api-key-env` say."""

    endpoints: tuple[str, ...]
    concurrency: int = 8                  # requests in flight per endpoint
    request_timeout: float = 600.0        # seconds per request
    api_key_env: str | None = None        # the environment variable holding the API key
    retry: RetryPolicy = RetryPolicy()

    def api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise EvalError(f"--api-key-env {self.api_key_env}: that environment variable is not set")
        return key

    def pool(self) -> EndpointPool:
        return EndpointPool(self.endpoints, self.concurrency, self.request_timeout, self.api_key(), self.retry)


# the endpoint client's flags, shared with vllm-server (whose servers it talks to)
CLIENT_FLAGS = (
    BackendFlag("concurrency", "requests in flight per endpoint (default 8; vllm-server: 64)",
                whole_number("--concurrency", 1)),
    BackendFlag("request-timeout", "seconds per request before it is retried (default 600)",
                positive_seconds("--request-timeout")),
    BackendFlag("retries", "tries of a failing request on one endpoint beyond the first before the endpoint "
                "counts as dead (default 6)", whole_number("--retries", 0)),
)
OPENAI_FLAGS = (
    BackendFlag("endpoint", "an OpenAI-compatible completions server (vllm serve, SGLang), e.g. "
                "http://127.0.0.1:8000; repeatable: all endpoints share one work queue", repeat=True, metavar="URL"),
    *CLIENT_FLAGS,
    BackendFlag("api-key-env", "the environment variable holding the API key", metavar="NAME"),
    BackendFlag("retry-delay", "the first retry delay in seconds, doubling per failure up to 30 s, with jitter "
                "(default 1)", positive_seconds("--retry-delay")),
)


def endpoint_options(given: dict[str, Any]) -> EndpointOptions:
    """EndpointOptions from the openai backend's flags, checked (a missing key variable too)."""
    if not given.get("endpoint"):
        raise EvalError("--backend openai needs --endpoint URL (repeatable)")
    default = RetryPolicy()
    retry = RetryPolicy(retries=given.get("retries", default.retries),
                        backoff=given.get("retry_delay", default.backoff))
    options = EndpointOptions(tuple(given["endpoint"]), given.get("concurrency", 8),
                              float(given.get("request_timeout", 600)), given.get("api_key_env"), retry)
    options.api_key()                  # a missing variable fails now, before anything is built
    return options


@dataclass(frozen=True)
class ServerFacts:
    """What the endpoints serve (all endpoints must agree)."""

    model: str                 # the served model id, sent as `model` in every request
    max_model_len: int | None
    version: str               # e.g. vllm-0.32.0 (from system_fingerprint), or server-<x> from /version
    token_prompts: bool        # the server takes a list of token ids as prompt

    def engine(self) -> str:
        return f"{self.version} served={self.model}"


def probe(pool: EndpointPool, model: str, tok: Tokenizer) -> ServerFacts:
    """Read every endpoint's model list and version, and find whether it takes token-id prompts."""
    facts = []
    for url, listing in pool.get_json("/v1/models").items():
        cards = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(cards, list) or not cards:
            raise EvalError(f"endpoint {url} lists no model at /v1/models")
        card = _pick(url, cards, model)
        served = str(card["id"])
        limit = card.get("max_model_len")
        ids = tok.encode("The")[-1:] or [0]
        status, answer = pool.post_json(url, "/v1/completions",
                                        {"model": served, "prompt": ids, "max_tokens": 1, **GREEDY})
        token_prompts = status < 400
        if not token_prompts:
            status, answer = pool.post_json(url, "/v1/completions",
                                            {"model": served, "prompt": "The", "max_tokens": 1, **GREEDY})
            if status >= 400:
                raise EvalError(f"endpoint {url} refuses a one-token completion of model {served}: {answer}")
        facts.append(ServerFacts(served, int(limit) if isinstance(limit, int) else None,
                                 _version(pool, url, answer), token_prompts))
    if len(set(facts)) > 1:
        raise EvalError("the endpoints serve different things, so their results would not mix: "
                        + "; ".join(f"{u}: {f.engine()} max_model_len={f.max_model_len}"
                                    for u, f in zip(pool.urls, facts)))
    return facts[0]


def _pick(url: str, cards: list[Any], model: str) -> dict[str, Any]:
    names = {model, str(Path(model).resolve()) if Path(model).exists() else model, Path(model).name}
    for card in cards:
        if isinstance(card, dict) and (card.get("id") in names or card.get("root") in names):
            return card
    if len(cards) == 1 and isinstance(cards[0], dict) and "id" in cards[0]:
        return cards[0]               # one model under its --served-model-name: the name is recorded
    served = [c.get("id") for c in cards if isinstance(c, dict)]
    raise EvalError(f"endpoint {url} serves {served}, not --model {model}")


def _version(pool: EndpointPool, url: str, answer: Any) -> str:
    """vLLM's system_fingerprint is "vllm-<version>-<build hash>"; else /version's "version"."""
    fingerprint = answer.get("system_fingerprint") if isinstance(answer, dict) else None
    if isinstance(fingerprint, str) and fingerprint:
        return fingerprint
    status, data = pool.get_raw(url, "/version")
    if status == 200 and isinstance(data, dict) and data.get("version"):
        return f"server-{data['version']}"
    return "server-unknown"


class OpenAIBackend(QueuedBackend):
    name = "openai"
    default_batch_size = 64            # records per store append; the queue itself never waits for a batch
    flags = OPENAI_FLAGS

    @classmethod
    def options_from(cls, given: dict[str, Any]) -> EndpointOptions:
        return endpoint_options(given)

    def __init__(self, *args: Any, options: EndpointOptions | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if options is None:
            raise EvalError("--backend openai needs --endpoint URL (repeatable)")
        self.options = options
        self.pool = options.pool()
        self.facts = probe(self.pool, self.model, self.tok)

    def loaded_model(self, max_length: int) -> LoadedModel:
        return LoadedModel("completions", self)

    @classmethod
    def engine_version(cls) -> str:
        return "openai-endpoint"

    @classmethod
    def resolve_dtype(cls, dtype: str) -> str:
        """The server chose its dtype when it started: "auto" is recorded as "server"."""
        return "server" if check_dtype(dtype) == "auto" else dtype

    @classmethod
    def identity_engine(cls, options: Any, model: str, tok: Tokenizer, lengths: Sequence[int]) -> str:
        """Probe the endpoints before anything runs: the served model, its version, and whether
        every length fits the server's max_model_len."""
        if not isinstance(options, EndpointOptions):
            raise EvalError("--backend openai needs --endpoint URL (repeatable)")
        pool = options.pool()
        try:
            facts = probe(pool, model, tok)
        finally:
            pool.close()
        if facts.max_model_len is not None and max(lengths) > facts.max_model_len:
            raise EvalError(f"endpoint {options.endpoints[0]} serves max_model_len {facts.max_model_len}: it cannot "
                            f"hold length {max(lengths)}; lower --lengths or restart the server with a larger "
                            "--max-model-len")
        return facts.engine()

    # ---- requests ------------------------------------------------------------------------------

    def _check_fits(self, req: Request, total: int) -> None:
        limit = self.facts.max_model_len
        if limit is not None and total > limit:
            raise EvalError(f"request {_name(req)} needs {total} tokens, more than the max_model_len {limit} "
                            f"of endpoint {self.pool.urls[0]}")

    def _prompt(self, ids: list[int]) -> Any:
        return ids if self.facts.token_prompts else self.tok.decode(ids)

    def _job(self, i: int, req: Request) -> Job:
        ids = [int(t) for t in req.prompt_ids]
        body: dict[str, Any] = {"model": self.facts.model, **GREEDY}
        if req.kind == "logprobs":
            self._check_fits(req, len(ids))
            body.update(prompt=self._prompt(ids[:-1]), max_tokens=1, prompt_logprobs=0, logprobs=0,
                        allowed_token_ids=[ids[-1]], return_tokens_as_token_ids=True)
        else:
            self._check_fits(req, len(ids) + req.max_new_tokens)
            body.update(prompt=self._prompt(ids), max_tokens=req.max_new_tokens, return_token_ids=True,
                        stop_token_ids=self.stop_ids or None)
        return Job(_name(req), "/v1/completions", body, tag=(i, time.perf_counter()))

    def _result(self, req: Request, job: Job, answer: Any) -> Result:
        seconds = time.perf_counter() - job.tag[1]
        try:
            choice = answer["choices"][0]
            self._check_prompt_tokens(req, answer)
            if req.kind == "logprobs":
                return LogprobResult(self._logprobs(req, choice), seconds)
            ids = choice.get("token_ids")
            if isinstance(ids, list):
                kept = [int(t) for t in ids if t not in self.stop_ids]
                return Generation(self.tok.decode(kept), tuple(kept), seconds)
            return Generation(str(choice["text"]), (), seconds)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise EvalError(f"request {job.name}: the endpoint's answer lacks {e} "
                            "(is it an OpenAI-compatible completions server?)") from None

    def _check_prompt_tokens(self, req: Request, answer: Any) -> None:
        if self.facts.token_prompts:
            return
        sent = len(req.prompt_ids) - (1 if req.kind == "logprobs" else 0)
        counted = answer.get("usage", {}).get("prompt_tokens")
        if counted != sent:
            raise EvalError(f"request {_name(req)}: the server counted {counted} prompt tokens for a text prompt "
                            f"of {sent} tokens; its tokenizer differs from --model's, so the length budget "
                            "would not hold (use a server that takes token ids)")

    def _logprobs(self, req: Request, choice: dict[str, Any]) -> tuple[float, ...]:
        seq = [int(t) for t in req.prompt_ids]
        per_position = choice["prompt_logprobs"]
        return forced_last_token_logprobs(seq, req.score_start,
                                          lambda p: float(per_position[p][str(seq[p])]["logprob"]),
                                          float(choice["logprobs"]["token_logprobs"][0]))

    def run_batches(self, batches: Iterable[list[Request]], size: int
                    ) -> Iterator[tuple[list[Request], list[Result]]]:
        """Every request through the shared queue; results come back as they finish, in groups of
        at most `size` (the runner stores each group before asking for the next)."""
        reqs: list[Request] = []

        def jobs() -> Iterator[Job]:
            for batch in batches:
                for req in batch:
                    reqs.append(req)
                    yield self._job(len(reqs) - 1, req)
        for done in self.pool.run(jobs(), chunk=size):
            got = [reqs[job.tag[0]] for job, _ in done]
            yield got, [self._result(r, job, answer) for r, (job, answer) in zip(got, done)]

    def close(self) -> None:
        self.pool.close()


def _name(req: Request) -> str:
    return f"{req.suite}/{req.task} length {req.length} #{req.index}"
