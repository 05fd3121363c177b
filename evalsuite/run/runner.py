"""Run = spec -> cached workloads -> one engine per RoPE setting -> scores -> store.

Everything that can be wrong with the input is checked before an engine loads.
Records are appended per batch; a rerun skips every stored sample of the same run
identity (evalsuite.run.identity), so changing anything a score depends on re-runs.
"""
from __future__ import annotations

import functools
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from evalsuite.config import engine_args
from evalsuite.config.lengths import format_length
from evalsuite.config.run_config import RunConfig
from evalsuite.config.vocab import BEYOND_CAPACITY
from evalsuite.models.resolve import check_weights, load_model_config, resolve_model
from evalsuite.plugins import backend_class
from evalsuite.rope import BaseRope, RopeSpec
from evalsuite.run import logs
from evalsuite.run.identity import RunIdentity, model_revision, record_key
from evalsuite.run.rundir import OutLock, append_timing, default_dir, keep_copy, write_run_json
from evalsuite.run.store import ResultStore
from evalsuite.run.summary import format_table, summarize, write_summary_csv
from evalsuite.suite import DriveRun, DrivingSuite, Suite, SuiteBase
from evalsuite.types import EvalError, Generation, Record, Request, Result, cut_at_stop
from evalsuite.workload import cache as workload
from evalsuite.workload import prebuild
from evalsuite.workload.tokenization import Tokenizer

Log = Callable[[str], None]
ENGINE_LOG = "engine.log"


def check_lengths(cfg: RunConfig, base: BaseRope) -> None:
    if cfg.beyond_capacity not in BEYOND_CAPACITY:
        raise EvalError(f"--beyond-capacity {cfg.beyond_capacity!r}: choose skip, run or error")
    longest = max(cfg.lengths)
    for rope in cfg.ropes:
        rope.validate(base)
        cap = rope.capacity(base)
        if longest > cap and cfg.beyond_capacity == "error":
            raise EvalError(f"length {longest} exceeds what RoPE setting {rope.label} holds ({cap} tokens): "
                            "lower --lengths, raise the factor, or pass --beyond-capacity skip|run")


def within_capacity(cfg: RunConfig, rope: RopeSpec, base: BaseRope, requests: list[Request],
                    log: Log) -> list[Request]:
    """The requests a setting runs: with --beyond-capacity skip, none longer than its capacity
    (each skipped length is said once; the report marks cells run past capacity)."""
    cap = rope.capacity(base)
    beyond = sorted({r.length for r in requests if r.length > cap})
    if not beyond or cfg.beyond_capacity != "skip":
        return requests
    log(f"[{rope.label}] skips {', '.join(format_length(n) for n in beyond)}: beyond its capacity of {cap} tokens "
        "(--beyond-capacity run runs them)")
    return [r for r in requests if r.length <= cap]


def check_grid(cfg: RunConfig) -> None:
    """Refuse an absurd grid before building it: the planned sample count against --max-samples,
    and the token ids it would cache against the free disk."""
    total = sum(s.planned_samples() for s in cfg.suites) * len(cfg.lengths)
    size = sum(s.planned_samples() * n * 4 for s in cfg.suites for n in cfg.lengths)
    if total > cfg.max_samples:
        raise EvalError(f"this run plans about {total:,} samples ({size / 2**30:.1f} GiB of token ids), more than "
                        f"--max-samples {cfg.max_samples:,}: lower --samples or --lengths, or raise --max-samples")
    root = workload.cache_root()
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    if size > free:
        raise EvalError(f"this run's workloads need about {size / 2**30:.1f} GiB in {root}, which has "
                        f"{free / 2**30:.1f} GiB free: lower --samples or --lengths, or set EVALSUITE_CACHE")


def build_workloads(suites: Sequence[SuiteBase], tok: Tokenizer, lengths: Sequence[int], workers: int = 1,
                    on_built: prebuild.OnBuilt | None = None, verify: bool = False) -> list[Request]:
    """Every request of every suite and length: missing cache parts are built first (in
    `workers` processes where the suite allows it), then all parts are memory-mapped, their ids
    hashed once per process (`verify`: on every load)."""
    for suite in suites:
        suite.plan(lengths)                # before cache keys: a plan may change the workload
    parts = prebuild.parts_for(list(suites), tok, lengths)
    prebuild.build_missing(parts, tok, workers, on_built=on_built, hash_ahead=not verify)
    reqs: list[Request] = []
    for p in parts:
        build = functools.partial(p.suite.requests, tok, p.length)
        reqs.extend(workload.load_or_build(p.key, build, payload_type=p.suite.payload_type, verify=verify or None))
    return reqs


def prefix_order(reqs: list[Request]) -> list[Request]:
    """Group by prompt length (batches need one length) and, inside a length, sort by the
    leading tokens so that prompts sharing a prefix run back to back (vLLM prefix cache)."""
    return sorted(reqs, key=lambda r: (len(r.prompt_ids), r.kind,
                                       np.asarray(r.prompt_ids[:2048], dtype=">u4").tobytes()))


def batches(reqs: list[Request], size: int) -> Iterator[list[Request]]:
    batch: list[Request] = []
    for r in reqs:
        if batch and (len(batch) >= size or len(r.prompt_ids) != len(batch[0].prompt_ids) or r.kind != batch[0].kind):
            yield batch
            batch = []
        batch.append(r)
    if batch:
        yield batch


def identities(cfg: RunConfig, model: str, backend_cls: Any, tok: Tokenizer) -> list[RunIdentity]:
    """One identity per RoPE setting: everything besides the prompt that a score depends on
    (a server backend's engine field names the served model and server version)."""
    revision = model_revision(model, cfg.revision)
    engine = backend_cls.identity_engine(cfg.backend_options, model, tok, cfg.lengths)
    dtype = backend_cls.resolve_dtype(cfg.dtype)
    return [RunIdentity(model, revision, cfg.backend, engine, dtype, cfg.template, rope.label,
                        engine_args.identity_fields(cfg.engine_args), cfg.label,
                        rope.name if rope.name != rope.label else None)
            for rope in cfg.ropes]


def default_out(cfg: RunConfig, idents: list[RunIdentity]) -> Path:
    """Deterministic from what was asked, so rerunning the same command resumes the same run."""
    what = [[i.key for i in idents], [(s.name, list(s.selected)) for s in cfg.suites],
            list(cfg.lengths), [s.cfg.samples for s in cfg.suites][:1],
            [s.cfg.seed for s in cfg.suites][:1], sorted(cfg.options.items())]
    model_name = cfg.label or (Path(cfg.model).name if cfg.model else "demo")
    return default_dir(model_name, cfg.backend, "+".join(s.name for s in cfg.suites), what=what)


def shared_out(cfgs: list[RunConfig]) -> list[RunConfig]:
    """Several models of one command share one run directory, named from what was asked."""
    first = cfgs[0]
    what = [[(c.model, c.label, c.revision, c.dtype) for c in cfgs], first.backend,
            [(s.name, list(s.selected)) for s in first.suites], list(first.lengths),
            [r.label for r in first.ropes], [s.cfg.samples for s in first.suites][:1],
            [s.cfg.seed for s in first.suites][:1], sorted(first.options.items())]
    names = "+".join(c.label or (Path(c.model).name if c.model else "demo") for c in cfgs)
    out = default_dir(names, first.backend, "+".join(s.name for s in first.suites), what=what)
    return [replace(c, out=out) for c in cfgs]


def run_all(cfgs: list[RunConfig], log: Log = print, keep: Path | None = None) -> list[Record]:
    """Each model's run in turn (one engine per model and RoPE setting); `keep` is a matrix file
    copied into the run directory once the first run holds it."""
    records: list[Record] = []
    for i, cfg in enumerate(cfgs):
        if len(cfgs) > 1 and not cfg.quiet:
            log(f"== model {i + 1} of {len(cfgs)}: {cfg.label or cfg.model or 'demo'}")
        records = run(cfg, log)
        if keep is not None and cfg.out is not None:
            keep_copy(keep, cfg.out)
    return records


def run(cfg: RunConfig, log: Log = print) -> list[Record]:
    model = resolve_model(cfg.model)
    base = BaseRope.from_config(load_model_config(model))
    check_weights(model)
    if not cfg.lengths:
        cfg = replace(cfg, lengths=(base.original,))
    backend_cls = backend_class(cfg.backend)
    check_lengths(cfg, base)
    tok = Tokenizer.load(model)
    for suite in cfg.suites:
        if suite.min_length(tok) > min(cfg.lengths):
            raise EvalError(f"suite {suite.name} needs at least {suite.min_length(tok)} tokens: raise --lengths")
    check_grid(cfg)
    for suite in cfg.suites:
        suite.prepare()                   # a backend-driving suite's tasks and data, before anything is written
    if cfg.engine_args and cfg.engine_logs == "file":
        os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")     # vLLM is imported now, logs routed later
    backend_cls.check_engine_args(cfg.engine_args)
    idents = identities(cfg, model, backend_cls, tok)
    if cfg.out is None:
        cfg = replace(cfg, out=default_out(cfg, idents))
    assert cfg.out is not None
    if cfg.quiet:
        log = _silent
    lock = OutLock.take(cfg.out)          # before building: a second writer is refused at once
    try:
        t0 = time.perf_counter()
        workers = cfg.workers or prebuild.default_workers()
        # input errors surface here, before anything is written
        requests = build_workloads(cfg.suites, tok, cfg.lengths, workers, verify=cfg.verify_cache)
        workload_s = time.perf_counter() - t0
    except BaseException:
        lock.abandon()
        raise
    if cfg.engine_logs == "file":
        logs.route_engine_logs(cfg.out / ENGINE_LOG)
    try:
        return _run_locked(cfg, cfg.out, model, base, tok, backend_cls, idents, requests, workload_s, log)
    finally:
        lock.release()


def _silent(_line: str) -> None:
    """--quiet: evalsuite's own lines are dropped (the results are in the run directory)."""


def _run_locked(cfg: RunConfig, out: Path, model: str, base: BaseRope, tok: Tokenizer, backend_cls: Any,
                idents: list[RunIdentity], requests: list[Request], workload_s: float, log: Log) -> list[Record]:
    by_suite = {s.name: s for s in cfg.suites if isinstance(s, Suite)}          # request suites score samples
    drivers = [s for s in cfg.suites if isinstance(s, DrivingSuite)]            # the others run themselves
    store = ResultStore(out)
    done = store.completed()
    write_run_json(out, idents, cfg.lengths, cfg.suites, cfg.ropes)
    log(f"workloads: {len(requests)} samples in {workload_s:.2f}s; store {out} holds {len(done)} records")
    timings = []
    stored = store.records() if drivers else []
    for rope, ident in zip(cfg.ropes, idents):
        planned = within_capacity(cfg, rope, base, requests, log)
        pending = [r for r in planned if record_key(r.key, ident.key) not in done]
        drive = DriveRun(ident, tuple(r for r in stored if r.setting == ident.key), base.original,
                         rope.capacity(base), cfg.batch_size, store.append, log)
        units = {s.name: s.drive_pending(drive) for s in drivers}
        driving = [s for s in drivers if units[s.name]]
        if not pending and not driving:
            log(f"[{rope.label}] all {len(planned)} samples already stored")
            continue
        t_load = time.perf_counter()
        extra: dict[str, Any] = {"engine_args": cfg.engine_args} if cfg.engine_args else {}  # plugins: optional
        if cfg.backend_options is not None:
            extra["options"] = cfg.backend_options
        backend = backend_cls(model, rope, base, max(cfg.lengths), tok, cfg.dtype, revision=cfg.revision, **extra)
        init_s = time.perf_counter() - t_load
        log(f"[{rope.label}] {cfg.backend} backend ready in {init_s:.1f}s; {len(pending)} samples to run"
            + "".join(f"; {name}: {n} units" for name, n in units.items() if n))
        size = cfg.batch_size or backend_cls.default_batch_size
        t_run = time.perf_counter()
        from tqdm import tqdm
        bar = tqdm(total=len(pending), desc=rope.label, unit="sample", file=sys.stderr, dynamic_ncols=True,
                   disable=not cfg.progress)
        try:
            for batch, results in backend.run_batches(batches(prefix_order(pending), size), size):
                results = [_stopped(req, res) for req, res in zip(batch, results)]
                store.append([_record(req, res, by_suite[req.suite], ident, rope.capacity(base), base.original)
                              for req, res in zip(batch, results)])
                bar.update(len(batch))
            driven = sum(s.drive(backend, drive) for s in driving)   # suites that run themselves (lm-eval)
        finally:
            bar.close()
            backend.close()
        # engines that load lazily (vLLM) report their own load time, apart from the samples'
        load_s = init_s + backend.load_seconds
        per_sample = (time.perf_counter() - t_run - backend.load_seconds) / max(len(pending) + driven, 1)
        timings.append((rope.label, load_s, per_sample))
        append_timing(out, ident, init_s, backend.engine_loads, len(pending) + driven, per_sample)
        if len(cfg.ropes) > 1:            # each setting's results as they come, not only at the end
            log(format_table(summarize([r for r in store.records() if r.setting == ident.key])))
    records = store.records()
    finish(out, records, log, report=cfg.report)
    for label, load_s, per_sample in timings:
        log(f"timing [{label}]: engine load {load_s:.1f}s, {per_sample:.3f}s per sample")
    return records


def _stopped(req: Request, res: Result) -> Result:
    if req.stop and isinstance(res, Generation):
        return replace(res, text=cut_at_stop(res.text, req.stop))
    return res


def _record(req: Request, res: Result, suite: Suite, ident: RunIdentity, capacity: int, trained: int) -> Record:
    scored = suite.score(req, res)
    return Record(
        key=record_key(req.key, ident.key), **ident.record_fields(), suite=req.suite, task=req.task,
        length=req.length, index=req.index, depth=req.depth,
        seed=req.seed, prompt_tokens=len(req.prompt_ids), output=res.text if isinstance(res, Generation) else "",
        score=scored.score, seconds=round(res.seconds, 6), references=req.references, extras=scored.extras,
        payload=req.payload.to_json() if req.payload is not None else None,
        detail=scored.detail.to_json() if scored.detail is not None else None, capacity=capacity,
        trained_length=trained)


def finish(run_dir: Path, records: list[Record], log: Log = print, report: bool = True) -> None:
    """Write summary.csv and report.html for a run directory and print the table."""
    cells = summarize(records)
    write_summary_csv(cells, run_dir / "summary.csv")
    if report:
        from evalsuite.reports import render_report
        render_report([run_dir], run_dir / "report.html")
    log(format_table(cells))
    log(f"wrote {run_dir / 'summary.csv'}" + (f" and {run_dir / 'report.html'}" if report else ""))
