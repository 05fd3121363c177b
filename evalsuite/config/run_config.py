"""RunConfig: one model's whole run (suites, lengths, RoPE settings, backend and its options),
made by the command line (evalsuite.cli.run) or a matrix file (evalsuite.config.matrix) and
carried out by evalsuite.run.runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.config.engine_args import EngineArgs
from evalsuite.rope import RopeSpec
from evalsuite.suite import SuiteBase


@dataclass(frozen=True)
class RunConfig:
    suites: tuple[SuiteBase, ...]
    lengths: tuple[int, ...]
    ropes: tuple[RopeSpec, ...]
    out: Path | None = None           # None: derived from the run identities (default_out)
    model: str | None = None
    revision: str | None = None
    label: str | None = None          # the user's name for the model in reports
    backend: str = "hf"
    template: str = "base"
    batch_size: int | None = None
    workers: int | None = None        # processes building missing workloads; None: the usable CPUs
    dtype: str = "auto"
    beyond_capacity: str = "skip"     # lengths past a setting's capacity: skip | run | error
    max_samples: int = 1_000_000      # a larger grid is refused before it is built (--max-samples)
    progress: bool = True
    report: bool = True
    quiet: bool = False               # print nothing but errors
    engine_logs: str = "file"         # file: engine output goes to <out>/engine.log; show: to the terminal
    options: dict[str, Any] = field(default_factory=dict)   # suite flags as given (for the --out name)
    engine_args: EngineArgs = ()      # --engine-arg / [engine_args]: passed to the vLLM engines as given
    backend_options: Any = None       # a backend's own typed options (openai: EndpointOptions)
    verify_cache: bool = False        # --verify-cache: hash every cached workload on every load
