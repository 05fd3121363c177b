"""On-disk cache of generated workloads, keyed by task version, settings, tokenizer and length.

A cached workload (one entry, `<root>/<key>/`) is one int32 array of all prompt ids,
`ids.npy` (memory-mapped on load, so a 128k-token grid reloads in well under a second),
one JSON line per request, `requests.jsonl`, and `manifest.json`: each file's size and
sha256, the number of requests and of ids. The manifest is written last, inside the build
directory, which is then renamed into place: a folder without a valid manifest is not an
entry. The ids are streamed to disk request by request (a 128k cell is hundreds of MB: no
second in-memory copy).

An entry verifies itself when it is used: the manifest, file sizes, the npy header and the
request lines' checksum always (cheap); the ids' sha256 the first time this process maps that
file (or every time with `verify=True`: `--verify-cache`). A damaged entry is
reported as one line through `on_damaged`, removed, and rebuilt; it is never used.

A build directory `.tmp-<pid>-<hex>` lives next to its lock file `.tmp-<pid>-<hex>.lock`,
flock-ed by the builder from before the directory exists until after it is gone; the next
`sweep_stale` removes every build directory whose lock can be taken (its builder is dead).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from evalsuite.types import EvalError, Payload, Request

IDS, LINES, MANIFEST = "ids.npy", "requests.jsonl", "manifest.json"
FORMAT = 1
RACY_NS = 2_000_000_000     # a file changed this close before it was hashed may change again unseen
OLD_TMP_S = 6 * 3600        # build directories of evalsuite versions without lock files: swept by age
_BUILD = re.compile(r"\.tmp-\d+-[0-9a-f]{16}")
_DISCARD_LOCK = ".discard.lock"


def _print_damaged(line: str) -> None:
    print(line, file=sys.stderr)


on_damaged: Callable[[str], None] = _print_damaged     # receives one line per damaged entry found
_verified: dict[str, tuple[int, int, int, int, str]] = {}   # ids.npy path -> stat + sha256 checked here




class DamagedEntry(EvalError):
    """A cache entry that is missing (`reason` None) or must not be used (`reason` says why)."""

    def __init__(self, folder: Path, reason: str | None) -> None:
        super().__init__(f"workload cache entry {folder} is {'missing' if reason is None else 'damaged'}"
                         + (f" ({reason})" if reason else ""))
        self.folder, self.reason = folder, reason


def cache_root() -> Path:
    return Path(os.environ.get("EVALSUITE_CACHE", Path.home() / ".cache" / "evalsuite")) / "workloads"


def workload_key(suite: str, version: int, params: dict, tokenizer_fp: str, length: int) -> str:
    blob = json.dumps([suite, version, params, tokenizer_fp, length], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_cached(key: str, root: Path | None = None) -> bool:
    """Whether a usable entry exists (manifest, sizes, header and request checksum; not the ids' hash)."""
    return problem((root or cache_root()) / key, verify=False) is None


def problem(folder: Path, verify: bool | None = None) -> str | None:
    """Why the entry in `folder` must not be used ("missing" if there is none), or None."""
    try:
        _checked(folder, verify)
    except DamagedEntry as e:
        return e.reason or "missing"
    return None


def usable(key: str, root: Path | None = None) -> bool:
    """`is_cached`, except that a damaged entry is reported and removed (so that it is rebuilt)."""
    folder = (root or cache_root()) / key
    before = _fingerprint(folder)
    try:
        _checked(folder, False)
    except DamagedEntry as e:
        _report_and_discard(e, before)
        return False
    return True


def load_or_build(key: str, build: Callable[[], list[Request]], root: Path | None = None,
                  payload_type: type[Payload] | None = None, verify: bool | None = None) -> list[Request]:
    """The cached requests, verified (`verify`: None = hash the ids once per process, True = always);
    a missing entry is built, a damaged one reported through `on_damaged`, removed and rebuilt."""
    folder = (root or cache_root()) / key
    before = _fingerprint(folder)
    try:
        return load(folder, payload_type, verify)   # memory-mapped: a cold run holds no prompt in RAM
    except DamagedEntry as e:
        _report_and_discard(e, before)
    save(folder, build())
    try:
        return load(folder, payload_type, verify)
    except DamagedEntry as e:
        raise EvalError(f"{e} right after it was built: a suite whose requests do not survive the cache, "
                        f"or another program writing into {folder.parent}") from None


def save(folder: Path, requests: Iterable[Request]) -> None:
    """Write one cache entry atomically (a locked build directory, manifest last, then rename)."""
    requests = list(requests)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _claim(folder.parent) as tmp:
            tmp.mkdir()
            _write(tmp, folder.name, requests)
            os.rename(tmp, folder)
    except OSError:
        if not is_cached(folder.name, folder.parent):   # else another process cached it first
            raise


def load(folder: Path, payload_type: type[Payload] | None = None, verify: bool | None = None) -> list[Request]:
    """The entry's requests, their ids memory-mapped; raises DamagedEntry rather than use a bad entry."""
    manifest, lines = _checked(folder, verify)
    total = manifest["ids"]
    ids: np.ndarray = (np.memmap(folder / IDS, dtype="<i4", mode="r", offset=len(_npy_header(total)),
                                 shape=(total,)) if total else np.zeros(0, dtype="<i4"))
    out: list[Request] = []
    offset = 0
    for i, line in enumerate(lines.splitlines(), 1):
        try:
            row = json.loads(line)
            n, header = row["n"], row["request"]
            if not isinstance(n, int) or n < 0 or not isinstance(header, dict):
                raise ValueError
            out.append(Request.from_header(header, ids[offset: offset + n], payload_type))
        except EvalError as e:
            raise DamagedEntry(folder, f"does not match its suite: {e}") from None
        except (ValueError, KeyError, TypeError):
            raise DamagedEntry(folder, f"line {i} of {LINES} is not a request") from None
        offset += n
    if offset != total:
        raise DamagedEntry(folder, f"its requests hold {offset} ids, {IDS} {total}")
    return out


def hash_ahead(folders: Iterable[Path], threads: int) -> None:
    """Hash the ids of entries not yet hashed in this process, `threads` at a time (hashing and
    reading release the GIL), so that loading them one by one finds them verified. Damage is
    left for loading to report."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(problem, folders))


def discard(folder: Path, fingerprint: tuple | None = None) -> bool:
    """Remove an entry atomically (renamed into a build directory, then deleted); with a
    `fingerprint`, only if the entry is still the one fingerprinted (not already replaced)."""
    root = folder.parent
    lock = open(root / _DISCARD_LOCK, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.is_dir() or fingerprint is not None and _fingerprint(folder) != fingerprint:
            return False
        with _claim(root) as tmp:
            os.rename(folder, tmp)
        return True
    finally:
        lock.close()


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove build directories whose builder is gone (their lock can be taken); returns them."""
    root = root or cache_root()
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in sorted(root.glob(".tmp-*")):
        name = path.name
        if name.endswith(".lock"):
            with _taken(path) as free:
                if free:
                    tmp = path.with_name(name[: -len(".lock")])
                    if tmp.exists():
                        shutil.rmtree(tmp, ignore_errors=True)
                        removed.append(tmp)
                    with contextlib.suppress(OSError):
                        path.unlink()
        elif _BUILD.fullmatch(name):
            if not path.with_name(name + ".lock").exists():   # its builder died after unlocking
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        elif _age_s(path) > OLD_TMP_S:                           # an older evalsuite's build directory
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for path in root.glob(".new-*"):                             # a lock file that was never named
        if _age_s(path) > 60:
            with _taken(path) as free:
                if free:
                    with contextlib.suppress(OSError):
                        path.unlink()
    return removed


def live_builds(root: Path | None = None) -> list[Path]:
    """Build directories whose builder still holds its lock."""
    root = root or cache_root()
    out = []
    for lock in sorted(root.glob(".tmp-*.lock")) if root.is_dir() else []:
        with _taken(lock) as free:
            if not free:
                out.append(lock.with_name(lock.name[: -len(".lock")]))
    return out


# -- writing ------------------------------------------------------------------------------------

def _write(tmp: Path, key: str, requests: list[Request]) -> None:
    lengths = [len(r.prompt_ids) for r in requests]
    head = _npy_header(sum(lengths))
    ids_hash = hashlib.sha256(head)
    with open(tmp / IDS, "wb") as f:
        f.write(head)
        for r in requests:
            chunk = np.ascontiguousarray(r.prompt_ids, dtype="<i4").data
            f.write(chunk)
            ids_hash.update(chunk)
        ids_size = f.tell()
    lines = "".join(json.dumps({"n": n, "request": r.header_json()}) + "\n"
                    for r, n in zip(requests, lengths)).encode("utf-8")
    (tmp / LINES).write_bytes(lines)
    manifest = {
        "format": FORMAT, "key": key, "requests": len(requests), "ids": sum(lengths),
        "suites": sorted({r.suite for r in requests}), "tasks": sorted({r.task for r in requests}),
        "lengths": sorted({r.length for r in requests}),
        "files": {IDS: {"size": ids_size, "sha256": ids_hash.hexdigest()},
                  LINES: {"size": len(lines), "sha256": hashlib.sha256(lines).hexdigest()}},
    }
    part = tmp / (MANIFEST + ".part")
    part.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(part, tmp / MANIFEST)                  # last: a build directory without it is unfinished


def _npy_header(total: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<i4", "fortran_order": False, "shape": (total,)})
    return buf.getvalue()


# -- checking -----------------------------------------------------------------------------------

def read_manifest(folder: Path) -> dict[str, Any]:
    """The entry's manifest, checked for shape (not against the files); raises DamagedEntry."""
    if not folder.is_dir():
        raise DamagedEntry(folder, None)
    try:
        m = json.loads((folder / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise DamagedEntry(folder, f"no {MANIFEST}: an unfinished entry, or one from an older evalsuite") from None
    except (OSError, ValueError) as e:
        raise DamagedEntry(folder, f"{MANIFEST} is unreadable: {e}") from None
    try:
        files = m["files"]
        ok = (m["format"] == FORMAT and all(isinstance(m[k], int) and m[k] >= 0 for k in ("requests", "ids"))
              and all(isinstance(files[f]["size"], int) and isinstance(files[f]["sha256"], str) for f in (IDS, LINES)))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise DamagedEntry(folder, f"{MANIFEST} is not an evalsuite format-{FORMAT} manifest")
    if m["key"] != folder.name:
        raise DamagedEntry(folder, f"it holds the entry {m['key']!r}")
    return m


def _checked(folder: Path, verify: bool | None) -> tuple[dict[str, Any], bytes]:
    """The manifest and request lines of an entry that passed the checks; raises DamagedEntry."""
    m = read_manifest(folder)
    files = m["files"]
    for name in (IDS, LINES):
        try:
            size = (folder / name).stat().st_size
        except FileNotFoundError:
            raise DamagedEntry(folder, f"{name} is missing") from None
        if size != files[name]["size"]:
            raise DamagedEntry(folder, f"{name} has {size} bytes, its manifest says {files[name]['size']}")
    lines = (folder / LINES).read_bytes()
    if hashlib.sha256(lines).hexdigest() != files[LINES]["sha256"]:
        raise DamagedEntry(folder, f"{LINES} does not match its sha256")
    if lines.count(b"\n") != m["requests"] or lines and not lines.endswith(b"\n"):
        raise DamagedEntry(folder, f"{LINES} does not hold {m['requests']} lines")
    head = _npy_header(m["ids"])
    if files[IDS]["size"] != len(head) + 4 * m["ids"]:
        raise DamagedEntry(folder, f"{IDS} cannot hold {m['ids']} ids in {files[IDS]['size']} bytes")
    with open(folder / IDS, "rb") as f:
        if f.read(len(head)) != head:
            raise DamagedEntry(folder, f"{IDS} does not start with the header of {m['ids']} int32 ids")
    if verify is not False:
        _verify_ids(folder, files[IDS]["sha256"], bool(verify))
    return m, lines


def _verify_ids(folder: Path, sha256: str, always: bool) -> None:
    path = folder / IDS
    st = path.stat()
    sig = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha256)
    where = os.path.abspath(path)
    if not always and _verified.get(where) == sig:
        return
    started = time.time_ns()
    h = hashlib.sha256()
    buf = bytearray(8 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    if h.hexdigest() != sha256:
        _verified.pop(where, None)
        raise DamagedEntry(folder, f"{IDS} does not match its sha256")
    # a change within one timestamp tick of the last one would leave the stat unchanged: not cached then
    if started - st.st_ctime_ns >= RACY_NS:
        _verified[where] = sig


def _fingerprint(folder: Path) -> tuple:
    """Which entry is in `folder` (inodes and times): to remove a damaged one only if it is still there."""
    def one(p: Path) -> tuple[int, int, int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
    return (one(folder), *(one(folder / name) for name in (IDS, LINES, MANIFEST)))


def _report_and_discard(e: DamagedEntry, fingerprint: tuple) -> None:
    if e.reason is None:
        return
    on_damaged(f"evalsuite: workload cache entry {e.folder.name} is damaged ({e.reason}); rebuilding")
    discard(e.folder, fingerprint)


# -- build directories ---------------------------------------------------------------------------

@contextlib.contextmanager
def _claim(root: Path) -> Iterator[Path]:
    """A fresh build directory name, its lock file held (and visible only once held) until it is gone."""
    fd, new = tempfile.mkstemp(prefix=".new-", dir=root)
    tmp = root / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    lock = tmp.with_name(tmp.name + ".lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(new, lock)
        new = ""
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(new or lock)
        os.close(fd)


@contextlib.contextmanager
def _taken(lock: Path) -> Iterator[bool]:
    """Whether the lock file's holder is gone (then it is held for the block)."""
    try:
        fd = os.open(lock, os.O_RDWR)             # never creates one that was just removed
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
