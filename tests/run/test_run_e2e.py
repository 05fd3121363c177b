"""A real run end to end on both backends, and resume after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.helpers.cli import ROOT, cli_env, evalsuite

RUN_ARGS = ["run", "--suite", "passkey,niah", "--lengths", "256,512", "--samples", "3", "--depths", "3",
            "--rope", "none", "--rope", "yarn:factor=2", "--no-progress"]


def _records(out):
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_run_writes_store_summary_and_report(tiny_model, tmp_path, backend):
    out = tmp_path / "run"
    res = evalsuite([*RUN_ARGS, "--model", str(tiny_model), "--backend", backend, "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    recs = _records(out)
    assert len(recs) == 2 * 2 * (3 + 3 * 3)          # ropes x lengths x (passkey + niah depths x repeats)
    r = recs[0]
    for field in ("model", "backend", "rope", "suite", "task", "length", "depth", "seed", "prompt_tokens",
                  "output", "score", "seconds"):
        assert field in r
    assert {x["backend"] for x in recs} == {backend}
    assert {x["rope"] for x in recs} == {"none", "yarn:factor=2"}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 2 * 2 and set(summary["length"]) == {256, 512}
    assert sorted(summary["samples"].tolist()) == [3] * 4 + [9] * 4
    assert "setting" in res.stdout and "passkey/passkey" in res.stdout       # the printed table
    assert (out / "report.html").read_text().count("<svg") >= 3
    timings = [json.loads(x) for x in (out / "timings.jsonl").read_text().splitlines()]
    assert len(timings) == 2 and all(t["engine_loads"] for t in timings)
    if backend == "vllm":                              # an engine start takes seconds; a 512-token sample far less
        load = min(s for t in timings for _, s in t["engine_loads"])
        assert max(x["seconds"] for x in recs) < load  # per-sample seconds exclude the engine start-up

    again = evalsuite([*RUN_ARGS, "--model", str(tiny_model), "--backend", backend, "--out", str(out)], tmp_path)
    assert again.returncode == 0 and "already stored" in again.stdout
    assert len(_records(out)) == len(recs)                                   # nothing recomputed


@pytest.mark.integration
def test_resume_after_sigkill(tiny_model, tmp_path):
    args = ["run", "--suite", "passkey", "--lengths", "256,512", "--samples", "12", "--batch-size", "1",
            "--rope", "none", "--rope", "pi:factor=2", "--no-progress", "--model", str(tiny_model)]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "evalsuite", *args, "--out", str(killed)], cwd=tmp_path,
                            env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    path = killed / "records.jsonl"
    while time.time() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 5):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(path.read_text().splitlines())
    assert 5 <= partial < 48, "the kill must land mid-run"
    with open(path, "a") as f:                      # as if killed in the middle of a write
        f.write('{"key": "torn')

    res = evalsuite([*args, "--out", str(killed)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    resumed = _records(killed)
    keys = [r["key"] for r in resumed]
    assert len(keys) == len(set(keys)) == 48                                  # no duplicates, no loss

    straight = tmp_path / "straight"
    assert evalsuite([*args, "--out", str(straight)], tmp_path).returncode == 0
    by_key = {r["key"]: (r["score"], r["output"]) for r in _records(straight)}
    assert {r["key"]: (r["score"], r["output"]) for r in resumed} == by_key   # same scores as uninterrupted
    assert (killed / "summary.csv").read_text() == (straight / "summary.csv").read_text()


@pytest.mark.integration
def test_sigterm_stops_with_one_line_and_143_and_the_rerun_resumes(tiny_model, tmp_path):
    args = ["run", "--suite", "passkey", "--lengths", "256", "--samples", "40", "--batch-size", "1", "--no-progress",
            "--model", str(tiny_model), "--out", str(tmp_path / "run")]
    proc = subprocess.Popen([sys.executable, "-m", "evalsuite", *args], cwd=tmp_path, env=cli_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    path, deadline = tmp_path / "run" / "records.jsonl", time.time() + 300
    while time.time() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == ("evalsuite: terminated; finished batches are stored, rerun the same "
                                            "command to resume")
    assert 3 <= len(_records(tmp_path / "run")) < 40
    assert evalsuite(args, tmp_path).returncode == 0 and len({r["key"] for r in _records(tmp_path / "run")}) == 40


def test_default_out_is_stable_so_a_rerun_resumes(tiny_model):
    from dataclasses import replace

    from evalsuite.config.run_config import RunConfig
    from evalsuite.rope import RopeSpec
    from evalsuite.run.identity import RunIdentity
    from evalsuite.run.runner import default_out
    from evalsuite.tasks.passkey import PasskeySuite
    from tests.helpers.suites import make
    cfg = RunConfig(suites=(make(PasskeySuite),), lengths=(256,), ropes=(RopeSpec.parse("none"),), model=str(tiny_model))
    ident = RunIdentity(str(tiny_model), "local:x", "hf", "transformers-5", "float32", "base", "none")
    assert default_out(cfg, [ident]) == default_out(cfg, [ident])
    assert str(default_out(cfg, [ident])).startswith("runs/model-hf-passkey-")
    assert default_out(cfg, [replace(ident, dtype="bfloat16")]) != default_out(cfg, [ident])


def test_import_is_light():
    code = "import sys, evalsuite, evalsuite.cli, evalsuite.run.runner; print(sorted(m for m in ('torch', 'vllm', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.integration
def test_commands_sharing_a_run_directory_are_all_listed(tiny_model, tmp_path):
    """Several commands may write into one --out (different suites); the report names each of them."""
    out = tmp_path / "run"
    first = ["run", "--suite", "passkey", "--lengths", "256", "--samples", "2", "--model", str(tiny_model),
             "--no-progress", "--out", str(out)]
    second = ["run", "--suite", "niah", "--lengths", "256", "--depths", "2", "--model", str(tiny_model),
              "--no-progress", "--out", str(out)]
    for args in (first, second, first):                   # the repeated command is listed once
        res = evalsuite(args, tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
    info = json.loads((out / "run.json").read_text())
    assert info["commands"] == [first, second] and info["argv"] == first
    assert len(_records(out)) == 2 + 2
    page = (out / "report.html").read_text()
    assert "--suite passkey" in page and "--suite niah" in page
