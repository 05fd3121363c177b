"""One run identity: everything besides the prompt that a score depends on.

A `RunIdentity` is built once per (model, RoPE setting) before any engine loads. Its `key`
keys the stored records (so changing the dtype, the engine version, the weights or any
other field re-runs, and changing none resumes), names the default `--out`, is written to
run.json, and report labels are derived from it (`setting_labels`).
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable

from evalsuite.types import EvalError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".json")


def model_revision(model: str, revision: str | None) -> str:
    """A hub id: the revision asked for. A local folder: a hash of config.json and of the
    names and sizes of its weight and config files (a retrained checkpoint in the same folder
    changes it; hashing many GB of weights on every run would not be affordable). A GGUF file:
    a hash of its name, size and first and last MiB (evalsuite.models.gguf.fingerprint)."""
    path = Path(model)
    if path.is_file():
        from evalsuite.models.gguf import fingerprint
        return f"gguf:{fingerprint(path)}"
    if not path.is_dir():
        return f"hub:{revision or 'main'}"
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and f.suffix in WEIGHT_SUFFIXES:
            h.update(f"{f.name}\0{f.stat().st_size}\0".encode())
            if f.name == "config.json":
                h.update(f.read_bytes())
    return f"local:{h.hexdigest()[:12]}"


@dataclass(frozen=True)
class RunIdentity:
    model: str                       # resolved local path or hub id
    revision: str                    # see model_revision
    backend: str
    engine: str                      # engine name and version, e.g. vllm-0.32.0
    dtype: str                       # the concrete dtype "auto" resolved to
    template: str                    # base | chat
    rope: str                        # the RoPE setting's canonical label
    engine_args: tuple[tuple[str, str], ...] = ()
    label: str | None = None         # the user's name for the model; not part of the key
    rope_name: str | None = None     # the RoPE setting as tables show it (a factor file's name); not in the key

    @functools.cached_property       # asked for by every stored record: hash once
    def key(self) -> str:
        fields = asdict(self)
        del fields["label"], fields["rope_name"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict:
        return {**asdict(self), "key": self.key}

    def record_fields(self) -> dict[str, Any]:
        """What every record of this setting repeats of it (its key as `setting`, and the fields a
        reader needs to tell settings apart without run.json): the one list of them."""
        return {"setting": self.key, **{f: getattr(self, f) for f in RECORDED}}


RECORDED = ("model", "revision", "label", "backend", "engine", "dtype", "template", "rope", "rope_name")


def record_key(request_key: str, identity_key: str) -> str:
    return hashlib.sha256(f"{request_key}|{identity_key}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class SettingFacts:
    """The identity fields a label is made from (as read back from records)."""

    key: str
    model: str
    revision: str
    label: str | None
    backend: str
    engine: str
    dtype: str
    template: str
    rope: str
    rope_name: str | None = None         # shown instead of rope where given
    capacity: int | None = None          # not part of the label: facts for charts
    trained_length: int | None = None

    @classmethod
    def of(cls, record: Any) -> SettingFacts:
        """A record's setting facts (a Record: its identity fields, capacity and trained length)."""
        return cls(record.setting, **{f.name: getattr(record, f.name) for f in fields(cls) if f.name != "key"})


def _suffixes(paths: list[str]) -> dict[str, str]:
    """The shortest trailing part of each path that no other path ends with."""
    parts = {p: Path(p).parts or (p,) for p in paths}
    out = {}
    for p, ps in parts.items():
        for n in range(1, len(ps) + 1):
            tail = ps[-n:]
            if all(q == p or qs[-n:] != tail for q, qs in parts.items()):
                out[p] = "/".join(tail)
                break
        else:
            out[p] = p
    return out


def setting_labels(settings: Iterable[SettingFacts]) -> dict[str, str]:
    """A unique, readable label per setting key: the user's model label (else the shortest
    unique path suffix of the model), the backend and the RoPE setting, plus the revision,
    dtype, template or engine where those tell apart settings that share the rest. Two
    settings that would still share a label (two models given the same --label) are an error."""
    settings = list({s.key: s for s in settings}.values())
    short = _suffixes(sorted({s.model for s in settings}))
    groups: dict[str, list[SettingFacts]] = {}
    for s in settings:
        groups.setdefault(" / ".join([s.label or short[s.model], s.backend, s.rope_name or s.rope]), []).append(s)
    labels: dict[str, str] = {}
    for base, group in groups.items():
        varying = [f for f in ("rope", "revision", "dtype", "template", "engine")
                   if len({getattr(s, f) for s in group}) > 1]
        for s in group:
            labels[s.key] = " / ".join([base] + [getattr(s, f) for f in varying])
    seen: dict[str, str] = {}
    for key, label in labels.items():
        if label in seen:
            raise EvalError(f"two different settings share the label {label!r}: give each model its own "
                            "--label (or report the runs separately)")
        seen[label] = key
    return labels
