"""Finding deletions without re-listing: Harvest never reports a deleted time entry, but it
counts the entries of any spent-date range (`total_entries`). Where its count equals ours,
nothing there was deleted; where it differs, the range is halved until the part that differs
is small enough to list.

Why equal counts can be trusted: we hold every entry Harvest has (listings that shift under
us are repaired, consumers.listing), so ours minus Harvest's is the number of deletions and a
difference cannot cancel out. For that the count must not include an entry we have not stored
yet: Harvest counts *before* the changes since the last sync are listed, and an entry created
in between is then one we hold and Harvest did not count: it adds to the difference instead
of cancelling a deletion. What can still cancel (an entry created while its span is counted
and listed) is found by the next sync, and the periodic full listing catches anything else.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import accumulate

from domain.spans import Span


class DayCounts:
    """How many entries we hold per spent date, for sums over spans and for halving them."""

    def __init__(self, per_day: Iterable[tuple[date, int]]) -> None:
        pairs = sorted(per_day)
        self._days = [d for d, _ in pairs]
        self._cumulative = [0, *accumulate(n for _, n in pairs)]

    def _bounds(self, span: Span) -> tuple[int, int]:
        lo = 0 if span.start is None else bisect_left(self._days, span.start)
        hi = len(self._days) if span.end is None else bisect_right(self._days, span.end)
        return lo, max(lo, hi)

    def within(self, span: Span) -> int:
        lo, hi = self._bounds(span)
        return self._cumulative[hi] - self._cumulative[lo]

    def halve(self, span: Span) -> tuple[Span, Span] | None:
        """Two spans covering `span`, holding about half of our entries each; None when we hold
        entries on fewer than two of its days (nothing to halve by: list it instead)."""
        lo, hi = self._bounds(span)
        if hi - lo < 2:
            return None
        half = (self._cumulative[lo] + self._cumulative[hi]) / 2
        # The last day of the left half: where our running count reaches half, but never the
        # span's last day, so that both halves hold at least one of our days.
        cut = min(bisect_left(self._cumulative, half, lo + 1, hi) - 1, hi - 2)
        last_left = self._days[max(cut, lo)]
        return Span(span.start, last_left), Span(last_left + timedelta(days=1), span.end)


def worth_halving(theirs: int, ours: int, list_at_most: int) -> bool:
    """Whether to halve a span rather than list it: only when it is too big to list in a few
    pages and its differences are sparse. Where there are more differences than listable
    chunks (deletions spread over all history), most halves differ too: halving would cost
    a count per half on top of listing nearly everything."""
    if theirs <= list_at_most:
        return False
    chunks = -(-max(theirs, ours) // list_at_most)
    return abs(ours - theirs) < chunks
