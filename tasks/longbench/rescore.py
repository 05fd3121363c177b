"""`evalsuite score`: rescore LongBench prediction files the way the reference's eval.py does.

Reference: THUDM/LongBench `LongBench/eval.py`. Input: a folder such as pred/<model>/ (or one
file) of `<dataset>.jsonl` files, one JSON object per line with "pred", "answers", "all_classes"
and, for LongBench-E (`--e`), "length" (the format pred.py writes). The data set is the file name up
to its first "." (as eval.py takes it); files not ending in "jsonl" (result.json) are skipped.
Output: {dataset: score} (LongBench-E: {dataset: {"0-4k": s, "4-8k": s, "8k+": s}}), scores x100
rounded to 2 decimals, as eval.py writes result.json. Differences: files are visited in sorted order;
a bucket without samples is null (eval.py writes NaN); any malformed input is a one-line error.
The metrics are those of the longbench suite (metrics.py). The longbench suite adds this
subcommand to the CLI (`Suite.commands`); the core knows nothing of it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evalsuite.suite import Command
from evalsuite.types import EvalError

from .data import json_objects
from .metrics import METRIC, score_sample
from .prompts import E_BUCKETS, bucket


def _files(path: Path) -> list[Path]:
    if path.is_file():
        if not path.name.endswith("jsonl"):
            raise EvalError(f"{path} is not a .jsonl prediction file: give pred/<model>/ or one <dataset>.jsonl")
        return [path]
    if not path.is_dir():
        raise EvalError(f"{path} does not exist: give a folder of <dataset>.jsonl prediction files or one file")
    files = sorted(f for f in path.iterdir() if f.is_file() and f.name.endswith("jsonl"))
    if not files:
        raise EvalError(f"{path} holds no .jsonl prediction files (named <dataset>.jsonl, as pred.py writes them)")
    return files


def _rows(path: Path, need_length: bool) -> list[dict]:
    rows = []
    for n, row in json_objects(path):
        fields = ("pred", "answers", "all_classes") + (("length",) if need_length else ())
        missing = [k for k in fields if k not in row]
        if missing:
            raise EvalError(f"{path}:{n}: missing field(s) {missing}" +
                            (" (--e needs the length of each sample)" if "length" in missing else ""))
        if not isinstance(row["pred"], str) or not isinstance(row["answers"], list) \
                or not all(isinstance(a, str) for a in row["answers"]):
            raise EvalError(f"{path}:{n}: pred must be a string and answers a list of strings")
        if need_length and (not isinstance(row["length"], int) or isinstance(row["length"], bool)
                            or row["length"] < 0):
            raise EvalError(f"{path}:{n}: length must be a whole number >= 0, got {row['length']!r:.40}")
        classes = row["all_classes"]
        if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
            raise EvalError(f"{path}:{n}: all_classes must be null or a list of strings, got {classes!r:.60}")
        rows.append(row)
    if not rows:
        raise EvalError(f"{path} holds no predictions")
    return rows


def rescore(path: Path, e: bool = False) -> dict:
    """Per-data-set scores of the prediction files under path (eval.py's result.json)."""
    out: dict = {}
    for f in _files(Path(path)):
        dataset = f.name.split(".")[0]
        if dataset not in METRIC:
            raise EvalError(f"{f}: {dataset!r} is not a LongBench data set; name files <dataset>.jsonl "
                            f"with one of {', '.join(METRIC)}")
        rows = _rows(f, e)
        try:
            scores = [score_sample(dataset, r["pred"], r["answers"], r["all_classes"]) for r in rows]
        except EvalError as err:
            raise EvalError(f"{f}: {err}") from None
        if not e:
            out[dataset] = round(100 * sum(scores) / len(scores), 2)
            continue
        by_bucket: dict[str, list[float]] = {b: [] for b in E_BUCKETS}
        for r, s in zip(rows, scores):
            by_bucket[bucket(r["length"])].append(s)
        # eval.py scorer_e: round(100 * np.mean(scores), 2) per bucket
        out[dataset] = {b: (round(100 * float(np.mean(v)), 2) if v else None) for b, v in by_bucket.items()}
    return out


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("preds", help="a folder of <dataset>.jsonl prediction files, or one such file")
    p.add_argument("--e", action="store_true", help="LongBench-E: scores per length bucket (0-4k, 4-8k, 8k+)")


def _run(args: argparse.Namespace) -> int:
    print(json.dumps(rescore(Path(args.preds), args.e), ensure_ascii=False, indent=4))
    return 0


COMMAND = Command("score", "rescore LongBench prediction files (pred/<model>/*.jsonl) as its eval.py does",
                  _add_arguments, _run)
