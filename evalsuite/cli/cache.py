"""`evalsuite cache info|verify|clear`: the workload cache ($EVALSUITE_CACHE/workloads) for users.

`info` lists what the entries hold (from their manifests) and flags entries that fail the cheap
checks; `verify` checks every file of every entry against its sha256 (exit 1 if any is
damaged; a damaged entry is rebuilt by the next run that needs it); `clear` removes every
entry and every abandoned build directory (builds in progress are left alone).
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from evalsuite.config.lengths import format_length
from evalsuite.workload import cache as workload

Log = Callable[[str], None]


def entries(root: Path) -> list[Path]:
    """The entry folders (built or damaged); build directories and lock files start with a dot."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def cache_info(root: Path | None = None) -> str:
    """What the cache holds, per suite and task: entries, requests, lengths and size."""
    root = root or workload.cache_root()
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"entries": 0, "requests": 0,
                                                                          "bytes": 0, "lengths": set()})
    damaged: list[str] = []
    total = 0
    for folder in entries(root):
        size = _size(folder)
        total += size
        reason = workload.problem(folder, verify=False)
        if reason is not None:
            damaged.append(f"  {folder.name}: damaged ({reason})")
            continue
        m = workload.read_manifest(folder)
        g = groups[(",".join(m["suites"]), ",".join(m["tasks"]))]
        g["entries"] += 1
        g["requests"] += m["requests"]
        g["bytes"] += size
        g["lengths"].update(m["lengths"])
    live = workload.live_builds(root)
    dead = [p for p in root.glob(".tmp-*") if p.is_dir() and p not in live] if root.is_dir() else []
    lines = [f"workload cache {root}: {sum(g['entries'] for g in groups.values())} entries, "
             f"{len(damaged)} damaged, {_mib(total)}"]
    for (suite, task), g in sorted(groups.items()):
        lengths = ",".join(format_length(n) for n in sorted(g["lengths"]))
        lines.append(f"  {suite}/{task}: {g['entries']} entries, {g['requests']} requests, lengths {lengths}, "
                     f"{_mib(g['bytes'])}")
    lines += damaged
    if live or dead:
        lines.append(f"  build directories: {len(live)} in progress, {len(dead)} abandoned "
                     f"({_mib(sum(_size(p) for p in dead))}; removed by the next run or `evalsuite cache clear`)")
    if damaged:
        lines.append("  (damaged entries are rebuilt by the next run that needs them; checksums of the ids are "
                     "checked by `evalsuite cache verify`)")
    return "\n".join(lines)


def cache_verify(root: Path | None = None, log: Log = print) -> tuple[int, list[tuple[str, str]]]:
    """Check every entry against its manifest, sha256 of every file included; one line per
    damaged entry. Returns (entries that passed, [(key, reason)] of the damaged ones)."""
    root = root or workload.cache_root()
    ok, damaged = 0, []
    for folder in entries(root):
        reason = workload.problem(folder, verify=True)
        if reason is None:
            ok += 1
        else:
            damaged.append((folder.name, reason))
            log(f"evalsuite: workload cache entry {folder.name} is damaged ({reason})")
    log(f"{ok} workload cache entries verified, {len(damaged)} damaged"
        + (" (the next run that needs them rebuilds them)" if damaged else ""))
    return ok, damaged


def cache_clear(root: Path | None = None, log: Log = print) -> int:
    """Remove every entry and every abandoned build directory; returns the bytes freed."""
    root = root or workload.cache_root()
    removed = freed = 0
    for folder in entries(root):
        size = _size(folder)
        if workload.discard(folder):
            removed += 1
            freed += size
    sizes = {p: _size(p) for p in root.glob(".tmp-*")} if root.is_dir() else {}
    swept = workload.sweep_stale(root)
    freed += sum(sizes.get(p, 0) for p in swept)
    live = workload.live_builds(root)
    log(f"removed {removed} workload cache entries and {len(swept)} abandoned build directories from {root}: "
        f"{_mib(freed)} freed" + (f"; {len(live)} builds in progress left alone" if live else ""))
    return freed


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`evalsuite cache info|verify|clear`, for `build_parser`'s subparsers."""
    p = subparsers.add_parser("cache", help="show, verify or clear the workload cache",
                              description=f"The workload cache: {workload.cache_root()} "
                                          "(set EVALSUITE_CACHE to move it).")
    sub = p.add_subparsers(dest="cache_command", required=True)
    sub.add_parser("info", help="what the cache holds, per suite and task")
    sub.add_parser("verify", help="check every entry's files against their sha256 (exit 1 if any is damaged)")
    sub.add_parser("clear", help="remove every entry and abandoned build directory")
    return p


def run(args: argparse.Namespace) -> int:
    root = workload.cache_root()
    if args.cache_command == "info":
        print(cache_info(root))
        return 0
    if args.cache_command == "verify":
        return 1 if cache_verify(root)[1] else 0
    cache_clear(root)
    return 0

