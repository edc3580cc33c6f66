"""Pure: the dashboard's bar charts, as geometry for an inline SVG (drawn by `templates/_chart.html`; no script,
no image request, escaped like the rest of the page)."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 360, 140
LEFT, RIGHT, TOP, BOTTOM = 30, 8, 10, 22  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Chart:
    title: str
    description: str  # what a screen reader says: every bar in words
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) of the horizontal grid lines
    width: int = WIDTH
    height: int = HEIGHT
    base: float = HEIGHT - BOTTOM
    left: int = LEFT


def nice_top(highest: int) -> int:
    """The axis's top: the smallest of 1, 2, 5 × 10^n at or above `highest` (at least 1)."""
    if highest <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(highest)))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= highest)


def bar_chart(title: str, points: list[tuple[str, int]], unit: str) -> Chart:
    """One bar per (label, value), left to right."""
    top = nice_top(max((value for _, value in points), default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        height = plot_height * value / top
        bars.append(Bar(round(LEFT + index * slot + slot * 0.15, 1), round(TOP + plot_height - height, 1), round(slot * 0.7, 1),
                        round(height, 1), label, value))
    ticks = [(round(TOP + plot_height - plot_height * value / top, 1), value) for value in sorted({0, top // 2, top}) if value or top]
    words = "; ".join(f"{label}: {value} {unit}" for label, value in points) or "no data"
    return Chart(title, f"{title}. {words}.", bars, ticks)
