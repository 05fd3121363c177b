"""LongBench v1 / LongBench-E data: the released jsonl files, locally or from the hub.

Reference: THUDM/LongBench `LongBench/README.md` ("Data Format": fields input, context, answers,
length, dataset, language, all_classes, _id; "download the folder from
huggingface.co/datasets/THUDM/LongBench/resolve/main/data.zip"), `LongBench/pred.py`
(`load_dataset('THUDM/LongBench', dataset)` and `f"{dataset}_e"` for LongBench-E).

The hub data set `THUDM/LongBench` is a loading script, which `datasets` >= 4 no longer runs; the
same repository ships the released files as `data.zip` (data/{dataset}.jsonl, data/{dataset}_e.jsonl),
which is what the script itself reads. Sources, in this order:
  --data-dir DIR   DIR/{name}.jsonl (or DIR/data/{name}.jsonl, an unpacked data.zip), offline;
  the hub          data.zip of THUDM/LongBench through huggingface_hub (cached once), the member
                   file read by `datasets`' json builder.
Samples keep the file's order; each is checked for the released fields.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from evalsuite.models.resolve import hub_cache_only
from evalsuite.types import EvalError

HUB_REPO = "THUDM/LongBench"
HUB_ARCHIVE = "data.zip"
FIELDS = ("input", "context", "answers", "length", "dataset", "language", "all_classes", "_id")


@dataclass(frozen=True)
class Sample:
    input: str
    context: str
    answers: tuple[str, ...]
    length: int                         # words (English, code) or characters (Chinese) of the sample
    dataset: str
    language: str
    all_classes: tuple[str, ...] | None
    id: str


def file_name(dataset: str, e: bool) -> str:
    return f"{dataset}_e.jsonl" if e else f"{dataset}.jsonl"


def _local_file(data_dir: str, name: str) -> Path:
    root = Path(data_dir)
    if not root.is_dir():
        raise EvalError(f"--data-dir {data_dir} is not a directory: give the folder of the released "
                        "LongBench jsonl files (data.zip of THUDM/LongBench, unpacked)")
    for candidate in (root / name, root / "data" / name):
        if candidate.is_file():
            return candidate
    raise EvalError(f"LongBench file {name} is not in --data-dir {data_dir} (nor in {data_dir}/data): "
                    "put the released jsonl files there (data.zip of THUDM/LongBench, unpacked)")


def sample_from_row(row: dict, where: str) -> Sample:
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise EvalError(f"{where}: missing LongBench field(s) {missing}; a released sample has {list(FIELDS)}")
    answers, classes = row["answers"], row["all_classes"]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise EvalError(f"{where}: `answers` must be a list of strings, got {answers!r:.80}")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise EvalError(f"{where}: `all_classes` must be null or a list of strings, got {classes!r:.80}")
    if not isinstance(row["length"], int) or isinstance(row["length"], bool) or row["length"] < 0:
        raise EvalError(f"{where}: `length` must be a whole number >= 0, got {row['length']!r:.40}")
    for f in ("input", "context"):
        if not isinstance(row[f], str):
            raise EvalError(f"{where}: `{f}` must be a string, got {type(row[f]).__name__}")
    return Sample(row["input"], row["context"], tuple(answers), row["length"], str(row["dataset"]),
                  str(row["language"]), tuple(classes) if classes is not None else None, str(row["_id"]))


def json_objects(path: Path):
    """(line number, object) for each non-empty line of a JSON-lines file; bad lines are one-line errors."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise EvalError(f"{path}:{n}: not UTF-8 text (byte 0x{raw[e.start]:02x}): "
                                "is it a JSON-lines file?") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise EvalError(f"{path}:{n}: not a JSON line ({e.msg})") from None
            if not isinstance(row, dict):
                raise EvalError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            yield n, row


def read_jsonl(path: Path) -> list[Sample]:
    out = [sample_from_row(row, f"{path}:{n}") for n, row in json_objects(path)]
    if not out:
        raise EvalError(f"LongBench file {path} holds no samples")
    return out


def _download_archive() -> Path:
    """data.zip of the hub repository (huggingface_hub caches it; downloaded once)."""
    from huggingface_hub import hf_hub_download
    return Path(hf_hub_download(repo_id=HUB_REPO, filename=HUB_ARCHIVE, repo_type="dataset"))


def _extract(archive: Path, name: str) -> Path:
    """The member data/{name} of the archive, unpacked once next to the workload cache."""
    from evalsuite.workload.cache import cache_root
    stamp = hashlib.sha256(f"{archive.resolve()}|{archive.stat().st_size}".encode()).hexdigest()[:12]
    target = cache_root().parent / "longbench" / stamp / name
    if not target.is_file():
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.namelist() if m.rsplit("/", 1)[-1] == name]
            if not members:
                raise EvalError(f"{archive} holds no {name}: is it the LongBench data.zip?")
            target.parent.mkdir(parents=True, exist_ok=True)
            # a name of this process's own: two runs unpacking at once must not share a file
            tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
            try:
                tmp.write_bytes(z.read(members[0]))
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
    return target


def _hub_samples(name: str) -> list[Sample]:
    offline = hub_cache_only()       # switched off or unreachable: the hub cache alone, failing at once
    try:
        import datasets
    except ImportError:
        raise EvalError("LongBench from the hub needs the `datasets` package: pip install datasets, "
                        "or pass --data-dir with the released jsonl files") from None
    datasets.disable_progress_bars()
    try:
        path = _extract(_download_archive(), name)
        ds = datasets.load_dataset("json", data_files=str(path), split="train")
    except EvalError:
        raise
    except Exception as e:      # hub and datasets raise many types; the user needs one line
        if offline:
            raise EvalError(f"LongBench needs {name} from the hub ({HUB_REPO}/{HUB_ARCHIVE}), which is not in the "
                            f"local cache, and {offline}: pass --data-dir DIR holding the released jsonl files "
                            "(data.zip of THUDM/LongBench)") from None
        first = str(e).splitlines()[0] if str(e) else ""
        raise EvalError(f"cannot load LongBench {name} from the hub ({HUB_REPO}/{HUB_ARCHIVE}, "
                        f"{type(e).__name__}: {first[:160]}): check the network or pass --data-dir") from None
    return [sample_from_row(row, f"{HUB_REPO}:{name}:{i + 1}") for i, row in enumerate(ds)]


def load(dataset: str, e: bool, data_dir: str | None) -> list[Sample]:
    """All samples of one data set (LongBench-E: its _e file), in file order."""
    return _load(file_name(dataset, e), data_dir)


@lru_cache(maxsize=32)
def _load(name: str, data_dir: str | None) -> list[Sample]:
    return read_jsonl(_local_file(data_dir, name)) if data_dir else _hub_samples(name)


def fingerprint(datasets_: tuple[str, ...], e: bool, data_dir: str | None) -> dict:
    """What, about the data, a cached workload depends on (local files: size and mtime)."""
    if not data_dir:
        return {"hub": f"{HUB_REPO}/{HUB_ARCHIVE}"}
    stamp: list[tuple[object, ...]] = []
    for ds in datasets_:
        try:
            p = _local_file(data_dir, file_name(ds, e))
        except EvalError:
            stamp.append((ds, None))      # reported when the workload is built
            continue
        stamp.append((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns))
    return {"files": hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]}
