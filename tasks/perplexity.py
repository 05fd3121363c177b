"""Perplexity: sliding-window (YaRN / Press et al.), truncated, and needle-driven (LongRoPE2).

Papers: Press et al., "Train Short, Test Long" (sliding-window evaluation); Peng et al.,
"YaRN" (arXiv 2309.00071, PG19 / Proof-pile perplexity, stride 256); Chen et al., "Extending
Context Window ... via Positional Interpolation" (arXiv 2306.15595); Shang et al., "LongRoPE2"
(arXiv 2502.20082, needle-driven perplexity: only the answer tokens of a needle inserted deep
in a long document are scored).
Reference implementation: jquesnelle/yarn `eval/perplexity.py` (`compute_perplexity`), whose
specification is followed here:
  * window = context length L: BOS + L-1 document tokens (L document tokens without a BOS);
  * windows start at 0, S, 2S, ... (S = --stride, default 256); a window scores only the
    tokens that no earlier window scored (the rest are masked); the last window is shorter;
    the loop stops at the window that reaches the end of the document;
  * `--truncate`: one window per document, its first L-1 tokens after BOS;
  * aggregation: PPL = exp(mean over all windows of all documents of the window's mean NLL).
LongRoPE2 released no code for its needle-driven perplexity; the needle and question follow
the passkey template of yarn `eval/passkey.py` with LongRoPE's 5-digit keys.

Subtasks (`--suite perplexity:sliding,truncate,needle`, all three by default):
  sliding   one Request per window: kind="logprobs", length=L, score_start = first scored position;
  truncate  the `--truncate` mode of the reference: one window per document;
  needle    one Request per (document, depth): needle at `--depths` evenly spread depths,
            the question at the end, only the answer tokens scored.
`--samples` is the number of documents (default 10); `--haystack` picks the corpus (see
perplexity_corpus; `kjv` is real prose offline, the default to use for real checkpoints).
Documents are selected once per run (`plan`), as the reference's `--dataset-min-tokens` filter
does: every length reads the same documents, each holding at least L_max-1 tokens for the
longest length L_max of the run, so a perplexity-vs-length curve never mixes documents; too few
such documents is an error when `--samples` was given. The demo's held-out documents are the
same texts at every length, made L-1 + 4*S tokens long, so each has five full windows.
Needle, question and answer are encoded as pieces of running text (Tokenizer.encode_piece), so
a SentencePiece tokenizer gives them no dummy-prefix space; a needle at depth 0 is followed by
the document's start as it reads mid-text. The cell score (summary.csv) is YaRN's aggregation;
the token-weighted
perplexity, per-document values and the NLL-vs-position curve are in the report.
Known backend difference: a short last window of a document is run at its own length by HF
while vLLM serves it with the engine built for L; dynamic NTK and LongRoPE choose their
scaling by length, so that window can differ between backends under those two methods.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.config.options import option
from evalsuite.suite import Suite
from evalsuite.types import EvalError, LogprobResult, Payload, Request, Result, SampleScore
from evalsuite.workload.haystacks import depth_grid
from evalsuite.workload.tokenization import Tokenizer, _sentence_end_token_ids, fit_check

from . import perplexity_corpus, perplexity_report

# yarn eval/passkey.py template; LongRoPE uses 5-digit keys
NEEDLE = "\nThe pass key is {key}. Remember it. {key} is the pass key.\n"
QUESTION = "\nWhat is the pass key? The pass key is"
ANSWER = " {key}"
KEY_RANGE = (10000, 99999)
DEMO_EXTRA_WINDOWS = 4                 # sliding windows after the first in each demo document
N_BINS = perplexity_report.N_BINS


@dataclass(frozen=True)
class PerplexityOptions:
    stride: int = option(256, "sliding-window perplexity stride", flag="--stride", minimum=1)
    depths: int = option(10, "perplexity: depths of the needle-driven perplexity's needles", flag="--depths",
                         minimum=1)
    haystack: str | None = option(None, "perplexity: documents from a text file or directory, kjv (real prose, "
                                        "offline; use it for real checkpoints), or pg19 / proofpile (hub data sets; "
                                        "default: the demo corpus)", flag="--haystack")
    data_dir: str | None = option(None, "perplexity: folder with local pg19/ and proofpile/ copies", flag="--data-dir")


@dataclass(frozen=True)
class WindowPayload(Payload):
    """Which document a request reads, and where its window begins."""

    doc: int
    begin: int = 0


def sliding_windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, n_scored) of each window over a document of n_tokens tokens, as in yarn
    eval/perplexity.py: begins step by `stride`, each window holds up to `window` tokens and
    scores its last `end - previous end` tokens; stops at the window reaching the end."""
    out, prev_end = [], 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + window, n_tokens)
        out.append((begin, end, end - prev_end))
        prev_end = end
        if end == n_tokens:
            break
    return out


class PerplexitySuite(Suite):
    name = "perplexity"
    version = 2                            # 2: needle pieces mid-text, one document set per run
    subtasks = ("sliding", "truncate", "needle")
    description = "sliding-window (stride), truncated and needle-driven perplexity; lower is better"
    metric = "perplexity"
    higher_is_better = False
    score_range = None
    log_scale = True
    default_samples = 10                   # documents (yarn eval.sh: --samples 10 for long Proof-pile)
    report_order = 5
    Options = PerplexityOptions
    payload_type = WindowPayload
    longest: int | None = None             # the run's longest length (plan); None: each length alone

    def plan(self, lengths) -> None:
        self.longest = max(lengths) if lengths else None

    def cache_params(self) -> dict[str, Any]:
        params = {**super().cache_params(),
                  "corpus": perplexity_corpus.fingerprint(self.opts.haystack, self.opts.data_dir)}
        if perplexity_corpus.source_of(self.opts.haystack) != "demo":     # demo texts do not depend on it
            params["selected_for"] = self.longest
        return params

    def planned_samples(self) -> int:
        """Documents x (the demo's five sliding windows + one truncated window + the needle depths)."""
        return (self.samples or 1) * (DEMO_EXTRA_WINDOWS + 2 + self.opts.depths)

    def min_length(self, tok: Tokenizer) -> int:
        return len(tok.bos) + 2

    def _documents(self, tok: Tokenizer, length: int, demo_tokens: int) -> list[perplexity_corpus.Document]:
        """The run's documents: at least L_max-1 tokens each (L_max: the longest planned length)."""
        longest = max(length, self.longest or length)
        return perplexity_corpus.select(tok, self.opts.haystack, self.opts.data_dir, self.seed,
                                        self.samples or 1, longest - len(tok.bos), demo_tokens,
                                        strict=self.cfg.samples is not None, longest=longest)

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        bos = list(tok.bos)
        body = length - len(bos)           # document tokens per window (yarn: max_length - 1)
        out: list[Request] = []
        if "sliding" in self.selected:
            if self.opts.stride > body:
                raise EvalError(f"--stride {self.opts.stride} is longer than the window ({body} document tokens "
                                f"at length {length}): lower --stride or raise --lengths")
            # demo documents: L-1 + DEMO_EXTRA_WINDOWS*S tokens, so every window is full and they stay cheap
            docs = self._documents(tok, length, body + DEMO_EXTRA_WINDOWS * self.opts.stride)
            out += self._windowed(docs, bos, body, length, "sliding", self.opts.stride)
        if "truncate" in self.selected:
            docs = [perplexity_corpus.Document(d.doc_id, d.ids[:body]) for d in self._documents(tok, length, body)]
            out += self._windowed(docs, bos, body, length, "truncate", body)
        if "needle" in self.selected:
            out += self._needles(tok, bos, length)
        return out

    def _windowed(self, docs, bos, body, length, task, stride) -> list[Request]:
        out: list[Request] = []
        for doc in docs:
            for begin, end, n_scored in sliding_windows(len(doc.ids), body, stride):
                ids = np.concatenate([np.asarray(bos, dtype=np.int32), doc.ids[begin:end]])
                out.append(Request(self.name, task, length, len(out), ids, 0, (), seed=self.seed,
                                   kind="logprobs", score_start=max(len(ids) - n_scored, 1),
                                   payload=WindowPayload(int(doc.doc_id), begin)))
        return out

    def _needles(self, tok: Tokenizer, bos: list[int], length: int) -> list[Request]:
        question = tok.encode_piece(QUESTION)
        docs = self._documents(tok, length, length - len(bos))
        out: list[Request] = []
        for doc in docs:
            ends = np.flatnonzero(np.isin(doc.ids, _sentence_end_token_ids(tok, np.unique(doc.ids)))) + 1
            for depth in depth_grid(self.opts.depths):
                rng = random.Random(f"perplexity-needle-{self.seed}-{length}-{doc.doc_id}-{depth}")
                key = rng.randint(*KEY_RANGE)
                needle, answer = tok.encode_pieces([NEEDLE.format(key=key), ANSWER.format(key=key)])
                fixed = len(bos) + len(needle) + len(question) + len(answer)
                fit_check(fixed, 0, length, "a needle-driven perplexity prompt")
                n_fill = length - fixed
                pos = n_fill if depth >= 100 else round(n_fill * depth / 100)
                i = bisect_right(ends, pos)
                pos = int(ends[i - 1]) if depth < 100 and i > 0 else pos
                # after the needle the document's start reads mid-text (no SentencePiece "▁" of a text start)
                filler = doc.ids[:n_fill] if pos > 0 else perplexity_corpus.mid_text(tok, doc.ids, n_fill)
                ids = np.concatenate([bos, filler[:pos], needle, filler[pos:], question, answer]).astype(np.int32)
                out.append(Request(self.name, "needle", length, len(out), ids, 0, (str(key),),
                                   depth=round(depth, 2), seed=self.seed, kind="logprobs",
                                   score_start=len(ids) - len(answer), payload=WindowPayload(int(doc.doc_id))))
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        if not isinstance(result, LogprobResult):
            raise TypeError("perplexity scores log-probs, but the backend returned a generation")
        lp = np.asarray(result.token_logprobs, dtype=np.float64)
        first = max(request.score_start, 1)
        if len(lp) != len(request.prompt_ids) - first or len(lp) == 0:
            raise EvalError(f"backend returned {len(lp)} log-probs for {len(request.prompt_ids) - first} "
                            "scored tokens: the backend's logprobs() is broken")
        if not np.isfinite(lp).all():
            raise EvalError(f"non-finite log-probs at length {request.length}: the RoPE setting overflows "
                            "its position table; lower --lengths")
        nll = -lp
        positions = np.arange(first, len(request.prompt_ids))
        bins = positions * N_BINS // max(request.length, len(request.prompt_ids))
        sums = np.bincount(bins, weights=nll, minlength=N_BINS)
        counts = np.bincount(bins, minlength=N_BINS)
        used = np.flatnonzero(counts)
        detail = perplexity_report.NllDetail(
            nll_sum=float(nll.sum()), tokens=len(nll), bins=tuple(int(b) for b in used),
            bin_nll=tuple(float(sums[b]) for b in used), bin_tokens=tuple(int(counts[b]) for b in used))
        return SampleScore(math.exp(float(nll.mean())), detail=detail)

    @classmethod
    def aggregate_records(cls, records) -> float:
        return perplexity_report.yarn_ppl(records)

    @classmethod
    def sample_unit(cls, task: str) -> str:
        return {"sliding": "window", "truncate": "document", "needle": "document x depth"}.get(task, "sample")

    @classmethod
    def aggregate_stderr(cls, records) -> float:
        """Not defined on the perplexity scale (an exp of a mean); the report shows per-document values."""
        return float("nan")

    @classmethod
    def report_blocks(cls, cells, records, labels):
        return perplexity_report.blocks(records, labels)
