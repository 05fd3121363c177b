"""`evalsuite run`: its flags, and the RunConfigs they (or a --config matrix file) describe."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from evalsuite.backends.base import BackendFlag
from evalsuite.config import engine_args
from evalsuite.config.lengths import parse_lengths
from evalsuite.config.options import add_suite_flags, build_suite, given_options, suite_options, whole_number
from evalsuite.config.run_config import RunConfig
from evalsuite.config.vocab import BEYOND_CAPACITY, DTYPES, TEMPLATES
from evalsuite.plugins import BACKENDS, backend_class, backend_names, suite_classes
from evalsuite.rope import RopeSpec
from evalsuite.suite import SuiteConfig, parse_suites
from evalsuite.types import EvalError


def _positive(name: str) -> Callable[[str], int]:
    return whole_number(f"--{name}", 1)


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="generate workloads, run a model under RoPE settings, score, report")
    r.add_argument("--suite", help="e.g. passkey,niah, ruler:niah_single_1,vt or ruler:-qa_1,-qa_2 "
                   "(default: the suites `evalsuite list` marks as default)")
    r.add_argument("--lengths", help="4k..128k (doubling), 4k,8k (list), 1k..16k/35 (linear); "
                   "default: the model's trained length")
    r.add_argument("--rope", action="append", help="RoPE setting, repeatable: none, yarn:factor=4, ...")
    r.add_argument("--config", help="a TOML matrix of models, RoPE settings, suites and lengths (see examples/); "
                   "replaces --model/--rope/--suite/--lengths")
    r.add_argument("--model", action="append", help="local HF model folder or hub id, repeatable "
                   "(default: the bundled demo model)")
    r.add_argument("--revision", help="hub revision (branch, tag or commit) of --model")
    r.add_argument("--label", action="append", help="each --model's name in tables and reports, in the same "
                   "order (default: its shortest unique path)")
    r.add_argument("--backend", help=f"{', '.join(backend_names())} (default: hf)")
    r.add_argument("--engine-arg", action="append", metavar="KEY=VALUE",
                   help="a vLLM engine argument for the vllm backends, repeatable: tensor_parallel_size=2, "
                        "enable_prefix_caching=true, gpu_memory_utilization=0.85, ... (checked by vLLM's parser)")
    r.add_argument("--samples", type=_positive("samples"), help="samples per task and length (NIAH: per cell); "
                   "default: each suite's own (`evalsuite list`), e.g. RULER 500")
    r.add_argument("--seed", type=int, help="sample seed (default: each suite's own, 0; RULER 42)")
    r.add_argument("--template", choices=TEMPLATES,
                   help="base (default): raw prompt; chat: the tokenizer's chat template (its tokens are counted)")
    r.add_argument("--batch-size", type=_positive("batch-size"),
                   help="samples per engine call and per store append (default: the backend's own, hf 8, vllm 64)")
    r.add_argument("--workers", type=_positive("workers"),
                   help="processes that generate missing workloads (default: the CPUs this process may use, at most 8)")
    r.add_argument("--dtype", choices=DTYPES, help="default: auto")
    r.add_argument("--out", help="run directory (default: runs/<name derived from the run identity>)")
    r.add_argument("--beyond-capacity", choices=BEYOND_CAPACITY,
                   help="lengths past a RoPE setting's capacity (factor x original length): skip them with a "
                        "note (default), run them anyway, or stop with an error; overrides a --config's value")
    r.add_argument("--force", action="store_true", help="the same as --beyond-capacity run")
    r.add_argument("--max-samples", type=_positive("max-samples"), default=1_000_000,
                   help="refuse a run that plans more samples than this (default 1,000,000)")
    r.add_argument("--verify-cache", action="store_true",
                   help="checksum every cached workload before using it (each is checksummed once per process anyway)")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--quiet", action="store_true", help="print nothing but errors (results are in the run directory)")
    r.add_argument("--engine-logs", choices=["file", "show"], default="file",
                   help="file (default): the engines' own output goes to <out>/engine.log; show: to the terminal")
    r.add_argument("--no-report", action="store_true", help="skip report.html (summary.csv is always written)")
    add_suite_flags(r, suite_classes())
    add_backend_flags(r)


def _backend_flags() -> dict[str, tuple[BackendFlag, list[str]]]:
    """Every backend's flags by dest, with the backends that declare each."""
    flags: dict[str, tuple[BackendFlag, list[str]]] = {}
    for name, cls in BACKENDS.all().items():
        for flag in cls.flags:
            flags.setdefault(flag.dest, (flag, []))[1].append(name)
    return flags


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    for flag, owners in _backend_flags().values():
        typed: dict[str, Any] = {"type": flag.type} if flag.type else {}
        parser.add_argument(f"--{flag.name}", metavar=flag.metavar, action="append" if flag.repeat else "store",
                            help=f"--backend {' or '.join(owners)}: {flag.help}", **typed)


def backend_options(args: argparse.Namespace, backend: str) -> Any:
    """The chosen backend's options from its flags; another backend's flag is a one-line error."""
    flags = _backend_flags()
    given = {dest: getattr(args, dest) for dest in flags if getattr(args, dest, None) is not None}
    foreign = [dest for dest in given if backend not in flags[dest][1]]
    if foreign:
        owners = sorted({o for dest in foreign for o in flags[dest][1]})
        names = ", ".join(f"--{flags[dest][0].name}" for dest in foreign)
        raise EvalError(f"{names} {'goes' if len(foreign) == 1 else 'go'} with --backend {' or '.join(owners)} "
                        f"(this run uses --backend {backend})")
    return BACKENDS.get(backend).options_from(given)


MATRIX_FLAGS = ("model", "rope", "suite", "lengths", "label", "revision", "samples", "seed", "template", "dtype",
                "backend")


def run(args: argparse.Namespace) -> int:
    from evalsuite.run.runner import run_all
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise EvalError(f"--out {out} is a file: give a directory")
    if args.config:
        from evalsuite.config import matrix
        given = [f"--{f}" for f in MATRIX_FLAGS if getattr(args, f) is not None]
        given += list(given_options(args, suite_classes()))      # suite options live in the file too
        if args.engine_arg:
            given.append("--engine-arg (the file's [engine_args] table)")
        if given:
            raise EvalError(f"--config holds the whole matrix: leave out {', '.join(given)} (or drop --config)")
        cfgs = matrix.run_configs(Path(args.config), progress=not args.no_progress, report=not args.no_report,
                                  out=out)
        policy = "run" if args.force else args.beyond_capacity
        if policy:
            cfgs = [replace(c, beyond_capacity=policy) for c in cfgs]
        cfgs = [replace(c, quiet=args.quiet, engine_logs=args.engine_logs, progress=c.progress and not args.quiet,
                        workers=args.workers or c.workers, batch_size=args.batch_size or c.batch_size,
                        verify_cache=args.verify_cache, backend_options=backend_options(args, c.backend))
                for c in cfgs]                 # a file's backend takes its flags (--endpoint ...) from the command
        run_all(cfgs, keep=Path(args.config))
        return 0
    run_all(_flag_configs(args, out))
    return 0


def _flag_configs(args: argparse.Namespace, out: Path | None) -> list[RunConfig]:
    """One RunConfig per --model, all into one run directory."""
    from evalsuite.run.runner import shared_out
    classes = suite_classes()
    lengths = parse_lengths(args.lengths) if args.lengths is not None else []
    ropes = [RopeSpec.parse(t) for t in (args.rope or ["none"])]
    labels = [r.label for r in ropes]
    if len(set(labels)) != len(labels):
        raise EvalError(f"--rope repeats a setting: {labels}")
    backend = args.backend or "hf"
    backend_class(backend)                        # an unknown name fails here, before anything is built
    models = args.model or [None]
    names = args.label or []
    if names and len(names) != len(models):
        raise EvalError(f"{len(names)} --label for {len(models)} --model: give one label per model, in order")
    if len(set(names)) != len(names):
        raise EvalError(f"--label repeats a name: {names}")
    if len(set(models)) != len(models):
        raise EvalError(f"--model repeats a model: {models}")
    suites = []
    template = args.template or "base"
    default = ",".join(name for name, cls in classes.items() if cls.in_default_run)
    for name, subtasks in parse_suites(args.suite or default, list(classes)):
        cls = classes[name]
        common = SuiteConfig(samples=args.samples, seed=args.seed, template=template, subtasks=subtasks)
        suites.append(build_suite(cls, common, suite_options(cls, args, classes)))
    cfgs = [RunConfig(
        suites=tuple(suites), lengths=tuple(lengths), ropes=tuple(ropes), out=out, model=model,
        revision=args.revision, label=names[i] if names else None, backend=backend, template=template,
        batch_size=args.batch_size, workers=args.workers, dtype=args.dtype or "auto",
        beyond_capacity="run" if args.force else args.beyond_capacity or "skip", max_samples=args.max_samples,
        progress=not (args.no_progress or args.quiet), report=not args.no_report, quiet=args.quiet,
        engine_logs=args.engine_logs, options=given_options(args, classes),
        engine_args=engine_args.parse(args.engine_arg or []), backend_options=backend_options(args, backend),
        verify_cache=args.verify_cache)
        for i, model in enumerate(models)]
    if len(cfgs) > 1 and out is None:
        cfgs = shared_out(cfgs)
    return cfgs
