"""Run NVIDIA/RULER's own generator scripts beside evalsuite and print where the workloads differ.

RULER's `scripts/data/prepare.py` writes, per task, `validation.jsonl` with the prompt a base model
sees (`input` + `answer_prefix`) and the answers (`outputs`). This script runs it from a local copy of
RULER's repository (commit c3f5e3b4f87f97e048793bb510a3a6b19a46bf3a, the one issue 20 names) in an
environment with RULER's dependencies (keep it out of evalsuite's .venv: transformers, tokenizers,
numpy, wonderwords, nltk, pyyaml, tqdm, tenacity, tiktoken, scipy, torch), builds the same tasks with
`--suite ruler` on the same tokenizer, length, seed and sample count, and compares them sample by
sample: the prompt text (evalsuite's ids decoded, BOS left out) and the answers.

    git --git-dir=<bare RULER copy> archive c3f5e3b4f87f97e048793bb510a3a6b19a46bf3a scripts | tar -x -C RULER/
    python -m venv ruler-env && ruler-env/bin/pip install torch transformers tokenizers numpy wonderwords \\
        nltk pyyaml tqdm tenacity tiktoken scipy
    .venv/bin/python scripts/ruler_reference.py --ruler RULER --python ruler-env/bin/python \\
        --tokenizer MODEL_OR_TOKENIZER_FOLDER --lengths 4096 --samples 5 \\
        --tasks niah_single_1,niah_multikey_2,niah_multikey_3,vt,fwe [--fixtures tests/fixtures/ruler_reference]

Tasks on the essay haystack need RULER's `json/PaulGrahamEssays.json` (its download script fetches
it) and nltk's punkt data; cwe needs `json/english_words.json`, a Git LFS file in RULER's repository;
qa needs SQuAD / HotpotQA. Without them RULER's script fails and that task is reported as such.
`--fixtures DIR` writes what RULER wrote as data (per sample: the sha256 of the prompt text and the
answers), for tests to compare against without RULER installed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REFERENCE_COMMIT = "c3f5e3b4f87f97e048793bb510a3a6b19a46bf3a"


def reference_samples(ruler: Path, python: str, tokenizer: str, task: str, length: int, samples: int, seed: int,
                      work: Path) -> list[dict[str, Any]] | str:
    """What RULER's prepare.py writes for one task (a list of samples), or its error's last line."""
    data = ruler / "scripts" / "data"
    cmd = [python, "prepare.py", "--save_dir", str(work), "--benchmark", "synthetic", "--task", task,
           "--tokenizer_path", tokenizer, "--tokenizer_type", "hf", "--max_seq_length", str(length),
           "--model_template_type", "base", "--num_samples", str(samples), "--random_seed", str(seed)]
    # prepare.py starts each task's script as `python ...` through the shell: the environment's python first
    path = f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PATH=path)
    res = subprocess.run(cmd, cwd=data, env=env, capture_output=True, text=True)
    out = work / task / "validation.jsonl"
    if not out.is_file():
        errors = [line for line in (res.stdout + res.stderr).splitlines() if "Error" in line and "nltk" not in line]
        return errors[-1].strip() if errors else f"exit code {res.returncode}, no output file"
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def evalsuite_samples(tokenizer: str, task: str, length: int, samples: int, seed: int) -> list[dict[str, Any]] | str:
    """evalsuite's `--suite ruler:TASK` samples as (prompt text without BOS, answers), or its error."""
    from evalsuite.plugins import suite_classes
    from evalsuite.suite import SuiteConfig
    from evalsuite.types import EvalError
    from evalsuite.workload.tokenization import Tokenizer
    tok = Tokenizer.load(tokenizer)
    suite = suite_classes()["ruler"](SuiteConfig(samples=samples, seed=seed, subtasks=(task,)))
    try:
        requests = [r for part in suite.parts() for r in part.requests(tok, length)]
    except EvalError as e:
        return str(e)
    out = []
    for r in requests:
        ids = [int(t) for t in r.prompt_ids]
        if tok.bos and ids[:len(tok.bos)] == tok.bos:           # RULER's text has no BOS: the model's tokenizer adds it
            ids = ids[len(tok.bos):]
        out.append({"prompt": tok.decode(ids), "outputs": list(r.references)})
    return out


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at character {i}: reference {a[max(0, i - 30):i + 30]!r} / evalsuite {b[max(0, i - 30):i + 30]!r}"


def compare(ref: list[dict[str, Any]], ours: list[dict[str, Any]]) -> tuple[int, int, str]:
    """(identical prompts, identical answers, the first difference)."""
    prompts = answers = 0
    first = ""
    for r, o in zip(ref, ours):
        text = r["input"] + r["answer_prefix"]
        prompts += text == o["prompt"]
        answers += r["outputs"] == o["outputs"]
        if not first and text != o["prompt"]:
            first = first_difference(text, o["prompt"])
    return prompts, answers, first


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ruler", required=True, type=Path, help="a RULER work tree holding scripts/ (at the commit above)")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter of an environment with RULER's dependencies")
    p.add_argument("--tokenizer", required=True, help="a model or tokenizer folder both sides load")
    p.add_argument("--tasks", default="niah_single_1,niah_multikey_2,niah_multikey_3,vt,fwe")
    p.add_argument("--lengths", default="4096")
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--fixtures", type=Path, help="write RULER's samples here as data (sha256 of prompts, answers)")
    args = p.parse_args()
    total = same = 0
    for length in (int(x) for x in args.lengths.split(",")):
        for task in args.tasks.split(","):
            with tempfile.TemporaryDirectory() as work:
                ref = reference_samples(args.ruler, args.python, args.tokenizer, task, length, args.samples, args.seed,
                                        Path(work))
            ours = evalsuite_samples(args.tokenizer, task, length, args.samples, args.seed)
            if isinstance(ref, str):
                print(f"{task:<16} {length:>6}  RULER's script failed: {ref}")
                continue
            if args.fixtures:
                args.fixtures.mkdir(parents=True, exist_ok=True)
                rows = [{"prompt_sha256": sha(r["input"] + r["answer_prefix"]), "outputs": r["outputs"],
                         "length": r["length"]} for r in ref]
                name = f"{Path(args.tokenizer).name}-{task}-{length}.json"
                (args.fixtures / name).write_text(json.dumps({"ruler_commit": REFERENCE_COMMIT, "task": task,
                                                              "length": length, "seed": args.seed,
                                                              "samples": rows}, indent=1) + "\n")
            if isinstance(ours, str):
                print(f"{task:<16} {length:>6}  evalsuite failed: {ours}")
                total += len(ref)
                continue
            prompts, answers, first = compare(ref, ours)
            total, same = total + len(ref), same + prompts
            print(f"{task:<16} {length:>6}  prompts identical {prompts}/{len(ref)}, answers identical "
                  f"{answers}/{len(ref)}" + (f"; first difference {first}" if first else ""))
    print(f"identical prompts: {same} of {total}")
    return 0 if same == total else 1


if __name__ == "__main__":
    sys.exit(main())
