"""`evalsuite run --config FILE.toml` and repeated --model: a whole comparison in one command."""
import json
import shutil
import textwrap

import pandas as pd
import pytest

from tests.helpers.cli import ROOT, evalsuite

GOOD = """
backend = "hf"
lengths = "256,512"
ropes = ["none", "yarn:factor=2"]
[[models]]
path = "{model}"
label = "tiny"
[suites.passkey]
samples = 2
"""

# (name, text replacing or extending the good file, fragment of the one-line error, naming the key)
BAD = [
    ("unknown top-level key", "colour = 'red'\n" + GOOD, "colour: Extra inputs are not permitted"),
    ("unknown model key", GOOD.replace('label = "tiny"', 'label = "tiny"\nweights = "x"'),
     "models.0.weights: Extra inputs are not permitted"),
    ("wrong type for a label", GOOD.replace('label = "tiny"', "label = 3"), "models.0.label"),
    ("bad dtype", GOOD.replace('label = "tiny"', 'label = "tiny"\ndtype = "fp8"'), "models.0.dtype"),
    ("no models", GOOD.split("[[models]]")[0] + "[suites.passkey]\nsamples = 2\n", "models: Field required"),
    ("no suites", GOOD.split("[suites.passkey]")[0], "suites: Field required"),
    ("unknown suite", GOOD + "[suites.bogus]\n", "suites.bogus: unknown suite"),
    ("unknown suite option", GOOD.replace("samples = 2", "samples = 2\nflavour = 1"),
     "suites.passkey.flavour: unknown key"),
    ("suite option of the wrong type", GOOD + "[suites.niah]\ndepths = 'ten'\n",
     "suites.niah.depths: must be int (got 'ten')"),
    ("suite option below its bound", GOOD + "[suites.niah]\ndepths = 0\n", "suites.niah.depths: must be at least 1"),
    ("negative samples", GOOD.replace("samples = 2", "samples = -2"), "suites.passkey.samples"),
    ("bad length", GOOD.replace('"256,512"', '"256,5x"'), "lengths: bad length '5x'"),
    ("bad rope", GOOD.replace('"yarn:factor=2"', '"yarn:factor=0"'), "ropes.1:"),
    ("repeated rope", GOOD.replace('"yarn:factor=2"', '"default"'), "ropes: repeats a setting"),
    ("unknown task", GOOD + "[suites.ruler]\ntasks = ['vt', 'nope']\n", "has no task 'nope'"),
    ("tasks and exclude", GOOD + "[suites.ruler]\ntasks = ['vt']\nexclude = ['qa_1']\n",
     "suites.ruler: give tasks or exclude, not both"),
    ("two models, one label", GOOD + '[[models]]\npath = "demo"\nlabel = "tiny"\n', "two models share a label"),
    ("bad beyond_capacity", GOOD + 'beyond_capacity = "maybe"\n', "beyond_capacity"),
    ("not TOML", "models = [", "is not valid TOML"),
]


@pytest.mark.parametrize("name,text,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_line_naming_the_key(name, text, fragment, tiny_model, tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(text.replace("{model}", str(tiny_model)))
    out = tmp_path / "out"
    res = evalsuite(["run", "--config", str(cfg), "--out", str(out)], tmp_path)
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err, err
    assert not out.exists()


def test_config_and_matrix_flags_do_not_mix(tiny_model, tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(GOOD.replace("{model}", str(tiny_model)))
    res = evalsuite(["run", "--config", str(cfg), "--rope", "none", "--model", str(tiny_model)], tmp_path)
    assert res.returncode == 2 and "leave out --model, --rope" in res.stderr
    res = evalsuite(["run", "--config", str(cfg), "--depths", "3"], tmp_path)
    assert res.returncode == 2 and "leave out --depths" in res.stderr


@pytest.mark.integration
def test_a_matrix_runs_resumes_and_keeps_its_config(tiny_model, tmp_path):
    second = tmp_path / "ckpt" / "final"
    shutil.copytree(tiny_model, second)
    cfg = tmp_path / "m.toml"
    cfg.write_text(GOOD.replace("{model}", str(tiny_model)).replace('"256,512"', '"1024"') + textwrap.dedent(f"""
        [[models]]
        path = "{second}"
        ropes = ["native"]
        [suites.ruler]
        exclude = ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
                   "niah_multikey_3", "niah_multiquery", "niah_multivalue", "cwe", "fwe", "qa_1", "qa_2"]
        samples = 1
        """))
    out = tmp_path / "out"
    res = evalsuite(["run", "--config", str(cfg), "--out", str(out), "--no-progress", "--beyond-capacity", "run"],
                    tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "config.toml").read_text() == cfg.read_text()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["setting"]) == {"tiny / hf / none", "tiny / hf / yarn:factor=2", "final / hf / none"}
    assert set(summary["task"]) == {"passkey", "vt", "average"}
    timings = [json.loads(x) for x in (out / "timings.jsonl").read_text().splitlines()]
    assert len(timings) == 3                                  # one engine load per (model, RoPE setting)
    again = evalsuite(["run", "--config", str(cfg), "--out", str(out), "--no-progress", "--beyond-capacity", "run"],
                      tmp_path, timeout=900)
    assert again.returncode == 0 and again.stdout.count("already stored") == 3


@pytest.mark.integration
def test_repeated_models_with_labels_share_one_run(tiny_model, tmp_path):
    second = tmp_path / "other"
    shutil.copytree(tiny_model, second)
    args = ["run", "--suite", "passkey", "--lengths", "256", "--samples", "2", "--no-progress",
            "--model", str(tiny_model), "--label", "a", "--model", str(second), "--label", "b"]
    res = evalsuite(args, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("a+b-hf-passkey-")
    summary = pd.read_csv(runs[0] / "summary.csv")
    assert sorted(summary["setting"]) == ["a / hf / none", "b / hf / none"]
    bad = evalsuite(args[:-2], tmp_path)                     # two models, one label
    assert bad.returncode == 2 and "1 --label for 2 --model" in bad.stderr


def test_the_example_config_is_valid():
    from evalsuite.config import matrix
    parsed = matrix.read(ROOT / "examples" / "compare-demo.toml")
    assert [m.label for m in parsed.models] == ["demo", "demo-yarn4-native"] and parsed.models[1].ropes == ["native"]
