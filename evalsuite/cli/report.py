"""`evalsuite report`: one HTML page (and optionally every figure and table as files) from run directories."""
from __future__ import annotations

import argparse
from pathlib import Path

from evalsuite.run.rundir import owned_by_run
from evalsuite.types import EvalError


def add_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="render one HTML page from one or more run directories")
    rep.add_argument("runs", nargs="+", help="run directories")
    rep.add_argument("-o", "--output", default="report.html")
    rep.add_argument("--baseline",
                     help="the setting label deltas are taken against (default: the first in label order)")
    rep.add_argument("--figures", help="also write every figure as PNG and PDF and every table as CSV, Markdown "
                     "and LaTeX into this folder")
    rep.add_argument("--threshold", type=float, default=85.6,
                     help="RULER effective-length threshold (default 85.6, RULER's Llama-2-7B bar)")


def run(args: argparse.Namespace) -> int:
    from evalsuite.reports import render_report
    dirs = [Path(d) for d in args.runs]
    for d in dirs:
        if not (d / "records.jsonl").is_file():
            raise EvalError(f"{d} is not a run directory (no records.jsonl): give directories made by `evalsuite run`")
    out = Path(args.output)
    if not out.parent.exists():
        raise EvalError(f"output folder {out.parent} does not exist")
    if out.is_dir():
        raise EvalError(f"-o {out} is a directory: give a file name such as {out / 'report.html'}")
    if owned_by_run(out):
        raise EvalError(f"-o {out} is a file of the run directory {out.parent}: give another name, such as "
                        f"{out.parent / 'report.html'}")
    figures = Path(args.figures) if args.figures else None
    render_report(dirs, out, baseline=args.baseline, figures=figures, threshold=args.threshold)
    print(f"wrote {out}" + (f" and the figures and tables in {figures}" if figures else ""))
    return 0
