"""`evalsuite run --config FILE.toml`: a whole comparison matrix from one validated file.

    backend = "hf"                       # hf | vllm
    lengths = "256..2k"                  # the --lengths syntax, or a list of lengths
    ropes = ["none", "yarn:factor=4"]    # every model's RoPE settings (a model may list its own)
    out = "runs/compare"                 # optional; default runs/<file name>-<hash of the file>
    [engine_args]                        # optional, vllm backends: vLLM engine arguments (--engine-arg)
    tensor_parallel_size = 2
    enable_prefix_caching = true

    [[models]]
    path = "demo"                        # a folder, a hub id, or "demo" (the bundled model)
    label = "demo"
    dtype = "auto"                       # auto | float32 | bfloat16 | float16
    template = "base"                    # base | chat
    ropes = ["native", "yarn:factor=2"]  # optional: this model's own settings; "native" is the
                                         # checkpoint's own rope_scaling
    [suites.passkey]
    samples = 10
    [suites.niah]
    depths = 5                           # any option the suite declares (evalsuite run --help)
    [suites.ruler]
    tasks = ["niah_single_1", "vt"]      # or exclude = ["qa_1", "qa_2"]

Unknown keys and wrong types are one-line errors naming the key (pydantic, extra="forbid"; a
suite's keys are checked against its own options). Each model runs as one `evalsuite run` into
the shared run directory: one engine load per (model, RoPE setting), resumable as any run.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import tomllib
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from evalsuite.config import engine_args
from evalsuite.config.lengths import parse_lengths
from evalsuite.config.options import base_type as _base_type
from evalsuite.config.options import build_suite, check_value
from evalsuite.config.run_config import RunConfig
from evalsuite.config.vocab import BeyondCapacity, Dtype, Template
from evalsuite.plugins import suite_classes
from evalsuite.rope import RopeSpec
from evalsuite.run.rundir import default_dir
from evalsuite.suite import Suite, SuiteConfig
from evalsuite.types import EvalError

COMMON_KEYS = {"samples", "seed", "tasks", "exclude"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ModelEntry(_Strict):
    path: str = "demo"
    label: str | None = None
    revision: str | None = None
    dtype: Dtype = "auto"
    template: Template = "base"
    ropes: list[str] | None = Field(default=None, min_length=1)


class MatrixFile(_Strict):
    models: list[ModelEntry] = Field(min_length=1)
    suites: dict[str, dict[str, Any]] = Field(min_length=1)
    lengths: str | list[int | str] | None = None
    ropes: list[str] = Field(default_factory=lambda: ["none"], min_length=1)
    backend: str = "hf"
    out: str | None = None
    batch_size: PositiveInt | None = None
    workers: PositiveInt | None = None
    beyond_capacity: BeyondCapacity = "skip"
    max_samples: PositiveInt = 1_000_000
    engine_args: dict[str, Any] = Field(default_factory=dict)    # vLLM engine arguments (--engine-arg)


def _first_error(path: Path, e: ValidationError) -> EvalError:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "(top level)"
    value = f" (got {err['input']!r:.60})" if err["type"] != "missing" else ""
    return EvalError(f"config {path}: {where}: {err['msg']}{value}")


def read(path: Path) -> MatrixFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise EvalError(f"cannot read config {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise EvalError(f"config {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise EvalError(f"config {path} is not valid TOML: {e}") from None
    try:
        return MatrixFile.model_validate(data)
    except ValidationError as e:
        raise _first_error(path, e) from None


def _suite(path: Path, name: str, entry: dict[str, Any], template: str) -> Suite:
    classes = suite_classes()
    if name not in classes:
        raise EvalError(f"config {path}: suites.{name}: unknown suite; choose from {', '.join(classes)}")
    cls = classes[name]
    fields = {f.name: f for f in dataclasses.fields(cls.Options)}
    for key in entry:
        if key not in fields and key not in COMMON_KEYS:
            raise EvalError(f"config {path}: suites.{name}.{key}: unknown key; {name} takes "
                            f"{', '.join(sorted(COMMON_KEYS | set(fields)))}")
    for key in ("samples", "seed"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or
                                  (key == "samples" and value <= 0)):
            raise EvalError(f"config {path}: suites.{name}.{key}: must be a {'positive ' if key == 'samples' else ''}"
                            f"whole number (got {value!r})")
    tasks = _task_list(path, name, entry, "tasks")
    exclude = _task_list(path, name, entry, "exclude")
    if tasks and exclude:
        raise EvalError(f"config {path}: suites.{name}: give tasks or exclude, not both")
    subtasks = tuple(t for t in cls.subtasks if t not in exclude) if exclude else tasks
    hints = typing.get_type_hints(cls.Options)
    options = {}
    for key in (k for k in fields if k in entry):
        try:
            options[key] = check_value(_base_type(hints[key]), fields[key].metadata.get("minimum"), entry[key])
        except ValueError as e:
            raise EvalError(f"config {path}: suites.{name}.{key}: {e}") from None
    common = SuiteConfig(samples=entry.get("samples"), seed=entry.get("seed"), template=template, subtasks=subtasks)
    return build_suite(cls, common, options)


def _task_list(path: Path, name: str, entry: dict[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise EvalError(f"config {path}: suites.{name}.{key}: must be a list of task names (got {value!r:.60})")
    return tuple(value)


def _lengths(path: Path, value: str | list[int | str] | None) -> tuple[int, ...]:
    if value is None:
        return ()
    text = value if isinstance(value, str) else ",".join(str(v) for v in value)
    try:
        return tuple(parse_lengths(text))
    except EvalError as e:
        raise EvalError(f"config {path}: lengths: {e}") from None


def _ropes(path: Path, where: str, values: list[str]) -> tuple[RopeSpec, ...]:
    ropes = []
    for i, text in enumerate(values):
        try:
            ropes.append(RopeSpec.parse(text))
        except EvalError as e:
            raise EvalError(f"config {path}: {where}.{i}: {e}") from None
    labels = [r.label for r in ropes]
    if len(set(labels)) != len(labels):
        raise EvalError(f"config {path}: {where}: repeats a setting: {labels}")
    return tuple(ropes)


def run_configs(path: Path, progress: bool = True, report: bool = True, out: Path | None = None) -> list[RunConfig]:
    """One RunConfig per model of the matrix file, all writing into one run directory (which
    receives a copy of the file)."""
    matrix = read(path)
    lengths = _lengths(path, matrix.lengths)
    default_ropes = _ropes(path, "ropes", matrix.ropes)
    labels = [m.label for m in matrix.models if m.label]
    if len(set(labels)) != len(labels):
        raise EvalError(f"config {path}: models: two models share a label: {labels}")
    out = out or (Path(matrix.out) if matrix.out else default_dir(path.stem, what=path.read_bytes()))
    engine = engine_args.from_table(matrix.engine_args, f"config {path}: engine_args.")
    cfgs = []
    for i, m in enumerate(matrix.models):
        ropes = _ropes(path, f"models.{i}.ropes", m.ropes) if m.ropes else default_ropes
        suites = tuple(_suite(path, name, entry, m.template) for name, entry in matrix.suites.items())
        cfgs.append(RunConfig(
            suites=suites, lengths=lengths, ropes=ropes, out=out, model=None if m.path == "demo" else m.path,
            revision=m.revision, label=m.label, backend=matrix.backend, template=m.template,
            batch_size=matrix.batch_size, workers=matrix.workers, dtype=m.dtype,
            beyond_capacity=matrix.beyond_capacity, max_samples=matrix.max_samples, progress=progress,
            report=report, engine_args=engine))
    return cfgs
