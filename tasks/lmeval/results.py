"""lm-eval's output (`simple_evaluate(..., log_samples=True)`) as evalsuite records.

A store cell is one (setting, suite, task, length), so each metric of an lm-eval task is its own
task name, spelled as lm-eval's results key: `evalsuite_facts/acc`, `gsm8k/exact_match,strict-match`
(the filter is left out when it is lm-eval's `none`). Every logged sample gives one record per
metric it carries; each record also holds lm-eval's aggregate of that task and metric and its
stderr, which are what the summary cell reports, so evalsuite's numbers are lm-eval's (for
aggregations other than the mean, such as corpus F1, a sample's own value is not averaged).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from evalsuite.suite import DriveRun
from evalsuite.types import Payload, Record

NO_FILTER = "none"


@dataclass(frozen=True)
class LmevalSample(Payload):
    """Which lm-eval sample and metric a record is."""

    unit: str          # digest of the requested task/group run (catalog.Unit)
    requested: str     # the name asked for (a task, group or tag)
    task: str          # lm-eval's leaf task
    metric: str
    filter: str
    doc_id: int
    doc_hash: str = ""
    prompt_hash: str = ""
    logprobs: tuple[float, ...] = ()     # log-likelihood requests: lm-eval's log-prob of each choice


@dataclass(frozen=True)
class LmevalCell(Payload):
    """lm-eval's aggregate of the record's task and metric (the same on every record of the cell)."""

    value: float
    stderr: float | None
    scale: float            # 100 for scores in [0, 1] (shown as percentages), else 1
    higher_is_better: bool
    primary: bool           # the task's first metric and filter: the one a task average counts


def cell_name(task: str, metric: str, filt: str) -> str:
    return f"{task}/{metric}" if filt == NO_FILTER else f"{task}/{metric},{filt}"


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)) and math.isfinite(float(x)):
        return float(x)
    return None


def _prompt(sample: dict[str, Any]) -> str:
    args = sample.get("arguments")
    first: Any = next(iter(args.values()), {}) if isinstance(args, dict) else (args[0] if args else ())
    if isinstance(first, dict):
        return str(first.get("arg_0", ""))
    return str(first[0]) if first else ""


def _logprobs(sample: dict[str, Any]) -> tuple[float, ...]:
    """lm-eval's (log-prob, is-greedy) pair per choice of a log-likelihood request, as log-probs."""
    resps = sample.get("filtered_resps")
    if isinstance(resps, list) and resps and all(isinstance(r, (list, tuple)) and r for r in resps):
        values = [_number(r[0]) for r in resps]
        if all(v is not None for v in values):
            return tuple(float(v) for v in values if v is not None)
    return ()


def _output(sample: dict[str, Any]) -> str:
    """A generation's filtered text; for log-likelihood requests, the index of the best choice."""
    resps = sample.get("filtered_resps")
    if isinstance(resps, list) and resps and all(isinstance(r, str) for r in resps):
        return resps[0]
    scores = _logprobs(sample)
    if scores:
        return str(max(range(len(scores)), key=scores.__getitem__))
    return json.dumps(resps, default=str)[:200]


def to_records(out: dict[str, Any], unit: Any, run: DriveRun, count_tokens: Any, seconds: float) -> list[Record]:
    """Records of one `simple_evaluate` output for one catalog.Unit."""
    samples: dict[str, list[dict[str, Any]]] = out.get("samples") or {}
    results, better = out.get("results", {}), out.get("higher_is_better", {})
    n_samples = sum(len(v) for v in samples.values()) or 1
    records = []
    for task, rows in sorted(samples.items()):
        metrics = list(dict.fromkeys(m for s in rows for m in s.get("metrics", [])))
        filters = list(dict.fromkeys(s.get("filter", NO_FILTER) for s in rows))
        for filt in filters:
            chosen = [s for s in rows if s.get("filter", NO_FILTER) == filt]
            for metric in metrics:
                cell = _cell(results.get(task, {}), better.get(task, {}), chosen, metric, filt,
                             primary=(metric == metrics[0] and filt == filters[0]))
                if cell is None:
                    continue
                name = cell_name(task, metric, filt)
                for s in chosen:
                    value = _number(s.get(metric))
                    prompt = _prompt(s)
                    payload = LmevalSample(unit.digest, unit.name, task, metric, filt, int(s["doc_id"]),
                                           str(s.get("doc_hash", "")), str(s.get("prompt_hash", "")),
                                           _logprobs(s))
                    which = (unit.digest, task, metric, filt, int(s["doc_id"]))     # not the outputs
                    key = hashlib.sha256(json.dumps(which).encode()).hexdigest()[:24]
                    records.append(run.record(
                        key, suite="lmeval", task=name, index=int(s["doc_id"]), depth=None, seed=0,
                        prompt_tokens=count_tokens(prompt), output=_output(s),
                        score=value if value is not None else 0.0,
                        seconds=round(seconds / n_samples, 6), references=(str(s.get("target", "")),),
                        payload=payload.to_json(), detail=cell.to_json()))
    return records


def _cell(result: dict[str, Any], better: dict[str, Any], rows: list[dict[str, Any]], metric: str, filt: str,
          primary: bool) -> LmevalCell | None:
    value = _number(result.get(f"{metric},{filt}"))
    if value is None:
        return None
    stderr = _number(result.get(f"{metric}_stderr,{filt}"))
    items = [_number(s.get(metric)) for s in rows]
    bounded = 0.0 <= value <= 1.0 and all(v is not None and 0.0 <= v <= 1.0 for v in items)
    return LmevalCell(value, stderr, 100.0 if bounded else 1.0, bool(better.get(metric, True)), primary)
