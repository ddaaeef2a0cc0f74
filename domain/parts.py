"""Balanced backfill parts: where to cut a first sync's history so that each part holds about
the same number of entries, chosen from Harvest's counts. Pure: the caller asks Harvest.

A history's growth is not even (people join and leave), so parts of equal days are parts of
unequal work. The caller counts the entries dated oldest..day for a few days (`Counts`): first
on a coarse grid (`grid`), then where `probes` asks, until each cut's bracket (the two nearest
counted days around its share) holds no more than `tolerance` of a part's share, or is one day
wide; `cuts` then chooses the cut days. A day is never split: a part is a range of whole days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import NamedTuple

# Day -> how many entries are dated oldest..day (inclusive), as Harvest counted them.
Counts = Mapping[date, int]

DAY = timedelta(days=1)


class _Bracket(NamedTuple):
    low: date  # the last counted day at most the target (oldest - 1 day: none, count 0)
    low_count: int
    high: date  # the first counted day at least the target
    high_count: int


def part_count(oldest: date, newest: date, total_entries: int, per_part: int) -> int:
    """How many parts of at most about `per_part` entries (never more parts than days)."""
    days = (newest - oldest).days + 1
    return max(1, min(days, -(-total_entries // max(1, per_part))))


def grid(oldest: date, newest: date, samples: int) -> list[date]:
    """The days ending `samples` near-equal spans of oldest..newest, but the last (newest's
    count is the total, already known): where to count first."""
    days = (newest - oldest).days + 1
    n = max(1, min(samples, days))
    return [oldest + timedelta(days=days * i // n - 1) for i in range(1, n)]


def _points(oldest: date, newest: date, total: int, counted: Counts) -> list[tuple[date, int]]:
    """Counted days in order, from the day before oldest (0) to newest (the total); made
    non-decreasing, as counts taken a moment apart may disagree slightly."""
    known = {oldest - DAY: 0, **{d: c for d, c in counted.items() if oldest <= d < newest}, newest: total}
    points, high = [], 0
    for d in sorted(known):
        high = max(high, known[d])
        points.append((d, high))
    return points


def _targets(total: int, parts: int) -> list[float]:
    return [total * k / parts for k in range(1, parts)]


def _bracket(points: list[tuple[date, int]], target: float) -> _Bracket:
    low = points[0]
    for point in points:
        if point[1] >= target:
            return _Bracket(low[0], low[1], point[0], point[1])
        low = point
    return _Bracket(low[0], low[1], low[0], low[1])


def _settled(b: _Bracket, slack: float) -> bool:
    return (b.high - b.low).days <= 1 or b.high_count - b.low_count <= slack


def _interpolated(b: _Bracket, target: float) -> date:
    """The day where the target falls if the bracket's entries were spread evenly over it."""
    width = (b.high - b.low).days
    spread = b.high_count - b.low_count
    share = (target - b.low_count) / spread if spread else 0.5
    return b.low + timedelta(days=min(width - 1, max(1, round(share * width))))


def probes(
    oldest: date, newest: date, total: int, parts: int, counted: Counts, *, tolerance: float
) -> list[date]:
    """The days to count next, none when every cut is settled. For each unsettled cut: the
    days either side of where its share falls at the bracket's mean density, half the slack
    apart from it, so that an even bracket settles in one more round of two counts."""
    slack = tolerance * total / parts
    points = _points(oldest, newest, total, counted)
    wanted: set[date] = set()
    for target in _targets(total, parts):
        b = _bracket(points, target)
        if _settled(b, slack):
            continue
        width = (b.high - b.low).days
        density = (b.high_count - b.low_count) / width
        reach = max(1, math.floor(slack / 2 / density)) if density else 1
        guess = _interpolated(b, target)
        for d in (guess - timedelta(days=reach), guess + timedelta(days=reach - 1)):
            wanted.add(min(b.high - DAY, max(b.low + DAY, d)))
    return sorted(wanted - set(counted))


def cuts(oldest: date, newest: date, total: int, parts: int, counted: Counts) -> list[date]:
    """The last day of each part but the last, increasing, each in oldest..newest - 1: the
    counted day nearest each share (where the counts settle it), else where it interpolates."""
    points = _points(oldest, newest, total, counted)
    chosen = set()
    for target in _targets(total, parts):
        b = _bracket(points, target)
        if (b.high - b.low).days <= 1 or b.high == b.low:
            day = b.low if target - b.low_count <= b.high_count - target else b.high
        else:
            day = _interpolated(b, target)
        if oldest <= day < newest:
            chosen.add(day)
    return sorted(chosen)


def ranges(oldest: date, newest: date, cut_days: list[date]) -> list[tuple[date, date]]:
    """Inclusive, contiguous spent-date ranges covering oldest..newest, ending at each cut."""
    out, start = [], oldest
    for day in sorted(set(cut_days)):
        if start <= day < newest:
            out.append((start, day))
            start = day + DAY
    out.append((start, newest))
    return out
