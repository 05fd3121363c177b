"""lm-eval `custom_dataset` loader: the task's JSON-lines files, named relative to this folder.

lm-eval's plain `dataset_path: json` resolves `data_files` against the working directory; the
tasks here ship inside the package, so this loader resolves them against its own folder and
then loads them exactly as `dataset_path: json` would (datasets' json builder).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def load(data_files: dict[str, str], **_metadata: Any) -> Any:
    import datasets
    files = {split: str(HERE / name) for split, name in data_files.items()}
    return datasets.load_dataset("json", data_files=files)
