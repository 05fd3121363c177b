"""`evalsuite run`: its flags, and the RunConfigs they (or a --config matrix file) describe."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Callable

from evalsuite.config import engine_args
from evalsuite.config.lengths import parse_lengths
from evalsuite.config.options import add_suite_flags, given_options, suite_options, whole_number
from evalsuite.config.run_config import RunConfig
from evalsuite.config.vocab import BEYOND_CAPACITY, DTYPES, TEMPLATES
from evalsuite.plugins import backend_class, suite_classes
from evalsuite.rope import RopeSpec
from evalsuite.suite import SuiteConfig, parse_suites
from evalsuite.types import EvalError


def _positive(name: str) -> Callable[[str], int]:
    return whole_number(f"--{name}", 1)


def _positive_seconds(name: str) -> Callable[[str], float]:
    def conv(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a number of seconds, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"--{name} must be positive and finite, got {text}")
        return value
    return conv


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
    r.add_argument("--backend", help="hf (default), vllm or openai (with --endpoint)")
    r.add_argument("--engine-arg", action="append", metavar="KEY=VALUE",
                   help="a vLLM engine argument for the vllm backends, repeatable: tensor_parallel_size=2, "
                        "enable_prefix_caching=true, gpu_memory_utilization=0.85, ... (checked by vLLM's parser)")
    r.add_argument("--gpus", metavar="LIST", help="--backend vllm-server: the GPUs to use, e.g. 0,1,2,3; one server "
                   "per tensor_parallel_size x pipeline_parallel_size of them, all sharing one work queue")
    r.add_argument("--endpoint", action="append", metavar="URL",
                   help="--backend openai: an OpenAI-compatible completions server (vllm serve, SGLang), e.g. "
                        "http://127.0.0.1:8000; repeatable: all endpoints share one work queue")
    r.add_argument("--concurrency", type=_positive("concurrency"),
                   help="--backend openai: requests in flight per endpoint (default 8)")
    r.add_argument("--request-timeout", type=_positive_seconds("request-timeout"),
                   help="--backend openai: seconds per request before it is retried (default 600)")
    r.add_argument("--api-key-env", metavar="NAME",
                   help="--backend openai: the environment variable holding the API key")
    r.add_argument("--retries", type=int, help="--backend openai: tries of a failing request on one endpoint beyond "
                   "the first before the endpoint counts as dead (default 6)")
    r.add_argument("--retry-delay", type=_positive_seconds("retry-delay"),
                   help="--backend openai: the first retry delay in seconds, doubling per failure up to 30 s, "
                        "with jitter (default 1)")
    r.add_argument("--samples", type=_positive("samples"), help="samples per task and length (NIAH: per cell)")
    r.add_argument("--seed", type=int, help="sample seed (default: each suite's own, 0; RULER 42)")
    r.add_argument("--template", choices=TEMPLATES,
                   help="base (default): raw prompt; chat: the tokenizer's chat template (its tokens are counted)")
    r.add_argument("--batch-size", type=_positive("batch-size"))
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


MATRIX_FLAGS = ("model", "rope", "suite", "lengths", "label", "revision", "samples", "seed", "template", "dtype",
                "backend")


def run(args: argparse.Namespace) -> int:
    from evalsuite.run.runner import run_all
    from evalsuite.workload import cache as workload
    workload.set_full_verify(args.verify_cache)
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
                        workers=args.workers or c.workers, batch_size=args.batch_size or c.batch_size)
                for c in cfgs]
        for cfg in cfgs:
            backend_class(cfg.backend)
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
        suites.append(cls(common, suite_options(cls, args, classes)))
    cfgs = [RunConfig(
        suites=tuple(suites), lengths=tuple(lengths), ropes=tuple(ropes), out=out, model=model,
        revision=args.revision, label=names[i] if names else None, backend=backend, template=template,
        batch_size=args.batch_size, workers=args.workers, dtype=args.dtype or "auto",
        beyond_capacity="run" if args.force else args.beyond_capacity or "skip", max_samples=args.max_samples,
        progress=not (args.no_progress or args.quiet), report=not args.no_report, quiet=args.quiet,
        engine_logs=args.engine_logs, options=given_options(args, classes),
        engine_args=engine_args.parse(args.engine_arg or []), backend_options=_backend_options(args, backend))
        for i, model in enumerate(models)]
    if len(cfgs) > 1 and out is None:
        cfgs = shared_out(cfgs)
    return cfgs


def _backend_options(args: argparse.Namespace, backend: str) -> object:
    """A server backend's options: ServerOptions for vllm-server, EndpointOptions for openai."""
    if backend != "vllm-server":
        if args.gpus is not None:
            raise EvalError(f"--gpus goes with --backend vllm-server (this run uses --backend {backend})")
        return _endpoint_options(args, backend)
    given = [f"--{f}" for f in ("endpoint", "api-key-env", "retry-delay") if getattr(args, f.replace("-", "_"))]
    if given:
        raise EvalError(f"{', '.join(given)} go with --backend openai: vllm-server starts its own servers")
    from evalsuite.backends.vllm.server import server_options
    return server_options(args.gpus, args.concurrency, args.request_timeout, args.retries)


ENDPOINT_FLAGS = ("endpoint", "concurrency", "request_timeout", "api_key_env", "retries", "retry_delay")


def _endpoint_options(args: argparse.Namespace, backend: str) -> object:
    """EndpointOptions for --backend openai; the endpoint flags with another backend are an error."""
    given = [f"--{f.replace('_', '-')}" for f in ENDPOINT_FLAGS if getattr(args, f, None) is not None]
    if backend != "openai":
        if given:
            raise EvalError(f"{', '.join(given)} go with --backend openai (this run uses --backend {backend})")
        return None
    from evalsuite.backends.endpoints import RetryPolicy
    from evalsuite.backends.openai import EndpointOptions
    if not args.endpoint:
        raise EvalError("--backend openai needs --endpoint URL (repeatable)")
    if args.retries is not None and args.retries < 0:
        raise EvalError(f"--retries must not be negative, got {args.retries}")
    retry = RetryPolicy()
    retry = RetryPolicy(retries=retry.retries if args.retries is None else args.retries,
                        backoff=retry.backoff if args.retry_delay is None else args.retry_delay)
    options = EndpointOptions(tuple(args.endpoint), args.concurrency or 8, float(args.request_timeout or 600),
                              args.api_key_env, retry)
    options.api_key()                  # a missing variable fails now, before anything is built
    return options
