from evalsuite.workload.memo import BoundedDict


def test_a_memo_keeps_at_most_maxsize_entries_least_recently_used_out_first():
    memo: BoundedDict[str, int] = BoundedDict(2)
    memo["a"], memo["b"] = 1, 2
    assert memo["a"] == 1                 # a is now the most recent
    memo["c"] = 3
    assert list(memo) == ["a", "c"] and memo.get("b") is None
    assert memo.setdefault("d", 4) == 4 and len(memo) == 2 and "a" not in memo
