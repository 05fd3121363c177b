"""`evalsuite prompts`: read the prompts a model will see, as `evalsuite run` builds them.

Prompts are assembled from separately encoded pieces as token ids, so the only way to be sure of
what a model reads is to decode them. This command builds a suite's requests for one length
through the run's own path (suite flags, the tokenizer of --model, the workload cache) and prints
each sample's decoded prompt with its token count, output budget, references and payload, or
writes them as JSON lines: the need lm-eval's --log_samples and RULER's jsonl files serve.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from evalsuite.config.lengths import format_length, parse_length, parse_lengths
from evalsuite.config.options import add_suite_flags, build_suite, suite_options, whole_number
from evalsuite.config.vocab import TEMPLATES
from evalsuite.plugins import suite_classes
from evalsuite.suite import DrivingSuite, SuiteConfig, parse_suites
from evalsuite.types import EvalError, Request
from evalsuite.workload.tokenization import Tokenizer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prompts", help="print (or write as JSON lines) the decoded prompts a model will see")
    p.add_argument("--suite", required=True, help="suite and optional tasks, as in run: passkey, niah, ruler:vt")
    p.add_argument("--length", required=True, help="the context length, e.g. 4096 or 4k")
    p.add_argument("--lengths", help="the run's --lengths, for suites that choose their data once per run "
                   "(perplexity); default: --length alone")
    p.add_argument("--index", type=whole_number("--index", 0),
                   help="only this sample (numbered from 0 within each task)")
    p.add_argument("--samples", type=whole_number("--samples", 1),
                   help="samples per task and length, as in run (default: the suite's)")
    p.add_argument("--seed", type=int, help="sample seed, as in run")
    p.add_argument("--model", help="local model folder or hub id whose tokenizer builds the prompts "
                   "(default: the bundled demo model)")
    p.add_argument("--template", choices=TEMPLATES, default="base",
                   help="base (default) or chat: the tokenizer's chat template, as in run")
    p.add_argument("--rope", action="append", help="RoPE setting(s) of the run, checked as run checks them "
                   "(the prompts do not depend on them)")
    p.add_argument("-o", "--output", help="write JSON lines to this file instead of printing the prompts")
    add_suite_flags(p, suite_classes())


def run(args: argparse.Namespace) -> int:
    from evalsuite.models.resolve import load_model_config, resolve_model
    from evalsuite.rope import BaseRope, RopeSpec
    from evalsuite.run.runner import build_workloads
    length = parse_length(args.length)
    lengths = parse_lengths(args.lengths) if args.lengths else [length]
    if length not in lengths:
        raise EvalError(f"--length {format_length(length)} is not one of --lengths {args.lengths}")
    out = Path(args.output) if args.output else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise EvalError(f"-o {out}: give a file name in an existing folder")
    classes = suite_classes()
    suites = []
    for name, subtasks in parse_suites(args.suite, list(classes)):
        cls = classes[name]
        common = SuiteConfig(samples=args.samples, seed=args.seed, template=args.template, subtasks=subtasks)
        suites.append(build_suite(cls, common, suite_options(cls, args, classes)))
    driving = [s.name for s in suites if isinstance(s, DrivingSuite)]
    if driving:
        raise EvalError(f"suite {driving[0]} runs through its own harness and builds no prompts here")
    model = resolve_model(args.model)
    base = BaseRope.from_config(load_model_config(model))
    for text in args.rope or []:
        RopeSpec.parse(text).validate(base)
    tok = Tokenizer.load(model)
    for suite in suites:
        if suite.min_length(tok) > min(lengths):
            raise EvalError(f"suite {suite.name} needs at least {suite.min_length(tok)} tokens: raise --length")
    requests = [r for r in build_workloads(suites, tok, lengths) if r.length == length]
    if args.index is not None:
        requests = _pick(requests, args.index)
    if out is None:
        for r in requests:
            _print(tok, r, sys.stdout)
        return 0
    lines = [json.dumps(sample_json(tok, r), ensure_ascii=False) for r in requests]
    part = out.with_name(out.name + ".part")             # a failed write leaves no half file under the name
    part.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    part.replace(out)
    print(f"wrote {len(lines)} prompts to {out}")
    return 0


def _pick(requests: list[Request], index: int) -> list[Request]:
    picked = [r for r in requests if r.index == index]
    if not picked:
        counts: dict[str, int] = {}
        for r in requests:
            counts[f"{r.suite}/{r.task}"] = max(counts.get(f"{r.suite}/{r.task}", 0), r.index + 1)
        have = ", ".join(f"{k} has {n}" for k, n in counts.items())
        raise EvalError(f"--index {index} is out of range ({have}; numbered from 0): raise --samples or lower --index")
    return picked


def prompt_text(tok: Tokenizer, ids: Any) -> str:
    """The prompt as the model reads it: special tokens written out, no clean-up of spaces. A leading
    BOS is decoded apart, so a SentencePiece tokenizer's start-of-text space does not show as text."""
    ids = [int(i) for i in ids]
    bos = list(tok.bos)
    head = bos if bos and ids[: len(bos)] == bos else []
    decode = tok.hf.decode
    return (decode(head, skip_special_tokens=False) if head else "") + \
        decode(ids[len(head):], skip_special_tokens=False, clean_up_tokenization_spaces=False)


def sample_json(tok: Tokenizer, r: Request) -> dict[str, Any]:
    """One sample as a JSON object: the request's fields, its token count and its decoded prompt."""
    return {**r.header_json(), "prompt_tokens": len(r.prompt_ids), "prompt": prompt_text(tok, r.prompt_ids)}


def _print(tok: Tokenizer, r: Request, stream: TextIO) -> None:
    facts = [f"{r.suite}/{r.task}", f"length {r.length}", f"index {r.index}"]
    if r.depth is not None:
        facts.append(f"depth {r.depth:g}%")
    facts.append(f"{len(r.prompt_ids)} prompt tokens + {r.max_new_tokens} new")
    if r.kind != "generate":
        facts.append(f"{r.kind} scored from token {r.score_start}")
    stream.write(f"=== {' | '.join(facts)}\n")
    stream.write(f"references: {json.dumps(list(r.references), ensure_ascii=False)}\n")
    if r.payload is not None:
        stream.write(f"payload: {json.dumps(r.payload.to_json(), ensure_ascii=False)}\n")
    if r.stop:
        stream.write(f"stop: {json.dumps(list(r.stop), ensure_ascii=False)}\n")
    stream.write("--- prompt\n" + prompt_text(tok, r.prompt_ids) + "\n")
