"""The RULER generation benchmark still runs (small grid, demo tokenizer): it must not rot between measurements."""
import subprocess
import sys

from cli_helpers import ROOT, cli_env


def test_ruler_generation_benchmark_runs_and_checks_every_prompt(tmp_path):
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ruler_generation.py"), "--tokenizer", str(ROOT / "evalsuite" / "demo_model"),
         "--lengths", "1k,2k", "--samples", "5", "--tasks", "niah_single_1,niah_multikey_2,vt,fwe,qa_1",
         "--check", "2", "--workers", "2"],
        capture_output=True, text=True, cwd=tmp_path, env=cli_env(tmp_path), timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "COLD  : 50 prompts" in out and "CACHED: 50 prompts" in out
    assert "wrong length: 0 of 50" in out and "re-tokenized identical: 20/20" in out
