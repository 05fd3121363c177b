"""Append-only, resumable per-run result store (one JSON line per finished sample).

Each batch is written with one `write` + flush + fsync, so a SIGKILL loses at most
the batch in flight; a torn last line (killed mid-write) is cut off when the store
is opened for appending, and records are keyed by content hash: a key already in
the store is never appended again, and `records()` drops duplicates on read.

Opening (`open()`, or implicitly on the first `append`) checks the tail and loads
the known keys once, so appending N batches costs O(N) in total, not O(N^2).
The store assumes one writer per run directory (one process appending).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from evalsuite.types import EvalError, Record

RECORDS = "records.jsonl"
_TAIL_CHUNK = 1 << 16


def _cut_torn_tail(path: Path) -> None:
    """Truncate after the last newline if the file does not end with one (reads only the tail)."""
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        pos = end
        while pos > 0:
            start = max(0, pos - _TAIL_CHUNK)
            f.seek(start)
            nl = f.read(pos - start).rfind(b"\n")
            if nl >= 0:
                f.truncate(start + nl + 1)
                return
            pos = start
        f.truncate(0)


class ResultStore:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RECORDS
        self._keys: set[str] | None = None     # keys in the store, loaded once
        self._tail_checked = False

    def open(self) -> ResultStore:
        """Prepare for appending: cut a torn tail and load the known keys (once per instance)."""
        if not self._tail_checked:
            if self.path.exists():
                _cut_torn_tail(self.path)
            self._tail_checked = True
        if self._keys is None:
            self._keys = {r.key for r in self.records()}
        return self

    def records(self) -> list[Record]:
        if not self.path.exists():
            return []
        out, seen = [], set()
        with open(self.path, "rb") as f:
            for n, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break                      # torn tail: never trusted
                where = f"{self.path}:{n}"
                try:
                    rec = Record.from_json(json.loads(raw.decode("utf-8")), where)
                except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as e:
                    raise EvalError(f"{where} is not a valid record ({type(e).__name__}: {str(e)[:120]}); "
                                    "the store is damaged: move it aside and rerun") from None
                if rec.key not in seen:
                    seen.add(rec.key)
                    out.append(rec)
        return out

    def completed(self) -> set[str]:
        """Keys of the finished samples (read once; later appends keep the set current)."""
        if self._keys is None:
            self._keys = {r.key for r in self.records()}
        return set(self._keys)

    def append(self, records: Iterable[Record]) -> None:
        """Persist one batch; records whose key is already stored (or repeated in the batch) are skipped."""
        self.open()
        assert self._keys is not None
        new: dict[str, Record] = {}
        for r in records:
            if r.key not in self._keys and r.key not in new:
                new[r.key] = r
        if not new:
            return
        data = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in new.values()).encode("utf-8")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab", buffering=0) as f:
            start = f.seek(0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:                    # one write call unless the kernel takes less
                    view = view[f.write(view):]
                os.fsync(f.fileno())
            except BaseException as e:
                try:                           # a failed write (disk full) must not leave a torn line behind
                    os.ftruncate(f.fileno(), start)
                except OSError:
                    pass
                if isinstance(e, OSError):
                    raise EvalError(f"cannot append to {self.path}: {e.strerror or e}; the records stored "
                                    "so far are intact: free space and rerun the same command to resume") from None
                raise
        self._keys.update(new)


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file so that readers see the old or the new version, never half; a failed
    write (disk full, read-only place) is one line naming the path, with no temporary file left."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise EvalError(f"cannot write {path}: {e.strerror or e}") from None
