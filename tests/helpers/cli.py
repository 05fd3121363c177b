"""Run `evalsuite ...` as a user would, in this process (fast) or in a new interpreter (smoke tests).

In process, `main()` runs with the working directory, environment (EVALSUITE_CACHE under the
test's folder, hub offline) and output streams a subprocess would get, and its exit code and
output come back in a `subprocess.CompletedProcess`. An exception escaping `main()` (a
traceback a user would see) becomes stderr text and exit code 1, so a test that asserts one
clean line catches it the same way.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def cli_env(tmp_path: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               EVALSUITE_CACHE=str(tmp_path / "cache"))
    return env


@contextlib.contextmanager
def _as_a_process(tmp_path: Path, env: dict[str, str]) -> Iterator[None]:
    """cwd and environment as `evalsuite` would have them in a new process, restored afterwards."""
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(tmp_path)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def run_in_process(args: list[str], tmp_path: Path, env: dict[str, str] | None = None,
                   input: str | None = None) -> subprocess.CompletedProcess:
    from evalsuite.cli import main
    out, err = io.StringIO(), io.StringIO()
    with _as_a_process(tmp_path, env or cli_env(tmp_path)), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        stdin, argv = sys.stdin, sys.argv
        sys.stdin, sys.argv = io.StringIO(input or ""), [str(ROOT / "evalsuite" / "__main__.py"), *map(str, args)]
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:                 # argparse's --help / --version
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:                    # noqa: BLE001 - what a user would see as a traceback
            traceback.print_exc(file=err)
            code = 1
        finally:
            sys.stdin, sys.argv = stdin, argv
    return subprocess.CompletedProcess(["evalsuite", *args], code, out.getvalue(), err.getvalue())


def evalsuite(args: list[Any], tmp_path: Path, timeout: float = 600, *, subprocess_run: bool = False,
              **kw: Any) -> subprocess.CompletedProcess:
    """`evalsuite ARGS` in `tmp_path`: in this process, or with subprocess_run=True in a new
    interpreter (for what only a process shows: imports, signals, exit codes of the interpreter)."""
    if not subprocess_run:
        return run_in_process([str(a) for a in args], tmp_path, kw.pop("env", None), kw.pop("input", None))
    return subprocess.run([sys.executable, "-m", "evalsuite", *map(str, args)], capture_output=True, text=True,
                          cwd=tmp_path, env=kw.pop("env", None) or cli_env(tmp_path), timeout=timeout, **kw)


def evalsuite_process(args: list[Any], tmp_path: Path, timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess:
    """`evalsuite ARGS` in a new interpreter: for engines (vLLM keeps process-wide state) and smoke tests."""
    return evalsuite(args, tmp_path, timeout, subprocess_run=True, **kw)
