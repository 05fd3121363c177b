"""Where engine output goes: by default to `engine.log` in the run directory, not the terminal.

vLLM prints about 40 lines per engine start (INFO lines, warnings, progress bars from C++ and
Python) that drown evalsuite's own few lines. `route_engine_logs` sends the Python loggers of the
engines to the file, and `engine_output` redirects the process's stdout/stderr file descriptors
to it while an engine is imported or built (output written below Python, e.g. by C++, too).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ENGINE_LOGGERS = ("vllm", "transformers", "py.warnings")
_engine_log: Path | None = None


class _QuietFileHandler(logging.FileHandler):
    """A log line that cannot be written (full disk) is dropped: it must not print a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def route_engine_logs(path: Path) -> None:
    """Engine loggers (and Python warnings) write to `path` from now on."""
    global _engine_log
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")   # read when vLLM is imported: keep its handlers off
    if "transformers" in sys.modules:                       # its own terminal handler, when it has one
        from transformers.utils import logging as hf_logging
        hf_logging.disable_default_handler()
    handler = _QuietFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.captureWarnings(True)
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    _engine_log = path


def engine_log() -> Path | None:
    """The file engine output goes to (None: the terminal, --engine-logs show); server processes
    write theirs there too."""
    return _engine_log


@contextlib.contextmanager
def engine_output() -> Iterator[None]:
    """While an engine is imported or built: file descriptors 1 and 2 point at the engine log."""
    if _engine_log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(_engine_log, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
