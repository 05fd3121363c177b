"""A workload cache entry verifies itself: each kind of damage is found, reported in one line
naming the entry, and the entry is rebuilt (never used); killed builds are swept at the next
start; `evalsuite cache info|verify|clear`."""
import argparse
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from evalsuite.cli import cache as cache_command
from evalsuite.models.resolve import resolve_model
from evalsuite.run import runner
from evalsuite.suite import SuiteConfig
from evalsuite.tasks.passkey import PasskeySuite
from evalsuite.workload import cache as workload
from evalsuite.workload.tokenization import Tokenizer

LENGTH = 256
IDS, LINES, MANIFEST = workload.IDS, workload.LINES, workload.MANIFEST


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.load(resolve_model(None))


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path))
    return tmp_path / "workloads"


@pytest.fixture
def reports(monkeypatch):
    seen = []
    monkeypatch.setattr(workload, "on_damaged", seen.append)
    return seen


def build(tok, lengths=(LENGTH,), verify=False):
    """The requests, their ids copied out of the memory map (damage written in place shows through it)."""
    reqs = runner.build_workloads([PasskeySuite(SuiteConfig(samples=4), PasskeySuite.Options())], tok, lengths, 1,
                                  verify=verify)
    return [dataclasses.replace(r, prompt_ids=np.array(r.prompt_ids)) for r in reqs]


def entry(root):
    (folder,) = cache_command.entries(root)
    return folder


def assert_same(got, want):
    assert [r.key for r in got] == [r.key for r in want]
    assert [r.references for r in got] == [r.references for r in want]
    assert [r.max_new_tokens for r in got] == [r.max_new_tokens for r in want]
    assert all(np.array_equal(a.prompt_ids, b.prompt_ids) for a, b in zip(got, want))


def edit_lines(folder, change):
    path = folder / LINES
    path.write_text("".join(change(path.read_text().splitlines(keepends=True))))


def gold(lines):                      # same size: the last digit of the first passkey
    ref = json.loads(lines[0])["request"]["references"][0]
    lines[0] = lines[0].replace(f'["{ref}"]', f'["{ref[:-1]}{(int(ref[-1]) + 1) % 10}"]')
    return lines


def max_new_tokens(lines):
    return [line.replace('"max_new_tokens": 10,', '"max_new_tokens": 1,') for line in lines]


def changed_n(lines):                 # same size and same sum: 246 -> 251 and 241
    n = json.loads(lines[0])["n"]
    lines[0] = lines[0].replace(f'"n": {n},', f'"n": {n + 5},')
    lines[1] = lines[1].replace(f'"n": {n},', f'"n": {n - 5},')
    return lines


def garbled(lines):
    lines[1] = "}" + lines[1][1:]
    return lines


def overwrite_ids(folder):            # same size: 50 ids in the middle of the first prompt
    with open(folder / IDS, "r+b") as f:
        f.seek(len(workload._npy_header(0)) + 4 * 100)
        f.write(np.full(50, 7, dtype="<i4").tobytes())


def truncate_ids(folder):
    with open(folder / IDS, "r+b") as f:
        f.truncate((folder / IDS).stat().st_size - 400)


def damage_header(folder):            # same size: an object array (numpy's "pickled data" error)
    data = (folder / IDS).read_bytes()
    assert b"'descr': '<i4'" in data[:128]
    (folder / IDS).write_bytes(data.replace(b"'descr': '<i4'", b"'descr': '|O' ", 1))


DAMAGES = {
    "changed gold answer": lambda f: edit_lines(f, gold),
    "max_new_tokens=1": lambda f: edit_lines(f, max_new_tokens),
    "changed n": lambda f: edit_lines(f, changed_n),
    "deleted last line": lambda f: edit_lines(f, lambda lines: lines[:-1]),
    "emptied requests.jsonl": lambda f: (f / LINES).write_bytes(b""),
    "overwritten ids": overwrite_ids,
    "truncated ids.npy": truncate_ids,
    "damaged npy header": damage_header,
    "deleted ids.npy": lambda f: (f / IDS).unlink(),
    "deleted requests.jsonl": lambda f: (f / LINES).unlink(),
    "deleted manifest.json": lambda f: (f / MANIFEST).unlink(),
    "garbled JSON line": lambda f: edit_lines(f, garbled),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damage_is_reported_and_rebuilt(tok, root, reports, damage):
    original = build(tok)
    folder = entry(root)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    DAMAGES[damage](folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} != before
    again = build(tok)
    assert len(reports) == 1, reports
    assert reports[0].startswith(f"evalsuite: workload cache entry {folder.name} is damaged (")
    assert reports[0].endswith("); rebuilding") and "\n" not in reports[0]
    assert_same(again, original)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before    # rebuilt byte for byte
    assert workload.problem(folder, verify=True) is None
    assert not list(root.glob(".tmp-*"))
    assert_same(build(tok), original)                                      # and then simply used
    assert len(reports) == 1


def test_damage_found_while_loading_is_rebuilt_by_load_or_build(tok, tmp_path, reports):
    suite = PasskeySuite(SuiteConfig(samples=4), PasskeySuite.Options())
    made = suite.requests(tok, LENGTH)
    typed = {"root": tmp_path, "payload_type": PasskeySuite.payload_type}
    original = [r.key for r in workload.load_or_build("k", lambda: made, **typed)]
    overwrite_ids(tmp_path / "k")
    with pytest.raises(workload.DamagedEntry, match=f"{IDS} does not match its sha256"):
        workload.load(tmp_path / "k", PasskeySuite.payload_type)
    assert [r.key for r in workload.load_or_build("k", lambda: made, **typed)] == original
    assert len(reports) == 1 and "entry k is damaged" in reports[0]


def flip_a_byte(folder):
    with open(folder / IDS, "r+b") as f:
        f.seek(len(workload._npy_header(0)) + 4 * 30)
        low = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([low[0] ^ 1]))


def test_the_checksum_catches_a_byte_flip_that_the_cheap_checks_miss(tok, root, reports, monkeypatch):
    original = build(tok)
    folder = entry(root)
    flip_a_byte(folder)
    assert workload.is_cached(folder.name, root)                   # sizes, header, counts, request lines: fine
    assert workload.problem(folder, verify=False) is None
    loaded = workload.load(folder, PasskeySuite.payload_type, verify=False)
    assert [r.key for r in loaded] != [r.key for r in original]       # what the cheap checks alone would use
    # a fresh process hashes the ids the first time it maps them
    script = "import sys; from pathlib import Path; from evalsuite.workload import cache as workload; " \
             "print(workload.problem(Path(sys.argv[1])))"
    res = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == f"{IDS} does not match its sha256"
    # a change within one timestamp tick of the last hash leaves the stat as it was: the memo
    # then trusts the file, and only full verification (--verify-cache) still hashes it
    st = (folder / IDS).stat()
    sha = workload.read_manifest(folder)["files"][IDS]["sha256"]
    monkeypatch.setitem(workload._verified, os.path.abspath(folder / IDS),
                        (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha))
    assert workload.problem(folder) is None
    assert workload.problem(folder, verify=True) == f"{IDS} does not match its sha256"
    assert_same(build(tok, verify=True), original)       # --verify-cache: found, reported and rebuilt
    assert len(reports) == 1


def test_ids_are_hashed_once_per_process_unless_they_change(tok, root, monkeypatch):
    monkeypatch.setattr(workload, "RACY_NS", 0)       # as if the entry had been written seconds ago
    monkeypatch.setattr(workload, "_verified", {})
    build(tok)
    folder = entry(root)
    where = os.path.abspath(folder / IDS)
    assert where in workload._verified
    hashed = []
    real = workload.hashlib.sha256
    monkeypatch.setattr(workload.hashlib, "sha256", lambda *a: hashed.append(a) or real(*a))
    workload.load(folder, PasskeySuite.payload_type)
    assert len(hashed) == 1                            # the request lines only
    flip_a_byte(folder)                                # any write changes the file's ctime
    assert workload.problem(folder) == f"{IDS} does not match its sha256"


def test_a_killed_builders_directory_is_swept_at_the_next_start_a_live_ones_is_not(tok, root, reports):
    root.mkdir(parents=True)
    builder = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from evalsuite.workload import cache as workload
        with workload._claim(Path({str(root)!r})) as tmp:
            tmp.mkdir()
            (tmp / "ids.npy").write_bytes(b"x" * 4096)
            print(tmp, flush=True)
            if sys.argv[1] == "die":
                os.kill(os.getpid(), 9)
            time.sleep(120)
    """)
    dead = subprocess.run([sys.executable, "-c", builder, "die"], capture_output=True, text=True)
    assert dead.returncode == -9
    dead_dir = root / os.path.basename(dead.stdout.strip())
    assert dead_dir.is_dir() and dead_dir.with_name(dead_dir.name + ".lock").exists()
    live = subprocess.Popen([sys.executable, "-c", builder, "live"], stdout=subprocess.PIPE, text=True)
    try:
        live_dir = root / os.path.basename(live.stdout.readline().strip())
        assert live_dir.is_dir()
        build(tok)                                                  # the next start sweeps
        assert not dead_dir.exists() and not dead_dir.with_name(dead_dir.name + ".lock").exists()
        assert live_dir.is_dir() and workload.live_builds(root) == [live_dir]
        assert workload.sweep_stale(root) == []
    finally:
        live.kill()
        live.wait()
    assert workload.sweep_stale(root) == [live_dir] and not live_dir.exists()
    assert not [p for p in root.iterdir() if p.name.startswith((".tmp-", ".new-"))]
    assert not reports


def test_a_build_directory_without_its_lock_file_is_swept(tmp_path):
    orphan = tmp_path / f".tmp-{os.getpid()}-0123456789abcdef"
    orphan.mkdir()
    assert workload.sweep_stale(tmp_path) == [orphan]


@pytest.mark.integration
def test_two_processes_rebuilding_one_damaged_entry(tok, root):
    original = build(tok)
    folder = entry(root)
    overwrite_ids(folder)
    script = textwrap.dedent("""
        from evalsuite.run import runner
        from evalsuite.models.resolve import resolve_model
        from evalsuite.suite import SuiteConfig
        from evalsuite.tasks.passkey import PasskeySuite
        from evalsuite.workload.tokenization import Tokenizer
        tok = Tokenizer.load(resolve_model(None))
        reqs = runner.build_workloads([PasskeySuite(SuiteConfig(samples=4), PasskeySuite.Options())], tok, (256,), 1)
        print(" ".join(r.key for r in reqs))
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    assert all(o.split() == [r.key for r in original] for o, _ in outs)
    assert any(f"entry {folder.name} is damaged" in e for _, e in outs)
    assert workload.problem(folder, verify=True) is None and not list(root.glob(".tmp-*"))


# -- evalsuite cache info | verify | clear --------------------------------------------------------

def test_cache_info(tok, root):
    assert "0 entries" in cache_command.cache_info(root)
    build(tok, (256, 512))
    first = cache_command.entries(root)[0]
    (first / LINES).write_bytes(b"")
    info = cache_command.cache_info(root)
    assert info.splitlines()[0].startswith(f"workload cache {root}: 1 entries, 1 damaged, ")
    assert "passkey/passkey: 1 entries, 4 requests, lengths " in info
    assert f"{first.name}: damaged ({LINES} has 0 bytes" in info


def test_cache_verify(tok, root):
    build(tok, (256, 512))
    lines = []
    assert cache_command.cache_verify(root, lines.append) == (2, [])
    assert lines == ["2 workload cache entries verified, 0 damaged"]
    bad = cache_command.entries(root)[1]
    flip_a_byte(bad)
    lines.clear()
    ok, damaged = cache_command.cache_verify(root, lines.append)
    assert (ok, damaged) == (1, [(bad.name, f"{IDS} does not match its sha256")])
    assert lines[0] == f"evalsuite: workload cache entry {bad.name} is damaged ({IDS} does not match its sha256)"
    assert lines[1].startswith("1 workload cache entries verified, 1 damaged")


def test_cache_clear(tok, root):
    build(tok, (256, 512))
    with workload._claim(root) as live:
        live.mkdir()
        dead = root / ".tmp-1-fedcba9876543210"                 # a lock-less build directory: its builder is gone
        dead.mkdir()
        (dead / IDS).write_bytes(b"x" * 1000)
        lines = []
        freed = cache_command.cache_clear(root, lines.append)
        assert cache_command.entries(root) == [] and not dead.exists() and live.is_dir()
    assert freed > 2 * 4 * 246 * 4 and len(lines) == 1
    assert lines[0].startswith(f"removed 2 workload cache entries and 1 abandoned build directories from {root}: ")
    assert lines[0].endswith("freed; 1 builds in progress left alone")
    assert len(build(tok)) == 4


def test_cache_subcommand(tok, root, capsys):
    parser = argparse.ArgumentParser(prog="evalsuite")
    cache_command.add_parser(parser.add_subparsers(dest="command", required=True))
    run = lambda *argv: cache_command.run(parser.parse_args(["cache", *argv]))   # noqa: E731
    build(tok)
    assert run("verify") == 0
    flip_a_byte(entry(root))
    assert run("verify") == 1
    assert run("info") == 0 and run("clear") == 0
    out = capsys.readouterr().out
    assert "is damaged (ids.npy does not match its sha256)" in out and "passkey/passkey" in out
    assert "removed 1 workload cache entries" in out
    assert run("verify") == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["cache"])
