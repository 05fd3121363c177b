"""Command line: `evalsuite run | report | list | score`.

Every user error ends as one line on stderr and exit code 2; nothing is written
before the input has been checked.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from .lengths import parse_lengths
from .rope import METHODS, RopeSpec
from .task import TaskConfig, backend_names, parse_suites, task_classes
from .types import EvalError


class _Parser(argparse.ArgumentParser):
    def error(self, message):            # one line, not argparse's usage block
        raise EvalError(f"{message} (see `{self.prog} --help`)")


def _positive(name):
    def conv(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a whole number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"--{name} must be positive, got {value}")
        return value
    return conv


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="evalsuite", description="Long-context evaluation for RoPE-extended models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="generate workloads, run a model under RoPE settings, score, report")
    r.add_argument("--suite", default="passkey,niah", help="e.g. passkey,niah or ruler:niah_single_1,vt")
    r.add_argument("--lengths", help="4k..128k (doubling), 4k,8k (list), 1k..16k/35 (linear); "
                   "default: the model's trained length")
    r.add_argument("--rope", action="append", help="RoPE setting, repeatable: none, yarn:factor=4, ...")
    r.add_argument("--model", help="local HF model folder or hub id (default: the bundled demo model)")
    r.add_argument("--backend", default="hf", help="hf or vllm")
    r.add_argument("--samples", type=_positive("samples"), help="samples per task and length (NIAH: per cell)")
    r.add_argument("--seed", type=int, help="sample seed (default: each suite's own, 0; RULER 42)")
    r.add_argument("--depths", type=_positive("depths"), default=10, help="NIAH depth grid size")
    r.add_argument("--haystack", help="text file or directory for haystacks and perplexity documents (default: the demo corpus); "
                   "perplexity also takes pg19 or proofpile (hub data sets)")
    r.add_argument("--data-dir", help="local data set files (RULER qa, LongBench, perplexity pg19/ and proofpile/ copies)")
    r.add_argument("--template", choices=["base", "chat"], default="base",
                   help="base: raw prompt; chat: the tokenizer's chat template (its tokens are counted)")
    r.add_argument("--stride", type=_positive("stride"), default=256, help="perplexity sliding-window stride")
    r.add_argument("--batch-size", type=_positive("batch-size"))
    r.add_argument("--workers", type=_positive("workers"),
                   help="processes that generate missing workloads (default: the CPUs this process may use, at most 8)")
    r.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    r.add_argument("--out", help="run directory (default: runs/<name derived from the arguments>)")
    r.add_argument("--force", action="store_true", help="run lengths beyond a RoPE setting's capacity")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--no-report", action="store_true", help="skip report.html (summary.csv is always written)")

    rep = sub.add_parser("report", help="render one HTML page from one or more run directories")
    rep.add_argument("runs", nargs="+", help="run directories")
    rep.add_argument("-o", "--output", default="report.html")

    sub.add_parser("list", help="suites, tasks, backends and RoPE methods")

    sc = sub.add_parser("score", help="rescore LongBench prediction files (pred/<model>/*.jsonl) as its eval.py does")
    sc.add_argument("preds", help="a folder of <dataset>.jsonl prediction files, or one such file")
    sc.add_argument("--e", action="store_true", help="LongBench-E: scores per length bucket (0-4k, 4-8k, 8k+)")
    return p


def _default_out(args, ropes, suites) -> Path:
    """Deterministic from the arguments, so rerunning the same command resumes the same run."""
    ident = json.dumps([args.model, args.backend, suites, args.lengths, [r.label for r in ropes],
                        args.samples, args.seed, args.depths, args.haystack, args.template, args.stride])
    model_name = Path(args.model).name if args.model else "demo"
    suite_name = "+".join(s for s, _ in suites)
    return Path("runs") / f"{model_name}-{args.backend}-{suite_name}-{hashlib.sha256(ident.encode()).hexdigest()[:8]}"


def cmd_run(args) -> int:
    from .runner import RunConfig, run
    suites = parse_suites(args.suite, list(task_classes()))
    lengths = parse_lengths(args.lengths) if args.lengths is not None else []
    ropes = [RopeSpec.parse(t) for t in (args.rope or ["none"])]
    labels = [r.label for r in ropes]
    if len(set(labels)) != len(labels):
        raise EvalError(f"--rope repeats a setting: {labels}")
    if args.backend not in backend_names():
        raise EvalError(f"unknown --backend {args.backend!r}: choose one of {', '.join(backend_names())}")
    out = Path(args.out) if args.out else _default_out(args, ropes, suites)
    if out.exists() and not out.is_dir():
        raise EvalError(f"--out {out} is a file: give a directory")
    cfg = RunConfig(
        suites=tuple(suites), lengths=tuple(lengths), ropes=tuple(ropes), out=out, model=args.model,
        backend=args.backend, batch_size=args.batch_size, workers=args.workers, dtype=args.dtype, force=args.force,
        progress=not args.no_progress, report=not args.no_report,
        task_cfg=TaskConfig(samples=args.samples, seed=args.seed, template=args.template,
                            haystack=args.haystack, data_dir=args.data_dir, depths=args.depths,
                            stride=args.stride))
    run(cfg)
    return 0


def cmd_report(args) -> int:
    from .reports import render_report
    dirs = [Path(d) for d in args.runs]
    for d in dirs:
        if not (d / "records.jsonl").is_file():
            raise EvalError(f"{d} is not a run directory (no records.jsonl): give directories made by `evalsuite run`")
    out = Path(args.output)
    if not out.parent.exists():
        raise EvalError(f"output folder {out.parent} does not exist")
    render_report(dirs, out)
    print(f"wrote {out}")
    return 0


def cmd_list(_args) -> int:
    print("suites:")
    for name, cls in task_classes().items():
        print(f"  {name:<12} v{cls.version}  {cls.description}")
        if len(cls.subtasks) > 1:
            print(f"  {'':<12}      tasks: {', '.join(cls.subtasks)}")
    print("backends:\n  " + ", ".join(backend_names()))
    print("rope methods (--rope METHOD:key=value,...):")
    for name, (_allowed, _required, help_text) in METHODS.items():
        print(f"  {name:<9} {help_text}")
    return 0


def cmd_score(args) -> int:
    from .rescore import rescore
    print(json.dumps(rescore(Path(args.preds), args.e), ensure_ascii=False, indent=4))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"run": cmd_run, "report": cmd_report, "list": cmd_list, "score": cmd_score}[args.command](args)
    except EvalError as e:
        print(f"evalsuite: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalsuite: interrupted; finished batches are stored, rerun the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
