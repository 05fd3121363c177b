"""One plugin registry for suites, backends and RoPE methods.

Each kind has an entry-point group (a third-party package adds one line to its pyproject), a base
class every plugin must subclass, and a one-line error with a typo hint for a name that is not
there. Plugins load lazily: listing names imports nothing, and looking one up imports only it.
Built-in RoPE methods register themselves (`register`); suites and backends are entry points of
evalsuite's own pyproject, as a plugin's would be.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from evalsuite.types import EvalError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plugins of one kind, by name."""

    def __init__(self, kind: str, group: str, base: Callable[[], type[T]], flag: str,
                 check: Callable[[str, type[T]], None] | None = None) -> None:
        self.kind, self.group, self.flag = kind, group, flag
        self._base, self._check = base, check
        self._builtin: dict[str, type[T]] = {}
        self._loaded: dict[str, type[T]] = {}
        self._eps: dict[str, EntryPoint] | None = None      # read once per process

    def register(self, name: str, cls: type[T]) -> None:
        """A plugin that ships inside evalsuite (no entry point)."""
        if name in self._builtin:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._builtin[name] = cls

    def unregister(self, name: str) -> None:
        """Forget a built-in plugin (tests that register a throw-away one)."""
        self._builtin.pop(name, None)
        self._loaded.pop(name, None)

    def _entry_points(self) -> dict[str, EntryPoint]:
        if self._eps is None:
            self._eps = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._eps

    def names(self) -> list[str]:
        """Every name, without importing any plugin."""
        return [*self._builtin, *sorted(set(self._entry_points()) - set(self._builtin))]

    def unknown(self, name: str) -> EvalError:
        """The one-line error for a name that is not there, with the closest name as a hint."""
        names = self.names()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return EvalError(f"unknown {self.flag} {name!r}: choose one of {', '.join(names)} "
                         f"(see `evalsuite list`){hint}")

    def get(self, name: str) -> type[T]:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._builtin:
            cls = self._builtin[name]
        else:
            eps = self._entry_points()
            if name not in eps:
                raise self.unknown(name)
            cls = eps[name].load()
        self._loaded[name] = self._checked(name, cls)
        return self._loaded[name]

    def all(self) -> dict[str, type[T]]:
        return {name: self.get(name) for name in self.names()}

    def _checked(self, name: str, cls: Any) -> type[T]:
        """A plugin that is not a complete subclass of the base fails when it is loaded, not mid-run."""
        base = self._base()
        if not (inspect.isclass(cls) and issubclass(cls, base)):
            raise EvalError(f"{self.kind} plugin {name!r} is not a subclass of {base.__module__}.{base.__name__}")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise EvalError(f"{self.kind} plugin {name!r} does not implement {missing}")
        if self._check is not None:
            self._check(name, cls)
        return cls


def _suite_base() -> type:
    from evalsuite.suite import SuiteBase
    return SuiteBase


def _backend_base() -> type:
    from evalsuite.backends.base import Backend
    return Backend


def _rope_base() -> type:
    from evalsuite.rope.base import RopeSpec
    return RopeSpec


def _check_suite(name: str, cls: Any) -> None:
    from evalsuite.suite import check_suite
    check_suite(name, cls)


SUITES: Registry[Any] = Registry("suite", "evalsuite.suites", _suite_base, "suite", _check_suite)
BACKENDS: Registry[Any] = Registry("backend", "evalsuite.backends", _backend_base, "--backend")
ROPE_METHODS: Registry[Any] = Registry("RoPE method", "evalsuite.rope_methods", _rope_base, "RoPE method")


def suite_classes() -> dict[str, Any]:
    """Every installed suite, loaded and checked."""
    return SUITES.all()


def backend_names() -> list[str]:
    return BACKENDS.names()


def backend_class(name: str) -> Any:
    return BACKENDS.get(name)
