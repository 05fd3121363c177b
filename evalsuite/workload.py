"""On-disk cache of generated workloads, keyed by task version, settings, tokenizer and length.

A cached workload is one int32 array of all prompt ids (memory-mapped on load,
so a 128k-token grid reloads in milliseconds) plus one JSON line per request.
The ids are streamed to disk request by request (a 128k cell is hundreds of MB:
no second in-memory copy). Entries are written to a temporary directory and
renamed: a failed or killed build is never visible as a cache entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .types import EvalError, Payload, Request

STALE_TMP_S = 6 * 3600            # a build directory this old belongs to a killed process


def cache_root() -> Path:
    return Path(os.environ.get("EVALSUITE_CACHE", Path.home() / ".cache" / "evalsuite")) / "workloads"


def workload_key(suite: str, version: int, params: dict, tokenizer_fp: str, length: int) -> str:
    blob = json.dumps([suite, version, params, tokenizer_fp, length], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_cached(key: str, root: Path | None = None) -> bool:
    return ((root or cache_root()) / key / "requests.jsonl").exists()


def load_or_build(key: str, build: Callable[[], list[Request]], root: Path | None = None,
                  payload_type: type[Payload] | None = None) -> list[Request]:
    folder = (root or cache_root()) / key
    if not is_cached(key, root):
        save(folder, build())
    return load(folder, payload_type)           # memory-mapped: a cold run does not hold every prompt in RAM


def save(folder: Path, requests: Iterable[Request]) -> None:
    """Write one cache entry atomically (temporary directory, then rename)."""
    requests = list(requests)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        lengths = [len(r.prompt_ids) for r in requests]
        with open(tmp / "ids.npy", "wb") as f:
            header = {"descr": np.dtype("<i4").str, "fortran_order": False, "shape": (sum(lengths),)}
            np.lib.format.write_array_header_1_0(f, header)
            for r in requests:
                f.write(np.ascontiguousarray(r.prompt_ids, dtype="<i4").data)
        with open(tmp / "requests.jsonl", "w", encoding="utf-8") as f:
            for r, n in zip(requests, lengths):
                f.write(json.dumps({"n": n, "request": r.header_json()}) + "\n")
        os.rename(tmp, folder)
    except OSError:
        if not is_cached(folder.name, folder.parent):
            raise
    finally:                      # another process cached it first, or the build failed
        shutil.rmtree(tmp, ignore_errors=True)


def load(folder: Path, payload_type: type[Payload] | None = None) -> list[Request]:
    ids = np.load(folder / "ids.npy", mmap_mode="r")
    out, offset = [], 0
    with open(folder / "requests.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            try:
                out.append(Request.from_header(row["request"], ids[offset: offset + row["n"]], payload_type))
            except EvalError as e:
                raise EvalError(f"workload cache entry {folder} does not match its suite ({e}): "
                                f"delete that folder and rerun") from None
            offset += row["n"]
    return out


def sweep_stale(root: Path | None = None, age_s: float = STALE_TMP_S) -> None:
    """Remove build directories left behind by killed processes."""
    root = root or cache_root()
    if not root.is_dir():
        return
    now = time.time()
    for tmp in root.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > age_s:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass
