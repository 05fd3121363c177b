"""The lmeval suite reports what lm-eval itself reports for the same model, task and RoPE setting.

evalsuite runs the project's own lm-eval tasks (tasks/lmeval_tasks: a multiple-choice task
scored by log-likelihood, a generation task scored by exact match) on the demo model under
`none` and `yarn:factor=2`; lm-eval's API then runs the same tasks with the equivalent model
arguments built by hand (HF: the config's rope_parameters and max_position_embeddings as
from_pretrained keywords; vLLM: the same hf_overrides), and the summary cells, their stderr and
every sample's score must agree.
"""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import ROOT, cli_env
from tests.helpers.cli import evalsuite_process as evalsuite

INCLUDE = ROOT / "tasks" / "lmeval_tasks"
TASKS = ("evalsuite_facts", "evalsuite_passkey")
ROPES = ("none", "yarn:factor=2")
LIMIT = 8
BATCH = 4
DEMO = ROOT / "evalsuite" / "demo_model"


def run_evalsuite(tmp_path: Path, backend: str) -> Path:
    out = tmp_path / f"run-{backend}"
    args = ["run", "--suite", "lmeval:" + ",".join(TASKS), "--lmeval-include", str(INCLUDE), "--samples",
            str(LIMIT), "--backend", backend, "--batch-size", str(BATCH), "--out", str(out), "--no-report"]
    for rope in ROPES:
        args += ["--rope", rope]
    done = evalsuite(args, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def summary(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(rope, task/metric) -> (score, stderr) from summary.csv."""
    with open(out / "summary.csv") as f:
        return {(r["rope"], r["task"]): (float(r["score"]), float(r["stderr"] or "nan"))
                for r in csv.DictReader(f) if r["suite"] == "lmeval"}


def sample_records(out: Path) -> dict[tuple[str, str, int], dict]:
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return {(r["rope"], r["task"], r["index"]): r for r in rows if r["suite"] == "lmeval"}


def lm_eval_direct(backend: str, rope_text: str) -> dict:
    """lm-eval's own run of the same tasks, its model built from the RoPE setting by hand."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from evalsuite.models.resolve import load_model_config
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.tasks.lmeval.models import vllm_metadata_alias
    base = BaseRope.from_config(load_model_config(str(DEMO)))
    rope = RopeSpec.parse(rope_text)
    if backend == "hf":
        args = {"pretrained": str(DEMO), "dtype": "float32", "device": "cpu", "max_length": base.original,
                "attn_implementation": "sdpa", "batch_size": BATCH, **rope.to_hf(base, base.original)}
    else:
        overrides, max_model_len = rope.to_vllm(base, base.original, base.original)
        args = {"pretrained": str(DEMO), "dtype": "float32", "max_model_len": max_model_len,
                "hf_overrides": overrides, "enforce_eager": True, "seed": 0, "batch_size": BATCH}
    with vllm_metadata_alias():
        out = lm_eval.simple_evaluate(model=backend, model_args=args, tasks=list(TASKS), limit=LIMIT,
                                      task_manager=TaskManager(include_path=str(INCLUDE), include_defaults=False),
                                      log_samples=True)
    import gc
    gc.collect()                 # free the reference engine before the next one loads
    return out


def expected(out: dict) -> dict[str, tuple[float, float]]:
    """task/metric -> (score %, stderr %) as lm-eval reports them."""
    cells = {}
    for task in TASKS:
        for key, value in out["results"][task].items():
            metric, _, filt = key.partition(",")
            if "_stderr" in metric or not filt or not isinstance(value, (int, float)):
                continue
            name = f"{task}/{metric}" if filt == "none" else f"{task}/{metric},{filt}"
            cells[name] = (100 * value, 100 * out["results"][task][f"{metric}_stderr,{filt}"])
    return cells


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_lmeval_equals_lm_eval(tmp_path, backend):
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1",
                      VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_TARGET_DEVICE="cpu")
    out = run_evalsuite(tmp_path, backend)
    ours = summary(out)
    assert {t for _, t in ours} == {"evalsuite_facts/acc", "evalsuite_facts/acc_norm",
                                    "evalsuite_passkey/exact_match,strip"}
    per_sample = sample_records(out)
    assert len(per_sample) == len(ROPES) * LIMIT * 3          # one record per sample and metric
    for rope in ROPES:
        ref = lm_eval_direct(backend, rope)
        for name, (score, stderr) in expected(ref).items():
            assert ours[(rope, name)][0] == pytest.approx(score, abs=1e-3), (rope, name)
            assert ours[(rope, name)][1] == pytest.approx(stderr, abs=1e-3, nan_ok=True), (rope, name)
        for task in TASKS:
            for s in ref["samples"][task]:
                for metric in s["metrics"]:
                    name = f"{task}/{metric}" if s["filter"] == "none" else f"{task}/{metric},{s['filter']}"
                    rec = per_sample[(rope, name, s["doc_id"])]
                    assert rec["score"] == pytest.approx(float(s[metric])), (rope, name, s["doc_id"])
                    if task == "evalsuite_facts":     # the same log-likelihood of every choice
                        assert rec["payload"]["logprobs"] == pytest.approx(
                            [float(r[0]) for r in s["filtered_resps"]], abs=1e-4)
                    else:
                        assert rec["output"] == s["filtered_resps"][0]
    # the RoPE setting reached the model: yarn's log-likelihoods are not none's
    facts = [k for k in per_sample if k[0] == "none" and k[1] == "evalsuite_facts/acc"]
    assert any(per_sample[k]["payload"]["logprobs"] != pytest.approx(per_sample[("yarn:factor=2",) + k[1:]]
                                                                  ["payload"]["logprobs"], abs=1e-3) for k in facts)
    # the demo model scores well above chance (25% for the four-choice task) within its trained context
    assert ours[("none", "evalsuite_facts/acc")][0] >= 75
    assert ours[("none", "evalsuite_passkey/exact_match,strip")][0] >= 75
    if backend == "hf":                 # a rerun resumes: every task of every setting is stored
        again = evalsuite(["run", "--suite", "lmeval:" + ",".join(TASKS), "--lmeval-include", str(INCLUDE),
                           "--samples", str(LIMIT), "--batch-size", str(BATCH), "--out", str(out), "--no-report",
                           *[x for r in ROPES for x in ("--rope", r)]], tmp_path)
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stdout.count("already stored") == len(ROPES)
        assert sample_records(out) == per_sample


@pytest.mark.integration
def test_unknown_task_and_missing_data_are_one_line(tmp_path):
    for args, fragment in ((["--suite", "lmeval"], "lmeval:"),
                           (["--suite", "lmeval:evalsuite_facts", "--lmeval-include", "no/such/dir"], "no/such/dir")):
        bad = evalsuite(["run", *args], tmp_path)
        assert bad.returncode == 2 and fragment in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = evalsuite(["run", "--suite", "lmeval:evalsuite_factz", "--lmeval-include", str(INCLUDE)], tmp_path)
    assert bad.returncode == 2 and "evalsuite_facts" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    env = {**cli_env(tmp_path), "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf")}
    missing = subprocess.run([sys.executable, "-m", "evalsuite", "run", "--suite", "lmeval:arc_easy"],
                             capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert missing.returncode == 2, missing.stderr[-2000:]
    line = missing.stderr.strip().splitlines()
    assert len(line) == 1 and "arc_easy" in line[0] and "allenai/ai2_arc" in line[0]


def test_retention_table_against_the_none_baseline_of_each_model():
    from evalsuite.reports.retention import retention_table
    from evalsuite.run.identity import SettingFacts
    from evalsuite.run.summary import ScoreCell

    def cell(model, rope, task, score):
        facts = SettingFacts(f"{model}-{rope}", model, "r", None, "hf", "e", "float32", "base", rope)
        return ScoreCell(facts.key, facts, f"{model} / {rope}", "lmeval", task, 512, "m", True, score, 10)
    cells = [cell("a", "none", "t1/acc", 80.0), cell("a", "none", "t1/acc_norm", 50.0),
             cell("a", "none", "t2/em", 40.0), cell("a", "yarn", "t1/acc", 60.0),
             cell("a", "yarn", "t1/acc_norm", 50.0), cell("a", "yarn", "t2/em", 40.0),
             cell("b", "pi", "t1/acc", 10.0)]                        # model b has no baseline: no row
    table = retention_table(cells, averaged={"t1/acc", "t2/em"})
    assert table is not None
    rows = {r[0]: r[1:] for r in table.rows}
    assert set(rows) == {"a / none", "a / yarn"}
    assert rows["a / yarn"] == ("75.0% (60.0)", "100.0% (50.0)", "100.0% (40.0)", "87.5%")   # mean of 75 and 100
    assert rows["a / none"][-1] == "100.0%"
    assert retention_table([cell("b", "pi", "t1/acc", 10.0)]) is None
