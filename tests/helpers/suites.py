"""Build a suite from one flat set of keyword arguments, as the command line does."""
from dataclasses import fields

from evalsuite.suite import SuiteConfig

COMMON = {f.name for f in fields(SuiteConfig)}


def make(cls, **kw):
    """`make(NiahSuite, samples=2, depths=3)`: common settings and the suite's own options; like a
    shared command-line flag, an option the suite does not declare does not reach it."""
    common = SuiteConfig(**{k: v for k, v in kw.items() if k in COMMON})
    own = {f.name for f in fields(cls.Options)}
    unknown = set(kw) - COMMON - own - {"depths", "haystack", "data_dir", "stride"}    # shared ones may miss
    assert not unknown, f"no such option {unknown}"
    return cls(common, cls.Options(**{k: v for k, v in kw.items() if k in own}))


def record(**kw):
    """A stored record with the identity fields filled in; the setting key follows model,
    backend and RoPE (as a real run identity would)."""
    from evalsuite.types import Record
    base = dict(model="/m/demo", revision="local:test", label=None, backend="hf", engine="test-1", dtype="float32",
                template="base", rope="none", index=0, depth=None, seed=0, prompt_tokens=0, output="",
                seconds=0.0)
    base.update(kw)
    base.setdefault("setting", f"{base['model']}|{base['backend']}|{base['rope']}|{base['dtype']}")
    base.setdefault("key", f"{base['setting']}|{base['suite']}|{base['task']}|{base['length']}|{base['index']}"
                           f"|{base['depth']}")
    return Record(**base)
