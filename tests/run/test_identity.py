"""One run identity: every field that changes a score re-runs, none resumes; labels are unique."""
import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest

from evalsuite.run.identity import RunIdentity, SettingFacts, model_revision, setting_labels
from evalsuite.types import EvalError
from tests.helpers.cli import evalsuite

BASE = RunIdentity(model="/ckpt/a", revision="local:1", backend="hf", engine="transformers-5.19.0",
                   dtype="float32", template="base", rope="none", engine_args=(), label=None)


@pytest.mark.parametrize("field,value", [
    ("model", "/ckpt/b"), ("revision", "local:2"), ("backend", "vllm"), ("engine", "transformers-5.20.0"),
    ("dtype", "bfloat16"), ("template", "chat"), ("rope", "yarn:factor=2"),
    ("engine_args", (("enable_prefix_caching", "true"),))])
def test_each_field_changes_the_key(field, value):
    assert replace(BASE, **{field: value}).key != BASE.key


def test_a_label_names_the_setting_but_does_not_change_its_key():
    assert replace(BASE, label="mine").key == BASE.key
    assert replace(BASE, label="mine").to_json()["key"] == BASE.key


def test_weights_and_config_change_the_local_revision(tiny_model, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    first = model_revision(str(model), None)
    assert first == model_revision(str(model), None) and first.startswith("local:")
    with open(model / "model.safetensors", "ab") as f:
        f.write(b"\0" * 8)                                   # retrained weights: another size
    second = model_revision(str(model), None)
    cfg = json.loads((model / "config.json").read_text())
    cfg["rope_theta"] = 12345.0
    (model / "config.json").write_text(json.dumps(cfg))
    assert len({first, second, model_revision(str(model), None)}) == 3
    assert model_revision("org/name", "v2") == "hub:v2" and model_revision("org/name", None) == "hub:main"


def _facts(key, model, **kw):
    d = dict(revision="local:1", label=None, backend="hf", engine="e", dtype="float32", template="base", rope="none")
    d.update(kw)
    return SettingFacts(key, model, **d)


def test_labels_use_the_shortest_unique_path_suffix():
    labels = setting_labels([_facts("a", "/runs/yarn-sft/final"), _facts("b", "/runs/ntk-sft/final"),
                             _facts("c", "/other/model")])
    assert labels == {"a": "yarn-sft/final / hf / none", "b": "ntk-sft/final / hf / none", "c": "model / hf / none"}


def test_labels_show_what_differs_and_a_clash_is_an_error():
    labels = setting_labels([_facts("a", "/m", dtype="float32"), _facts("b", "/m", dtype="bfloat16")])
    assert labels == {"a": "m / hf / none / float32", "b": "m / hf / none / bfloat16"}
    assert setting_labels([_facts("a", "/x/m", label="mine")]) == {"a": "mine / hf / none"}
    with pytest.raises(EvalError, match="share the label 'same / hf / none'"):
        setting_labels([_facts("a", "/x/m", label="same"), _facts("b", "/y/m", label="same")])


RUN = ["run", "--suite", "passkey", "--lengths", "256", "--samples", "2", "--no-progress", "--no-report"]


@pytest.mark.integration
def test_changing_dtype_reruns_and_the_same_command_resumes(tiny_model, tmp_path):
    out = tmp_path / "run"
    args = [*RUN, "--model", str(tiny_model), "--out", str(out)]
    assert evalsuite([*args, "--dtype", "float32"], tmp_path).returncode == 0
    res = evalsuite([*args, "--dtype", "bfloat16"], tmp_path)
    assert res.returncode == 0 and "already stored" not in res.stdout, res.stdout
    again = evalsuite([*args, "--dtype", "bfloat16"], tmp_path)
    assert again.returncode == 0 and "all 2 samples already stored" in again.stdout
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["dtype"]) == ["bfloat16", "float32"] and set(summary["samples"]) == {2}
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4 and len({r["setting"] for r in records}) == 2


@pytest.mark.integration
def test_two_checkpoints_with_the_same_folder_name_stay_apart(tiny_model, tmp_path):
    runs = []
    for name in ("yarn-sft", "ntk-sft"):
        model = tmp_path / name / "final"
        shutil.copytree(tiny_model, model)
        runs.append(tmp_path / f"out-{name}")
        res = evalsuite([*RUN, "--model", str(model), "--out", str(runs[-1])], tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
    report = tmp_path / "report.html"
    res = evalsuite(["report", *map(str, runs), "-o", str(report)], tmp_path)
    assert res.returncode == 0, res.stderr
    page = report.read_text()
    assert "yarn-sft/final / hf / none" in page and "ntk-sft/final / hf / none" in page


def test_a_factor_file_names_its_setting_and_the_hash_stays_in_the_identity(tmp_path):
    from evalsuite.rope import RopeSpec
    factors = tmp_path / "mine.json"
    factors.write_text(json.dumps({"long_factor": [1.0] * 32, "factor": 8.0}))
    rope = RopeSpec.parse(f"longrope:file={factors}")
    assert rope.name == "longrope:mine.json" and rope.label.startswith("longrope:factor=8") and "factors=" in rope.label
    labels = setting_labels([_facts("a", "/m", rope=rope.label, rope_name=rope.name),
                             _facts("b", "/m", rope="longrope:other", rope_name="longrope:mine.json")])
    assert labels == {"a": f"m / hf / longrope:mine.json / {rope.label}", "b": "m / hf / longrope:mine.json / longrope:other"}
    assert setting_labels([_facts("a", "/m", rope=rope.label, rope_name=rope.name)]) == {"a": "m / hf / longrope:mine.json"}
