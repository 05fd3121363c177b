"""Where a model lives and what its config says, without loading any weights."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .types import EvalError

DEMO_MODEL = Path(__file__).parent / "demo_model"


def hub_offline() -> bool:
    """Whether the user switched the hub off (then data set loaders fail at once, with one line)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def resolve_model(model: str | None) -> str:
    """A local directory stays a path; anything else is taken as a hub id."""
    if model is None:
        if not (DEMO_MODEL / "config.json").exists():
            raise EvalError("the bundled demo model is missing: run scripts/train_demo_model.py or give --model")
        return str(DEMO_MODEL)
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise EvalError(f"model directory {model} has no config.json: give a Hugging Face model folder")
        return str(path.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise EvalError(f"model path {model} does not exist")
    return model


def load_model_config(model: str) -> dict:
    """config.json as a dict: read directly for local folders, through the hub otherwise."""
    local = Path(model) / "config.json"
    if local.is_file():
        try:
            return json.loads(local.read_text())
        except json.JSONDecodeError as e:
            raise EvalError(f"{local} is not valid JSON: {e}") from None
    try:
        from huggingface_hub import hf_hub_download
        return json.loads(Path(hf_hub_download(model, "config.json")).read_text())
    except Exception as e:   # the hub raises many types; the user needs one line
        raise EvalError(f"cannot fetch config.json of {model!r} from the hub ({type(e).__name__}): "
                        "give a local model directory or check the network") from None
