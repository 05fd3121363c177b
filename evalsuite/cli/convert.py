"""`evalsuite convert FILE.gguf OUT/`: a GGUF checkpoint as a plain safetensors model folder."""
from __future__ import annotations

from typing import Any

from evalsuite.models.gguf import CONVERT_DTYPES, convert


def add_parser(sub: Any) -> None:
    c = sub.add_parser("convert", help="write a GGUF checkpoint as a plain safetensors model folder with its tokenizer")
    c.add_argument("gguf", help="the .gguf file")
    c.add_argument("out", help="a new or empty folder")
    c.add_argument("--dtype", choices=list(CONVERT_DTYPES), default="float32", help="default: float32")


def run(args: Any) -> int:
    out = convert(args.gguf, args.out, args.dtype)
    print(f"wrote {out} ({args.dtype} safetensors, config and tokenizer)")
    return 0
