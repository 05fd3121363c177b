"""Build every missing workload cache cell before a run is served, in worker processes.

Generation is CPU-bound Python and numpy, so one process builds one part (a suite, or a
part of a suite, at one length) at a time. Parts of suites that allow it are spread over
forked workers: they inherit the loaded tokenizer and its memoized encodings (nothing is
pickled but a part number), each writes its own cache entry, and the caller then
memory-maps the entries. Longest parts go first so that the workers finish together.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from evalsuite.suite import Suite, SuiteBase
from evalsuite.types import EvalError
from evalsuite.workload import cache as workload
from evalsuite.workload.tokenization import Tokenizer


@dataclass(frozen=True)
class WorkloadPart:
    """One workload cache entry: a suite (or one part of it) at one length."""

    suite: Suite
    length: int
    key: str


def parts_for(suites: Sequence[SuiteBase], tok: Tokenizer, lengths: Sequence[int]) -> list[WorkloadPart]:
    """Cache entries in serving order: suite, length, then the suite's parts."""
    out = []
    for suite in suites:
        for n in lengths:
            for part in suite.parts():
                key = workload.workload_key(part.name, part.version, part.cache_params(), tok.fingerprint, n)
                out.append(WorkloadPart(part, n, key))
    return out


def default_workers() -> int:
    """The CPUs this process may run on (at most 8: generation is memory-bound beyond that)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


OnBuilt = Callable[[WorkloadPart, float], None]
_JOB: tuple[list[WorkloadPart], Tokenizer, Path | None] | None = None    # read by forked workers


def build_missing(parts: list[WorkloadPart], tok: Tokenizer, workers: int, root: Path | None = None,
                  on_built: OnBuilt | None = None, hash_ahead: bool = True) -> dict[str, float]:
    """Build the parts that are not cached yet, or whose entry is damaged (reported and removed
    first), then hash every part's ids in `workers` threads (so that loading them one by one
    finds them verified); returns the build seconds per built key."""
    workload.sweep_stale(root)                      # build directories of killed processes
    todo: dict[str, WorkloadPart] = {}
    for c in parts:
        if c.key not in todo and not workload.usable(c.key, root):
            todo[c.key] = c
    done = _build_todo(todo, tok, workers, root, on_built)
    folder = root or workload.cache_root()
    if hash_ahead:                                  # (not when every load hashes anyway: --verify-cache)
        workload.hash_ahead(dict.fromkeys(folder / c.key for c in parts), workers)
    return done


def _build_todo(todo: dict[str, WorkloadPart], tok: Tokenizer, workers: int, root: Path | None,
                on_built: OnBuilt | None) -> dict[str, float]:
    order = sorted(todo.values(), key=lambda c: -c.length)           # stable: longest first
    pooled = [c for c in order if c.suite.parallel_build]
    if workers <= 1 or len(pooled) <= 1 or "fork" not in mp.get_all_start_methods():
        pooled = []
    done: dict[str, float] = {}

    def record(cell: WorkloadPart, seconds: float) -> None:
        done[cell.key] = seconds
        if on_built:
            on_built(cell, seconds)

    if not pooled:
        for c in order:
            record(c, _build(c, tok, root))
        return done
    global _JOB
    _JOB = (pooled, tok, root)
    # Set explicitly so that forked children do not warn about it; each child then turns the
    # tokenizer's own thread pool off (a forked thread pool deadlocks) and uses its one core.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    pool = ProcessPoolExecutor(min(workers, len(pooled)), mp_context=mp.get_context("fork"),
                               initializer=_worker_init)
    try:
        futures = {pool.submit(_build_pooled, i): c for i, c in enumerate(pooled)}
        for c in order:
            if not c.suite.parallel_build:     # parts that must not run in parallel: here, meanwhile
                record(c, _build(c, tok, root))
        for fut in as_completed(futures):
            record(futures[fut], fut.result())
    except BrokenProcessPool:
        raise EvalError("a workload build worker died (out of memory?): retry with --workers 1") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _JOB = None
    return done


def _build(cell: WorkloadPart, tok: Tokenizer, root: Path | None) -> float:
    t = time.perf_counter()
    workload.save((root or workload.cache_root()) / cell.key, cell.suite.requests(tok, cell.length))
    return time.perf_counter() - t


def _worker_init() -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _build_pooled(i: int) -> float:
    assert _JOB is not None
    parts, tok, root = _JOB
    return _build(parts[i], tok, root)
