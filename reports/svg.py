"""The reference heat colours, and the small inline-SVG line chart of suite report blocks.

Coordinates are computed here; text is escaped by the jinja2 template that
embeds the returned structures (no markup is built from strings here).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# gkamradt/LLMTest_NeedleInAHaystack heatmap colormap: red -> yellow -> green
HEAT_STOPS = ((0.0, (0xF0, 0x49, 0x6E)), (0.5, (0xEB, 0xB8, 0x39)), (1.0, (0x0C, 0xD7, 0x9F)))
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def heat_color(value: float) -> str:
    """Colour for a 0..1 score on the reference colormap (grey for missing)."""
    if value is None or math.isnan(value):
        return "#dddddd"
    v = min(max(value, 0.0), 1.0)
    for (x0, c0), (x1, c1) in zip(HEAT_STOPS, HEAT_STOPS[1:]):
        if v <= x1:
            t = (v - x0) / (x1 - x0)
            return _hex(tuple(round(a + (b - a) * t) for a, b in zip(c0, c1)))
    return _hex(HEAT_STOPS[-1][1])


def _hex(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


@dataclass(frozen=True)
class Line:
    name: str
    color: str
    points: str
    dots: tuple[tuple[float, float, str], ...]
    legend_y: float


@dataclass(frozen=True)
class LineChart:
    width: float
    height: float
    left: float
    top: float
    plot_w: float
    plot_h: float
    lines: tuple[Line, ...]
    legend_x: float
    y_label: str
    xticks: tuple[tuple[float, str], ...]
    yticks: tuple[tuple[float, str], ...]


def line_chart(series: dict[str, list[tuple[int, float]]], lengths: list[int], labels: list[str],
               y_label: str, y_range: tuple[float, float] | None = None, log_y: bool = False) -> LineChart:
    """Score vs context length, one polyline per setting; x is log2 of the length."""
    width, height, left, right, top, bottom = 820, 300, 60, 330, 14, 44
    xs = {n: i for i, n in enumerate(lengths)}
    values = [v for pts in series.values() for _, v in pts if not math.isnan(v)]
    if y_range is None:
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if lo == hi:
            lo, hi = lo - 1, hi + 1
    else:
        lo, hi = y_range
    tr = (lambda v: math.log10(max(v, 1e-9))) if log_y else (lambda v: v)
    tlo, thi = tr(lo), tr(hi)
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(n: int) -> float:
        return left + (xs[n] / max(len(lengths) - 1, 1)) * plot_w

    def py(v: float) -> float:
        return top + plot_h - (tr(v) - tlo) / ((thi - tlo) or 1) * plot_h

    lines = []
    for k, (name, pts) in enumerate(series.items()):
        pts = [(n, v) for n, v in sorted(pts) if not math.isnan(v)]
        coords = tuple((round(px(n), 1), round(py(v), 1), f"{name} @ {labels[xs[n]]}: {v:.2f}") for n, v in pts)
        lines.append(Line(name, PALETTE[k % len(PALETTE)], " ".join(f"{x},{y}" for x, y, _ in coords), coords,
                          top + 14 + 18 * k))
    ticks = [lo + (hi - lo) * i / 4 for i in range(5)]
    if log_y:
        ticks = [10 ** (tlo + (thi - tlo) * i / 4) for i in range(5)]
    return LineChart(width, height, left, top, plot_w, plot_h, tuple(lines), left + plot_w + 14, y_label,
                     tuple((round(px(n), 1), labels[i]) for i, n in enumerate(lengths)),
                     tuple((round(py(t), 1), f"{t:.3g}") for t in ticks))
