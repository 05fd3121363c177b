from pathlib import Path

from evalsuite.run.rundir import default_dir


def test_default_dir_is_one_folder_under_runs_whatever_the_label():
    for label in ("../../../escaped", "/abs/path", "x/y", "..", "", "a b\nc"):
        d = default_dir(label, "hf", "passkey", what=[label])
        assert d.parent == Path("runs") and "/" not in d.name and not d.name.startswith("."), d


def test_default_dir_is_stable_and_keeps_plain_names():
    assert default_dir("demo_model", "hf", "passkey+niah", what=[1]) == default_dir("demo_model", "hf", "passkey+niah",
                                                                                    what=[1])
    assert default_dir("demo_model", "hf", "passkey+niah", what=[1]).name.startswith("demo_model-hf-passkey+niah-")
    assert default_dir("search", "m", "8x", "4096", "hf", "s0") == Path("runs/search-m-8x-4096-hf-s0")
