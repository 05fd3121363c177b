"""Per-batch cost of `ResultStore.append` as a store grows: flat now, linear per batch before.

The old append re-read the whole records.jsonl on every batch to repair a torn tail, so N
batches cost O(N^2) (250 batches 4.6 s, 2,000 batches 169 s). The store now checks the tail
and loads its keys once, when it is opened for appending. This script appends N batches of
realistic records (a passkey-like sample: 24-hex key, identity fields, short output, one
reference, a few extras) to a fresh store and prints the mean cost per batch, for the
current store and, at the sizes where it is affordable, for the old algorithm (the same
write + flush + fsync per batch, preceded by a whole-file read), in the same run, so the
figures compare as ratios on one machine.

    .venv/bin/python benchmarks/store_append.py                 # 100, 1,000, 20,000 batches
    .venv/bin/python benchmarks/store_append.py --small         # CI: 20, 200 batches
    .venv/bin/python benchmarks/store_append.py --sizes 100,1000 --baseline-max 1000 --batch 8

fsync dominates a batch on most disks; --no-fsync measures the bookkeeping alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from evalsuite.run.store import RECORDS, ResultStore
from evalsuite.types import Record

_VALUES = {"model": "evalsuite/demo_model", "revision": "0" * 12, "label": None, "backend": "hf",
           "engine": "transformers 5.0", "dtype": "float32", "template": "none", "rope": "yarn:factor=4",
           "suite": "passkey", "task": "passkey", "length": 4096, "depth": 50.0, "seed": 0,
           "prompt_tokens": 4086, "output": " 31337. The pass key is 31337.", "score": 1.0, "seconds": 0.0412,
           "references": ("31337",), "extras": (("exact", 1.0), ("prefix", 1.0))}


def make_record(i: int, **overrides) -> Record:
    """A record shaped like a real one; fields this script does not know get a value of their type."""
    values = {}
    for f in dataclasses.fields(Record):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif f.name == "key":
            values[f.name] = f"{i:024x}"
        elif f.name == "index":
            values[f.name] = i
        elif f.name == "setting":
            values[f.name] = "9f2c" * 4
        elif f.name in _VALUES:
            values[f.name] = _VALUES[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            t = str(f.type)
            values[f.name] = "x" if "str" in t else 0 if "int" in t else 0.0 if "float" in t else None
    return Record(**values)


class OldStore(ResultStore):
    """The previous algorithm: every append reads the whole file to repair a torn tail."""

    def append(self, records) -> None:
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with open(self.path, "rb+") as f:
                data = f.read()
                if data and not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def per_batch_ms(cls, n_batches: int, batch: int, folder: Path) -> float:
    """Mean wall time of one append over n_batches appends to a fresh store (open included)."""
    recs = [make_record(i) for i in range(n_batches * batch)]
    store = cls(folder)
    start = time.perf_counter()
    for b in range(n_batches):
        store.append(recs[b * batch:(b + 1) * batch])
    seconds = time.perf_counter() - start
    lines = (folder / RECORDS).read_bytes().count(b"\n")
    assert lines == n_batches * batch, (lines, n_batches * batch)
    return 1000 * seconds / n_batches


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,20000", help="numbers of batches, comma-separated")
    ap.add_argument("--baseline-max", type=int, default=1000, help="largest size the old algorithm runs at")
    ap.add_argument("--batch", type=int, default=8, help="records per batch")
    ap.add_argument("--small", action="store_true", help="CI size: --sizes 20,200 --baseline-max 200")
    ap.add_argument("--no-fsync", action="store_true", help="measure without the fsync (bookkeeping only)")
    args = ap.parse_args(argv)
    if args.small:
        args.sizes, args.baseline_max = "20,200", 200
    sizes = [int(x) for x in args.sizes.split(",")]
    fsync = mock.patch("os.fsync") if args.no_fsync else mock.patch("os.fsync", os.fsync)
    print(f"ResultStore.append: {args.batch} records per batch, "
          f"{len(json.dumps(make_record(0).to_json())) + 1} bytes per record, fsync {'off' if args.no_fsync else 'on'}")
    print(f"{'batches':>8} {'new ms/batch':>13} {'old ms/batch':>13} {'old/new':>8}")
    new_cost = {}
    with tempfile.TemporaryDirectory() as tmp, fsync:
        for n in sizes:
            new_cost[n] = per_batch_ms(ResultStore, n, args.batch, Path(tmp) / f"new-{n}")
            old = per_batch_ms(OldStore, n, args.batch, Path(tmp) / f"old-{n}") if n <= args.baseline_max else None
            old_s = f"{old:13.3f}" if old is not None else f"{'(skipped)':>13}"
            ratio = f"{old / new_cost[n]:8.2f}" if old is not None else f"{'':>8}"
            print(f"{n:>8} {new_cost[n]:13.3f} {old_s} {ratio}", flush=True)
    first, last = sizes[0], sizes[-1]
    print(f"new per-batch cost ratio {last}/{first} batches: {new_cost[last] / new_cost[first]:.2f} (flat is ~1)")


if __name__ == "__main__":
    main()
