"""A fingerprint of every workload the offline suites build: one sha256 per (suite part, length).

It proves that a refactor left the workload bytes alone: run it before and after and compare
(`--check FILE` exits 1 on the first difference). Each entry hashes the cache key (task version,
parameters, tokenizer, length) and every request's header and token ids, in order, built directly
by the suite (no cache in between). `tests/workload/test_snapshot.py` checks the demo tokenizer's
entries against `tests/fixtures/workload_snapshot_demo.json`.

    python scripts/workload_snapshot.py -o before.json [--model PATH]
    python scripts/workload_snapshot.py --check before.json [--model PATH]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any

import numpy as np

from evalsuite.plugins import suite_classes
from evalsuite.suite import SuiteConfig
from evalsuite.workload import cache as workload
from evalsuite.workload.tokenization import Tokenizer

# (suite, tasks, options): everything that builds offline from shipped or generated data
SUITES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("passkey", ()),
    ("niah", ()),
    ("ruler", ("-qa_1", "-qa_2")),
    ("perplexity", ()),
)
LENGTHS = (512, 2048)


def snapshot(model: str | None, samples: int = 3) -> dict[str, str]:
    tok = Tokenizer.load(model or str(_demo()))
    out: dict[str, str] = {}
    classes = suite_classes()
    for name, tasks in SUITES:
        cls = classes[name]
        suite = cls(SuiteConfig(samples=samples, subtasks=tasks))
        suite.plan(LENGTHS)
        for n in LENGTHS:
            for part in suite.parts():
                key = workload.workload_key(part.name, part.version, part.cache_params(), tok.fingerprint, n)
                label = part.name + (":" + ",".join(part.selected) if len(suite.parts()) > 1 else "")
                out[f"{label}@{n}"] = _fingerprint(part, tok, n, key)
    return out


def _fingerprint(part: Any, tok: Tokenizer, n: int, key: str) -> str:
    """sha256 of the cache key and the requests; a part that cannot be built keeps its error."""
    h = hashlib.sha256(key.encode())
    try:
        requests = part.requests(tok, n)
    except Exception as e:        # noqa: BLE001 - a failure is part of the behaviour being pinned
        return f"error: {type(e).__name__}: {e}"
    for r in requests:
        h.update(json.dumps(r.header_json(), sort_keys=True, default=str).encode())
        h.update(np.asarray(r.prompt_ids, dtype=np.int32).tobytes())
    return h.hexdigest()


def _demo() -> Any:
    from pathlib import Path

    import evalsuite
    return Path(evalsuite.__file__).parent / "demo_model"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a model folder whose tokenizer builds the workloads (default: the demo model)")
    p.add_argument("-o", "--output", help="write the snapshot here (default: print it)")
    p.add_argument("--check", help="compare with a snapshot written before; exit 1 on a difference")
    args = p.parse_args()
    snap = snapshot(args.model)
    if args.check:
        before = json.loads(open(args.check).read())
        diff = sorted(k for k in before.keys() | snap.keys() if before.get(k) != snap.get(k))
        for k in diff:
            print(f"differs: {k}")
        print(f"{len(snap) - len(diff)} of {len(snap)} workloads identical")
        return 1 if diff else 0
    text = json.dumps(snap, indent=1, sort_keys=True)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
