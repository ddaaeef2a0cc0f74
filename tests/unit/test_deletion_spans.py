"""Halving spans by our entry counts: the halves cover the span, split our entries, and always
make progress."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.deletions import DayCounts, worth_halving
from domain.spans import Span

D0 = date(2026, 1, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


per_day = st.dictionaries(st.integers(0, 400), st.integers(1, 3000), max_size=60)
bounds = st.one_of(st.none(), st.integers(-5, 405))


@given(per_day, bounds, bounds)
def test_halves_cover_the_span_and_each_hold_some_of_our_days(counts, lo, hi):
    ours = DayCounts((day(d), n) for d, n in counts.items())
    span = Span(None if lo is None else day(lo), None if hi is None else day(hi))
    in_span = [d for d in counts if (lo is None or d >= lo) and (hi is None or d <= hi)]
    halves = ours.halve(span)
    if len(in_span) < 2:
        assert halves is None
        return
    assert halves is not None
    left, right = halves
    assert left.start == span.start and right.end == span.end
    assert right.start == left.end + timedelta(days=1)
    assert ours.within(left) + ours.within(right) == ours.within(span) == sum(counts[d] for d in in_span)
    assert ours.within(left) > 0 and ours.within(right) > 0


def test_halves_split_by_entries_not_by_days():
    # A quiet year and one busy week: the cut lands inside the busy week.
    ours = DayCounts([(day(d), 1) for d in range(0, 365, 7)] + [(day(400 + d), 1000) for d in range(7)])
    left, right = ours.halve(Span(None, None))
    assert day(400) <= left.end < day(407)
    assert abs(ours.within(left) - ours.within(right)) <= 1000 + 53


def test_within_counts_inclusive_bounds_and_open_ends():
    ours = DayCounts([(day(1), 2), (day(3), 5), (day(9), 7)])
    assert ours.within(Span(day(1), day(3))) == 7
    assert ours.within(Span(day(2), day(8))) == 5
    assert ours.within(Span(None, day(1))) == 2
    assert ours.within(Span(day(4), None)) == 7
    assert ours.within(Span(day(10), day(2))) == 0
    assert Span(day(1), None).as_params() == {"from": "2026-01-02"}


def test_a_span_is_halved_only_when_its_differences_are_sparse():
    # One deletion in 100,000 entries: halving finds it with a few counts.
    assert worth_halving(99_999, 100_000, 4000)
    # Deletions spread all over: nearly every half differs, so list it instead.
    assert not worth_halving(99_500, 100_000, 4000)
    # Small enough to list in two pages: listed.
    assert not worth_halving(3_999, 4_000, 4000)
