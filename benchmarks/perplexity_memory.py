"""Memory and time of evalsuite's HF perplexity path against the full-logits loop.

The baseline is the loop of jquesnelle/yarn `eval/perplexity.py`: for each sliding window,
`model(input_ids, labels=target_ids).loss` with the non-scored targets set to -100, which
materialises window x vocabulary logits (and a log-softmax copy inside the loss).
evalsuite builds the same windows (tasks/perplexity.py) and scores them through
`HFBackend.logprobs`, which projects onto the vocabulary in chunks of about LOSS_CHUNK_ELEMENTS logits.

Both variants run the same random Llama (128256-token vocabulary as Llama-3, small body, so
that the logits dominate as they do at long context) on the same random document, each in
its own subprocess; peak RSS is the child's ru_maxrss. The windows are built here with
`sliding_windows` exactly as the perplexity suite builds them (BOS + window, scored from
`len - n_scored`), so the measurement depends on the backend, not on the suite's API. The
model folder carries the demo model's tokenizer files: the backend needs a tokenizer (stop
ids, decoding), while the document is random token ids, so its vocabulary does not matter.

    .venv/bin/python benchmarks/perplexity_memory.py --lengths 4096,8192,16384 > bench.log 2>&1
    .venv/bin/python benchmarks/perplexity_memory.py --small        # CI: seconds, checks it still runs
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOCAB = 128256
BOS = 128000                      # Llama-3 <|begin_of_text|>
DEMO_MODEL = Path(__file__).resolve().parents[1] / "evalsuite" / "demo_model"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def build_model(folder: Path, hidden: int, layers: int, max_len: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, head_dim=64,
                      max_position_embeddings=max_len, rope_theta=500000.0, tie_word_embeddings=False,
                      bos_token_id=BOS, eos_token_id=BOS + 1)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    for name in TOKENIZER_FILES:                    # a loadable tokenizer: Tokenizer.load(folder) works
        shutil.copy(DEMO_MODEL / name, folder / name)


def document(n: int, seed: int = 0):
    import numpy as np
    return np.random.default_rng(seed).integers(3, BOS, size=n, dtype=np.int32)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_now_kb() -> int:
    """Current RSS; also resets the kernel's peak-RSS mark (VmHWM), so that the scoring
    peak is measured apart from the model-loading peak."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def windows(doc, length: int, stride: int):
    """(prompt ids, score_start) of each sliding window, as the perplexity suite builds them."""
    import numpy as np

    from evalsuite.tasks.perplexity import sliding_windows
    for begin, end, n_scored in sliding_windows(len(doc), length - 1, stride):
        ids = np.concatenate([np.asarray([BOS], dtype=np.int32), doc[begin:end]])
        yield ids, max(len(ids) - n_scored, 1)


def run_evalsuite(model: str, length: int, stride: int, n_doc: int) -> tuple[float, float, int]:
    from evalsuite.backends.hf import HFBackend
    from evalsuite.models.resolve import load_model_config
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.types import Request
    from evalsuite.workload.tokenization import Tokenizer

    backend = HFBackend(model, RopeSpec.parse("none"), BaseRope.from_config(load_model_config(model)), length,
                        Tokenizer.load(model), "float32")
    reqs = [Request(suite="perplexity", task="sliding", length=length, index=i, prompt_ids=ids, max_new_tokens=0,
                    references=(), kind="logprobs", score_start=start)
            for i, (ids, start) in enumerate(windows(document(n_doc), length, stride))]
    loaded = rss_now_kb()
    start = time.perf_counter()
    means = []
    for r in reqs:
        lp = backend.logprobs([r])[0].token_logprobs
        means.append(-sum(lp) / len(lp))
    return time.perf_counter() - start, math.exp(sum(means) / len(means)), loaded


def run_full_logits(model: str, length: int, stride: int, n_doc: int) -> tuple[float, float, int]:
    import torch
    from transformers import AutoModelForCausalLM
    net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="sdpa").eval()
    loaded = rss_now_kb()
    start = time.perf_counter()
    nlls = []
    for ids, score_start in windows(document(n_doc), length, stride):
        input_ids = torch.from_numpy(ids).long()[None]
        target = input_ids.clone()
        target[:, :score_start] = -100
        with torch.no_grad():
            nlls.append(net(input_ids, labels=target).loss)
    return time.perf_counter() - start, float(torch.exp(torch.stack(nlls).mean())), loaded


def child(args) -> None:
    fn = run_evalsuite if args.variant == "evalsuite" else run_full_logits
    seconds, ppl, loaded = fn(args.model, args.length, args.stride, args.doc_tokens)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss      # KiB on Linux, whole process
    print(json.dumps({"variant": args.variant, "length": args.length, "seconds": seconds, "ppl": ppl,
                      "peak_rss_mib": peak / 1024, "rss_after_load_mib": loaded / 1024,
                      "scoring_peak_mib": _status_kb("VmHWM") / 1024}))


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", default="4096,8192,16384")
    p.add_argument("--stride", type=int, default=256)
    p.add_argument("--windows", type=int, default=3, help="sliding windows per length")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--small", action="store_true", help="CI size: --lengths 256 --windows 2 --hidden 64 --layers 1")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, help=argparse.SUPPRESS)
    p.add_argument("--doc-tokens", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        return child(args)
    if args.small:
        args.lengths, args.windows, args.hidden, args.layers, args.stride = "256", 2, 64, 1, 64
    failed = 0
    lengths = [int(x) for x in args.lengths.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        build_model(model, args.hidden, args.layers, max(lengths))
        print(f"model: random Llama, {args.layers} layers, hidden {args.hidden}, vocab {VOCAB}, fp32, CPU; "
              f"stride {args.stride}, {args.windows} windows per length; torch threads {os.cpu_count()}", flush=True)
        print(f"{'length':>7} {'variant':>11} {'seconds':>8} {'process peak RSS MiB':>21} "
              f"{'scoring peak RSS MiB':>21} {'ppl':>10}")
        for length in lengths:
            n_doc = length - 1 + (args.windows - 1) * args.stride
            # full logits + the loss's log-softmax copy, fp32
            need = 2 * length * VOCAB * 4 / 2**20 + 1500
            rows = {}
            for variant in ("evalsuite", "full-logits"):
                if variant == "full-logits" and need > mem_available_mib():
                    print(f"{length:>7} {variant:>11} skipped: needs ~{need:.0f} MiB, "
                          f"{mem_available_mib():.0f} MiB available", flush=True)
                    continue
                res = subprocess.run([sys.executable, __file__, "--variant", variant, "--model", str(model),
                                      "--length", str(length), "--stride", str(args.stride),
                                      "--doc-tokens", str(n_doc)], check=False, capture_output=True, text=True)
                if res.returncode != 0:
                    print(f"{length:>7} {variant:>11} failed (exit {res.returncode}): {res.stderr[-300:]}", flush=True)
                    failed += 1
                    continue
                r = rows[variant] = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{length:>7} {variant:>11} {r['seconds']:>8.2f} {r['peak_rss_mib']:>21.0f} "
                      f"{r['scoring_peak_mib']:>21.0f} {r['ppl']:>10.2f}", flush=True)
            if len(rows) == 2:
                e, f = rows["evalsuite"], rows["full-logits"]
                print(f"{length:>7} ratios: peak RSS full/evalsuite = {f['peak_rss_mib'] / e['peak_rss_mib']:.2f}x, "
                      f"scoring peak {f['scoring_peak_mib'] / e['scoring_peak_mib']:.2f}x, "
                      f"time evalsuite/full = {e['seconds'] / f['seconds']:.2f}, "
                      f"ppl rel. diff = {abs(e['ppl'] - f['ppl']) / f['ppl']:.1e}", flush=True)
    if failed:
        sys.exit(f"perplexity_memory: {failed} measurement(s) failed")


if __name__ == "__main__":
    main()
