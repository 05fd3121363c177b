"""evalsuite's harness overhead over a bare `vllm.LLM.generate` script, and the prefix-cache effect.

    .venv/bin/python benchmarks/vllm_overhead.py [--model PATH] [--length 512] [--passkey 100]
        [--niah 1000] [--batch-size 64] [--repeats 3] [--profile] [--small]

One engine, loaded once (as evalsuite's vLLM backend loads it), serves every measurement, so
the runs differ only in what is around the engine; its prefix cache is reset before each run.
Per repetition, in alternating order:
  bare      the same token-id prompts through `LLM.generate` in batches of --batch-size (and all
            at once), with the sampling parameters evalsuite uses;
  evalsuite `evalsuite.run.runner.run` on the same suites into a fresh run directory (workloads from
            the cache, prefix order, streaming through the engine, scoring, store appends, summary.csv);
  before    the same run with the backend's former batch-by-batch `run_batches` (one `LLM.generate`
            call per stored batch), to show what streaming changed.
It prints each run's seconds and the ratio evalsuite / bare per repetition; on a shared machine
read the ratios, not the seconds. --profile prints where evalsuite's own time goes (cProfile of
one run, engine calls excluded).

Prefix cache: the NIAH grid at one length shares the haystack up to each needle. The prompt
tokens the engine computed (prompt tokens - `num_cached_tokens`) are counted in evalsuite's
prefix order and in a shuffled order with the prefix cache on, and with it off (a second engine
built through `--engine-arg enable_prefix_caching=false`).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _suites(passkey: int, niah: int) -> tuple:
    from evalsuite.plugins import suite_classes
    from evalsuite.suite import SuiteConfig
    classes = suite_classes()
    niah_cls = classes["niah"]
    return (classes["passkey"](SuiteConfig(samples=passkey)),
            niah_cls(SuiteConfig(samples=1), niah_cls.Options(depths=niah)))


def _ids(req) -> list[int]:  # noqa: ANN001
    return np.asarray(req.prompt_ids).tolist()


def _bare(llm, reqs, stops, size: int | None) -> float:
    """A bare script: token-id prompts and greedy sampling parameters, `size` prompts per call."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt
    llm.reset_prefix_cache()
    start = time.perf_counter()
    prompts = [TokensPrompt(prompt_token_ids=_ids(r)) for r in reqs]
    params = [SamplingParams(temperature=0.0, max_tokens=r.max_new_tokens, detokenize=False,
                             stop_token_ids=stops or None) for r in reqs]
    step = size or len(reqs)
    for i in range(0, len(reqs), step):
        llm.generate(prompts[i:i + step], params[i:i + step], use_tqdm=False)
    return time.perf_counter() - start


def _evalsuite(llm, cfg_kwargs: dict, profile: cProfile.Profile | None = None) -> tuple[float, float]:
    """(whole runner.run, its generation loop as timings.jsonl records it) in seconds."""
    import json

    from evalsuite.run import runner
    llm.reset_prefix_cache()
    out = Path(tempfile.mkdtemp(prefix="vllm-overhead-"))
    cfg = runner.RunConfig(out=out, **cfg_kwargs)
    start = time.perf_counter()
    if profile is not None:
        profile.enable()
    runner.run(cfg, log=lambda _line: None)
    if profile is not None:
        profile.disable()
    whole = time.perf_counter() - start
    timing = json.loads((out / "timings.jsonl").read_text().splitlines()[-1])
    return whole, timing["seconds_per_sample"] * timing["samples"]


def _computed_tokens(llm, reqs, stops, size: int) -> tuple[int, float]:
    """Prompt tokens the engine computed (not read from its prefix cache) and seconds, in batches."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt
    llm.reset_prefix_cache()
    computed = 0
    start = time.perf_counter()
    for i in range(0, len(reqs), size):
        chunk = reqs[i:i + size]
        outs = llm.generate([TokensPrompt(prompt_token_ids=_ids(r)) for r in chunk],
                            [SamplingParams(temperature=0.0, max_tokens=r.max_new_tokens, detokenize=False,
                                            stop_token_ids=stops or None) for r in chunk], use_tqdm=False)
        computed += sum(len(r.prompt_ids) - (o.num_cached_tokens or 0) for r, o in zip(chunk, outs))
    return computed, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--passkey", type=int, default=100, help="passkey samples")
    ap.add_argument("--niah", type=int, default=1000, help="NIAH depths (one sample each)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one evalsuite run (engine calls excluded)")
    ap.add_argument("--small", action="store_true", help="CI size: 8 passkey, 24 NIAH, 1 repeat, with --profile")
    args = ap.parse_args()
    if args.small:
        args.passkey, args.niah, args.repeats, args.profile = 8, 24, 1, True
    os.environ.setdefault("EVALSUITE_CACHE", tempfile.mkdtemp(prefix="evalsuite-bench-"))
    from evalsuite.run import logs
    engine_log = Path(tempfile.mkdtemp(prefix="vllm-overhead-log-")) / "engine.log"
    logs.route_engine_logs(engine_log)                 # vLLM's own lines: to a file, as in a run

    from evalsuite.backends.base import Backend
    from evalsuite.backends.vllm import engine as vllm_backend
    from evalsuite.config.engine_args import parse as parse_engine_args
    from evalsuite.models.resolve import load_model_config, resolve_model
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.run import runner
    from evalsuite.workload.tokenization import Tokenizer

    model = resolve_model(args.model)
    base = BaseRope.from_config(load_model_config(model))
    tok = Tokenizer.load(model)
    rope = RopeSpec.parse("none")
    suites = _suites(args.passkey, args.niah)
    reqs = runner.build_workloads(suites, tok, (args.length,), 2)
    print(f"model {Path(model).name}, length {args.length}: {len(reqs)} prompts "
          f"({args.passkey} passkey, {args.niah} NIAH), batch size {args.batch_size}")

    shared = vllm_backend.VLLMBackend(model, rope, base, args.length, tok, "auto")
    t = time.perf_counter()
    llm = shared._engine(shared.engine_key(args.length))
    print(f"engine load {time.perf_counter() - t:.1f}s (once; every run below uses this engine; its log: {engine_log})")
    stops = shared.stop_ids

    class SharedEngine(vllm_backend.VLLMBackend):
        """evalsuite's vLLM backend on the engine loaded above (no second load, not shut down)."""

        def _engine(self, key):  # noqa: ANN001
            return llm

        def close(self) -> None:
            pass

    class BatchByBatch(SharedEngine):
        """The backend as it was before streaming: one `LLM.generate` call per stored batch."""

        run_batches = Backend.run_batches

    chosen: list[type] = [SharedEngine]
    runner.backend_class = lambda _name: chosen[0]              # the runner builds this backend
    cfg_kwargs = dict(suites=suites, lengths=(args.length,), ropes=(rope,), model=model, backend="vllm",
                      batch_size=args.batch_size, report=False, progress=False, quiet=True, engine_logs="show")

    _bare(llm, reqs[: args.batch_size], stops, args.batch_size)      # warm-up, not counted
    rows = []
    for rep in range(args.repeats):
        first_bare = rep % 2 == 0
        if first_bare:
            bare = _bare(llm, reqs, stops, args.batch_size)
        whole, loop = _evalsuite(llm, cfg_kwargs)
        chosen[0] = BatchByBatch
        _, before = _evalsuite(llm, cfg_kwargs)
        chosen[0] = SharedEngine
        if not first_bare:
            bare = _bare(llm, reqs, stops, args.batch_size)
        at_once = _bare(llm, reqs, stops, None)
        rows.append((bare, at_once, loop, whole, before))
        print(f"rep {rep + 1}: bare {bare:.2f}s (batches of {args.batch_size}), {at_once:.2f}s (all at once); "
              f"evalsuite generation loop {loop:.2f}s, whole run {whole:.2f}s, batch by batch (before) "
              f"{before:.2f}s; ratio loop/bare {loop / bare:.3f}, whole/bare {whole / bare:.3f}, "
              f"loop/bare all at once {loop / at_once:.3f}, before/bare {before / bare:.3f}")
    ratios = [[loop / bare, whole / bare, loop / at_once, before / bare] for bare, at_once, loop, whole, before in rows]
    med = [statistics.median(col) for col in zip(*ratios)]
    print(f"median of {args.repeats}: evalsuite/bare generation {med[0]:.3f}x, whole run {med[1]:.3f}x "
          f"(bare in batches of {args.batch_size}); evalsuite/bare all at once {med[2]:.3f}x; "
          f"batch by batch (before)/bare {med[3]:.3f}x")

    if args.profile:
        prof = cProfile.Profile()
        _evalsuite(llm, cfg_kwargs, prof)
        stream = io.StringIO()
        stats = pstats.Stats(prof, stream=stream)
        stats.sort_stats("cumulative").print_stats(r"evalsuite|tasks", 25)
        print("evalsuite profile (cumulative seconds, evalsuite's own functions):")
        print("\n".join(line for line in stream.getvalue().splitlines() if "/" in line or "ncalls" in line))

    niah = sorted((r for r in reqs if r.suite == "niah"), key=lambda r: r.index)
    total = sum(len(r.prompt_ids) for r in niah)
    ordered, t_ordered = _computed_tokens(llm, runner.prefix_order(niah), stops, args.batch_size)
    shuffled_reqs = list(niah)
    random.Random(0).shuffle(shuffled_reqs)
    shuffled, t_shuffled = _computed_tokens(llm, shuffled_reqs, stops, args.batch_size)
    shared.close()
    llm = None                      # the closure above holds it: let the engine go before the next loads
    gc.collect()
    off = vllm_backend.VLLMBackend(model, rope, base, args.length, tok, "auto",
                                   engine_args=parse_engine_args(["enable_prefix_caching=false"]))
    no_cache, t_no_cache = _computed_tokens(off._engine(off.engine_key(args.length)), runner.prefix_order(niah),
                                            stops, args.batch_size)
    off.close()
    print(f"prefix cache, NIAH grid of {len(niah)} prompts at {args.length} ({total} prompt tokens): computed "
          f"{ordered} in prefix order ({t_ordered:.2f}s), {shuffled} shuffled ({t_shuffled:.2f}s), "
          f"{no_cache} with enable_prefix_caching=false ({t_no_cache:.2f}s)")
    print(f"prefix cache ratios: prefix order computes {ordered / no_cache:.3f} of the tokens without the cache, "
          f"shuffled {shuffled / no_cache:.3f}; time {t_ordered / t_no_cache:.3f} and {t_shuffled / t_no_cache:.3f}")


if __name__ == "__main__":
    main()
