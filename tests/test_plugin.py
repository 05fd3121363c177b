"""A suite is one module plus one entry-point line: a throwaway plugin, defined here, installed
as a real distribution (a dist-info folder on the path), gets its own option, its own payload
and its own subcommand, and runs end to end without the core naming it."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.cli import cli_env

PLUGIN = '''
"""A throwaway suite for the plugin test."""
from dataclasses import dataclass

import numpy as np

from evalsuite.config.options import option
from evalsuite.suite import Command, Suite
from evalsuite.types import Payload, Request, SampleScore, output_text


@dataclass(frozen=True)
class Options:
    flavour: str = option("sweet", "the word the prompt repeats")
    repeats: int = option(1, "samples per length", minimum=1)


@dataclass(frozen=True)
class Flavour(Payload):
    flavour: str


class ThrowawaySuite(Suite):
    name, version, subtasks = "throwaway", 1, ("echo",)
    description = "repeats a word; scores whether the model says anything"
    Options = Options
    payload_type = Flavour
    commands = (Command("throwaway-hello", "say hello", lambda p: p.add_argument("who"),
                        lambda args: print(f"hello {args.who}") or 0),)

    def requests(self, tok, length):
        word = tok.encode(" " + self.opts.flavour)
        ids = (list(tok.bos) + word * length)[: length - 4]
        return [Request(self.name, "echo", length, i, np.asarray(ids, dtype=np.int32), 4, (self.opts.flavour,),
                        seed=self.seed, payload=Flavour(self.opts.flavour)) for i in range(self.opts.repeats)]

    def score(self, request, result):
        return SampleScore(float(len(output_text(result)) >= 0))
'''

BROKEN = '''
from evalsuite.suite import Suite


class BrokenSuite(Suite):
    name, version, subtasks = "broken", 1, ("x",)

    def requests(self, tok, length):
        return []
'''


def _install(tmp_path, module, source, entry):
    site = tmp_path / "site"
    (site / f"{module}-0.1.dist-info").mkdir(parents=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    (site / f"{module}-0.1.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (site / f"{module}-0.1.dist-info" / "entry_points.txt").write_text(f"[evalsuite.suites]\n{entry}\n")
    return site


def _cli(args, tmp_path, site):
    env = dict(cli_env(tmp_path), PYTHONPATH=str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "evalsuite", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=600)


@pytest.mark.integration
def test_a_new_suite_with_its_own_option_runs_end_to_end(tmp_path):
    site = _install(tmp_path, "throwaway_suite", PLUGIN, "throwaway = throwaway_suite:ThrowawaySuite")
    listed = _cli(["list"], tmp_path, site)
    assert "throwaway" in listed.stdout and "repeats a word" in listed.stdout
    assert "--throwaway-flavour" in _cli(["run", "--help"], tmp_path, site).stdout
    assert _cli(["throwaway-hello", "world"], tmp_path, site).stdout.strip() == "hello world"

    out = tmp_path / "run"
    run = ["run", "--suite", "throwaway", "--lengths", "64,128", "--no-progress", "--out", str(out)]
    res = _cli([*run, "--throwaway-flavour", "sour", "--throwaway-repeats", "2"], tmp_path, site)
    assert res.returncode == 0, res.stderr[-2000:]
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["payload"]["flavour"] for r in records} == {"sour"}
    assert {r["prompt_tokens"] for r in records} == {60, 124} and {r["references"][0] for r in records} == {"sour"}
    assert "throwaway/echo" in res.stdout and (out / "report.html").exists()

    # the option is part of the workload: another value is new work, the same value resumes
    res = _cli([*run, "--throwaway-flavour", "bitter", "--throwaway-repeats", "2"], tmp_path, site)
    assert res.returncode == 0 and len((out / "records.jsonl").read_text().splitlines()) == 8
    res = _cli([*run, "--throwaway-flavour", "bitter", "--throwaway-repeats", "2"], tmp_path, site)
    assert "already stored" in res.stdout

    bad = _cli([*run, "--throwaway-repeats", "0"], tmp_path, site)
    assert bad.returncode == 2 and "--throwaway-repeats must be at least 1, got 0" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_suite_missing_a_method_fails_when_loaded(tmp_path):
    site = _install(tmp_path, "broken_suite", BROKEN, "broken = broken_suite:BrokenSuite")
    res = _cli(["list"], tmp_path, site)
    assert res.returncode == 2
    assert res.stderr.strip() == "evalsuite: error: suite plugin 'broken' does not implement score"


@pytest.mark.parametrize("args, message", [
    (["--rope", "yran:factor=4"], "unknown RoPE method 'yran': choose one of none, pi, ntk"),
    (["--backend", "vlm"], "unknown --backend 'vlm'"),
])
def test_an_unknown_plugin_name_gets_the_closest_as_a_hint(args, message, tmp_path):
    from tests.helpers.cli import evalsuite
    res = evalsuite(["run", *args, "--lengths", "256", "--out", str(tmp_path / "o")], tmp_path)
    hint = "did you mean 'yarn'?" if "--rope" in args else "did you mean 'vllm'?"
    assert res.returncode == 2 and message in res.stderr and res.stderr.strip().endswith(hint), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_the_registries_list_without_loading_and_check_the_base_class():
    from evalsuite.plugins import BACKENDS, SUITES, Registry
    from evalsuite.types import EvalError
    assert {"passkey", "niah", "ruler", "perplexity", "longbench", "lmeval"} <= set(SUITES.names())
    assert {"hf", "vllm", "vllm-server", "openai"} <= set(BACKENDS.names())
    odd = Registry("backend", "evalsuite.no-such-group", lambda: int, "--backend")
    odd.register("text", str)
    with pytest.raises(EvalError, match="backend plugin 'text' is not a subclass of builtins.int"):
        odd.get("text")
