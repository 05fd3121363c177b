"""The result store: torn tails cut once on open, keys never appended twice, cost flat per batch."""
from __future__ import annotations

import json
import sys
from unittest import mock

import pytest

from evalsuite.run import store as store_mod
from evalsuite.run.store import RECORDS, ResultStore
from evalsuite.types import EvalError, Record
from tests.helpers.cli import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def rec(i: int, score: float = 1.0) -> Record:
    """A realistic record, whatever fields Record has now (the benchmark's builder)."""
    from store_append import make_record
    return make_record(i, key=f"k{i:06d}", score=score)


def lines(run) -> list[str]:
    return (run / RECORDS).read_text(encoding="utf-8").splitlines()


def test_records_round_trip_and_missing_store_is_empty(tmp_path):
    s = ResultStore(tmp_path / "run")
    assert s.records() == [] and s.completed() == set()
    s.append([rec(0), rec(1)])
    assert ResultStore(tmp_path / "run").records() == [rec(0), rec(1)]


def test_torn_tail_is_cut_once_on_open_not_per_batch(tmp_path):
    run = tmp_path / "run"
    ResultStore(run).append([rec(0), rec(1)])
    with open(run / RECORDS, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec(2).to_json())[:40])        # killed mid-write
    s = ResultStore(run)
    assert [r.key for r in s.records()] == ["k000000", "k000001"]   # the torn line is never read
    with mock.patch.object(store_mod, "_cut_torn_tail", wraps=store_mod._cut_torn_tail) as cut:
        for i in range(2, 12):
            s.append([rec(i)])
        assert cut.call_count == 1
    assert [r.key for r in ResultStore(run).records()] == [f"k{i:06d}" for i in range(12)]
    assert all(json.loads(x) for x in lines(run))          # no torn line left in the middle


def test_torn_tail_longer_than_one_read_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "_TAIL_CHUNK", 7)
    run = tmp_path / "run"
    ResultStore(run).append([rec(0)])
    with open(run / RECORDS, "a", encoding="utf-8") as f:
        f.write("x" * 50)
    ResultStore(run).append([rec(1)])
    assert [r.key for r in ResultStore(run).records()] == ["k000000", "k000001"]


def test_a_file_that_is_one_torn_line_is_emptied(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / RECORDS).write_text('{"key": "k0', encoding="utf-8")
    ResultStore(run).append([rec(5)])
    assert [r.key for r in ResultStore(run).records()] == ["k000005"]


def test_keys_already_stored_are_never_appended_again(tmp_path):
    run = tmp_path / "run"
    s = ResultStore(run)
    s.append([rec(0), rec(1)])
    s.append([rec(1, score=0.0), rec(2), rec(2)])         # stored key, then a key twice in one batch
    s.append([rec(0)])
    assert len(lines(run)) == 3
    t = ResultStore(run)                                  # a rerun: keys loaded from the file once
    t.append([rec(i) for i in range(4)])
    assert [json.loads(x)["key"] for x in lines(run)] == [f"k{i:06d}" for i in range(4)]
    assert ResultStore(run).records()[1].score == 1.0     # the first record of a key wins
    assert t.completed() == {f"k{i:06d}" for i in range(4)}


def test_completed_then_append_reads_the_file_once(tmp_path):
    run = tmp_path / "run"
    ResultStore(run).append([rec(i) for i in range(5)])
    s = ResultStore(run)
    with mock.patch.object(ResultStore, "records", wraps=s.records) as read:
        assert len(s.completed()) == 5
        for i in range(5, 25):
            s.append([rec(i)])
        assert read.call_count == 1
    assert len(s.completed()) == 25


def test_append_of_many_batches_writes_each_once_with_one_fsync(tmp_path):
    run = tmp_path / "run"
    s = ResultStore(run)
    with mock.patch.object(store_mod.os, "fsync", wraps=store_mod.os.fsync) as fsync:
        for b in range(200):
            s.append([rec(3 * b + j) for j in range(3)])
        assert fsync.call_count == 200
    s.append([])
    assert len(lines(run)) == 600
    assert [r.index for r in ResultStore(run).records()] == list(range(600))


def test_a_failed_write_leaves_no_torn_line_and_no_phantom_key(tmp_path):
    run = tmp_path / "run"
    s = ResultStore(run)
    s.append([rec(0)])
    with mock.patch.object(store_mod.os, "fsync", side_effect=OSError("disk full")), \
            pytest.raises(EvalError, match="cannot append to .*records.jsonl: disk full; the records stored so far"):
        s.append([rec(1)])
    assert len(lines(run)) == 1
    s.append([rec(1)])                                    # the failed key was not marked as stored
    assert [r.key for r in ResultStore(run).records()] == ["k000000", "k000001"]


def test_a_damaged_middle_line_is_a_clear_error(tmp_path):
    run = tmp_path / "run"
    ResultStore(run).append([rec(0)])
    with open(run / RECORDS, "a", encoding="utf-8") as f:
        f.write("not json\n")
    with pytest.raises(EvalError, match="damaged"):
        ResultStore(run).append([rec(1)])
