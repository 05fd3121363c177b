#!/usr/bin/env python
"""Measure the demo model under each RoPE method at 1x, 2x, 4x and 8x its trained length.

Why: the demo model exists to show the phenomenon evalsuite measures (a model trained at 512
tokens fails past it, and RoPE rescaling changes how it fails), so its model card carries a
table produced by `evalsuite run` itself, not by a separate evaluation script.

It runs `evalsuite run` three times into one run directory (passkey; NIAH; truncated and
needle-driven perplexity), every RoPE setting extending the model 8x (to 4096 tokens), then
renders that run's summary.csv as markdown tables and writes them between the markers in
evalsuite/demo_model/MODEL_CARD.md (or prints them with --print-only).  A rerun resumes the
run directory, so only missing samples are computed.

    python scripts/demo_rope_table.py                  # vLLM backend, about 15 minutes on 2 cores
    python scripts/demo_rope_table.py --backend hf     # the same table through transformers
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL_DIR = ROOT / "evalsuite" / "demo_model"
CARD = MODEL_DIR / "MODEL_CARD.md"
BEGIN, END = "<!-- rope-table:begin -->", "<!-- rope-table:end -->"
LENGTHS = (512, 1024, 2048, 4096)
SETTINGS = ("none", "pi:factor=8", "ntk:factor=8", "dynamic:factor=8", "yarn:factor=8",
            "longrope:file=evalsuite/demo_model/longrope_8x.json")
# (suite, extra arguments): passkey 20 prompts per length; NIAH 10 depths x 2 haystack offsets;
# perplexity 5 held-out documents (truncate) and 5 documents x 4 needle depths (needle)
RUNS = (("passkey", ["--samples", "20"]),
        ("niah", ["--depths", "10", "--samples", "2"]),
        ("perplexity:truncate,needle", ["--samples", "5", "--depths", "4"]))
TABLES = (("passkey", "passkey", "Passkey accuracy (%)", "{:.0f}"),
          ("niah", "niah", "NIAH keyword recall (%)", "{:.0f}"),
          ("perplexity", "truncate", "Perplexity, one full-length window per held-out document (lower is better)", "{:.2f}"),
          ("perplexity", "needle", "Needle-driven perplexity of the pass key's digits (lower is better)", "{:.2f}"))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="vllm", choices=["hf", "vllm"])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "demo-rope-table")
    ap.add_argument("--print-only", action="store_true", help="print the tables, leave MODEL_CARD.md alone")
    return ap.parse_args(argv)


def evalsuite_cmd(suite: str, extra: list[str], args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "evalsuite", "run", "--suite", suite,
           "--lengths", ",".join(map(str, LENGTHS)), "--backend", args.backend,
           "--force", "--no-progress", "--no-report", "--out", str(args.out), *extra]
    for rope in SETTINGS:
        cmd += ["--rope", rope]
    return cmd


def markdown_tables(summary: Path) -> str:
    from evalsuite.rope import RopeSpec

    cells: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    with open(summary, newline="") as f:
        for row in csv.DictReader(f):
            cells[(row["suite"], row["task"])][row["rope"]][int(row["length"])] = float(row["score"])
    order = [RopeSpec.parse(s).label for s in SETTINGS]      # rows in the order of SETTINGS
    out = []
    for suite, task, title, fmt in TABLES:
        by_rope = cells.get((suite, task))
        if not by_rope:
            continue
        head = [f"{n} ({n // LENGTHS[0]}x)" for n in LENGTHS]
        out += [f"**{title}**", "", "| RoPE setting | " + " | ".join(head) + " |",
                "|---|" + "---:|" * len(LENGTHS)]
        for rope in order:
            vals = by_rope.get(rope, {})
            out.append(f"| `{rope}` | " + " | ".join(fmt.format(vals[n]) if n in vals else "-" for n in LENGTHS) + " |")
        out.append("")
    return "\n".join(out)


def write_card(card: Path, tables: str, header: str) -> None:
    """Replace the block between the markers (or append one): the prose around it stays."""
    text = card.read_text()
    block = f"{BEGIN}\n{header}\n\n{tables}{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    card.write_text(text)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    commands = [evalsuite_cmd(suite, extra, args) for suite, extra in RUNS]
    for cmd in commands:
        print("$", " ".join(cmd[2:]), flush=True)
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            print("demo_rope_table: evalsuite run failed; rerun to resume", file=sys.stderr)
            return 1
    print(f"evalsuite runs took {time.time() - t0:.0f} s", flush=True)
    tables = markdown_tables(args.out / "summary.csv")
    print(tables)
    if not args.print_only:
        shown = "\n".join("    evalsuite " + " ".join(c[3:]).replace(str(args.out), "runs/demo-rope-table")
                          for c in commands)
        header = (f"Produced by `python scripts/demo_rope_table.py --backend {args.backend}`, "
                  f"which ran:\n\n{shown}")
        write_card(CARD, tables, header)
        print(f"wrote the tables into {CARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
