"""The task plugin interface and the entry-point registries for tasks and backends."""
from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import ClassVar, Sequence

from .tokenization import Tokenizer
from .types import EvalError, LogprobResult, Record, Request, SampleScore


@dataclass(frozen=True)
class TaskConfig:
    """Everything a task may read from the command line, named and typed."""

    samples: int | None = None        # None: the task's own default
    seed: int | None = None           # None: the task's own default_seed
    template: str = "base"            # base | chat
    haystack: str | None = None       # text file or directory; None: the demo corpus
    data_dir: str | None = None       # local copies of data sets
    depths: int = 10                  # NIAH depth grid size
    stride: int = 256                 # sliding-window perplexity stride
    subtasks: tuple[str, ...] = ()    # e.g. ruler:niah_single_1,vt


class Task:
    """One suite. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    version: ClassVar[int]
    subtasks: ClassVar[tuple[str, ...]]          # all task names of the suite
    description: ClassVar[str] = ""
    metric: ClassVar[str] = "accuracy"
    heatmap: ClassVar[bool] = False              # depth x length heatmap in reports
    higher_is_better: ClassVar[bool] = True
    default_seed: ClassVar[int] = 0              # used when the user gave no --seed
    # Cells may be built at the same time in separate processes (no shared downloads or files).
    parallel_build: ClassVar[bool] = False

    def __init__(self, cfg: TaskConfig):
        if cfg.seed is None:
            cfg = replace(cfg, seed=self.default_seed)
        unknown = [t for t in cfg.subtasks if t not in self.subtasks]
        if unknown:
            raise EvalError(f"suite {self.name!r} has no task {unknown[0]!r}; "
                            f"it has: {', '.join(self.subtasks)}")
        self.cfg = cfg
        self.selected = cfg.subtasks or self.subtasks

    def cache_params(self) -> dict:
        """What, besides tokenizer and length, determines the generated workload."""
        from .haystacks import source_fingerprint
        return {"cfg": self.cfg.__dict__, "haystack": source_fingerprint(self.cfg.haystack)}

    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        raise NotImplementedError

    def parts(self) -> list["Task"]:
        """Independently cached pieces whose requests, in order, are this task's requests.
        Finer cache cells are reused across task selections and built in parallel."""
        return [self]

    def score(self, request: Request, output: str) -> SampleScore:
        raise NotImplementedError

    def score_logprobs(self, request: Request, result: LogprobResult) -> SampleScore:
        raise NotImplementedError(f"suite {self.name} does not score log-probs")

    @classmethod
    def aggregate_records(cls, records: Sequence[Record]) -> float:
        """Score of one (setting, task, length) cell; accuracy-like scores as 0-100."""
        return 100.0 * sum(r.score for r in records) / len(records) if records else float("nan")

    @classmethod
    def derived_cells(cls, cells: list) -> list:
        """Extra summary cells computed from this suite's cells (e.g. an average task).
        They go into summary.csv, the terminal table and the report like any other cell."""
        return []

    @classmethod
    def report_extras(cls, cells: list, records: Sequence[Record]) -> list[dict]:
        """Extra report blocks for this suite: {"title", "note", "table": {"header", "rows"}}
        and/or {"title", "note", "chart": reports.svg.line_chart(...)}."""
        return []

    def min_length(self, tok: Tokenizer) -> int:
        return 1


def _group(name: str):
    return {ep.name: ep for ep in entry_points(group=name)}


def task_classes() -> dict[str, type[Task]]:
    return {name: ep.load() for name, ep in sorted(_group("evalsuite.tasks").items())}


def backend_names() -> list[str]:
    return sorted(_group("evalsuite.backends"))


def backend_class(name: str):
    eps = _group("evalsuite.backends")
    if name not in eps:
        raise EvalError(f"unknown --backend {name!r}: choose one of {', '.join(sorted(eps))}")
    return eps[name].load()


def parse_suites(text: str, known: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """`passkey,ruler:niah_single_1,vt` -> [("passkey", ()), ("ruler", ("niah_single_1", "vt"))]."""
    out: list[tuple[str, list[str]]] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        suite, colon, sub = item.partition(":")
        if colon or suite in known:
            if suite not in known:
                raise EvalError(f"unknown suite {suite!r}: choose from {', '.join(known)} (see `evalsuite list`)")
            out.append((suite, [sub] if sub else []))
        elif out and out[-1][1]:
            out[-1][1].append(item)
        else:
            raise EvalError(f"unknown suite {item!r}: choose from {', '.join(known)} (see `evalsuite list`)")
    if not out:
        raise EvalError("empty --suite: name at least one suite, e.g. --suite passkey")
    return [(s, tuple(sub)) for s, sub in out]
