"""`evalsuite list`: the installed suites with their tasks, the backends and the RoPE methods."""
from __future__ import annotations

import argparse

from evalsuite.plugins import backend_names, suite_classes
from evalsuite.rope import method_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("list", help="suites, tasks, backends and RoPE methods")


def run(_args: argparse.Namespace) -> int:
    print("suites:")
    for name, cls in suite_classes().items():
        default = " (default)" if cls.in_default_run else ""
        print(f"  {name:<12} v{cls.version}  {cls.description}{default}")
        if len(cls.subtasks) > 1:
            print(f"  {'':<12}      tasks: {', '.join(cls.subtasks)}")
    print("backends:\n  " + ", ".join(backend_names()))
    print("rope methods (--rope METHOD:key=value,...):")
    for name, help_text in method_help():
        print(f"  {name:<9} {help_text}")
    return 0
