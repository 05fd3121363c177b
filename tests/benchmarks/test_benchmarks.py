"""Every script in benchmarks/ runs at a tiny size in CI, so none rots between measurements.

Each runs as a subprocess (as a person runs it) and must exit 0 and print its figures. A new
script must be added to SMALL_RUNS: test_every_benchmark_has_a_small_run fails until it is.
"""
import subprocess
import sys

import pytest

from tests.helpers.cli import ROOT, cli_env

DEMO = str(ROOT / "evalsuite" / "demo_model")

# script -> (arguments for a run of seconds to a minute, lines its output must contain)
SMALL_RUNS = {
    "store_append.py": (["--small"], ["ResultStore.append:", "new per-batch cost ratio 200/20 batches:"]),
    "perplexity_memory.py": (["--small"], ["256   evalsuite", "256 full-logits", "256 ratios: peak RSS"]),
    "backend_timing.py": (["--samples", "2", "--backends", "hf,vllm"],
                          ["workload generation: cold", "hf    none", "hf    yarn:factor=2",
                           "vllm  none", "vllm  yarn:factor=2"]),
    "ruler_generation.py": (["--tokenizer", DEMO, "--lengths", "1k,2k", "--samples", "5",
                             "--tasks", "niah_single_1,niah_multikey_2,vt,fwe,qa_1", "--check", "2", "--workers", "2"],
                            ["COLD  : 50 prompts", "CACHED: 50 prompts", "over the budget: 0 of 50",
                             "re-tokenized identical: 20/20"]),
    "endpoint_throughput.py": (["--small"], ["1 endpoint(s): 6 samples", "2 endpoint(s): 6 samples",
                                             "every endpoint answered: True", "speed-up 2 endpoints / 1:"]),
    "rope_search.py": (["--small"], ["search cost at 1024:", "held-out at 1024 tokens (seed 101)",
                                     "scaling: target 2048:"]),
    "vllm_overhead.py": (["--small"], ["ratio loop/bare", "median of 1: evalsuite/bare generation",
                                       "evalsuite profile", "prefix cache ratios: prefix order computes"]),
}
# these load engines or build workloads
SLOW = {"endpoint_throughput.py", "perplexity_memory.py", "backend_timing.py", "ruler_generation.py", "rope_search.py",
        "vllm_overhead.py"}


def test_every_benchmark_has_a_small_run():
    assert sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")) == sorted(SMALL_RUNS)


@pytest.mark.parametrize("script", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s
                                    for s in sorted(SMALL_RUNS)])
def test_benchmark_runs_at_a_small_size(script, tmp_path):
    args, expected = SMALL_RUNS[script]
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=False,
                         capture_output=True, text=True, cwd=tmp_path, env=cli_env(tmp_path), timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    missing = [line for line in expected if line not in res.stdout]
    assert not missing, f"{script} did not print {missing}:\n{res.stdout[-3000:]}"
