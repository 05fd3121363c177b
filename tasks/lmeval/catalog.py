"""lm-eval task names, checked and loaded before any engine: unknown names and data sets that are
not available (offline, not cached) are one-line errors naming the task and the data set.

A requested name (a task, a group or a tag) is one resumable unit: its digest covers lm-eval's
version, the loaded configuration of every task under it, the sample limit, few-shot count and
prompt template, so a changed YAML or setting re-runs it and an unchanged one is skipped.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.types import EvalError

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")      # function reprs in a dumped config


@dataclass(frozen=True)
class Unit:
    name: str          # as requested: a task, group or tag
    digest: str        # see the module docstring
    tasks: tuple[str, ...]   # the leaf tasks it runs


def task_manager(include: str | None, names: tuple[str, ...], own_only: bool = True) -> tuple[Any, bool]:
    """lm-eval's TaskManager. Indexing lm-eval's own ~15,000 task YAMLs takes about a minute on a
    small CPU, so names that all come from --lmeval-include are looked up there alone (the tasks
    load the same; `load_units` falls back to the full index if one of them needs it).
    Returns the manager and whether it indexed the include folder alone."""
    from lm_eval.tasks import TaskManager
    if include is not None and not Path(include).is_dir():
        raise EvalError(f"--lmeval-include {include!r} is not a folder of lm-eval task YAMLs")
    if include is not None and own_only:
        own = TaskManager(include_path=include, include_defaults=False)
        if set(names) <= set(own.all_tasks):
            return own, True
    return TaskManager(include_path=include), False


def check_names(manager: Any, names: tuple[str, ...]) -> None:
    known = set(manager.all_tasks)
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, manager.all_tasks, n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise EvalError(f"lm-eval knows no task or group {name!r}{hint}; your own task YAMLs go "
                            "in a folder given as --lmeval-include DIR")


def load_units(include: str | None, names: tuple[str, ...], settings: dict[str, Any]) -> tuple[Any, list[Unit]]:
    """The TaskManager and every requested name loaded as lm-eval would (data sets included): what
    cannot be loaded fails here, before anything is written or any engine loads."""
    manager, own_only = task_manager(include, names)
    try:
        return manager, _load(manager, names, settings)
    except EvalError:
        if not own_only:
            raise
    manager, _ = task_manager(include, names, own_only=False)    # an own group may name lm-eval's tasks
    return manager, _load(manager, names, settings)


def _load(manager: Any, names: tuple[str, ...], settings: dict[str, Any]) -> list[Unit]:
    from lm_eval import __version__ as lm_eval_version
    check_names(manager, names)
    units = []
    for name in names:
        try:
            with _quiet_custom_dataset_note():
                tasks = manager.load([name])["tasks"]
        except Exception as e:       # datasets/hub errors have many types; all mean "cannot load this task"
            raise EvalError(_load_error(manager, name, e)) from None
        configs = {t: _ADDRESS.sub("", json.dumps(task.dump_config(), sort_keys=True, default=str))
                   for t, task in sorted(tasks.items())}
        what = json.dumps([name, lm_eval_version, configs, settings], sort_keys=True, default=str)
        units.append(Unit(name, hashlib.sha256(what.encode()).hexdigest()[:16], tuple(sorted(tasks))))
    return units


@contextlib.contextmanager
def _quiet_custom_dataset_note() -> Iterator[None]:
    """lm-eval warns, for every task that loads its data through `custom_dataset` (as the project's
    own tasks do), that it could take kwargs from --metadata: two lines per task, no information."""
    logger = logging.getLogger("lm_eval.api.task")

    def keep(record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in str(record.msg)
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _load_error(manager: Any, name: str, error: Exception) -> str:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    found = _data_sets(manager, name)
    data = ", ".join(repr(d) for d in found[:4]) if found else "(named in its YAML)"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    where = "is not in the local cache (the hub is switched off)" if offline else "could not be loaded"
    return f"lm-eval task {name!r}: its data set {data} {where}: {type(error).__name__}: {first}"


def _data_sets(manager: Any, name: str, depth: int = 0) -> list[str]:
    """The data sets a task's YAML names (`dataset_path`, `dataset_name`); for a group, its tasks'."""
    from lm_eval.tasks._yaml_loader import load_yaml
    entry = manager.task_index.get(name)
    if entry is None or not entry.yaml_path or depth > 3:
        return []
    try:
        cfg = load_yaml(entry.yaml_path, resolve_func=False)
    except Exception:                # an unreadable YAML: the error line still names the task
        return []
    path, subset = cfg.get("dataset_path"), cfg.get("dataset_name")
    found = [f"{path} ({subset})" if subset else str(path)] if path else []
    children = cfg.get("task") if isinstance(cfg.get("task"), list) else []
    for child in children:
        if isinstance(child, str):
            found += _data_sets(manager, child, depth + 1)
    return list(dict.fromkeys(found))
