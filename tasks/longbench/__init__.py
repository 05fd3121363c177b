"""LongBench v1 (21 data sets) and LongBench-E (13 data sets in length buckets).

Paper: Bai et al., "LongBench: A Bilingual, Multitask Benchmark for Long Context Understanding"
(ACL 2024, arXiv 2308.14508). Reference implementation: THUDM/LongBench, directory LongBench/:
`config/dataset2prompt.json`, `config/dataset2maxlen.json` (prompts.py), `pred.py` (middle
truncation, data sets without chat template, greedy decoding; build.py), `eval.py` and `metrics.py`
(metrics.py here), `README.md` (data format, data.zip, categories; data.py, results.py).

Here the context length `length` is the model's whole budget: prompt tokens (BOS and chat template
included) + the data set's output budget <= length. Prompts are not padded to the length; longer ones
are middle-truncated and the cut is recorded. Each sample is one request; greedy decoding; the
backends stop on the tokenizer's EOS and every eos_token_id of the model's generation_config.json
(Llama-3's 128009 included). `--samples N` takes the first N samples of each data set (LongBench-E:
of each data set and bucket); by default all are run, as the reference does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalsuite.config.options import option
from evalsuite.suite import Command, Headline, Suite
from evalsuite.types import Payload, Request, Result, SampleScore, output_text
from evalsuite.workload.tokenization import Tokenizer

from . import build, data, metrics, rescore, results
from .prompts import DATASETS, E_DATASETS, LANGUAGES, MAX_NEW_TOKENS, NEWLINE_STOP, bucket


@dataclass(frozen=True)
class LongBenchOptions:
    data_dir: str | None = option(None, "longbench: folder with LongBench's <dataset>.jsonl files", flag="--data-dir")
    max_prompt: int | None = option(None, "longbench: pred.py's fixed prompt budget in tokens (its max_length, "
                                          "e.g. 3500 for a 4k model), independent of the output budget; "
                                          "default: the context length minus the output budget",
                                    flag="--longbench-max-prompt", minimum=2)


@dataclass(frozen=True)
class LongBenchPayload(Payload):
    """The facts of one LongBench sample that scoring and the report need."""

    id: str
    length_field: int                  # the data set's `length` (words, or characters for Chinese)
    truncated_tokens: int              # tokens cut from the middle (0: the prompt fitted)
    prompt_tokens_before_truncation: int
    chat: bool                         # whether the chat template wraps this prompt
    all_classes: tuple[str, ...] | None
    newline_stop: bool                 # the reference stops this data set at the first newline


class LongBenchSuite(Suite):
    name = "longbench"
    version = 2                            # 2: chat bodies as prompt pieces, whole-character cuts, samsum stops
    subtasks = DATASETS
    description = "LongBench v1: 21 data sets, reference prompts and metrics, middle truncation"
    metric = "longbench score"
    e: ClassVar[bool] = False
    Options = LongBenchOptions
    payload_type = LongBenchPayload
    commands: ClassVar[tuple[Command, ...]] = (rescore.COMMAND,)
    report_order = 1

    @classmethod
    def headlines(cls) -> tuple[Headline, ...]:
        return tuple(Headline(f"avg_{code}", f"{cls.name}: {language} average (leaderboard Avg)",
                              note=f"Mean of the {language} category averages; the code data sets count in both "
                                   "languages, as in the THUDM/LongBench README leaderboard.")
                     for code, language in LANGUAGES.items())

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "data": data.fingerprint(self.selected, self.e, self.opts.data_dir)}

    def planned_samples(self) -> int:
        per_set = self.cfg.samples * (3 if self.e else 1) if self.cfg.samples else 500   # data sets hold <= 500
        return per_set * len(self.selected)

    def min_length(self, tok: Tokenizer) -> int:
        return max(build.min_length(tok, ds, self.cfg.template, MAX_NEW_TOKENS[ds]) for ds in self.selected)

    def _chosen(self, samples: list[data.Sample], dataset: str) -> list[tuple[int, str]]:
        """(sample index, task name) of the samples to run."""
        n = self.cfg.samples
        return [(i, dataset) for i in range(len(samples) if n is None else min(n, len(samples)))]

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        out: list[Request] = []
        for ds in self.selected:
            samples = data.load(ds, self.e, self.opts.data_dir)
            chosen = self._chosen(samples, ds)
            source = (self.opts.data_dir, data.file_name(ds, self.e))
            frame, chat = build.framing(tok, ds, self.cfg.template)
            bodies = build.encoded(tok, source, ds, samples, [i for i, _ in chosen], chat)
            for i, task in chosen:
                s = samples[i]
                b = build.assemble(tok, bodies[i], frame, chat, MAX_NEW_TOKENS[ds], length, f"LongBench {ds}",
                                   self.opts.max_prompt)
                payload = LongBenchPayload(s.id, s.length, b.truncated, b.prompt_tokens, b.chat, s.all_classes,
                                           ds in NEWLINE_STOP)
                out.append(Request(self.name, task, length, i, b.ids, MAX_NEW_TOKENS[ds], s.answers,
                                   seed=self.seed, payload=payload, **_samsum_stop(tok, ds)))
        return out

    def score(self, request: Request, result: Result) -> SampleScore:
        assert isinstance(request.payload, LongBenchPayload)
        classes = list(request.payload.all_classes) if request.payload.all_classes is not None else None
        dataset = results.split_task(request.task)[0]
        return SampleScore(metrics.score_sample(dataset, output_text(result), request.references, classes))

    @classmethod
    def derived_cells(cls, cells):
        return results.derived_cells(cells)

    @classmethod
    def report_blocks(cls, cells, records, labels):
        return results.report_blocks(cls.name, cells, list(records))


def _samsum_stop(tok: Tokenizer, dataset: str) -> dict[str, Any]:
    """pred.py for samsum: generation also ends at the newline token, `tokenizer.encode("\\n",
    add_special_tokens=False)[-1]`, which joins the eos_token_id list, and min_length=context+1 bars
    those ends from the first new token ("prevent illegal output on samsum")."""
    if dataset not in NEWLINE_STOP:
        return {}
    return {"stop_token_ids": (tok.encode("\n")[-1],), "min_new_tokens": 1}


class LongBenchESuite(LongBenchSuite):
    name = "longbench-e"
    version = 2
    subtasks = E_DATASETS
    description = "LongBench-E: 13 data sets scored per length bucket (0-4k, 4-8k, 8k+ words)"
    e = True
    commands: ClassVar[tuple[Command, ...]] = ()      # the longbench suite's `score` covers both
    report_order = 2

    def _chosen(self, samples: list[data.Sample], dataset: str) -> list[tuple[int, str]]:
        taken: dict[str, int] = {}
        out = []
        for i, s in enumerate(samples):
            b = bucket(s.length)
            if self.cfg.samples is None or taken.get(b, 0) < self.cfg.samples:
                taken[b] = taken.get(b, 0) + 1
                out.append((i, f"{dataset}@{b}"))
        return out
