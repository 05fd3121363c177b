"""The run directory: its single-writer lock, run.json and timings.jsonl.

One `--out` takes one writer at a time; several commands may write into it one after another
(run.json lists each of them). Nothing here is written before the input has been checked.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence

from evalsuite.rope import RopeSpec
from evalsuite.run.identity import RunIdentity
from evalsuite.run.store import write_atomic
from evalsuite.suite import SuiteBase
from evalsuite.types import EvalError

TIMINGS = "timings.jsonl"
RUNS = Path("runs")
# what a run directory holds besides reports (config.toml copies too): never an output of another command
RUN_FILES = ("records.jsonl", "summary.csv", "run.json", TIMINGS, "engine.log", ".lock")


def owned_by_run(path: Path) -> bool:
    """A file a run directory keeps (its store, summary, settings, logs, matrix copy)."""
    return (path.parent / "records.jsonl").is_file() and (
        path.name in RUN_FILES or (path.name.startswith("config") and path.suffix == ".toml"))


def redact(arg: str) -> str:
    """A command-line word with any URL's credentials (user:password@) masked, as run.json keeps it."""
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@", r"\1***@", arg)


def default_dir(*parts: str, what: Any = None) -> Path:
    """The default `--out` of every command: runs/<parts>-<8 hex digits of `what`>. The same request
    gives the same folder, so rerunning a command resumes it. Parts are display text (labels, model
    names): each becomes a safe folder-name piece, so no label can name a path outside runs/."""
    name = "-".join(_slug(p) for p in parts)
    if what is not None:
        data = what if isinstance(what, bytes) else json.dumps(what, default=str).encode()
        name += "-" + hashlib.sha256(data).hexdigest()[:8]
    return RUNS / name


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=,-]+", "_", text).strip("._") or "_"


def keep_copy(path: Path, out: Path) -> Path:
    """Copy a matrix file into the run directory (config.toml; another file beside it gets its hash)."""
    out.mkdir(parents=True, exist_ok=True)
    dest = out / "config.toml"
    if dest.exists() and dest.read_bytes() != path.read_bytes():
        dest = out / f"config-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.toml"
    shutil.copyfile(path, dest)
    return dest


@dataclass
class OutLock:
    """The run directory, locked for this run (one --out takes one writer at a time). If the
    run fails before it stored anything, `abandon` removes what the lock itself created."""

    run_dir: Path
    handle: IO[str]
    created: bool

    @classmethod
    def take(cls, run_dir: Path) -> OutLock:
        created = not run_dir.exists()
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            handle = open(run_dir / ".lock", "w")
        except OSError as e:
            raise EvalError(f"cannot write to --out {run_dir}: {e.strerror or e}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise EvalError(f"another evalsuite run is writing to {run_dir}: one --out takes one writer at a "
                            "time; wait for it or use another --out") from None
        return cls(run_dir, handle, created)

    def release(self) -> None:
        self.handle.close()

    def abandon(self) -> None:
        """Undo the lock's own traces (used when the input failed before anything was stored)."""
        self.release()
        if self.created:
            with contextlib.suppress(OSError):
                (self.run_dir / ".lock").unlink()
                self.run_dir.rmdir()


def append_timing(out: Path, ident: RunIdentity, init_s: float, engine_loads: list[tuple[str, float]],
                   samples: int, per_sample: float) -> None:
    """Engine load time, apart from per-sample time (vLLM loads its engines lazily)."""
    row = {"setting": ident.key, "rope": ident.rope, "backend_init_s": round(init_s, 3),
           "engine_loads": [[what, round(s, 3)] for what, s in engine_loads], "samples": samples,
           "seconds_per_sample": round(per_sample, 6)}
    with open(out / TIMINGS, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def write_run_json(out: Path, idents: list[RunIdentity], lengths: Sequence[int], suites: Sequence[SuiteBase],
                   ropes: Sequence[RopeSpec]) -> None:
    """The latest run's settings (each identity with its whole RoPE setting, factor arrays included),
    plus every distinct command that wrote into this directory (several commands may share one
    --out, one after another; the report lists them all)."""
    path = out / "run.json"
    try:
        previous = json.loads(path.read_text())
        commands = previous.get("commands", []) if isinstance(previous, dict) else []
    except (OSError, ValueError):
        commands = []
    argv = [redact(a) for a in sys.argv[1:]]
    if argv not in commands:
        commands.append(argv)
    info = {"identities": [{**i.to_json(), "rope_setting": r.to_json()} for i, r in zip(idents, ropes)],
            "lengths": list(lengths),
            "suites": [{"name": s.name, "tasks": list(s.selected), "config": s.cfg.__dict__,
                        "options": s.opts.__dict__} for s in suites],
            "argv": argv, "commands": commands}
    write_atomic(path, json.dumps(info, indent=2, default=list))
