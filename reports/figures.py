"""matplotlib figures: score vs length per suite/task, and NIAH heatmaps on one colour scale.

Imported only on the report path (never by `import evalsuite`). Charts are made to stay readable
with 20 settings: the legend sits outside the plot, every setting has its own colour and marker,
points are dodged sideways a little so identical series do not hide each other, a single length
is a visible marker, the length axis is log2 with 4k/8k/... labels, a dashed line marks the
trained context and a small triangle on the top edge marks each setting's capacity. Points past
a setting's capacity are drawn hollow. Figures are saved with tight bounding boxes, so no axis
label is cut.
"""
from __future__ import annotations

import io
import math
import re
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from evalsuite.config.lengths import format_length  # noqa: E402

from .svg import HEAT_STOPS  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")
HEAT_CMAP = LinearSegmentedColormap.from_list(
    "needle", [(x, tuple(c / 255 for c in rgb)) for x, rgb in HEAT_STOPS])
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.titlesize": 10})


@dataclass(frozen=True)
class Point:
    length: int
    score: float
    over: bool                    # past the setting's capacity


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]
    capacity: int | None


def plain(text: str) -> str:
    """Text shown literally: no mathtext from a `$` in a model path."""
    return text.replace("$", r"\$")


def style(i: int) -> tuple[str, str]:
    """Distinct colour and marker per series (tab10, Dark2, then tab20b; markers cycle on their own,
    so two series that share a colour never share a marker as well)."""
    colors = [to_hex(plt.get_cmap(name)(k)) for name, n in (("tab10", 10), ("Dark2", 8), ("tab20b", 20))
              for k in range(n)]
    return colors[i % len(colors)], MARKERS[i % len(MARKERS)]


def _length_axis(ax: plt.Axes, lengths: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [format_length(n) for n in lengths])
    ax.minorticks_off()
    lo, hi = min(lengths), max(lengths)
    ax.set_xlim(lo / 2 ** 0.5, hi * 2 ** 0.5)
    ax.set_xlabel("context length (tokens)")


def length_chart(series: list[Series], metric: str, title: str, *, trained: list[int],
                 y_range: tuple[float, float] | None, log_y: bool) -> Figure:
    lengths = sorted({p.length for s in series for p in s.points})
    fig, ax = plt.subplots(figsize=(8.2, 3.8))
    n = len(series)
    spread = min(0.18, 0.03 * (n - 1))     # total sideways dodge, in octaves
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for i, s in enumerate(series):
        color, marker = style(i)
        shift = 2 ** ((i / (n - 1) - 0.5) * spread) if n > 1 else 1.0
        pts = sorted((p for p in s.points if not math.isnan(p.score)), key=lambda p: p.length)
        xs = [p.length * shift for p in pts]
        ax.plot(xs, [p.score for p in pts], color=color, lw=1.4, alpha=0.85, zorder=2)
        inside = [(x, p.score) for x, p in zip(xs, pts) if not p.over]
        past = [(x, p.score) for x, p in zip(xs, pts) if p.over]
        if inside:
            ax.plot(*zip(*inside), ls="none", marker=marker, ms=6, color=color, mec="white", mew=0.6, zorder=3)
        if past:
            ax.plot(*zip(*past), ls="none", marker=marker, ms=6, mfc="white", mec=color, mew=1.4, zorder=3)
        if s.capacity and lengths and min(lengths) / 2 ** 0.5 <= s.capacity <= max(lengths) * 2 ** 0.5:
            ax.plot([s.capacity * shift], [1.0], transform=top, marker="v", ms=7, color=color, clip_on=False,
                    zorder=4)
    for t in sorted(set(trained)):
        if lengths and min(lengths) / 2 ** 0.5 <= t <= max(lengths) * 2 ** 0.5:
            ax.axvline(t, color="#555555", ls="--", lw=1, zorder=1)
            ax.text(t, 0.02, f" trained {format_length(t)}", transform=top, fontsize=8, color="#555555",
                    rotation=90, va="bottom", ha="right")
    if lengths:
        _length_axis(ax, lengths)
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    elif y_range is not None:
        pad = (y_range[1] - y_range[0]) * 0.04
        ax.set_ylim(y_range[0] - pad, y_range[1] + pad)
    ax.set_ylabel(plain(metric))
    ax.grid(True, color="#e6e6e6", lw=0.6)
    handles = [Line2D([], [], color=style(i)[0], marker=style(i)[1], lw=1.4, mec="white",
                      label=plain(textwrap.shorten(s.label, 60)
                                  + (f"  (capacity {format_length(s.capacity)})" if s.capacity else "")))
               for i, s in enumerate(series)]
    handles.append(Line2D([], [], color="#555555", marker="o", mfc="white", ls="none",
                          label="hollow: past capacity; \u25bc capacity"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False,
              ncol=1 if len(handles) <= 22 else 2, borderaxespad=0)
    return fig


@dataclass(frozen=True)
class Grid:
    label: str
    lengths: tuple[int, ...]
    depths: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]     # [depth][length], 0..100, NaN where missing
    capacity: int | None


def heatmaps(grids: list[Grid], per_row: int = 4) -> Figure:
    """Side by side, one shared 0-100 colour scale (the reference red-yellow-green map)."""
    import numpy as np
    cols = min(per_row, len(grids))
    rows = math.ceil(len(grids) / cols)
    width = max(2.6, 0.42 * max(len(g.lengths) for g in grids) + 1.4)
    height = max(2.0, 0.22 * max(len(g.depths) for g in grids) + 1.3)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * width + 1.0, rows * height + 0.6), squeeze=False,
                             layout="constrained")
    mesh = None
    for ax, g in zip(axes.flat, grids):
        data = np.ma.masked_invalid(np.array(g.values, dtype=float))
        mesh = ax.pcolormesh(data, cmap=HEAT_CMAP, vmin=0, vmax=100, edgecolors="white", linewidth=0.5)
        ax.invert_yaxis()
        ax.set_xticks([i + 0.5 for i in range(len(g.lengths))],
                      [format_length(n) + ("\u2020" if g.capacity is not None and n > g.capacity else "")
                       for n in g.lengths], rotation=45 if len(g.lengths) > 6 else 0, fontsize=7.5)
        ax.set_yticks([j + 0.5 for j in range(len(g.depths))], [f"{d:g}%" for d in g.depths], fontsize=7.5)
        ax.set_xlabel("context length", fontsize=8)
        ax.set_ylabel("needle depth", fontsize=8)
        ax.set_title(plain(textwrap.fill(g.label, 34)), fontsize=8.5)
        ax.set_facecolor("#dddddd")
    for ax in list(axes.flat)[len(grids):]:
        ax.set_visible(False)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.8, label="score (0-100)")
    if any(g.capacity and max(g.lengths) > g.capacity for g in grids):
        fig.suptitle("\u2020 length past the setting's capacity", fontsize=8.5, x=0.0, ha="left")
    return fig


_NOISE = (re.compile(r"<\?xml[^>]*\?>\s*"), re.compile(r"<!DOCTYPE[^>]*>\s*", re.S),
          re.compile(r"<metadata>.*?</metadata>\s*", re.S), re.compile(r'\sxmlns(:xlink)?="[^"]*"'))


def to_svg(fig: Figure, salt: str) -> str:
    """Inline SVG markup, deterministic (ids salted by the figure's stable name, no date), with
    nothing that names an outside address."""
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    for pattern in _NOISE:
        text = pattern.sub("", text)
    return text


def save(fig: Figure, stem: str, folder: object) -> None:
    """PNG (200 dpi) and PDF for papers."""
    from pathlib import Path
    path = Path(str(folder)) / stem
    fig.savefig(path.with_suffix(".png"), dpi=200, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight", metadata={"CreationDate": None})


def close(fig: Figure) -> None:
    plt.close(fig)
