"""Bad input, tried as a hostile user would: one line on stderr naming the bad value, exit
code 2, no traceback, and nothing written where the output would go."""
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import evalsuite
from tests.helpers.suites import record

VALID_RECORD = record(suite="passkey", task="passkey", length=256, score=1.0).to_json()


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _model_copy(tiny_model: Path, tmp: Path, name: str, **files) -> Path:
    """A copy of the tiny model with some files replaced (None deletes one)."""
    dest = tmp / name
    shutil.copytree(tiny_model, dest)
    for fname, data in files.items():
        fname = fname.replace("__", ".")
        if data is None:
            (dest / fname).unlink()
        else:
            _write(dest / fname, data)
    return dest


def _run_dir(tmp: Path, name: str, records_bytes: bytes, run_json=None) -> Path:
    d = tmp / name
    _write(d / "records.jsonl", records_bytes)
    if run_json is not None:
        _write(d / "run.json", run_json)
    return d


def _preds(tmp: Path, name: str, content) -> Path:
    return _write(tmp / "pred" / name, content)


def _longrope(tmp: Path, name: str, content) -> str:
    return f"longrope:file={_write(tmp / name, content)}"


LINE = (json.dumps(VALID_RECORD) + "\n").encode()


def _cases(model: Path, tmp: Path):
    """name -> (arguments, a fragment of the message, which names the bad value). Builds the
    files a case needs under tmp."""
    m = ["--model", str(model), "--lengths", "256"]
    good_pred = {"pred": "x", "answers": ["x"], "all_classes": None, "length": 10}
    cases = {
        # suites, tasks, lengths
        "unknown suite": (["run", *m, "--suite", "bogus"], "unknown suite 'bogus'"),
        "empty suite": (["run", *m, "--suite", ","], "empty --suite"),
        "unknown subtask": (["run", *m, "--suite", "passkey:foo"], "has no task 'foo'"),
        "bad length": (["run", *m, "--lengths", "4x"], "bad length '4x'"),
        "empty lengths": (["run", *m, "--lengths", ""], "empty --lengths"),
        "reversed range": (["run", *m, "--lengths", "8k..4k"], "'8k..4k': start 8192 is above end 4096"),
        "range not doubling": (["run", *m, "--lengths", "256..768"], "768 is not 256 times a power of two"),
        "absurd grid count": (["run", *m, "--lengths", "256..512/1000000000"], "1000000000 lengths"),
        "length past the limit": (["run", *m, "--lengths", "10m", "--force"], "length 10m (10485760 tokens)"),
        "negative length": (["run", *m, "--lengths", "-256"], "bad length '-256'"),
        "too short": (["run", *m, "--lengths", "40"], "more than the context length 40"),
        "beyond capacity": (["run", *m, "--lengths", "2k", "--beyond-capacity", "error"],
                            "length 2048 exceeds what RoPE setting none holds"),
        "bad beyond-capacity": (["run", *m, "--beyond-capacity", "ignore"], "'ignore'"),
        # sizes
        "zero samples": (["run", *m, "--samples", "0"], "--samples must be positive, got 0"),
        "non-numeric samples": (["run", *m, "--samples", "many"], "--samples must be a whole number, got 'many'"),
        "absurd samples": (["run", *m, "--samples", "1000000000000"], "plans about 11,000,000,000,000 samples"),
        "grid past --max-samples": (["run", *m, "--suite", "ruler", "--max-samples", "100"],
                                    "6,500 samples (0.0 GiB of token ids), more than --max-samples 100"),
        "zero workers": (["run", *m, "--workers", "0"], "--workers must be positive, got 0"),
        "zero batch size": (["run", *m, "--batch-size", "0"], "--batch-size must be positive, got 0"),
        "non-numeric seed": (["run", *m, "--seed", "abc"], "'abc'"),
        "zero depths": (["run", *m, "--suite", "niah", "--depths", "0"], "--depths must be at least 1, got 0"),
        "non-numeric stride": (["run", *m, "--suite", "perplexity", "--stride", "wide"],
                               "--stride must be a whole number, got 'wide'"),
        "stride past window": (["run", *m, "--suite", "perplexity:sliding", "--stride", "4096"], "--stride 4096"),
        "stop-word NIAH answer": (["run", *m, "--suite", "niah", "--niah-answer", "the a"],
                                  "--niah-answer 'the a' has no keyword"),
        "zero NIAH output budget": (["run", *m, "--suite", "niah", "--niah-max-new-tokens", "0"],
                                    "--niah-max-new-tokens must be at least 1, got 0"),
        "leave out every task": (["run", *m, "--suite", "passkey:-passkey"], "every task is left out"),
        "leave out an unknown task": (["run", *m, "--suite", "ruler:-qa_9"], "has no task 'qa_9' to leave out"),
        "bad dtype": (["run", *m, "--dtype", "float8"], "'float8'"),
        "bad template": (["run", *m, "--template", "fancy"], "'fancy'"),
        "no chat template": (["run", *m, "--template", "chat"], "has no chat template"),
        "unknown backend": (["run", *m, "--backend", "tensorrt"], "unknown --backend 'tensorrt'"),
        "reserved engine arg": (["run", *m, "--backend", "vllm", "--engine-arg", "dtype=float16"],
                                "--engine-arg dtype is set by evalsuite: use --dtype"),
        "engine arg without value": (["run", *m, "--engine-arg", "tensor_parallel_size"], "write key=value"),
        "gpus without vllm-server": (["run", *m, "--gpus", "0,1"], "--gpus goes with --backend vllm-server"),
        "unknown flag": (["run", *m, "--frobnicate"], "unrecognized arguments: --frobnicate"),
        "other suite's flag": (["run", *m, "--niah-nothing", "3"], "unrecognized arguments: --niah-nothing"),
        "no command": ([], "required"),
        # RoPE values
        "unknown rope": (["run", *m, "--rope", "rotary"], "unknown RoPE method 'rotary'"),
        "zero factor": (["run", *m, "--rope", "yarn:factor=0"], "factor=0"),
        "non-numeric factor": (["run", *m, "--rope", "yarn:factor=abc"], "'abc'"),
        "missing factor": (["run", *m, "--rope", "yarn"], "needs factor"),
        "overflowing yarn factor": (["run", *m, "--rope", "yarn:factor=1e308"], "1e308"),
        "overflowing ntk factor": (["run", *m, "--rope", "ntk:factor=1e300"], "1e300"),
        "NaN longrope factor": (["run", *m, "--rope", "longrope:long=[NaN,1]"], "NaN"),
        "duplicate rope key": (["run", *m, "--rope", "yarn:factor=4,factor=8"], "factor"),
        "inverted yarn betas": (["run", *m, "--rope", "yarn:factor=2,beta_fast=1,beta_slow=32"], "beta_fast"),
        "factor array size": (["run", *m, "--rope", "longrope:long=[1,2]"], "have 2 entries"),
        "duplicate rope": (["run", *m, "--rope", "none", "--rope", "default"], "repeats a setting: ['none', 'none']"),
        "missing longrope file": (["run", *m, "--rope", f"longrope:file={tmp / 'factors.json'}"],
                                  str(tmp / "factors.json")),
        "longrope file a list": (["run", *m, "--rope", _longrope(tmp, "list.json", [1, 2])], "list.json"),
        "longrope file null": (["run", *m, "--rope", _longrope(tmp, "null.json", "null")], "null.json"),
        "longrope string factor": (["run", *m, "--rope", _longrope(tmp, "sf.json", {"long_factor": [1] * 32,
                                                                                   "factor": "eight"})], "factor"),
        "longrope string original": (["run", *m, "--rope", _longrope(tmp, "so.json", {
            "long_factor": [1] * 32, "original_max_position_embeddings": "4k"})], "original_max_position_embeddings"),
        "longrope binary file": (["run", *m, "--rope", _longrope(tmp, "bin.json", b"\x89PNG\x00\xff\xfe")], "bin.json"),
        # haystacks
        "missing haystack": (["run", *m, "--suite", "niah", "--haystack", str(tmp / "none.txt")],
                             f"{tmp / 'none.txt'} does not exist"),
        "binary haystack": (["run", *m, "--suite", "niah", "--haystack",
                             str(_write(tmp / "hay.bin", b"ab\x00\x00cd" * 100))], "hay.bin is binary"),
        "NUL-only haystack": (["run", *m, "--suite", "passkey", "--haystack",
                               str(_write(tmp / "nul.txt", b"\x00" * 500))], "nul.txt is binary"),
        "Latin-1 haystack": (["run", *m, "--suite", "niah", "--haystack",
                              str(_write(tmp / "latin.txt", "caf\xe9 au lait. ".encode("latin-1") * 50))],
                             "latin.txt is not UTF-8 text (byte 0xe9"),
        "empty haystack folder": (["run", *m, "--suite", "niah", "--haystack", str((tmp / "hay_dir").resolve())],
                                  "holds no .txt or .md files"),
        # model folders
        "missing model": (["run", "--model", str(tmp / "nope")], f"{tmp / 'nope'} does not exist"),
        "model without config": (["run", "--model", str(_write(tmp / "noconf" / "weights.bin", "x").parent)],
                                 "has no config.json"),
        "config a JSON list": (["run", "--model", str(_model_copy(model, tmp, "m_list", config__json=[1, 2]))],
                               "holds a JSON list"),
        "config not JSON": (["run", "--model", str(_model_copy(model, tmp, "m_bad", config__json="{oops"))],
                            "config.json is not valid JSON"),
        "100-byte safetensors": (["run", "--model", str(_model_copy(model, tmp, "m_short",
                                                                     model__safetensors=b"\x07" * 100))],
                                 "model.safetensors is not a complete safetensors file (100 bytes)"),
        "truncated safetensors": (["run", "--model", str(_truncated(model, tmp))], "model.safetensors is truncated"),
        "no weights": (["run", "--model", str(_model_copy(model, tmp, "m_none", model__safetensors=None))],
                       "holds no weight files"),
        "hub id offline": (["run", "--model", "someorg/somemodel"], "'someorg/somemodel' is not a local folder"),
        # output places
        "out is a file": (["run", *m, "--out-file-marker"], "is a file"),
        "out under a file": (["run", *m, "--out-under-file-marker"], "Not a directory"),
        # report
        "report of nothing": (["report", str(tmp / "empty_dir")], "is not a run directory"),
        "report into a missing folder": (["report", str(_run_dir(tmp, "ok1", LINE)), "-o", str(tmp / "no/r.html")],
                                         f"output folder {tmp / 'no'} does not exist"),
        "report into a directory": (["report", str(_run_dir(tmp, "ok2", LINE)), "-o", str(tmp)], "is a directory"),
        "record unknown field": (["report", str(_run_dir(tmp, "d1", b'{"key": "x", "bogus": 1}\n'))],
                                 "unknown fields ['bogus']"),
        "record not UTF-8": (["report", str(_run_dir(tmp, "d2", LINE + b'{"key": "\xff\xfe"}\n'))],
                             "records.jsonl:2 is not a valid record (UnicodeDecodeError"),
        "record extras a list": (["report", str(_run_dir(tmp, "d3", _line(extras=[1, 2])))], "field 'extras'"),
        "record score a string": (["report", str(_run_dir(tmp, "d4", _line(score="high")))],
                                  "field 'score' has the wrong type (str)"),
        "record not an object": (["report", str(_run_dir(tmp, "d5", b"[1, 2]\n"))], "records.jsonl:1 is not a JSON object"),
        "run.json truncated": (["report", str(_run_dir(tmp, "d6", LINE, '{"commands": [["run"'))],
                               "run.json is damaged"),
        "run.json a list": (["report", str(_run_dir(tmp, "d7", LINE, [1, 2]))], "run.json is not a JSON object"),
        # LongBench rescoring
        "score a binary file": (["score", str(_preds(tmp, "b/hotpotqa.jsonl", b"\x00\xff\xfe\x00"))],
                                "hotpotqa.jsonl:1: not UTF-8 text"),
        "score a Latin-1 file": (["score", str(_preds(tmp, "l/hotpotqa.jsonl",
                                                     '{"pred": "caf\xe9"}\n'.encode("latin-1")))], "not UTF-8 text"),
        "score all_classes a string": (["score", str(_preds(tmp, "c/trec.jsonl",
                                                           json.dumps(dict(good_pred, all_classes="Animal"))))],
                                       "all_classes must be null or a list of strings, got 'Animal'"),
        "score negative length": (["score", "--e", str(_preds(tmp, "n/hotpotqa.jsonl",
                                                              json.dumps(dict(good_pred, length=-5))))],
                                  "length must be a whole number >= 0, got -5"),
        "score missing field": (["score", str(_preds(tmp, "m/hotpotqa.jsonl", '{"pred": "x", "answers": ["x"]}'))],
                                "missing field"),
        "score unknown data set": (["score", str(_preds(tmp, "u/nosuchset.jsonl", json.dumps(good_pred)))],
                                   "'nosuchset' is not a LongBench data set"),
    }
    (tmp / "hay_dir").mkdir(exist_ok=True)
    (tmp / "empty_dir").mkdir(exist_ok=True)
    return cases


def _line(**changes) -> bytes:
    return (json.dumps({**VALID_RECORD, **changes}) + "\n").encode()


def _truncated(model: Path, tmp: Path) -> Path:
    dest = _model_copy(model, tmp, "m_trunc")
    data = (dest / "model.safetensors").read_bytes()
    (dest / "model.safetensors").write_bytes(data[: len(data) // 2])
    return dest


CASES = ["unknown suite", "empty suite", "unknown subtask", "bad length", "empty lengths", "reversed range",
         "range not doubling", "absurd grid count", "length past the limit", "negative length", "too short",
         "beyond capacity", "bad beyond-capacity", "zero samples", "non-numeric samples", "absurd samples", "grid past --max-samples",
         "zero workers", "zero batch size", "non-numeric seed", "zero depths", "non-numeric stride",
         "stride past window", "stop-word NIAH answer", "zero NIAH output budget", "leave out every task",
         "leave out an unknown task", "bad dtype", "bad template", "no chat template", "unknown backend", "reserved engine arg",
         "engine arg without value", "gpus without vllm-server", "unknown flag",
         "other suite's flag", "no command", "unknown rope", "zero factor", "non-numeric factor", "missing factor",
         "overflowing yarn factor", "overflowing ntk factor", "NaN longrope factor", "duplicate rope key",
         "inverted yarn betas", "factor array size", "duplicate rope", "missing longrope file",
         "longrope file a list", "longrope file null", "longrope string factor", "longrope string original",
         "longrope binary file", "missing haystack", "binary haystack", "NUL-only haystack", "Latin-1 haystack",
         "empty haystack folder", "missing model", "model without config", "config a JSON list", "config not JSON",
         "100-byte safetensors", "truncated safetensors", "no weights", "hub id offline", "out is a file",
         "out under a file", "report of nothing", "report into a missing folder", "report into a directory",
         "record unknown field", "record not UTF-8", "record extras a list", "record score a string",
         "record not an object", "run.json truncated", "run.json a list", "score a binary file",
         "score a Latin-1 file", "score all_classes a string", "score negative length", "score missing field",
         "score unknown data set"]


def test_the_case_list_is_complete_and_large(tiny_model, tmp_path):
    assert sorted(_cases(tiny_model, tmp_path)) == sorted(CASES) and len(CASES) >= 60


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, tiny_model, tmp_path):
    args, fragment = _cases(tiny_model, tmp_path)[name]
    out = tmp_path / "out"
    if "--out-file-marker" in args:
        out = _write(tmp_path / "a_file", "x")
        args = [a for a in args if a != "--out-file-marker"]
    elif "--out-under-file-marker" in args:
        out = _write(tmp_path / "a_file", "x") / "run"
        args = [a for a in args if a != "--out-under-file-marker"]
    before = sorted(p.name for p in tmp_path.iterdir())
    extra = ["--out", str(out), "--no-progress"] if args and args[0] == "run" else []
    res = evalsuite([*args, *extra], tmp_path)
    err = res.stderr.strip()
    assert res.returncode == 2, f"exit {res.returncode}, stderr {err[-600:]}"
    assert "Traceback" not in err and len(err.splitlines()) == 1, f"not one line: {err[-800:]}"
    assert err.startswith("evalsuite: error:") and fragment in err, err
    if extra and out.name == "out":
        assert not out.exists(), f"wrote {out} despite the error"
    assert sorted(p.name for p in tmp_path.iterdir()) == before            # no report, no .tmp file anywhere
    assert not [p for p in tmp_path.rglob("*.tmp")]
