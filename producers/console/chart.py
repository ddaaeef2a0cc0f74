"""The weekly actuals chart as SVG geometry: stacked bars (billable under non-billable) on a
scale rounded up to a friendly number of hours. The template draws it; CSS colours it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from producers.services.views import Week

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 36
MAX_WEEKS = 52  # the table lists them all; the chart shows the latest year


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    billable_y: float
    billable_height: float
    nonbillable_y: float
    nonbillable_height: float
    label: str  # the week's Monday, shown under some bars
    show_label: bool
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    hours: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    plot_bottom: float
    plot_right: float
    bars: list[Bar]
    ticks: list[Tick]


def _nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= value)


def weekly_chart(weeks: list[Week]) -> Chart:
    shown = weeks[-MAX_WEEKS:]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_hours = _nice_ceiling(max((w.total_minutes for w in shown), default=0) / 60)
    scale = plot_h / top_hours
    slot = plot_w / max(len(shown), 1)
    every = max(1, math.ceil(len(shown) / 8))  # about eight date labels at most
    bars = []
    for i, w in enumerate(shown):
        billable_h = w.billable_minutes / 60 * scale
        nonbillable_h = w.nonbillable_minutes / 60 * scale
        base = TOP + plot_h
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.15, 2),
                width=round(slot * 0.7, 2),
                billable_y=round(base - billable_h, 2),
                billable_height=round(billable_h, 2),
                nonbillable_y=round(base - billable_h - nonbillable_h, 2),
                nonbillable_height=round(nonbillable_h, 2),
                label=w.monday.strftime("%d %b"),
                show_label=i % every == 0,
                title=(
                    f"Week of {w.monday.isoformat()}: {w.billable_minutes / 60:.2f} h billable, "
                    f"{w.nonbillable_minutes / 60:.2f} h non-billable"
                ),
            )
        )
    ticks = [Tick(round(TOP + plot_h - h * scale, 2), h) for h in _tick_values(top_hours)]
    return Chart(WIDTH, HEIGHT, LEFT, TOP + plot_h, WIDTH - RIGHT, bars, ticks)


def _tick_values(top: int) -> list[int]:
    """Four or five even steps up to `top` (a 1, 2 or 5 times a power of ten)."""
    step = next((top // n for n in (4, 5, 2) if top % n == 0 and top // n >= 1), 1)
    return list(range(0, top + 1, step))
