"""HF and vLLM must give the same per-token log-probs under every RoPE method."""
import random

import numpy as np
import pytest

from evalsuite.models.resolve import load_model_config
from evalsuite.plugins import backend_class
from evalsuite.rope import BaseRope, RopeSpec
from evalsuite.types import Request
from evalsuite.workload.tokenization import Tokenizer

LONG = 1024
SETTINGS = [
    ("none", [256, 512]),
    ("pi:factor=2", [LONG]),
    ("ntk:factor=2", [LONG]),
    ("dynamic:factor=2", [256, 768, LONG]),
    ("yarn:factor=2", [LONG]),
    ("llama3:factor=2", [LONG]),
    ("abf:theta=40000,max=1024", [LONG]),
    ("longrope:factor=2,long=[" + ",".join(f"{1 + i / 16:.3f}" for i in range(32)) + "]", [256, LONG]),
]


def _requests(tok, lengths):
    rng = random.Random(0)
    vocab = tok.hf.vocab_size
    return [Request("ppl", "check", n, i, np.asarray([tok.bos[0]] + [rng.randrange(3, vocab) for _ in range(n - 1)],
                                                    dtype=np.int32), 0, (), kind="logprobs", score_start=1)
            for i, n in enumerate(lengths)]


def assert_backends_agree(model: str, spec: str, lengths: list[int]) -> None:
    base = BaseRope.from_config(load_model_config(model))
    rope = RopeSpec.parse(spec)
    tok = Tokenizer.load(model)
    reqs = _requests(tok, lengths)
    results = {}
    for name in ("hf", "vllm"):
        backend = backend_class(name)(model, rope, base, max(lengths), tok, "float32")
        try:
            results[name] = backend.logprobs(reqs)
            if name == "vllm":     # one engine per distinct (hf_overrides, max_model_len), each load recorded
                engines = {backend.engine_key(n) for n in lengths}
                assert len(backend.engine_loads) == len(engines)
                assert backend.load_seconds == sum(s for _, s in backend.engine_loads)
        finally:
            backend.close()
    for req, hf, vl in zip(reqs, results["hf"], results["vllm"]):
        a, b = np.array(hf.token_logprobs), np.array(vl.token_logprobs)
        assert a.shape == b.shape == (len(req.prompt_ids) - 1,)
        assert np.isfinite(b).all(), f"{spec}: vLLM produced non-finite log-probs at length {req.length}"
        diff = np.abs(a - b).max()
        assert diff < 1e-3, f"{spec} at length {req.length}: max |HF - vLLM| = {diff:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("spec,lengths", SETTINGS, ids=[s.split(",long")[0] for s, _ in SETTINGS])
def test_hf_and_vllm_logprobs_agree(tiny_model, spec, lengths):
    assert_backends_agree(str(tiny_model), spec, lengths)


@pytest.mark.slow
def test_settings_really_change_the_model(tiny_model):
    """Guard against overrides being silently ignored: a scaled setting must move the log-probs."""
    model = str(tiny_model)
    base = BaseRope.from_config(load_model_config(model))
    tok = Tokenizer.load(model)
    reqs = _requests(tok, [LONG])
    values = {}
    for spec in ("none", "yarn:factor=2", "ntk:factor=2"):
        backend = backend_class("vllm")(model, RopeSpec.parse(spec), base, LONG, tok, "float32")
        values[spec] = np.array(backend.logprobs(reqs)[0].token_logprobs)
        backend.close()
    assert np.abs(values["none"] - values["yarn:factor=2"]).max() > 1e-3
    assert np.abs(values["none"] - values["ntk:factor=2"]).max() > 1e-3
