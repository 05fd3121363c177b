"""Read what a report needs from run directories: records, run.json commands and timings.jsonl.

Nothing here depends on the clock or the order files were written in, so the report stays a
pure function of the run directories.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evalsuite.run.rundir import TIMINGS
from evalsuite.run.store import ResultStore
from evalsuite.types import EvalError, Record


@dataclass(frozen=True)
class RunInfo:
    dir: str
    records: int
    commands: tuple[str, ...]


@dataclass(frozen=True)
class Timing:
    """One line of timings.jsonl: one engine start of one setting and the samples it ran."""

    setting: str                  # the identity key
    load_s: float                 # backend start plus the engine loads it reported
    engine_loads: int
    samples: int
    seconds_per_sample: float


@dataclass(frozen=True)
class Runs:
    records: tuple[Record, ...]
    infos: tuple[RunInfo, ...]
    timings: tuple[Timing, ...]
    order: tuple[str, ...]        # setting keys in order of first appearance (first run first)


def _run_info(d: Path, n_records: int) -> RunInfo:
    info_path = d / "run.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    except (OSError, ValueError) as e:
        raise EvalError(f"{info_path} is damaged ({e}): move it aside to render the report") from None
    if not isinstance(info, dict):
        raise EvalError(f"{info_path} is not a JSON object: move it aside to render the report")
    commands = info.get("commands") or [info.get("argv", [])]
    return RunInfo(str(d), n_records, tuple(" ".join(map(str, c)) for c in commands))


def _timings(d: Path) -> list[Timing]:
    """timings.jsonl lines; a damaged line is skipped (timings are informative, never scores)."""
    path = d / TIMINGS
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            loads = [float(s) for _, s in row.get("engine_loads", [])]
            out.append(Timing(str(row["setting"]), float(row.get("backend_init_s", 0.0)) + sum(loads),
                              len(loads), int(row["samples"]), float(row["seconds_per_sample"])))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def load_runs(run_dirs: list[Path]) -> Runs:
    records: list[Record] = []
    infos, timings = [], []
    for d in map(Path, run_dirs):
        recs = ResultStore(d).records()
        records.extend(recs)
        infos.append(_run_info(d, len(recs)))
        timings.extend(_timings(d))
    order = tuple(dict.fromkeys(r.setting for r in records))
    return Runs(tuple(records), tuple(infos), tuple(timings), order)
