"""Balanced backfill parts: the cuts chosen from counts cover the history once, in whole days,
and balance the parts by entries on skewed histories, in few counts."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import parts as balance

D0 = date(2016, 1, 1)
DAY = timedelta(days=1)


def _plan(per_day: list[int], parts: int, *, tolerance: float = 0.02, rounds: int = 6):
    """What consumers.backfill does, with the counts taken from `per_day` (entries per day
    from D0): the ranges, their entry counts and the counts asked."""
    oldest, newest = D0, D0 + timedelta(days=len(per_day) - 1)
    upto, running = {}, 0
    for i, n in enumerate(per_day):
        running += n
        upto[D0 + timedelta(days=i)] = running
    counted: dict[date, int] = {}
    ask = balance.grid(oldest, newest, max(12, parts))
    for _ in range(rounds + 1):
        counted.update({d: upto[d] for d in ask})
        ask = balance.probes(oldest, newest, running, parts, counted, tolerance=tolerance)
        if not ask:
            break
    ranges = balance.ranges(oldest, newest, balance.cuts(oldest, newest, running, parts, counted))
    sizes = [upto[end] - upto.get(start - DAY, 0) for start, end in ranges]
    return ranges, sizes, len(counted)


def _covers_once(ranges: list[tuple[date, date]], oldest: date, newest: date) -> None:
    assert ranges[0][0] == oldest and ranges[-1][1] == newest
    assert all(start <= end for start, end in ranges)
    assert all(prev[1] + DAY == nxt[0] for prev, nxt in pairwise(ranges))


SKEWED = {
    "growing": [10 + i for i in range(3650)],
    "doubling every 300 days": [int(2 ** (i / 300)) for i in range(3650)],
    "weekdays only": [0 if i % 7 > 4 else 3000 for i in range(3650)],
    "late burst": [5 if i < 3000 else 5000 for i in range(3650)],
    "shrinking": [2000 - i // 2 for i in range(3650)],
}


def test_skewed_histories_are_balanced_within_five_percent_in_few_counts():
    for name, per_day in SKEWED.items():
        for parts in (2, 4, 8):
            ranges, sizes, counts = _plan(per_day, parts)
            _covers_once(ranges, D0, D0 + timedelta(days=len(per_day) - 1))
            assert len(ranges) == parts, name
            assert max(sizes) <= 1.05 * min(sizes), (name, parts, sizes)
            assert counts <= 11 + 6 * (parts - 1), (name, parts, counts)


def test_equal_days_would_not_be_balanced_on_a_growing_history():
    per_day = SKEWED["growing"]
    total = sum(per_day)
    days = balance.part_count(D0, D0 + timedelta(days=3649), total, -(-total // 4))
    assert days == 4
    quarter = [sum(per_day[i * 912 : (i + 1) * 912]) for i in range(4)]
    assert max(quarter) > 1.5 * min(quarter)  # what balancing is for


def test_the_grid_counts_inside_the_history_and_never_the_newest_day():
    assert balance.grid(D0, D0 + timedelta(days=364), 12)[-1] < D0 + timedelta(days=364)
    assert balance.grid(D0, D0 + timedelta(days=2), 12) == [D0, D0 + DAY]
    assert balance.grid(D0, D0, 12) == []


def test_one_heavy_day_is_never_split():
    per_day = [1] * 50 + [10_000] + [1] * 50
    ranges, _, _ = _plan(per_day, 4)
    _covers_once(ranges, D0, D0 + timedelta(days=100))
    heavy = D0 + timedelta(days=50)
    assert sum(start <= heavy <= end for start, end in ranges) == 1
    assert len(ranges) <= 4


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 500), min_size=1, max_size=400),
    st.integers(2, 10),
)
def test_the_ranges_cover_every_day_once_and_stay_near_balance(per_day, parts):
    per_day[0] = max(1, per_day[0])  # the oldest day has an entry, as Harvest said
    per_day[-1] = max(1, per_day[-1])  # so has the newest
    ranges, sizes, counts = _plan(per_day, parts)
    _covers_once(ranges, D0, D0 + timedelta(days=len(per_day) - 1))
    assert len(ranges) <= parts
    assert counts <= 11 + 2 * (parts - 1) * 7 + parts
    # No part exceeds its share by more than the tolerance and two of its heaviest days.
    share = sum(per_day) / parts
    assert max(sizes) <= share * 1.02 + 2 * max(per_day) + 1


@given(st.lists(st.integers(-3, 30), max_size=8))
def test_ranges_from_any_cuts_cover_the_history_once(cut_offsets):
    oldest, newest = D0, D0 + timedelta(days=20)
    ranges = balance.ranges(oldest, newest, [D0 + timedelta(days=n) for n in cut_offsets])
    _covers_once(ranges, oldest, newest)


def test_counts_that_disagree_slightly_still_give_ordered_cuts():
    newest = D0 + timedelta(days=99)
    counted = {D0 + timedelta(days=24): 260, D0 + timedelta(days=49): 240, D0 + timedelta(days=74): 760}
    cut_days = balance.cuts(D0, newest, 1000, 4, counted)
    assert cut_days == sorted(set(cut_days)) and all(D0 <= d < newest for d in cut_days)
