"""Short-context regression through lm-eval, under the same model and RoPE setting as the other suites.

Why: every context-extension paper reports how much short-context ability the extension kept
(LongRoPE2, Shang et al. 2025: MMLU, GSM8K, HellaSwag, ... "retains 97.6% of short-context
performance"; YaRN, Peng et al. 2023, likewise), and the field gets those numbers from
lm-evaluation-harness. Reference implementation: EleutherAI/lm-evaluation-harness 0.4.13,
run through its own API (`lm_eval.simple_evaluate` with a `TaskManager(include_path=...)`), so
prompts, few-shot sampling, filters, metrics and stderr are lm-eval's, unchanged.

`--suite lmeval:mmlu,hellaswag,...` takes any task, group or tag lm-eval knows, and the user's own
task YAMLs through `--lmeval-include DIR`. The project's own two tasks live in
tasks/lmeval_tasks (`--lmeval-include` that folder; `evalsuite_facts`, `evalsuite_passkey`).

Lengths: lm-eval tasks have no context length. This suite drives the backend itself
(a `DrivingSuite`): the runner hands it each loaded (model, RoPE setting) backend once,
whatever `--lengths` holds, and its records are filed at one pseudo-length, the model's trained
context (also lm-eval's `max_length`). On vLLM it uses the engine that serves prompts of that
length (for LongRoPE, the short-factor engine), so the engine is not loaded twice; on vllm-server,
that engine key's servers; on openai, the given endpoint (lm-eval's local-completions model).

Resume is per requested name: each one's records are stored in one append when lm-eval has
finished it, so a killed run reruns at most the task (or group) in flight. `--samples N` is
lm-eval's `limit`; `--template chat` its `apply_chat_template`; seeds are lm-eval's defaults.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from evalsuite.config.options import option
from evalsuite.run.logs import engine_output
from evalsuite.suite import DriveRun, DrivingSuite, SuiteConfig
from evalsuite.types import EvalError, Record

from . import catalog
from .results import LmevalCell, LmevalSample, to_records

if TYPE_CHECKING:
    from evalsuite.reports.blocks import Block
    from evalsuite.run.summary import ScoreCell


@dataclass(frozen=True)
class LmevalOptions:
    include: str | None = option(None, "lmeval: a folder of your own lm-eval task YAMLs (lm-eval's include_path)")
    fewshot: int | None = option(None, "lmeval: few-shot examples per prompt (default: each task's own)",
                                 minimum=0)


class LmevalSuite(DrivingSuite):
    name = "lmeval"
    version = 1
    subtasks = ()                    # any task, group or tag lm-eval knows: checked by prepare()
    description = ("lm-evaluation-harness tasks (short-context regression) on the same model and RoPE "
                   "setting; scores and stderr are lm-eval's")
    metric = "lm-eval metric"
    score_range = None               # lm-eval metrics are not all percentages
    report_order = 60
    Options = LmevalOptions

    def __init__(self, cfg: SuiteConfig, opts: Any = None):
        names = cfg.subtasks
        if not names or any(t.startswith("-") for t in names):
            raise EvalError("suite 'lmeval' needs the lm-eval tasks to run, e.g. --suite lmeval:hellaswag,arc_easy")
        super().__init__(replace(cfg, subtasks=()), opts)     # lm-eval, not this class, knows the names
        self.cfg, self.selected = cfg, names
        self._units: list[catalog.Unit] | None = None
        self._manager: Any = None

    def planned_samples(self) -> int:
        return 0                     # not per length (see the module docstring)

    def prepare(self) -> None:
        if self._units is not None:
            return
        settings = {"limit": self.samples, "fewshot": self.opts.fewshot, "template": self.cfg.template}
        self._manager, self._units = catalog.load_units(self.opts.include, tuple(self.selected), settings)

    def _pending(self, run: DriveRun) -> list[catalog.Unit]:
        self.prepare()
        assert self._units is not None
        done = {r.payload.get("unit") for r in run.stored if r.suite == self.name and r.payload}
        return [u for u in self._units if u.digest not in done]

    def drive_pending(self, run: DriveRun) -> int:
        return len(self._pending(run))

    def drive(self, backend: Any, run: DriveRun) -> int:
        from lm_eval import simple_evaluate

        from .models import lm_for
        pending = self._pending(run)
        if not pending:
            return 0
        with engine_output():            # lm-eval's progress bars and notes: to the engine log
            lm = lm_for(backend, run.length, run.batch_size or backend.default_batch_size)
        stored = 0
        for unit in pending:
            start = time.perf_counter()
            with engine_output():
                out = simple_evaluate(model=lm, tasks=[unit.name], task_manager=self._manager, limit=self.samples,
                                      num_fewshot=self.opts.fewshot, log_samples=True,
                                      apply_chat_template=self.cfg.template == "chat")
            if out is None:
                raise EvalError(f"lm-eval returned no results for {unit.name!r}")
            records = to_records(out, unit, run, lambda text: len(backend.tok.encode(text)),
                                 time.perf_counter() - start)
            run.append(records)
            stored += len(records)
            run.log(f"[{run.identity.rope}] lm-eval {unit.name}: {len(records)} records in "
                    f"{time.perf_counter() - start:.1f}s")
        return stored

    @classmethod
    def aggregate_records(cls, records: Sequence[Record]) -> float:
        """lm-eval's own aggregate of the cell's task and metric (as a percentage where it is one)."""
        if not records or records[0].detail is None:
            return super().aggregate_records(records)
        cell = records[0].detail_as(LmevalCell)
        return cell.value * cell.scale

    @classmethod
    def aggregate_stderr(cls, records: Sequence[Record]) -> float:
        if not records or records[0].detail is None:
            return super().aggregate_stderr(records)
        cell = records[0].detail_as(LmevalCell)
        return cell.stderr * cell.scale if cell.stderr is not None else float("nan")

    @classmethod
    def report_blocks(cls, cells: list[ScoreCell], records: Sequence[Record],
                      labels: dict[str, str]) -> list[Block]:
        from evalsuite.reports.retention import retention_table
        primary = {r.task for r in records if r.detail and r.detail.get("primary")}
        better = {r.task: bool(r.detail.get("higher_is_better", True)) for r in records if r.detail}
        table = retention_table(cells, averaged=primary, higher_is_better=better)
        return [table] if table is not None else []


__all__ = ["LmevalSuite", "LmevalOptions", "LmevalSample", "LmevalCell"]
