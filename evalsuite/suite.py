"""The suite plugin interface (suites are found through evalsuite.plugins).

A suite (passkey, niah, ruler, ...) is one module plus one entry point line in group
"evalsuite.suites". It declares everything the core must not know: its typed options and
how they appear on the command line (`Options`, see evalsuite.config.options), its typed request
payload and score detail, how its cells aggregate, its report blocks and any subcommand.
A record's `task` is a task of a suite (RULER's "vt"), never a suite.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, is_dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from evalsuite.run.identity import RunIdentity, record_key
from evalsuite.types import EvalError, Payload, Record, Request, Result, SampleScore
from evalsuite.workload.tokenization import Tokenizer

if TYPE_CHECKING:
    import argparse

    from evalsuite.reports.blocks import Block
    from evalsuite.run.summary import ScoreCell

@dataclass(frozen=True)
class SuiteConfig:
    """What every suite takes: sample count, seed, prompt template and task selection."""

    samples: int | None = None        # None: the suite's own default
    seed: int | None = None           # None: the suite's own default_seed
    template: str = "base"            # base | chat
    subtasks: tuple[str, ...] = ()    # e.g. ruler:niah_single_1,vt; empty: all


@dataclass(frozen=True)
class NoOptions:
    """Options of a suite that has none of its own."""


@dataclass(frozen=True)
class Headline:
    """A (derived) task a suite puts at the top of the report, such as RULER's task average.
    `note` and `column` may hold `{threshold}` (the report's pass mark); `value` fills the extra
    per-setting column from the setting's score per length and that threshold."""

    task: str
    title: str
    note: str = ""
    column: str = ""
    value: Callable[[dict[int, float], float], str] | None = None


@dataclass(frozen=True)
class DriveRun:
    """What the runner hands a suite that drives the backend itself (a `DrivingSuite`) for
    one (model, RoPE setting): its run identity, the records already stored for it, the one
    context length its records are filed under (the model's trained length) and the store."""

    identity: RunIdentity
    stored: tuple[Record, ...]
    length: int
    capacity: int
    batch_size: int | None
    append: Callable[[list[Record]], None]
    log: Callable[[str], None]

    def record(self, sample_key: str, **fields: Any) -> Record:
        """A record of this setting: the identity fields filled in, keyed like every other record."""
        return Record(key=record_key(sample_key, self.identity.key), **self.identity.record_fields(),
                      length=self.length, capacity=self.capacity, trained_length=self.length, **fields)


@dataclass(frozen=True)
class Command:
    """A subcommand a suite adds to the CLI (`evalsuite <name> ...`)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class SuiteBase(ABC):
    """What every suite declares. A suite is one of two kinds: a `Suite` builds requests that the
    runner sends to the backend and scores them; a `DrivingSuite` runs its own evaluation on the
    loaded backend (lm-eval). Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    version: ClassVar[int]
    subtasks: ClassVar[tuple[str, ...]]          # all task names of the suite
    description: ClassVar[str] = ""
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    score_range: ClassVar[tuple[float, float] | None] = (0.0, 100.0)   # None: unbounded (perplexity)
    log_scale: ClassVar[bool] = False            # charts on a log axis
    heatmap: ClassVar[bool] = False              # depth x length heatmap in reports
    default_samples: ClassVar[int | None] = None
    default_seed: ClassVar[int] = 0              # used when the user gave no --seed
    # Cells may be built at the same time in separate processes (no shared downloads or files).
    parallel_build: ClassVar[bool] = False
    Options: ClassVar[type] = NoOptions          # a frozen dataclass of evalsuite.config.options fields
    payload_type: ClassVar[type[Payload] | None] = None   # typed request payload, if the suite has one
    commands: ClassVar[tuple[Command, ...]] = ()
    report_order: ClassVar[int] = 50             # where the suite's sections stand in a report
    # runs when `evalsuite run` is given no --suite (the quick checks that need no data)
    in_default_run: ClassVar[bool] = False

    @classmethod
    def headlines(cls) -> tuple[Headline, ...] | None:
        """The tasks the report leads with; None: every task of the suite (small suites)."""
        return None

    def __init__(self, cfg: SuiteConfig, opts: Any = None):
        if cfg.seed is None:
            cfg = replace(cfg, seed=self.default_seed)
        excluded = [t[1:] for t in cfg.subtasks if t.startswith("-")]
        if excluded:                                     # ruler:-qa_1,-qa_2: every task but those
            if len(excluded) != len(cfg.subtasks):
                raise EvalError(f"suite {self.name!r}: name the tasks to run or the tasks to leave out "
                                f"(-task), not both: {', '.join(cfg.subtasks)}")
            cfg = replace(cfg, subtasks=tuple(t for t in self.subtasks if t not in excluded) or ("-",))
            unknown = [t for t in excluded if t not in self.subtasks]
            if cfg.subtasks == ("-",) and not unknown:
                raise EvalError(f"suite {self.name!r}: every task is left out")
            if unknown:
                raise EvalError(f"suite {self.name!r} has no task {unknown[0]!r} to leave out; "
                                f"it has: {', '.join(self.subtasks)}")
        unknown = [t for t in cfg.subtasks if t not in self.subtasks]
        if unknown:
            raise EvalError(f"suite {self.name!r} has no task {unknown[0]!r}; "
                            f"it has: {', '.join(self.subtasks)}")
        self.cfg = cfg
        self.opts = opts if opts is not None else self.Options()
        self.selected = cfg.subtasks or self.subtasks

    @property
    def seed(self) -> int:
        assert self.cfg.seed is not None            # set in __init__
        return self.cfg.seed

    @property
    def samples(self) -> int | None:
        return self.cfg.samples or self.default_samples

    def cache_params(self) -> dict[str, Any]:
        """What, besides tokenizer and length, determines the generated workload."""
        return {"cfg": asdict(self.cfg), "options": asdict(self.opts)}

    def parts(self) -> list[Suite]:
        """Independently cached pieces whose requests, in order, are this suite's requests."""
        return []

    def min_length(self, tok: Tokenizer) -> int:
        return 1

    def plan(self, lengths: Sequence[int]) -> None:
        """Told every context length of the run before any request is built. A suite whose data
        must be the same at every length (perplexity: one document set, long enough for the
        longest length) keeps what it needs here, and puts it in cache_params if it changes
        the workload; by default a suite builds each length on its own."""
        return None

    def prepare(self) -> None:
        """Check, before anything is written or loaded, what a backend-driving suite needs
        (its task names, its data sets)."""
        return None

    def drive_pending(self, run: DriveRun) -> int:
        """How many units a backend-driving suite still has to run for this setting (0: none)."""
        return 0

    def planned_samples(self) -> int:
        """About how many requests one length holds, known before anything is built (the runner
        refuses absurd grids up front instead of building them)."""
        return (self.samples or 1) * len(self.selected)

    @classmethod
    def aggregate_records(cls, records: Sequence[Record]) -> float:
        """Score of one (setting, task, length) cell; accuracy-like scores as 0-100."""
        return 100.0 * sum(r.score for r in records) / len(records) if records else float("nan")

    @classmethod
    def sample_unit(cls, task: str) -> str:
        """What one stored sample of a task is (summary.csv's `unit`): a perplexity window and a
        document are not the same count."""
        return "sample"

    @classmethod
    def aggregate_stderr(cls, records: Sequence[Record]) -> float:
        """Standard error of the cell score (same scale as aggregate_records): the sample standard
        deviation of the per-sample scores over sqrt(n); NaN where it is not defined."""
        n = len(records)
        if n < 2:
            return float("nan")
        mean = sum(r.score for r in records) / n
        var = sum((r.score - mean) ** 2 for r in records) / (n - 1)
        return 100.0 * (var / n) ** 0.5

    @classmethod
    def derived_cells(cls, cells: list[ScoreCell]) -> list[ScoreCell]:
        """Extra summary cells computed from this suite's cells (e.g. an average task).
        They go into summary.csv, the terminal table and the report like any other cell."""
        return []

    @classmethod
    def report_blocks(cls, cells: list[ScoreCell], records: Sequence[Record],
                      labels: dict[str, str]) -> list[Block]:
        """Extra report blocks (evalsuite.reports.blocks Table / Chart) for this suite;
        `labels` maps a record's setting key to its report label."""
        return []


class Suite(SuiteBase):
    """A suite of requests: token-exact prompts the runner sends to the backend, scored per sample."""

    @abstractmethod
    def requests(self, tok: Tokenizer, length: int) -> list[Request]:
        """Token-exact, seeded requests of the selected tasks at one context length."""

    @abstractmethod
    def score(self, request: Request, result: Result) -> SampleScore:
        """Score one sample (a Generation for generate requests, a LogprobResult for logprobs)."""

    def parts(self) -> list[Suite]:
        """Independently cached pieces whose requests, in order, are this suite's requests.
        Finer cache cells are reused across task selections and built in parallel."""
        return [self]


class DrivingSuite(SuiteBase):
    """A suite that builds no requests: the runner hands it each loaded backend instead, once per
    (model, RoPE setting), whatever the lengths (lm-eval runs its own tasks on it)."""

    @abstractmethod
    def drive_pending(self, run: DriveRun) -> int:
        """How many units it still has to run for this setting (0: none)."""

    @abstractmethod
    def drive(self, backend: Any, run: DriveRun) -> int:
        """Run on the loaded backend, storing records through `run.append` as units finish;
        returns the number of records stored."""


def check_suite(name: str, cls: type[SuiteBase]) -> None:
    """What a suite plugin must declare beyond the methods (evalsuite.plugins checks the class itself)."""
    for attr in ("name", "version", "subtasks"):
        if not hasattr(cls, attr):
            raise EvalError(f"suite plugin {name!r} lacks the class attribute {attr!r}")
    if cls.name != name:
        raise EvalError(f"suite plugin {name!r} names itself {cls.name!r}: the entry point must match")
    if not (is_dataclass(cls.Options) and cls.Options.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise EvalError(f"suite plugin {name!r}: Options must be a frozen dataclass")


def parse_suites(text: str, known: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """`passkey,ruler:niah_single_1,vt` -> [("passkey", ()), ("ruler", ("niah_single_1", "vt"))];
    `ruler:-qa_1,-qa_2` -> [("ruler", ("-qa_1", "-qa_2"))] (every task but those)."""
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
