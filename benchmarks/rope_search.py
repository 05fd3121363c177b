#!/usr/bin/env python
"""Measure `evalsuite search` on the demo model: what the searched factors buy, and what a search costs.

Why: the search optimises needle perplexity on a few fixed documents; that is only worth having
if the factors also win on documents and needles it never saw, and on the retrieval tasks. So:
1. search at 8x (4096 tokens) with --budget N (fitness data seed 0);
2. `evalsuite run` at 4096 tokens on held-out seeds (--seed 101: other documents, needles and
   pass keys) for none, PI, NTK, YaRN, the hand-written longrope_8x.json and the searched factors:
   needle perplexity, passkey and NIAH;
3. cost: evaluations per minute at 4k, and at 2k / 4k / 8k (factor = target / 512) with one budget.

    python benchmarks/rope_search.py                 # budget 40, about 10 minutes on 2 cores
    python benchmarks/rope_search.py --small         # CI: 1k tokens, tiny budgets, a minute or two
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEMO = ROOT / "evalsuite" / "demo_model"


def evalsuite(*args: str) -> None:
    cmd = [sys.executable, "-m", "evalsuite", *args]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if res.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{res.stderr[-2000:]}")


def search(out: Path, factor: float, target: int, budget: int, samples: int, depths: int) -> float:
    """Runs a search in this process (the CLI's own entry point); returns evaluations per minute."""
    from evalsuite.cli.search import add_parser as add_search_parser
    from evalsuite.search.driver import search as run
    ap = argparse.ArgumentParser()
    add_search_parser(ap.add_subparsers())
    args = ap.parse_args(["search", "--factor", f"{factor:g}", "--target-length", str(target), "--budget",
                          str(budget), "--samples", str(samples), "--depths", str(depths), "--out", str(out)])
    t0 = time.perf_counter()
    state = run(args, log=lambda line: print("   ", line, flush=True))
    return 60 * state["evaluations"] / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="tiny sizes for CI")
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--out", type=Path, help="default: runs/bench-rope-search (-small with --small)")
    ap.add_argument("--skip-scaling", action="store_true")
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    small = args.small
    factor, target = (2.0, 1024) if small else (8.0, 4096)
    budget = 8 if small else args.budget
    samples, depths = (1, 2) if small else (2, 4)
    out = (args.out or ROOT / "runs" / ("bench-rope-search" + ("-small" if small else ""))).resolve()
    print(f"search: demo model, {factor:g}x = {target} tokens, budget {budget}, fitness {samples} documents x "
          f"{depths} depths (data seed 0)", flush=True)
    rate = search(out / "search", factor, target, budget, samples, depths)
    print(f"search cost at {target}: {rate:.1f} evaluations/minute", flush=True)
    factors = out / "search" / "factors.json"
    ropes = ["none", f"pi:factor={factor:g}", f"ntk:factor={factor:g}", f"yarn:factor={factor:g}"]
    ropes += [f"longrope:file={DEMO / 'longrope_8x.json'}"] if not small else []
    ropes += [f"longrope:file={factors}"]
    held = out / "heldout"
    common = ["--lengths", str(target), "--seed", "101", "--force", "--no-progress", "--no-report", "--quiet",
              "--out", str(held)]
    for r in ropes:
        common += ["--rope", r]
    t0 = time.perf_counter()
    evalsuite("run", "--suite", "perplexity:needle", "--samples", "1" if small else "4", "--depths",
              "2" if small else "4", *common)
    evalsuite("run", "--suite", "passkey", "--samples", "2" if small else "20", *common)
    evalsuite("run", "--suite", "niah", "--samples", "1", "--depths", "2" if small else "10", *common)
    print(f"held-out evaluation (seed 101) took {time.perf_counter() - t0:.0f}s", flush=True)
    scores: dict[str, dict[str, float]] = {}
    with open(held / "summary.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["derived"] == "0":
                scores.setdefault(row["setting"].split(" / ")[-1], {})[row["task"]] = float(row["score"])
    print(f"held-out at {target} tokens (seed 101): setting | needle ppl | passkey % | niah %")
    for name, s in scores.items():
        print(f"  {name:<40} | {s.get('needle', float('nan')):10.3f} | {s.get('passkey', float('nan')):9.0f} | "
              f"{s.get('niah', float('nan')):6.0f}")
    if not args.skip_scaling:
        scale_budget = 4 if small else 8
        for n in ((1024, 2048) if small else (2048, 4096, 8192)):
            r = search(out / f"scale-{n}", n / 512, n, scale_budget, samples, depths)
            print(f"scaling: target {n}: {r:.1f} evaluations/minute (budget {scale_budget})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
