"""`evalsuite prompts` shows the prompts `evalsuite run` builds: the same ids, decoded, with their facts.

Two cases go through a subprocess (tests/helpers/cli.py); the rest call the same `main` in-process,
since each new process pays transformers' import (seconds on a quiet machine, ~45 s on a busy one).
"""
import json

import pytest

from evalsuite.cli import main
from evalsuite.cli.prompts import prompt_text
from evalsuite.tasks import niah, passkey
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.cli import evalsuite
from tests.helpers.suites import make

NEEDLE = "The secret ingredient is saffron."


def test_jsonl_holds_the_requests_run_builds(tiny_model, tmp_path):
    args = ["prompts", "--model", str(tiny_model), "--suite", "niah", "--length", "512", "--depths", "3",
            "--niah-needle", NEEDLE, "-o", "p.jsonl"]
    done = evalsuite(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote 3 prompts to p.jsonl"
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    tok = Tokenizer.load(str(tiny_model))
    built = make(niah.NiahSuite, depths=3, needle=NEEDLE).requests(tok, 512)        # in-process, as run builds
    assert [d["index"] for d in lines] == [r.index for r in built] == [0, 1, 2]
    for d, r in zip(lines, built):
        assert d["prompt"] == prompt_text(tok, r.prompt_ids) and d["prompt_tokens"] == len(r.prompt_ids)
        assert d["prompt_tokens"] + d["max_new_tokens"] == 512 == d["length"]
        assert d["references"] == [niah.ANSWER] and d["depth"] == r.depth
        assert d["payload"] == {"needle": NEEDLE, "question": niah.QUESTION, "repeat": 0}
        assert d["prompt"].count("\n" + NEEDLE + "\n") == 1             # the user's needle, wrapped as gkamradt's
    assert lines[0]["prompt"].startswith("<s>\n" + NEEDLE + "\n")       # depth 0: BOS, then the needle


def test_printed_prompt_of_one_index(tiny_model, tmp_path):
    done = evalsuite(["prompts", "--model", str(tiny_model), "--suite", "passkey", "--length", "256",
                      "--samples", "3", "--index", "2", "--rope", "yarn:factor=2"], tmp_path)
    assert done.returncode == 0, done.stderr
    head, prompt = done.stdout.split("--- prompt\n")
    key = json.loads(head.split("payload: ")[1].splitlines()[0])["key"]
    assert head.startswith("=== passkey/passkey | length 256 | index 2 | depth 100% | 246 prompt tokens + 10 new\n")
    assert f'references: ["{key}"]' in head
    assert prompt.startswith("<s>" + passkey.INTRO + "\nThe grass is green.")
    assert f"\n{passkey.INFO.format(key=key)}\n" in prompt and prompt.endswith("\n" + passkey.QUESTION + "\n")


@pytest.mark.parametrize("zoo_tokenizer", ["sentencepiece"], indirect=True)
def test_a_sentencepiece_prompt_reads_without_stray_spaces(zoo_tokenizer, capsys):
    assert main(["prompts", "--model", zoo_tokenizer.name, "--suite", "passkey", "--length", "1k",
                 "--samples", "2", "--index", "0"]) == 0
    prompt = capsys.readouterr().out.split("--- prompt\n")[1]
    assert prompt.startswith("<s>" + passkey.INTRO + "\n\nThe pass key is")        # depth 0: no filler before
    assert "\n " not in prompt and "  " not in prompt


@pytest.mark.parametrize("args, fragment", [
    (["--suite", "nosuch", "--length", "512"], "unknown suite 'nosuch'"),
    (["--suite", "ruler:nosuch", "--length", "4k"], "nosuch"),
    (["--suite", "passkey", "--length", "512", "--samples", "2", "--index", "2"], "--index 2 is out of range"),
    (["--suite", "passkey", "--length", "40"], "more than the context length 40"),
    (["--suite", "passkey", "--length", "512", "--lengths", "1k,2k"], "is not one of --lengths"),
    (["--suite", "passkey", "--length", "512", "--index", "-1"], "--index must not be negative"),
])
def test_bad_input_is_one_line(tiny_model, tmp_path, capsys, args, fragment):
    out = tmp_path / "p.jsonl"
    assert main(["prompts", "--model", str(tiny_model), *args, "-o", str(out)]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err.count("\n") == 1 and said.err.startswith("evalsuite: error:")
    assert fragment in said.err and not out.exists()


def test_a_suite_that_drives_the_backend_has_no_prompts_to_print(tmp_path):
    res = evalsuite(["prompts", "--suite", "lmeval:hellaswag", "--length", "256"], tmp_path)
    assert res.returncode == 2 and res.stderr.strip() == ("evalsuite: error: suite lmeval runs through its own "
                                                          "harness and builds no prompts here"), res.stderr
