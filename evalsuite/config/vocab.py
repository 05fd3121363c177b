"""The words a run configuration is spoken in, each listed once: the CLI's choices, the matrix
file's types and the runner's checks all come from here."""
from __future__ import annotations

from typing import Any, Literal, get_args

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Template = Literal["base", "chat"]
BeyondCapacity = Literal["skip", "run", "error"]

DTYPES: tuple[str, ...] = get_args(Dtype)
CONCRETE_DTYPES: tuple[str, ...] = DTYPES[1:]       # what "auto" resolves to, and what a conversion writes
TEMPLATES: tuple[str, ...] = get_args(Template)
BEYOND_CAPACITY: tuple[str, ...] = get_args(BeyondCapacity)


def torch_dtype(name: str) -> Any:
    """The torch dtype of a concrete dtype name (torch is imported here, on use)."""
    import torch
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
