"""Command line: `evalsuite run | report | list | cache | search | convert | prompts`, plus the
subcommands suites add (Suite.commands). One module per subcommand, each with `add_parser(sub)` and
`run(args)`.

Every user error ends as one line on stderr and exit code 2; nothing is written before the
input has been checked. Suite options come from the installed suites (evalsuite.config.options):
this package names no suite.
"""
from __future__ import annotations

import argparse
import signal
import sys
from types import ModuleType
from typing import Callable, NoReturn

from evalsuite import __version__
from evalsuite.cli import cache, convert, listing, prompts, report, run, search
from evalsuite.plugins import suite_classes
from evalsuite.types import EvalError

SUBCOMMANDS: dict[str, ModuleType] = {"run": run, "report": report, "list": listing, "cache": cache,
                                      "search": search, "convert": convert, "prompts": prompts}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:      # one line, not argparse's usage block
        raise EvalError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="evalsuite", description="Long-context evaluation for RoPE-extended models.")
    p.add_argument("--version", action="version", version=f"evalsuite {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in SUBCOMMANDS.values():
        module.add_parser(sub)
    for cls in suite_classes().values():
        for command in cls.commands:
            command.add_arguments(sub.add_parser(command.name, help=command.help))
    return p


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    if name in SUBCOMMANDS:
        return SUBCOMMANDS[name].run
    return next(c.run for cls in suite_classes().values() for c in cls.commands if c.name == name)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (engines and servers stopped, finished batches kept)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:            # not the main thread (an embedding program): leave its handlers alone
        previous = None
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _command(args.command)(args)
    except EvalError as e:
        print(f"evalsuite: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:          # the file system said no (full disk, read-only place): one line
        where = f"{e.filename}: " if e.filename else ""
        print(f"evalsuite: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        what, code = ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)
        print(f"evalsuite: {what}; finished batches are stored, rerun the same command to resume", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
