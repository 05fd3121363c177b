"""RoPE settings: one class per method, found through a registry by its `--rope` name.

`RopeSpec.parse("yarn:factor=4,original=4096")` picks the method's class, which
checks its parameters once and owns everything else about the method: its
capacity, its transformers config (`to_hf`) and its vLLM overrides (`to_vllm`).
A new method is one registered class. The silent pitfalls measured in vLLM 0.32 and
transformers 5 are handled here:

1. the whole `rope_parameters` dict is always sent, `rope_theta` and `rope_type` included
   (and the checkpoint's `partial_rotary_factor`, which the dict would otherwise drop);
2. theta changes go through `rope_parameters`, never a bare `rope_theta` override;
3. `max_position_embeddings` is raised to the setting's capacity (factor x original),
   so the HF YaRN/LongRoPE attention factor (derived from that ratio) equals vLLM's;
4. vLLM's static "dynamic" type is never used: dynamic NTK gives vLLM a static theta per
   request length, and the vLLM backend groups requests with equal overrides into one engine;
5. LongRoPE gives short requests an engine with max_model_len <= original (short factors).

Values are checked to be finite and sane (`MAX_FACTOR`, `MAX_THETA`, `MAX_TOKENS`): a bad
value is one-line `EvalError`, never a traceback or an overflow passed on to an engine.
"""
from __future__ import annotations

from evalsuite.rope import methods  # noqa: F401 - registers the methods
from evalsuite.rope.base import (
    ALIASES,
    MAX_FACTOR,
    MAX_THETA,
    MAX_TOKENS,
    BaseRope,
    RopeSpec,
    _split_params,
    dynamic_theta,
    method_classes,
    method_help,
    register,
)

__all__ = ["ALIASES", "MAX_FACTOR", "MAX_THETA", "MAX_TOKENS", "BaseRope", "RopeSpec", "_split_params",
           "dynamic_theta", "method_classes", "method_help", "register"]
