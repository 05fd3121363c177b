"""`evalsuite search`: its flags; the search itself is evalsuite.search.driver."""
from __future__ import annotations

import argparse

from evalsuite.config.vocab import DTYPES
from evalsuite.plugins import BACKENDS
from evalsuite.search.driver import DEFAULT_BUDGET, search
from evalsuite.types import EvalError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="search LongRoPE factors by needle-driven perplexity (LongRoPE2-style)")
    p.add_argument("--model", help="local HF model folder or hub id (default: the bundled demo model)")
    p.add_argument("--factor", type=float, required=True, help="scale factor s (target / trained length)")
    p.add_argument("--target-length", help="length the fitness is measured at (default: factor x trained length)")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET,
                   help=f"candidate evaluations (default {DEFAULT_BUDGET}; LongRoPE's full setting is 1312); "
                   "rerun with a larger budget into the same --out to extend a search")
    p.add_argument("--population", type=int, help="population size (default: scaled from --budget)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's own choices")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the documents and needles the fitness uses")
    p.add_argument("--samples", type=int, default=2, help="documents in the fitness (default 2)")
    p.add_argument("--depths", type=int, default=4, help="needle depths per document (default 4)")
    # the in-process backends (those that need no flags of their own: hf, vllm)
    p.add_argument("--backend", choices=[n for n, cls in BACKENDS.all().items() if not cls.flags], default="hf")
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument("--out", help="run directory (default: runs/search-<model>-<s>x-<target>-<backend>-s<seed>)")
    p.add_argument("--find-rcd", action="store_true",
                   help="sweep the critical-dimension cut first and search past the real one")
    p.add_argument("--rcd-base", choices=["ntk", "yarn"], default="ntk", help="factors the --find-rcd sweep corrects")


def run(args: argparse.Namespace) -> int:
    if args.budget < 1 or args.samples < 1 or args.depths < 1 or (args.population is not None and args.population < 4):
        raise EvalError("--budget, --samples and --depths must be positive, --population at least 4")
    search(args)
    return 0
