"""Run = spec -> cached workloads -> one engine per RoPE setting -> scores -> store.

Everything that can be wrong with the input is checked before an engine loads.
Records are appended per batch; a rerun skips every stored sample.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import prebuild, workload
from .model import load_model_config, resolve_model
from .rope import BaseRope, RopeSpec
from .store import ResultStore, write_atomic
from .summary import format_table, summarize, write_summary_csv
from .task import Task, TaskConfig, backend_class, task_classes
from .tokenization import Tokenizer
from .types import EvalError, Record, Request


@dataclass(frozen=True)
class RunConfig:
    suites: tuple[tuple[str, tuple[str, ...]], ...]
    lengths: tuple[int, ...]
    ropes: tuple[RopeSpec, ...]
    out: Path
    model: str | None = None
    backend: str = "hf"
    task_cfg: TaskConfig = field(default_factory=TaskConfig)
    batch_size: int | None = None
    workers: int | None = None        # processes building missing workloads; None: the usable CPUs
    dtype: str = "auto"
    force: bool = False
    progress: bool = True
    report: bool = True


@dataclass
class Timings:
    workload_s: float = 0.0
    engine_load_s: dict[str, float] = field(default_factory=dict)
    per_sample_s: dict[str, float] = field(default_factory=dict)


def record_key(req: Request, model: str, backend: str, rope: str) -> str:
    return hashlib.sha256(f"{req.key}|{model}|{backend}|{rope}".encode()).hexdigest()[:24]


def check_lengths(cfg: RunConfig, base: BaseRope) -> None:
    longest = max(cfg.lengths)
    for rope in cfg.ropes:
        rope.validate(base)
        cap = rope.capacity(base)
        if longest > cap and not cfg.force:
            raise EvalError(f"length {longest} exceeds what RoPE setting {rope.label} holds ({cap} tokens): "
                            "lower --lengths, raise the factor, or pass --force to run it anyway")


def build_workloads(tasks: list[Task], tok: Tokenizer, lengths: tuple[int, ...], workers: int = 1,
                    on_built: prebuild.OnBuilt | None = None) -> list[Request]:
    """Every request of every task and length: missing cache cells are built first (in
    `workers` processes where the task allows it), then all cells are memory-mapped."""
    cells = prebuild.cells_for(tasks, tok, lengths)
    prebuild.build_missing(cells, tok, workers, on_built=on_built)
    reqs: list[Request] = []
    for c in cells:
        reqs.extend(workload.load_or_build(c.key, lambda c=c: c.task.requests(tok, c.length)))
    return reqs


def prefix_order(reqs: list[Request]) -> list[Request]:
    """Group by prompt length (batches need one length) and, inside a length, sort by the
    leading tokens so that prompts sharing a prefix run back to back (vLLM prefix cache)."""
    return sorted(reqs, key=lambda r: (len(r.prompt_ids), r.kind,
                                       np.asarray(r.prompt_ids[:2048], dtype=">u4").tobytes()))


def batches(reqs: list[Request], size: int):
    batch: list[Request] = []
    for r in reqs:
        if batch and (len(batch) >= size or len(r.prompt_ids) != len(batch[0].prompt_ids) or r.kind != batch[0].kind):
            yield batch
            batch = []
        batch.append(r)
    if batch:
        yield batch


def _lock(run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise EvalError(f"another evalsuite run is writing to {run_dir}: wait for it or use another --out") from None
    return handle


def run(cfg: RunConfig, log=print) -> list[Record]:
    model = resolve_model(cfg.model)
    base = BaseRope.from_config(load_model_config(model))
    if not cfg.lengths:
        cfg = replace(cfg, lengths=(base.original,))
    classes = task_classes()
    tasks = [classes[name](TaskConfig(**{**cfg.task_cfg.__dict__, "subtasks": sub})) for name, sub in cfg.suites]
    backend_cls = backend_class(cfg.backend)
    check_lengths(cfg, base)
    tok = Tokenizer.load(model)
    for task in tasks:
        if task.min_length(tok) > min(cfg.lengths):
            raise EvalError(f"suite {task.name} needs at least {task.min_length(tok)} tokens: raise --lengths")

    t0 = time.perf_counter()
    workers = cfg.workers or prebuild.default_workers()
    requests = build_workloads(tasks, tok, cfg.lengths, workers)   # input errors surface here,
    workload_s = time.perf_counter() - t0                               # before anything is written
    lock = _lock(cfg.out)
    try:
        return _run_locked(cfg, model, base, tok, tasks, backend_cls, requests, workload_s, log)
    finally:
        lock.close()


def _run_locked(cfg, model, base, tok, tasks, backend_cls, requests, workload_s, log) -> list[Record]:
    timings = Timings(workload_s=workload_s)
    by_suite = {t.name: t for t in tasks}
    store = ResultStore(cfg.out)
    done = store.completed()
    _write_run_json(cfg, model)
    log(f"workloads: {len(requests)} samples in {timings.workload_s:.2f}s; store {cfg.out} holds {len(done)} records")

    for rope in cfg.ropes:
        pending = [r for r in requests if record_key(r, model, cfg.backend, rope.label) not in done]
        if not pending:
            log(f"[{rope.label}] all {len(requests)} samples already stored")
            continue
        t_load = time.perf_counter()
        backend = backend_cls(model, rope, base, max(cfg.lengths), tok, cfg.dtype)
        init_s = time.perf_counter() - t_load
        log(f"[{rope.label}] {cfg.backend} backend ready in {init_s:.1f}s; {len(pending)} samples to run")
        size = cfg.batch_size or backend_cls.default_batch_size
        t_run = time.perf_counter()
        bar = _progress(len(pending), f"{rope.label}", cfg.progress)
        try:
            for batch in batches(prefix_order(pending), size):
                store.append(_run_batch(batch, backend, by_suite, model, cfg.backend, rope.label))
                bar.update(len(batch))
        finally:
            bar.close()
            backend.close()
        # engines that load lazily (vLLM) report their own load time
        timings.engine_load_s[rope.label] = init_s + backend.load_seconds
        timings.per_sample_s[rope.label] = (time.perf_counter() - t_run - backend.load_seconds) / len(pending)

    records = store.records()
    finish(cfg.out, records, log, report=cfg.report)
    for label, secs in timings.per_sample_s.items():
        log(f"timing [{label}]: engine load {timings.engine_load_s[label]:.1f}s, {secs:.3f}s per sample")
    return records


def _run_batch(batch, backend, by_suite, model, backend_name, rope_label) -> list[Record]:
    kind = batch[0].kind
    results = backend.generate(batch) if kind == "generate" else backend.logprobs(batch)
    records = []
    for req, res in zip(batch, results):
        task = by_suite[req.suite]
        if kind == "generate":
            scored, output = task.score(req, res.text), res.text
        else:
            scored, output = task.score_logprobs(req, res), ""
        records.append(Record(
            key=record_key(req, model, backend_name, rope_label), model=model, backend=backend_name,
            rope=rope_label, suite=req.suite, task=req.task, length=req.length, index=req.index,
            depth=req.depth, seed=req.seed, prompt_tokens=len(req.prompt_ids), output=output,
            score=scored.score, seconds=round(res.seconds, 6), references=req.references,
            extras=scored.extras))
    return records


def finish(run_dir: Path, records: list[Record], log=print, report: bool = True) -> None:
    """Write summary.csv and report.html for a run directory and print the table."""
    cells = summarize(records)
    write_summary_csv(cells, run_dir / "summary.csv")
    if report:
        from .reports import render_report
        render_report([run_dir], run_dir / "report.html")
    log(format_table(cells))
    log(f"wrote {run_dir / 'summary.csv'}" + (f" and {run_dir / 'report.html'}" if report else ""))


def _write_run_json(cfg: RunConfig, model: str) -> None:
    """The latest run's settings, plus every distinct command that wrote into this directory
    (several commands may share one --out; the report lists them all)."""
    path = cfg.out / "run.json"
    try:
        commands = json.loads(path.read_text()).get("commands", [])
    except (OSError, ValueError):
        commands = []
    if sys.argv[1:] not in commands:
        commands.append(sys.argv[1:])
    info = {"model": model, "backend": cfg.backend, "lengths": list(cfg.lengths),
            "ropes": [r.label for r in cfg.ropes], "suites": [list(s) for s in cfg.suites],
            "task_config": cfg.task_cfg.__dict__, "argv": sys.argv[1:], "commands": commands}
    write_atomic(path, json.dumps(info, indent=2, default=list))


class _NoBar:
    def update(self, n): pass
    def close(self): pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, dynamic_ncols=True)
