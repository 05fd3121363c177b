"""Command line: `evalsuite run | report | list`, plus the subcommands suites add.

Every user error ends as one line on stderr and exit code 2; nothing is written
before the input has been checked. Suite options and suite subcommands come from
the installed suites (evalsuite.options, Suite.commands): this module names no suite.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NoReturn

from . import __version__
from .lengths import parse_lengths
from .options import add_suite_flags, given_options, suite_options
from .rope import RopeSpec, method_help
from .suite import SuiteConfig, backend_class, backend_names, parse_suites, suite_classes
from .types import EvalError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:      # one line, not argparse's usage block
        raise EvalError(f"{message} (see `{self.prog} --help`)")


def _positive(name: str) -> Callable[[str], int]:
    def conv(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a whole number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"--{name} must be positive, got {value}")
        return value
    return conv


def _add_run(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="generate workloads, run a model under RoPE settings, score, report")
    r.add_argument("--suite", default="passkey,niah", help="e.g. passkey,niah or ruler:niah_single_1,vt")
    r.add_argument("--lengths", help="4k..128k (doubling), 4k,8k (list), 1k..16k/35 (linear); "
                   "default: the model's trained length")
    r.add_argument("--rope", action="append", help="RoPE setting, repeatable: none, yarn:factor=4, ...")
    r.add_argument("--model", help="local HF model folder or hub id (default: the bundled demo model)")
    r.add_argument("--revision", help="hub revision (branch, tag or commit) of --model")
    r.add_argument("--label", help="the model's name in tables and reports (default: its shortest unique path)")
    r.add_argument("--backend", default="hf", help="hf or vllm")
    r.add_argument("--samples", type=_positive("samples"), help="samples per task and length (NIAH: per cell)")
    r.add_argument("--seed", type=int, help="sample seed (default: each suite's own, 0; RULER 42)")
    r.add_argument("--template", choices=["base", "chat"], default="base",
                   help="base: raw prompt; chat: the tokenizer's chat template (its tokens are counted)")
    r.add_argument("--batch-size", type=_positive("batch-size"))
    r.add_argument("--workers", type=_positive("workers"),
                   help="processes that generate missing workloads (default: the CPUs this process may use, at most 8)")
    r.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    r.add_argument("--out", help="run directory (default: runs/<name derived from the run identity>)")
    r.add_argument("--force", action="store_true", help="run lengths beyond a RoPE setting's capacity")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--no-report", action="store_true", help="skip report.html (summary.csv is always written)")
    add_suite_flags(r, suite_classes())


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="evalsuite", description="Long-context evaluation for RoPE-extended models.")
    p.add_argument("--version", action="version", version=f"evalsuite {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    rep = sub.add_parser("report", help="render one HTML page from one or more run directories")
    rep.add_argument("runs", nargs="+", help="run directories")
    rep.add_argument("-o", "--output", default="report.html")
    sub.add_parser("list", help="suites, tasks, backends and RoPE methods")
    for cls in suite_classes().values():
        for command in cls.commands:
            command.add_arguments(sub.add_parser(command.name, help=command.help))
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import RunConfig, run
    classes = suite_classes()
    lengths = parse_lengths(args.lengths) if args.lengths is not None else []
    ropes = [RopeSpec.parse(t) for t in (args.rope or ["none"])]
    labels = [r.label for r in ropes]
    if len(set(labels)) != len(labels):
        raise EvalError(f"--rope repeats a setting: {labels}")
    backend_class(args.backend)                   # an unknown name fails here, before anything is built
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise EvalError(f"--out {out} is a file: give a directory")
    suites = []
    for name, subtasks in parse_suites(args.suite, list(classes)):
        cls = classes[name]
        common = SuiteConfig(samples=args.samples, seed=args.seed, template=args.template, subtasks=subtasks)
        suites.append(cls(common, suite_options(cls, args, classes)))
    cfg = RunConfig(
        suites=tuple(suites), lengths=tuple(lengths), ropes=tuple(ropes), out=out, model=args.model,
        revision=args.revision, label=args.label, backend=args.backend, template=args.template,
        batch_size=args.batch_size, workers=args.workers, dtype=args.dtype, force=args.force,
        progress=not args.no_progress, report=not args.no_report, options=given_options(args, classes))
    run(cfg)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .reports import render_report
    dirs = [Path(d) for d in args.runs]
    for d in dirs:
        if not (d / "records.jsonl").is_file():
            raise EvalError(f"{d} is not a run directory (no records.jsonl): give directories made by `evalsuite run`")
    out = Path(args.output)
    if not out.parent.exists():
        raise EvalError(f"output folder {out.parent} does not exist")
    if out.is_dir():
        raise EvalError(f"-o {out} is a directory: give a file name such as {out / 'report.html'}")
    render_report(dirs, out)
    print(f"wrote {out}")
    return 0


def cmd_list(_args: argparse.Namespace) -> int:
    print("suites:")
    for name, cls in suite_classes().items():
        print(f"  {name:<12} v{cls.version}  {cls.description}")
        if len(cls.subtasks) > 1:
            print(f"  {'':<12}      tasks: {', '.join(cls.subtasks)}")
    print("backends:\n  " + ", ".join(backend_names()))
    print("rope methods (--rope METHOD:key=value,...):")
    for name, help_text in method_help():
        print(f"  {name:<9} {help_text}")
    return 0


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    builtin = {"run": cmd_run, "report": cmd_report, "list": cmd_list}
    if name in builtin:
        return builtin[name]
    return next(c.run for cls in suite_classes().values() for c in cls.commands if c.name == name)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _command(args.command)(args)
    except EvalError as e:
        print(f"evalsuite: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalsuite: interrupted; finished batches are stored, rerun the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
