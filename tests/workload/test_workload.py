"""Workload cache: parallel prebuild equals a serial build; failed or killed builds leave no entry."""
import os
import time

import numpy as np
import pytest

from evalsuite.run.runner import build_workloads
from evalsuite.suite import Suite, SuiteConfig
from evalsuite.tasks.ruler import RulerSuite
from evalsuite.types import EvalError, Request
from evalsuite.workload import cache as workload
from evalsuite.workload import prebuild
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.suites import make
from tests.tasks.test_ruler import write_qa_fixtures


@pytest.fixture(scope="module")
def tok(tiny_model):
    return Tokenizer.load(str(tiny_model))


def _files(root):
    return {p.relative_to(root).parts[0] + "/" + p.name: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_parallel_prebuild_writes_the_same_cache_as_a_serial_build(tok, tmp_path, monkeypatch):
    data = write_qa_fixtures(tmp_path)
    task = make(RulerSuite, samples=3, subtasks=("niah_single_1", "niah_multikey_2", "vt", "fwe", "qa_1"),
                data_dir=str(data))
    built = {}
    for workers in (1, 2):
        root = tmp_path / f"cache{workers}"
        monkeypatch.setenv("EVALSUITE_CACHE", str(root))
        seen = []
        reqs = build_workloads([task], tok, (1024, 2048), workers, on_built=lambda c, s, seen=seen: seen.append(c))
        assert len(seen) == 10 and {c.suite.selected for c in seen} == {(t,) for t in task.selected}
        built[workers] = (_files(root / "workloads"), [r.key for r in reqs])
    assert built[1] == built[2]                                   # byte-identical entries, same order
    serial = [r.key for n in (1024, 2048) for r in task.requests(tok, n)]
    assert built[2][1] == serial                                  # parts add up to the whole suite


def test_saved_ids_are_a_plain_npy_file(tok, tmp_path):
    reqs = make(RulerSuite, samples=2, subtasks=("vt",)).requests(tok, 1024)
    workload.save(tmp_path / "k", reqs)
    ids = np.load(tmp_path / "k" / "ids.npy")
    assert ids.dtype == np.int32 and np.array_equal(ids, np.concatenate([r.prompt_ids for r in reqs]))
    assert [r.key for r in workload.load(tmp_path / "k", RulerSuite.payload_type)] == [r.key for r in reqs]


class Flaky(Suite):
    """Builds fine, except at the length named by FLAKY_MODE's second field (raise or die)."""
    name, version, subtasks, parallel_build = "flaky", 1, ("flaky",), True

    def requests(self, tok, length):
        mode, bad = os.environ.get("FLAKY_MODE", "ok:0").split(":")
        if length == int(bad):
            if mode == "die":
                os._exit(3)                       # as a worker killed by the OOM killer
            raise EvalError("flaky input")
        ids = np.arange(length - 8, dtype=np.int32)
        return [Request("flaky", "flaky", length, i, ids, 8, ("x",)) for i in range(2)]

    def score(self, request, result):
        raise AssertionError("not scored here")


# a build that dies is only survivable in a worker (in the serial path it ends the process)
@pytest.mark.parametrize("mode,workers", [("raise", 1), ("raise", 2), ("die", 2)])
def test_a_failed_build_leaves_no_cache_entry(tok, tmp_path, monkeypatch, mode, workers):
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path))
    monkeypatch.setenv("FLAKY_MODE", f"{mode}:64")
    task = Flaky(SuiteConfig())
    with pytest.raises(EvalError, match="flaky input" if mode == "raise" else "worker died"):
        build_workloads([task], tok, (32, 64, 48), workers)
    root = tmp_path / "workloads"
    bad = prebuild.parts_for([task], tok, (64,))[0].key
    entries = list(root.iterdir()) if root.exists() else []
    assert not (root / bad).exists()
    assert all(workload.is_cached(p.name, root) for p in entries if not p.name.startswith(".tmp-"))
    assert mode == "die" or not [p for p in entries if p.name.startswith(".tmp-")]   # cleaned up after itself

    monkeypatch.setenv("FLAKY_MODE", "ok:0")
    reqs = build_workloads([task], tok, (32, 64, 48), workers)      # the rerun builds what is missing
    assert [len(r.prompt_ids) for r in reqs] == [24, 24, 56, 56, 40, 40]


def test_an_older_versions_build_directories_are_swept_by_age(tmp_path):
    # directories named by mkdtemp, without lock files (the dead/live test is in test_cache_damage)
    old, fresh = tmp_path / ".tmp-old", tmp_path / ".tmp-fresh"
    for d in (old, fresh):
        d.mkdir()
        (d / "ids.npy").write_bytes(b"x")
    past = time.time() - workload.OLD_TMP_S - 60
    os.utime(old, (past, past))
    assert workload.sweep_stale(tmp_path) == [old]
    assert not old.exists() and fresh.exists()


def test_a_write_that_fails_midway_leaves_nothing(tmp_path):
    good = Request("t", "t", 16, 0, np.arange(8, dtype=np.int32), 8, ())
    bad = Request("t", "t", 16, 1, ["not an id"] * 8, 8, ())
    with pytest.raises(ValueError):
        workload.save(tmp_path / "k", [good, bad])
    assert list(tmp_path.iterdir()) == []                           # no entry, no build directory
