"""Engine start-up, time per sample per backend, and workload generation time.

    .venv/bin/python benchmarks/backend_timing.py [--model PATH] [--length 512] [--samples 20]

Runs passkey + NIAH at one length through each backend under `none` and `yarn`,
using the library directly (no store), and prints the figures. Workload generation
is timed cold (empty cache folder) and cached.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--backends", default="hf,vllm")
    args = ap.parse_args()
    os.environ["EVALSUITE_CACHE"] = tempfile.mkdtemp(prefix="evalsuite-bench-")

    from evalsuite.models.resolve import load_model_config, resolve_model
    from evalsuite.plugins import backend_class, suite_classes
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.run.runner import batches, build_workloads, prefix_order
    from evalsuite.suite import SuiteConfig
    from evalsuite.workload.tokenization import Tokenizer

    model = resolve_model(args.model)
    base = BaseRope.from_config(load_model_config(model))
    tok = Tokenizer.load(model)
    classes = suite_classes()
    niah = classes["niah"]
    tasks = [classes["passkey"](SuiteConfig(samples=args.samples)),
             niah(SuiteConfig(), niah.Options(depths=args.samples))]
    t = time.perf_counter()
    reqs = build_workloads(tasks, tok, (args.length,))
    cold = time.perf_counter() - t
    t = time.perf_counter()
    build_workloads(tasks, tok, (args.length,))
    cached = time.perf_counter() - t
    print(f"model {Path(model).name}, length {args.length}, {len(reqs)} samples")
    print(f"workload generation: cold {cold:.3f}s, cached {cached:.3f}s")
    for name in args.backends.split(","):
        cls = backend_class(name)
        for spec in ("none", "yarn:factor=2"):
            rope = RopeSpec.parse(spec)
            t = time.perf_counter()
            backend = cls(model, rope, base, args.length, tok, "auto")
            backend.generate(reqs[:1])                    # lazy engines load here
            startup = time.perf_counter() - t
            t = time.perf_counter()
            for batch in batches(prefix_order(reqs), cls.default_batch_size):
                backend.generate(batch)
            per = (time.perf_counter() - t) / len(reqs)
            backend.close()
            print(f"{name:5s} {spec:14s} start-up {startup:6.2f}s   {1000 * per:7.1f} ms/sample "
                  f"(batch {cls.default_batch_size})")


if __name__ == "__main__":
    main()
