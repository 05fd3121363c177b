"""Hugging Face transformers backend: greedy generation and chunked log-probs.

The decoder and the output projection are found through `get_decoder()` and
`get_output_embeddings()`, so any RoPE causal LM works (Llama, Mistral, Qwen2,
Phi-3, GPT-NeoX), not only models whose attributes are named `model`/`lm_head`.
A GGUF file loads through transformers' GGUF support, dequantized (evalsuite.models.gguf).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from evalsuite.backends.base import Backend, LoadedModel, check_dtype, cuda_available, package_version
from evalsuite.config.vocab import torch_dtype
from evalsuite.types import EvalError, Generation, LogprobResult, Request

LOSS_CHUNK_ELEMENTS = 1 << 25   # logits per output-projection chunk (128 MiB in fp32): positions = this / vocab


class HFBackend(Backend):
    name = "hf"
    default_batch_size = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        self.torch = torch
        from evalsuite.models.gguf import config_source, is_gguf, load_model
        gguf = is_gguf(self.model)          # a GGUF file: its config from the kept metadata folder
        start = time.perf_counter()
        cfg = AutoConfig.from_pretrained(config_source(self.model), revision=self.revision)
        for key, value in self.rope.to_hf(self.base, self.max_length).items():
            setattr(cfg, key, value)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.resolve_dtype(self.dtype)
        try:
            loaded: Any = load_model(self.model, cfg, torch_dtype(dtype)) if gguf else \
                AutoModelForCausalLM.from_pretrained(self.model, config=cfg, revision=self.revision,
                                                     dtype=torch_dtype(dtype), attn_implementation="sdpa")
        except (OSError, ValueError) as e:
            raise EvalError(f"transformers cannot load {self.model!r}: {str(e).splitlines()[0]}") from None
        self.net: Any = loaded.to(self.device).eval()
        self.decoder = self.net.get_decoder()
        self.head = self.net.get_output_embeddings()
        if self.decoder is self.net or self.head is None:
            raise EvalError(f"{self.model!r} ({type(self.net).__name__}) exposes no separate decoder and "
                            "output projection: the hf backend cannot score it in chunks")
        self.logit_transform = _logit_transform(cfg)
        self._record_load(f"transformers {type(self.net).__name__} {dtype} on {self.device}",
                          time.perf_counter() - start, in_init=True)

    @classmethod
    def engine_version(cls) -> str:
        return package_version("transformers")

    def loaded_model(self, max_length: int) -> LoadedModel:
        return LoadedModel("transformers", self.net)

    @classmethod
    def resolve_dtype(cls, dtype: str) -> str:
        """"auto": float32 on CPU, bfloat16 on CUDA."""
        if check_dtype(dtype) == "auto":
            return "bfloat16" if cuda_available() else "float32"
        return dtype

    def _ids(self, reqs: Sequence[Request]) -> Any:
        lengths = {len(r.prompt_ids) for r in reqs}
        if len(lengths) != 1:
            raise ValueError("a batch must hold prompts of one length (the runner groups them)")
        return self.torch.tensor([list(map(int, r.prompt_ids)) for r in reqs], device=self.device)

    def generate(self, reqs: Sequence[Request]) -> list[Generation]:
        groups: dict[tuple, list[int]] = {}      # one generate call per (stop ids, min new tokens)
        for i, r in enumerate(reqs):
            groups.setdefault((r.stop_token_ids, r.min_new_tokens), []).append(i)
        if len(groups) > 1:
            out: list[Generation | None] = [None] * len(reqs)
            for idx in groups.values():
                for i, g in zip(idx, self._generate([reqs[i] for i in idx])):
                    out[i] = g
            return out  # type: ignore[return-value]
        return self._generate(reqs)

    def _generate(self, reqs: Sequence[Request]) -> list[Generation]:
        start = time.perf_counter()
        ids = self._ids(reqs)
        # tokenizer EOS + generation_config eos_token_id list + the requests' own stop tokens
        stops = self.stop_ids + [t for t in reqs[0].stop_token_ids if t not in self.stop_ids]
        with self.torch.inference_mode():
            out = self.net.generate(ids, attention_mask=self.torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=max(r.max_new_tokens for r in reqs),
                                    min_new_tokens=reqs[0].min_new_tokens or None,
                                    eos_token_id=stops or None, pad_token_id=stops[0] if stops else 0)
        per = (time.perf_counter() - start) / len(reqs)
        gens = []
        for r, row in zip(reqs, out[:, ids.shape[1]:].tolist()):
            row = row[: r.max_new_tokens]
            row = row[: next((k for k, t in enumerate(row) if t in stops), len(row))]
            gens.append(Generation(self.tok.decode(row), tuple(row), per))
        return gens

    def logprobs(self, reqs: Sequence[Request]) -> list[LogprobResult]:
        """Log-prob of each scored prompt token, computing the vocabulary projection in
        chunks of about LOSS_CHUNK_ELEMENTS logits, so memory does not grow with sequence x vocab."""
        torch = self.torch
        out = []
        vocab = self.head.weight.shape[0]
        for r in reqs:
            start = time.perf_counter()
            ids = self._ids([r])
            with torch.inference_mode():
                # no KV cache: nothing is generated, and at 128k it would hold every layer's K/V
                hidden = self.decoder(input_ids=ids, use_cache=False).last_hidden_state[0]
                first = max(r.score_start, 1)
                chunk = min(max(LOSS_CHUNK_ELEMENTS // vocab, 64), 8192)
                values = []
                for lo in range(first, ids.shape[1], chunk):
                    hi = min(lo + chunk, ids.shape[1])
                    logits = self.logit_transform(self.head(hidden[lo - 1: hi - 1]).float())
                    # log p(target) = logit(target) - logsumexp(logits): no chunk x vocab log_softmax copy
                    values.append(logits.gather(1, ids[0, lo:hi, None])[:, 0] - torch.logsumexp(logits, dim=-1))
                    del logits
                flat = torch.cat(values).tolist() if values else []
            out.append(LogprobResult(tuple(flat), time.perf_counter() - start))
        return out

    def close(self) -> None:
        for attr in ("net", "decoder", "head"):
            self.__dict__.pop(attr, None)
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()


def _logit_transform(cfg: Any) -> Any:
    """What some CausalLM heads do to logits after the projection (the chunked path skips the
    head's forward): Gemma-2/3 soft-capping, Cohere logit_scale, Granite logits_scaling."""
    import torch
    cap = getattr(cfg, "final_logit_softcapping", None)
    scale = getattr(cfg, "logit_scale", None)
    divide = getattr(cfg, "logits_scaling", None)

    def transform(logits: Any) -> Any:
        if scale:
            logits = logits * scale
        if divide:
            logits = logits / divide
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits
    return transform
