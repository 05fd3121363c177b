"""The hf backend scores RoPE models other than Llama (Qwen2; GPT-NeoX with partial rotary):
its chunked log-probs equal a plain forward pass of a model configured by hand."""
import shutil

import numpy as np
import pytest

from evalsuite.models.resolve import load_model_config
from evalsuite.rope import BaseRope, RopeSpec
from evalsuite.types import Request
from evalsuite.workload.tokenization import Tokenizer

pytestmark = pytest.mark.integration     # real tokenizers / the tiny model on hf

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _build(kind: str, folder, tiny_model):
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, Qwen2Config, Qwen2ForCausalLM
    folder.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (tiny_model / name).exists():
            shutil.copy(tiny_model / name, folder / name)
    ref = load_model_config(str(tiny_model))
    common = {"vocab_size": ref["vocab_size"], "hidden_size": 128, "intermediate_size": 256,
              "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 512,
              "bos_token_id": ref["bos_token_id"], "eos_token_id": ref["eos_token_id"], "tie_word_embeddings": False}
    torch.manual_seed(1)
    if kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(num_key_value_heads=1, rope_theta=10000.0, **common))
    else:
        model = GPTNeoXForCausalLM(GPTNeoXConfig(rotary_pct=0.5, rotary_emb_base=10000, **common))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["qwen2", "gpt_neox"])
def arch_model(request, tiny_model, tmp_path_factory):
    return str(_build(request.param, tmp_path_factory.mktemp(request.param) / "model", tiny_model))


def _reference(model: str, rope_parameters: dict | None, max_positions: int, ids: list[int]) -> np.ndarray:
    """log p(token t | tokens < t) from one full forward pass, config set by hand."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(model)
    if rope_parameters is not None:
        cfg.rope_parameters = {**rope_parameters, "partial_rotary_factor": cfg.rope_parameters.get(
            "partial_rotary_factor", 1.0)}
        cfg.max_position_embeddings = max_positions
    net = AutoModelForCausalLM.from_pretrained(model, config=cfg, dtype=torch.float32).eval()
    with torch.inference_mode():
        logp = net(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    return logp[:-1].gather(1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()


YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0, "original_max_position_embeddings": 512}


@pytest.mark.parametrize("spec,length,by_hand", [("none", 300, None), ("yarn:factor=2", 900, YARN)])
def test_hf_logprobs_equal_a_full_forward_pass(arch_model, spec, length, by_hand):
    from evalsuite.backends.hf import HFBackend
    tok = Tokenizer.load(arch_model)
    base = BaseRope.from_config(load_model_config(arch_model))
    rng = np.random.default_rng(0)
    ids = [tok.bos[0]] + rng.integers(3, load_model_config(arch_model)["vocab_size"], length - 1).tolist()
    req = Request("ppl", "check", length, 0, np.asarray(ids, dtype=np.int32), 0, (), kind="logprobs", score_start=1)
    backend = HFBackend(arch_model, RopeSpec.parse(spec), base, 1024, tok, "float32")
    try:
        got = np.array(backend.logprobs([req])[0].token_logprobs)
        gen = backend.generate([Request("g", "check", 32, 0, np.asarray(ids[:32], dtype=np.int32), 5, ())])[0]
    finally:
        backend.close()
    want = _reference(arch_model, by_hand, 1024, ids)
    assert got.shape == want.shape == (length - 1,)
    assert np.abs(got - want).max() < 1e-4
    assert len(gen.token_ids) <= 5 and gen.seconds > 0


def test_partial_rotary_is_read(arch_model):
    base = BaseRope.from_config(load_model_config(arch_model))
    assert base.dim == (32 if "gpt_neox" in arch_model else 64)
