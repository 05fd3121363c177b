"""Where a model lives and what its config says, without loading any weights."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from evalsuite.types import EvalError

DEMO_MODEL = Path(__file__).parents[1] / "demo_model"


def hub_offline() -> bool:
    """Whether the user switched the hub off (then data set loaders fail at once, with one line)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def resolve_model(model: str | None) -> str:
    """A local directory stays a path, a GGUF checkpoint becomes its file's path (evalsuite.models.gguf);
    anything else is taken as a hub id."""
    if model is None:
        if not (DEMO_MODEL / "config.json").exists():
            raise EvalError("the bundled demo model is missing: run scripts/train_demo_model.py or give --model")
        return str(DEMO_MODEL)
    path = Path(model).expanduser()
    if path.exists():
        from evalsuite.models.gguf import find_in
        gguf = find_in(path)              # FILE.gguf, or a folder with one .gguf and no config.json
        if gguf is not None:
            return str(gguf.resolve())
        if not path.is_dir():
            raise EvalError(f"model {model} is a file: give a Hugging Face model folder or a .gguf file")
        if not (path / "config.json").is_file():
            raise EvalError(f"model directory {model} has no config.json: give a Hugging Face model folder "
                            "(or a folder holding one .gguf file)")
        return str(path.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") > 1 or model.lower().endswith(".gguf"):
        raise EvalError(f"model path {model} does not exist")
    return model


def load_model_config(model: str) -> dict:
    """config.json as a dict: read directly for local folders, from the file's metadata for a
    GGUF file (evalsuite.models.gguf), through the hub otherwise."""
    from evalsuite.models.gguf import is_gguf, load_config
    if is_gguf(model):
        return load_config(model)
    local = Path(model) / "config.json"
    if local.is_file():
        try:
            cfg = json.loads(local.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EvalError(f"{local} is not valid JSON: {e}") from None
        if not isinstance(cfg, dict):
            raise EvalError(f"{local} is not a model config: it holds a JSON {type(cfg).__name__}, not an object")
        return cfg
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import logging as hub_logging
    hub_logging.set_verbosity_error()                 # its retry warnings would break the one-line rule
    try:                                              # the local hub cache first: no network needed
        return json.loads(Path(hf_hub_download(model, "config.json", local_files_only=True)).read_text())
    except Exception:  # noqa: S110 - not cached: ask the hub below
        pass
    if hub_offline():
        raise EvalError(f"{model!r} is not a local folder and not in the hub cache, and the hub is switched off "
                        "(HF_HUB_OFFLINE): give a local model directory")
    unreachable = hub_unreachable()
    if unreachable:
        raise EvalError(f"{model!r} is not a local folder and the hub cannot be reached ({unreachable}): "
                        "give a local model directory or check the network")
    try:
        return json.loads(Path(hf_hub_download(model, "config.json")).read_text())
    except Exception as e:   # the hub raises many types; the user needs one line
        raise EvalError(f"cannot fetch config.json of {model!r} from the hub ({type(e).__name__}): "
                        "check the model id, or give a local model directory") from None


def hub_cache_only() -> str | None:
    """Before a hub data set is loaded: when the hub is switched off or cannot be reached, say why
    and make the loaders use their local cache alone, so that a missing data set fails at once
    instead of after half a minute of retries."""
    if hub_offline():
        return "the hub is offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)"
    reason = hub_unreachable()
    if reason:
        os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
        return f"the hub is offline (it cannot be reached: {reason})"
    return None


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (None when it can): one quick connection instead of the
    hub client's retries with back-off, which take half a minute to fail without a network."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout).close()
    except OSError as e:
        return str(e.strerror or e)
    return None


WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")


def check_weights(model: str) -> None:
    """A local folder must hold weight files that are not obviously damaged, checked before
    anything is written: an empty or truncated safetensors file fails here in one line, not
    deep inside an engine after the run directory was created."""
    folder = Path(model)
    if folder.is_file():                         # a GGUF file: its magic bytes were checked by resolve_model
        if folder.stat().st_size == 0:
            raise EvalError(f"weight file {folder} is empty")
        return
    if not folder.is_dir():
        return                                   # a hub id: the hub's files are checked by their loader
    files = sorted(f for pattern in WEIGHT_GLOBS for f in folder.glob(pattern) if f.is_file())
    if not files:
        raise EvalError(f"model folder {model} holds no weight files (*.safetensors, *.bin, *.gguf)")
    for f in files:
        if f.suffix == ".safetensors":
            _check_safetensors(f)
        elif f.stat().st_size == 0:
            raise EvalError(f"weight file {f} is empty")


def _check_safetensors(path: Path) -> None:
    """The safetensors layout: an 8-byte header length, a JSON header, then the tensor data."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n <= 0 or 8 + n > size:
            raise EvalError(f"weight file {path} is not a complete safetensors file ({size} bytes)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            header = None
    if not isinstance(header, dict):
        raise EvalError(f"weight file {path} has a damaged safetensors header")
    ends = [int(t["data_offsets"][1]) for k, t in header.items()
            if k != "__metadata__" and isinstance(t, dict) and "data_offsets" in t]
    if 8 + n + max(ends, default=0) > size:
        raise EvalError(f"weight file {path} is truncated: its header describes "
                        f"{8 + n + max(ends)} bytes, the file has {size}")
