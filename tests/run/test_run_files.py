"""A run directory's own files are never an output of another command, and run.json keeps no password."""
import json
import sys

import pytest

from evalsuite.rope import RopeSpec
from evalsuite.run.identity import RunIdentity
from evalsuite.run.rundir import redact, write_run_json
from tests.helpers.cli import evalsuite
from tests.helpers.suites import record


@pytest.fixture()
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    line = json.dumps(record(suite="passkey", task="passkey", length=256, score=1.0).to_json()) + "\n"
    (d / "records.jsonl").write_text(line)
    (d / "summary.csv").write_text("setting\n")
    (d / "config.toml").write_text("backend = 'hf'\n")
    return d


@pytest.mark.parametrize("name", ["records.jsonl", "summary.csv", "config.toml", "run.json", "timings.jsonl"])
def test_report_refuses_to_write_over_a_file_the_run_owns(run_dir, tmp_path, name):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    res = evalsuite(["report", str(run_dir), "-o", str(run_dir / name)], tmp_path)
    assert res.returncode == 2 and f"is a file of the run directory {run_dir}" in res.stderr, res.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_the_runs_own_report_may_be_rewritten(run_dir, tmp_path):
    res = evalsuite(["report", str(run_dir), "-o", str(run_dir / "report.html")], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("arg, shown", [
    ("http://user:secret@gpu1:8000", "http://***@gpu1:8000"),
    ("--endpoint=https://u:p@h/v1", "--endpoint=https://***@h/v1"),
    ("http://gpu1:8000", "http://gpu1:8000"),
    ("someone@example.com", "someone@example.com"),
])
def test_credentials_in_urls_are_masked(arg, shown):
    assert redact(arg) == shown


def test_run_json_keeps_the_command_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["evalsuite", "run", "--backend", "openai", "--endpoint",
                                      "http://user:secret@127.0.0.1:9"])
    ident = RunIdentity("m", "r", "openai", "e", "server", "base", "none")
    write_run_json(tmp_path, [ident], [256], [], [RopeSpec.parse("none")])
    text = (tmp_path / "run.json").read_text()
    assert "secret" not in text and "http://***@127.0.0.1:9" in text
