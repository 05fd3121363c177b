"""RoPE analysis: every compared setting's per-pair scale factors and wavelengths on one figure.

Why: a score table says which setting won; this view says what each one did to the rotary
pairs (PI scales all, NTK/YaRN the slow ones, LongRoPE whatever its file says) and where the
critical dimension lies, i.e. the first pair whose period exceeds the trained length
(LongRoPE2's theoretical one, and the real one when `evalsuite search --find-rcd` measured it).
Factors come from each setting's RoPE class (`RopeSpec.factors`) and the model's config.json;
LongRoPE arrays, which labels only carry as a hash, from the runs' run.json (which keeps each
setting whole), `evalsuite search` outputs in the run directories, or JSON files beside the model.
A setting whose factors or model config cannot be read is left out and named in the note.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalsuite.rope import BaseRope, RopeSpec
from evalsuite.types import EvalError, Record

if TYPE_CHECKING:
    from .export import FigureSink


@dataclass(frozen=True)
class RopeFigure:
    key: str
    title: str
    note: str
    svg: str


def _model_base(model: str) -> BaseRope | None:
    from evalsuite.models.gguf import config_source
    try:                                         # a GGUF model: the config kept beside its tokenizer
        folder = Path(config_source(model))
        return BaseRope.from_config(json.loads((folder / "config.json").read_text()))
    except (OSError, ValueError, EvalError, KeyError, TypeError):
        return None


def _run_specs(run_dirs: list[Path], models: set[str]) -> dict[str, RopeSpec]:
    """Settings rebuilt whole (LongRoPE factor arrays included) by label: from run.json, which keeps
    each setting, and from factor files a search left in the run directories or beside the models."""
    out: dict[str, RopeSpec] = {}
    paths: list[Path] = []
    for d in run_dirs:
        try:
            identities = json.loads((d / "run.json").read_text()).get("identities", [])
            for ident in identities:
                spec = RopeSpec.from_json(ident["rope_setting"])
                out.setdefault(spec.label, spec)
        except (OSError, ValueError, AttributeError, KeyError, TypeError, EvalError):
            pass                                 # an older or damaged run.json: no settings from it
        paths += [d / "factors.json", *sorted(d.glob("*/factors.json"))]
    for m in models:
        if Path(m).is_dir():
            paths += sorted(Path(m).glob("*.json"))
    for p in dict.fromkeys(paths):
        if p.is_file() and p.name not in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            try:
                spec = RopeSpec.parse(f"longrope:file={p}")
            except EvalError:
                continue
            out.setdefault(spec.label, spec)
    return out


def _search_facts(run_dirs: list[Path]) -> tuple[int | None, dict[str, list[float]]]:
    """The real critical dimension a search recorded, and its searched factors by label."""
    real, found = None, {}
    for d in run_dirs:
        try:
            state = json.loads((d / "search.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(state, dict):
            real = state.get("real_cd", real)
            best = state.get("best") or {}
            if best.get("label"):
                found[best["label"]] = best["long_factor"]
    return real, found


def rope_figures(run_dirs: list[Path], records: list[Record], labels: dict[str, str],
                 sink: FigureSink) -> list[RopeFigure]:
    """One figure per model: factor curves (left) and wavelengths against the trained length (right)."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from evalsuite.rope.factors import wavelengths
    from evalsuite.search.factors import theoretical_critical_dim

    from .export import slug
    from .figures import plain, plt, style
    settings: dict[str, Record] = {}
    for r in records:
        settings.setdefault(r.setting, r)
    files = _run_specs(run_dirs, {r.model for r in settings.values()})
    real, searched = _search_facts(run_dirs)
    out = []
    for model in sorted({r.model for r in settings.values()}):
        base = _model_base(model)
        if base is None:
            continue
        curves, missing = [], []
        for key, r in sorted(settings.items(), key=lambda kv: labels[kv[0]]):
            if r.model != model:
                continue
            try:
                spec = files.get(r.rope) or RopeSpec.parse(r.rope)
                f = spec.factors(base, r.length)
            except EvalError:
                f = np.asarray(searched[r.rope]) if r.rope in searched else None
            if f is None or len(f) != base.dim // 2:
                missing.append(labels[key])
                continue
            curves.append((labels[key], np.asarray(f, dtype=np.float64)))
        if not curves:
            continue
        trained = next((r.trained_length for r in settings.values() if r.model == model and r.trained_length),
                       base.original)
        tcd = theoretical_critical_dim(base, trained)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
        pairs = np.arange(base.dim // 2)
        for i, (name, f) in enumerate(curves):
            color, marker = style(i)
            ax1.plot(pairs, f, color=color, marker=marker, ms=3.5, lw=1.3, label=plain(name))
            ax2.plot(pairs, wavelengths(base) * f, color=color, marker=marker, ms=3.5, lw=1.3)
        ax2.plot(pairs, wavelengths(base), color="#999999", ls=":", lw=1.2, label="unscaled")
        ax2.axhline(trained, color="#555555", ls="--", lw=1)
        ax2.text(0, trained, f" trained {trained}", color="#555555", fontsize=8, va="bottom")
        for ax in (ax1, ax2):
            ax.axvline(tcd, color="#aa3333", ls="--", lw=1)
            if real is not None:
                ax.axvline(real, color="#3333aa", ls="-.", lw=1)
            ax.set_xlabel("rotary pair i (dimension 2i)")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.grid(True, color="#e6e6e6", lw=0.6)
        ax1.set_ylabel("scale factor (original / new frequency)")
        ax2.set_ylabel("wavelength (tokens)")
        handles, names = ax1.get_legend_handles_labels()
        extra = [f"theoretical critical dim {tcd} (red dashed)"] + (
            [f"real critical dim {real} (blue dash-dot)"] if real is not None else [])
        ax2.legend(loc="upper left", fontsize=7.5, frameon=False)
        fig.legend(handles, names, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=7.5, frameon=False)
        ax1.set_title(plain("; ".join(extra)), fontsize=8.5)
        key = slug(f"rope-{Path(model).name}")
        note = (f"{Path(model).name}: head_dim {base.head_dim}, rotated {base.dim}, theta {base.theta:g}, trained "
                f"{trained} tokens. Critical dimension: the first pair whose period 2*pi*theta^(2i/d) exceeds the "
                f"trained length (theoretical {tcd}" + (f"; measured by a search: {real}" if real is not None else "")
                + ")." + (f" Not shown, their factors being in no readable file (search candidates other than the best "
                          f"are not kept apart from their records): {len(missing)} setting(s), e.g. "
                          f"{', '.join(missing[:3])}." if missing else ""))
        out.append(RopeFigure(key, f"RoPE per-dimension factors and wavelengths: {Path(model).name}", note,
                              sink.emit(fig, key)))
    return out
