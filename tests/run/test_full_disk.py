"""A full disk is one line naming the path and the cause, never a traceback or a half-written file,
and the rerun resumes with nothing lost or duplicated. Injected (ENOSPC from fsync, from the
report's write, from creating --out) everywhere, and for real on a small tmpfs where mounting works."""
import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from evalsuite import cli
from tests.helpers.cli import evalsuite

RUN = ["run", "--suite", "passkey", "--lengths", "256", "--samples", "12", "--batch-size", "2",
       "--no-progress"]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _keys(out: Path) -> list[str]:
    return [json.loads(x)["key"] for x in (out / "records.jsonl").read_text().splitlines()]


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("evalsuite: error:"), err
    for f in fragments:
        assert f in err, err


@pytest.mark.integration
def test_disk_full_mid_run_then_resume(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path / "cache"))
    out, straight = tmp_path / "run", tmp_path / "straight"
    args = [*RUN, "--model", str(tiny_model)]
    calls = {"n": 0}
    real_fsync = os.fsync

    def full_after_two(fd):
        calls["n"] += 1
        if calls["n"] > 2:
            raise ENOSPC
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_after_two)
    assert cli.main([*args, "--out", str(out)]) == 2
    _one_line_error(capsys, f"cannot append to {out / 'records.jsonl'}: No space left on device")
    assert len(_keys(out)) == 4                               # two whole batches, no torn third
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert cli.main([*args, "--out", str(out)]) == 0          # space again: the rerun resumes
    assert cli.main([*args, "--out", str(straight)]) == 0
    assert len(_keys(out)) == len(set(_keys(out))) == 12
    assert (out / "summary.csv").read_text() == (straight / "summary.csv").read_text()


@pytest.mark.integration
def test_disk_full_while_writing_the_report(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert cli.main([*RUN, "--model", str(tiny_model), "--out", str(out), "--no-report"]) == 0
    capsys.readouterr()
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.endswith(".tmp"):
            raise ENOSPC
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    target = tmp_path / "report.html"
    assert cli.main(["report", str(out), "-o", str(target)]) == 2
    _one_line_error(capsys, f"cannot write {target}: No space left on device")
    assert not target.exists() and not list(tmp_path.rglob("*.tmp"))


def test_disk_full_before_the_run(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path / "cache"))
    real = Path.mkdir

    def full(self, *a, **k):
        if self.name == "run":
            raise ENOSPC
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", full)
    assert cli.main([*RUN, "--model", str(tiny_model), "--out", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, f"cannot write to --out {tmp_path / 'run'}: No space left on device")


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return res.returncode == 0


@pytest.mark.integration
def test_a_real_full_disk_on_tmpfs(tiny_model, tmp_path):
    disk = tmp_path / "disk"
    if os.geteuid() != 0 or not _mount_tmpfs(disk, "24k"):
        pytest.skip("mounting a tmpfs needs root (the injected tests above cover the same paths)")
    try:
        out = disk / "run"
        args = ["run", "--suite", "passkey", "--lengths", "256", "--samples", "40", "--batch-size", "4",
                "--no-progress", "--model", str(tiny_model), "--out", str(out)]
        res = evalsuite(args, tmp_path)
        err = res.stderr.strip()
        assert res.returncode == 2 and len(err.splitlines()) == 1 and "No space left on device" in err, err
        assert str(out) in err
        stored = _keys(out)
        assert 0 < len(stored) < 40 and len(stored) == len(set(stored))
        assert not list(disk.rglob("*.tmp"))
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        res = evalsuite(args, tmp_path)
        assert res.returncode == 0, res.stderr[-1000:]
        resumed = _keys(out)
        assert len(resumed) == len(set(resumed)) == 40 and resumed[: len(stored)] == stored
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
