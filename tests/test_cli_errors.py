"""Bad input: one line on stderr, exit code 2, nothing written."""
import json

import pytest

from cli_helpers import evalsuite


@pytest.fixture(scope="module")
def no_config_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("empty_model")
    (d / "weights.bin").write_text("x")
    return d


def _cases(model, no_config_dir, tmp):
    m = ["--model", str(model), "--lengths", "256"]
    return {
        "unknown suite": (["run", *m, "--suite", "bogus"], "unknown suite"),
        "empty suite": (["run", *m, "--suite", ","], "empty --suite"),
        "unknown subtask": (["run", *m, "--suite", "passkey:foo"], "has no task"),
        "bad length": (["run", *m, "--lengths", "4x"], "bad length"),
        "reversed range": (["run", *m, "--lengths", "8k..4k"], "above end"),
        "unknown rope": (["run", *m, "--rope", "rotary"], "unknown RoPE method"),
        "zero factor": (["run", *m, "--rope", "yarn:factor=0"], "positive"),
        "missing factor": (["run", *m, "--rope", "yarn"], "needs factor"),
        "factor array size": (["run", *m, "--rope", "longrope:long=[1,2]"], "head_dim/2"),
        "duplicate rope": (["run", *m, "--rope", "none", "--rope", "default"], "repeats a setting"),
        "unknown backend": (["run", *m, "--backend", "tensorrt"], "unknown --backend"),
        "missing model": (["run", "--model", str(tmp / "nope")], "does not exist"),
        "model without config": (["run", "--model", str(no_config_dir)], "no config.json"),
        "zero samples": (["run", *m, "--samples", "0"], "must be positive"),
        "non-numeric samples": (["run", *m, "--samples", "many"], "whole number"),
        "zero workers": (["run", *m, "--workers", "0"], "--workers must be positive"),
        "missing longrope file": (["run", *m, "--rope", f"longrope:file={tmp / 'factors.json'}"],
                                  "cannot read longrope factors"),
        "beyond capacity": (["run", *m, "--lengths", "2k"], "exceeds what RoPE setting none holds"),
        "missing haystack": (["run", *m, "--suite", "niah", "--haystack", str(tmp / "none.txt")], "does not exist"),
        "too short": (["run", *m, "--lengths", "40"], "more than the context length"),
        "no chat template": (["run", *m, "--template", "chat"], "no chat template"),
        "unknown flag": (["run", *m, "--frobnicate"], "unrecognized arguments"),
        "report of nothing": (["report", str(tmp)], "not a run directory"),
        "no command": ([], "required"),
    }


def test_bad_inputs(tiny_model, no_config_dir, tmp_path):
    cases = _cases(tiny_model, no_config_dir, tmp_path)
    assert len(cases) >= 15
    for name, (args, fragment) in cases.items():
        out = tmp_path / "out"
        extra = ["--out", str(out), "--no-progress"] if args and args[0] == "run" else []
        res = evalsuite([*args, *extra], tmp_path)
        err = res.stderr.strip()
        assert res.returncode == 2, f"{name}: exit {res.returncode}, stderr {err[-300:]}"
        assert len(err.splitlines()) == 1, f"{name}: not one line: {err[-500:]}"
        assert err.startswith("evalsuite: error:") and fragment in err, f"{name}: {err}"
        assert not out.exists(), f"{name}: wrote {out} despite the error"


def test_damaged_store_is_reported(tiny_model, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "records.jsonl").write_text(json.dumps({"key": "x", "bogus": 1}) + "\n")
    res = evalsuite(["report", str(out), "-o", str(tmp_path / "r.html")], tmp_path)
    assert res.returncode == 2 and "unknown fields" in res.stderr and len(res.stderr.strip().splitlines()) == 1
