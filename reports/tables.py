"""Setting x length pivots (pandas), ranked on the lengths every compared setting ran.

A mean over whatever lengths each setting happened to run ranks a setting run only at a short,
easy length above one run at every length; so the rank uses only the lengths all settings of
the table share, and the table note names them. Each cell shows score ± standard error, its
difference to the baseline setting, the best cell per length is marked, and a cell whose length
is past its setting's capacity is flagged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from evalsuite.config.lengths import format_length
from evalsuite.run.summary import ScoreCell

if TYPE_CHECKING:
    import pandas as pd

OVER = "\u2020"        # dagger: the length is past the setting's capacity


@dataclass(frozen=True)
class CellView:
    text: str
    delta: str = ""              # difference to the baseline setting, signed
    classes: str = ""            # "best", "over", "base", "name" (CSS classes)
    title: str = ""              # tooltip


@dataclass(frozen=True)
class TableView:
    """A table as the page, the Markdown and the LaTeX exports show it, plus its numbers (CSV)."""

    key: str                     # stable file name stem
    title: str
    note: str
    header: tuple[str, ...]
    rows: tuple[tuple[CellView, ...], ...]
    frame: Any = None            # pandas DataFrame of the numbers (None: the text cells are the data)


def fmt(v: float, digits: int, err: float = float("nan")) -> str:
    if v is None or math.isnan(v):
        return "-"
    text = f"{v:.{digits}f}"
    return text if err is None or math.isnan(err) else f"{text} \u00b1 {err:.{digits}f}"


def signed(v: float, digits: int) -> str:
    return "" if math.isnan(v) else f"{v:+.{digits}f}"


def cells_frame(cells: Sequence[ScoreCell]) -> pd.DataFrame:
    import pandas as pd
    return pd.DataFrame({
        "label": [c.label for c in cells], "length": [c.length for c in cells],
        "score": [c.score for c in cells], "stderr": [c.stderr for c in cells],
        "samples": [c.samples for c in cells],
        "capacity": [c.facts.capacity if c.facts.capacity is not None else math.nan for c in cells]})


def common_lengths(scores: pd.DataFrame) -> list[int]:
    """Lengths at which every setting of the pivot has a score."""
    return [int(n) for n in scores.columns if scores[n].notna().all()]


@dataclass(frozen=True)
class Ranked:
    scores: pd.DataFrame          # label x length, rows in rank order
    stderr: pd.DataFrame
    samples: pd.DataFrame
    common: list[int]
    mean: pd.Series               # mean over the common lengths, per label


def rank(cells: Sequence[ScoreCell], higher_is_better: bool) -> Ranked:
    df = cells_frame(cells)
    scores = df.pivot_table(index="label", columns="length", values="score", aggfunc="mean", dropna=False)
    stderr = df.pivot_table(index="label", columns="length", values="stderr", aggfunc="mean", dropna=False)
    samples = df.pivot_table(index="label", columns="length", values="samples", aggfunc="sum", dropna=False)
    common = common_lengths(scores)
    mean = scores[common].mean(axis=1) if common else scores.iloc[:, :0].mean(axis=1)
    if common:
        order = sorted(scores.index, key=lambda s: (-mean[s] if higher_is_better else mean[s], s))
    else:
        order = sorted(scores.index)
    return Ranked(scores.loc[order], stderr.reindex(index=order, columns=scores.columns),
                  samples.reindex(index=order, columns=scores.columns), common, mean.reindex(order))


def length_pivot(key: str, title: str, note: str, cells: Sequence[ScoreCell], *, higher_is_better: bool,
                 baseline: str | None, digits: int = 1, extra: dict[str, dict[str, str]] | None = None) -> TableView:
    """Ranked setting x length table; `extra` adds text columns ({header: {label: text}})."""
    import pandas as pd
    r = rank(cells, higher_is_better)
    capacity = {c.label: c.facts.capacity for c in cells}
    lengths = [int(n) for n in r.scores.columns]
    base = baseline if baseline in r.scores.index else None
    best = {n: (r.scores[n].max() if higher_is_better else r.scores[n].min()) for n in lengths}
    rows = []
    for i, label in enumerate(r.scores.index, 1):
        cap = capacity.get(label)
        row = [CellView(str(i) if r.common else "-"),
               CellView(label, classes="name base" if label == base else "name")]
        for n in lengths:
            v, e = float(r.scores.at[label, n]), float(r.stderr.at[label, n])
            classes = []
            if not math.isnan(v) and math.isclose(v, best[n], rel_tol=1e-9, abs_tol=1e-9):
                classes.append("best")
            over = cap is not None and n > cap
            if over:
                classes.append("over")
            delta = float("nan") if base is None or label == base else v - float(r.scores.at[base, n])
            samples = r.samples.at[label, n]
            tip = "" if math.isnan(v) else f"{int(samples)} samples" + (
                f"; past capacity {format_length(cap)}" if over and cap is not None else "")
            row.append(CellView(fmt(v, digits, e) + (OVER if over and not math.isnan(v) else ""),
                                signed(delta, digits), " ".join(classes), tip))
        for col in (extra or {}).values():
            row.append(CellView(col.get(label, "-")))
        m = float(r.mean[label]) if r.common else float("nan")
        dm = float("nan") if base is None or label == base or not r.common else m - float(r.mean[base])
        row.append(CellView(fmt(m, digits), signed(dm, digits), "mean"))
        rows.append(tuple(row))
    shared = ", ".join(format_length(n) for n in r.common)
    how = (f"Ranked by the mean over the lengths every setting ran ({shared})." if r.common else
           "No length was run by every setting: not ranked (alphabetical).")
    base_note = (f" Signed numbers: difference to the baseline {base}." if base else
                 " No baseline setting in this table: no differences shown.")
    full_note = (f"{note} {how} Bold: the best cell of each length ({'higher' if higher_is_better else 'lower'} "
                 f"is better); ± one standard error.{base_note} {OVER}: the length is past the setting's "
                 "capacity.").strip()
    header = ("#", "setting") + tuple(format_length(n) for n in lengths) + tuple(extra or {}) + (
        f"mean ({shared})" if r.common else "mean",)
    frame = pd.DataFrame({"rank": range(1, len(r.scores) + 1) if r.common else [pd.NA] * len(r.scores),
                          "setting": list(r.scores.index)})
    for n in lengths:
        frame[format_length(n)] = r.scores[n].to_numpy()
        frame[f"{format_length(n)}_stderr"] = r.stderr[n].to_numpy()
        if base is not None:
            frame[f"{format_length(n)}_delta"] = (r.scores[n] - r.scores.at[base, n]).to_numpy()
    for name, col in (extra or {}).items():
        frame[name] = [col.get(s, "") for s in r.scores.index]
    frame["mean_common"] = r.mean.to_numpy() if r.common else math.nan
    frame["capacity"] = [capacity.get(s) for s in r.scores.index]
    return TableView(key, title, full_note, header, tuple(rows), frame)


def text_table(key: str, title: str, note: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> TableView:
    """A plain table (the first column names the row); its CSV is the text as shown."""
    import pandas as pd
    views = tuple(tuple(CellView(str(v), classes="name" if j == 0 else "") for j, v in enumerate(row))
                  for row in rows)
    frame = pd.DataFrame([[str(v) for v in row] for row in rows], columns=list(header))
    return TableView(key, title, note, tuple(header), views, frame)
