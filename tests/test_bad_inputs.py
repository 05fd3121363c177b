"""Bad input: one line on stderr, exit code 2, nothing written."""
import json
from pathlib import Path

import pytest

from cli_helpers import evalsuite


@pytest.fixture(scope="module")
def no_config_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("empty_model")
    (d / "weights.bin").write_text("x")
    return d


def _cases(model, no_config_dir, tmp):
    """name -> (arguments, a fragment of the one-line message that names the bad value)."""
    m = ["--model", str(model), "--lengths", "256"]
    return {
        "unknown suite": (["run", *m, "--suite", "bogus"], "unknown suite 'bogus'"),
        "empty suite": (["run", *m, "--suite", ","], "empty --suite"),
        "unknown subtask": (["run", *m, "--suite", "passkey:foo"], "has no task 'foo'"),
        "bad length": (["run", *m, "--lengths", "4x"], "bad length '4x'"),
        "reversed range": (["run", *m, "--lengths", "8k..4k"], "'8k..4k': start 8192 is above end 4096"),
        "unknown rope": (["run", *m, "--rope", "rotary"], "unknown RoPE method 'rotary'"),
        "zero factor": (["run", *m, "--rope", "yarn:factor=0"], "factor=0"),
        "missing factor": (["run", *m, "--rope", "yarn"], "needs factor"),
        "factor array size": (["run", *m, "--rope", "longrope:long=[1,2]"], "have 2 entries"),
        "duplicate rope": (["run", *m, "--rope", "none", "--rope", "default"], "repeats a setting: ['none', 'none']"),
        "unknown backend": (["run", *m, "--backend", "tensorrt"], "unknown --backend 'tensorrt'"),
        "missing model": (["run", "--model", str(tmp / "nope")], f"{tmp / 'nope'} does not exist"),
        "model without config": (["run", "--model", str(no_config_dir)], f"{no_config_dir} has no config.json"),
        "zero samples": (["run", *m, "--samples", "0"], "--samples must be positive, got 0"),
        "non-numeric samples": (["run", *m, "--samples", "many"], "--samples must be a whole number, got 'many'"),
        "zero workers": (["run", *m, "--workers", "0"], "--workers must be positive, got 0"),
        "zero depths": (["run", *m, "--suite", "niah", "--depths", "0"], "--depths must be at least 1, got 0"),
        "non-numeric stride": (["run", *m, "--suite", "perplexity", "--stride", "wide"],
                               "--stride must be a whole number, got 'wide'"),
        "stride past window": (["run", *m, "--suite", "perplexity:sliding", "--stride", "4096"], "--stride 4096"),
        "bad dtype": (["run", *m, "--dtype", "float8"], "'float8'"),
        "missing longrope file": (["run", *m, "--rope", f"longrope:file={tmp / 'factors.json'}"],
                                  str(tmp / "factors.json")),
        "beyond capacity": (["run", *m, "--lengths", "2k"], "length 2048 exceeds what RoPE setting none holds"),
        "missing haystack": (["run", *m, "--suite", "niah", "--haystack", str(tmp / "none.txt")],
                             f"{tmp / 'none.txt'} does not exist"),
        "too short": (["run", *m, "--lengths", "40"], "more than the context length 40"),
        "no chat template": (["run", *m, "--template", "chat"], "has no chat template"),
        "unknown flag": (["run", *m, "--frobnicate"], "unrecognized arguments: --frobnicate"),
        "other suite's flag": (["run", *m, "--niah-nothing", "3"], "unrecognized arguments: --niah-nothing"),
        "report of nothing": (["report", str(tmp)], f"{tmp} is not a run directory"),
        "no command": ([], "required"),
    }


CASES = list(_cases(Path("m"), Path("c"), Path("t")))


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, tiny_model, no_config_dir, tmp_path):
    args, fragment = _cases(tiny_model, no_config_dir, tmp_path)[name]
    out = tmp_path / "out"
    extra = ["--out", str(out), "--no-progress"] if args and args[0] == "run" else []
    res = evalsuite([*args, *extra], tmp_path)
    err = res.stderr.strip()
    assert res.returncode == 2, f"exit {res.returncode}, stderr {err[-300:]}"
    assert len(err.splitlines()) == 1, f"not one line: {err[-500:]}"
    assert err.startswith("evalsuite: error:") and fragment in err, err
    assert not out.exists(), f"wrote {out} despite the error"


def test_damaged_store_is_reported(tiny_model, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "records.jsonl").write_text(json.dumps({"key": "x", "bogus": 1}) + "\n")
    res = evalsuite(["report", str(out), "-o", str(tmp_path / "r.html")], tmp_path)
    assert res.returncode == 2 and "unknown fields" in res.stderr and len(res.stderr.strip().splitlines()) == 1
