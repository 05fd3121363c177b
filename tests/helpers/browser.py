"""Headless Chromium for the report tests: a screenshot and the rendered DOM of a page."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """The browser; in CI its absence is a failure (scripts/setup.sh installs it), elsewhere a skip."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/setup.sh installs it")
        pytest.skip("chromium not installed")
    return browser


def screenshot(page: Path, shot: Path, profile: Path, size: str) -> None:
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180)


def dump_dom(page: Path, profile: Path) -> str:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180).stdout
