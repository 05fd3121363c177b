"""Suite-owned options and how they appear on the command line.

A suite declares its options as a frozen dataclass whose fields are made with `option()`.
Each field becomes the flag `--<suite>-<field>` (dashes for underscores), e.g.
`--niah-depths`, unless it names a shared flag (`flag="--haystack"`): several suites may
declare the same shared flag (the haystack file, the data folder), and one value then
reaches all of them. The core names no suite: adding a suite with a new option touches
only that suite's module.
"""
from __future__ import annotations

import argparse
import math
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable

from evalsuite.types import EvalError


def option(default: Any, help: str, flag: str | None = None, minimum: float | None = None) -> Any:
    """A suite option field: its default, its help text, an optional shared flag name and
    an optional lower bound (checked when the command line is read)."""
    return field(default=default, metadata={"help": help, "flag": flag, "minimum": minimum})


@dataclass(frozen=True)
class Flag:
    """One command-line flag and the suite option fields it sets."""

    flag: str
    dest: str
    kind: type
    help: str
    minimum: float | None
    targets: tuple[tuple[str, str], ...]      # (suite name, field name)


def whole_number(flag: str, minimum: int) -> Callable[[str], int]:
    """An argparse type for a count flag (`minimum` 1: positive, 0: not negative), one-line errors."""
    def conv(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number, got {text!r}") from None
        if value < minimum:
            rule = {0: "not be negative", 1: "be positive"}.get(minimum, f"be at least {minimum}")
            raise argparse.ArgumentTypeError(f"{flag} must {rule}, got {value}")
        return value
    return conv


def positive_seconds(flag: str) -> Callable[[str], float]:
    """An argparse type for a duration flag: a positive, finite number of seconds, one-line errors."""
    def conv(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number of seconds, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{flag} must be positive and finite, got {text}")
        return value
    return conv


def base_type(hint: Any) -> type:
    """int for `int` and `int | None`; the one plain type an option may have."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if len(args) != 1 or args[0] not in (int, float, str, bool):
        raise EvalError(f"option type {hint} is not supported: use int, float, str or bool (optionally | None)")
    return args[0]


def suite_flags(suites: dict[str, Any]) -> list[Flag]:
    """Every flag the installed suites declare; a shared flag declared twice must agree on type."""
    by_flag: dict[str, Flag] = {}
    for name, cls in suites.items():
        hints = typing.get_type_hints(cls.Options)
        for f in fields(cls.Options):
            if f.default is MISSING:
                raise EvalError(f"suite {name!r} option {f.name!r} needs a default")
            flag = f.metadata.get("flag") or f"--{name}-{f.name}".replace("_", "-")
            kind = base_type(hints[f.name])
            old = by_flag.get(flag)
            if old is not None and old.kind is not kind:
                raise EvalError(f"suites disagree on the type of {flag}: {old.targets[0][0]} and {name}")
            targets = (old.targets if old else ()) + ((name, f.name),)
            own_help = f.metadata.get("help", "")
            help_text = own_help if not old else old.help if own_help in old.help else f"{old.help}; {own_help}"
            by_flag[flag] = Flag(flag, flag[2:].replace("-", "_"), kind, help_text,
                                 f.metadata.get("minimum"), targets)
    return list(by_flag.values())


def check_value(kind: type, minimum: float | None, value: Any) -> Any:
    """The one check of a suite option's value, read from a flag or a matrix file: its type (an int
    passes as a float), finiteness and lower bound. A ValueError says the rule broken."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"must be {kind.__name__} (got {value!r:.60})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be finite, got {value!r}")
    if minimum is not None and isinstance(value, (int, float)) and value < minimum:
        raise ValueError(f"must be at least {minimum:g}, got {value!r}")
    return value


def _converter(flag: Flag) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        if flag.kind is str:
            return text
        if flag.kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise argparse.ArgumentTypeError(f"{flag.flag} must be true or false, got {text!r}")
            return text.lower() in ("true", "1", "yes")
        try:
            value = flag.kind(text)
        except ValueError:
            what = "a whole number" if flag.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{flag.flag} must be {what}, got {text!r}") from None
        try:
            return check_value(flag.kind, flag.minimum, value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{flag.flag} {e}") from None
    return convert


def add_suite_flags(parser: argparse.ArgumentParser, suites: dict[str, Any]) -> None:
    group = parser.add_argument_group("suite options (each applies to the suites that declare it)")
    for f in suite_flags(suites):
        owners = ", ".join(sorted({s for s, _ in f.targets}))
        group.add_argument(f.flag, dest=f.dest, type=_converter(f), default=argparse.SUPPRESS,
                           metavar=f.kind.__name__.upper(), help=f"{f.help} [{owners}]".replace("%", "%%"))


def suite_options(cls: Any, args: argparse.Namespace, suites: dict[str, Any]) -> dict[str, Any]:
    """Suite `cls`'s option values from the parsed command line (those given; defaults elsewhere)."""
    values = {}
    for f in suite_flags(suites):
        if hasattr(args, f.dest):
            for suite, name in f.targets:
                if suite == cls.name:
                    values[name] = getattr(args, f.dest)
    return values


def build_suite(cls: Any, common: Any, values: dict[str, Any]) -> Any:
    """The one place a suite is made from what a user gave (flags or a matrix file): its common
    settings (a SuiteConfig) and its checked option values."""
    return cls(common, cls.Options(**values))


def given_options(args: argparse.Namespace, suites: dict[str, Any]) -> dict[str, Any]:
    """The suite flags the user gave (for the default run directory name and run.json)."""
    return {f.flag: getattr(args, f.dest) for f in suite_flags(suites) if hasattr(args, f.dest)}
