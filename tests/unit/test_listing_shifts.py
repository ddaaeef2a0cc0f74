"""Which page boundaries of a listing may have skipped rows, and which dates to list again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from domain.listing import PageMark, PieceTrail, across_pieces, boundary_span, merge, suspect_spans
from domain.spans import ALL_HISTORY, Span

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def day(n: int) -> date:
    return date(2026, 11, 30) - timedelta(days=n)  # Harvest lists newest first


def page(total: int, second: int, first: int, last: int) -> PageMark:
    return PageMark(total, T0 + timedelta(seconds=second), day(first), day(last))


def test_a_quiet_listing_has_nothing_to_list_again():
    marks = [page(30, 0, 0, 2), page(30, 5, 2, 5), page(30, 9, 5, 9)]
    assert suspect_spans(marks, [], ALL_HISTORY) == []


def test_a_changed_count_points_at_the_boundary_it_happened_at():
    marks = [page(30, 0, 0, 2), page(29, 5, 3, 5), page(29, 9, 5, 9)]
    assert suspect_spans(marks, [], ALL_HISTORY) == [Span(day(3), day(2))]


def test_a_row_changed_between_two_pages_points_at_that_boundary_only():
    marks = [page(30, 0, 0, 2), page(30, 10, 2, 5), page(30, 20, 5, 9)]
    moved = T0 + timedelta(seconds=15)
    assert suspect_spans(marks, [moved], ALL_HISTORY) == [Span(day(5), day(5))]


def test_a_change_in_the_second_a_page_was_served_points_at_both_sides():
    marks = [page(30, 0, 0, 2), page(30, 10, 2, 5), page(30, 20, 5, 9)]
    assert suspect_spans(marks, [T0 + timedelta(seconds=10)], ALL_HISTORY) == [
        Span(day(5), day(5)),
        Span(day(2), day(2)),
    ]


def test_without_harvests_time_only_the_count_can_tell():
    marks = [PageMark(30, None, day(0), day(2)), PageMark(30, None, day(2), day(5))]
    assert suspect_spans(marks, [T0], ALL_HISTORY) == []


def test_a_boundary_before_an_empty_page_reaches_the_listings_end():
    # The count fell and the listing ended: skipped rows can be anywhere older.
    before, after = page(21, 0, 0, 4), PageMark(20, T0, None, None)
    assert boundary_span(before, after, Span(day(30), None)) == Span(day(30), day(4))


def test_spans_are_cut_to_the_listing():
    before, after = page(21, 0, 0, 4), page(20, 3, 6, 9)
    assert boundary_span(before, after, Span(day(5), day(1))) == Span(day(5), day(4))


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=12))
def test_merged_spans_cover_the_same_days_without_overlap(pairs):
    spans = [Span(day(max(a, b)), day(min(a, b))) for a, b in pairs]
    merged = merge(spans)
    assert _days(spans) == _days(merged)
    for left, right in pairwise(merged):
        assert right.start > left.end + timedelta(days=1)


def _days(spans: list[Span]) -> set[date]:
    return {s.start + timedelta(n) for s in spans for n in range((s.end - s.start).days + 1)}


def test_a_change_read_by_a_later_piece_points_at_the_earlier_pieces_boundary():
    # Piece 1 read days 0..5 in two pages; the row moved between them is read by piece 2 only.
    first = PieceTrail(Span(day(9), None), (page(30, 0, 0, 2), page(30, 10, 3, 5)), ())
    moved = T0 + timedelta(seconds=5)
    second = PieceTrail(Span(day(9), day(5)), (page(20, 20, 5, 9),), (moved,))
    assert across_pieces([first, second]) == [Span(day(3), day(2))]
    # Its own changes a piece has already answered for; a change before it began shifts nothing.
    assert (
        across_pieces(
            [PieceTrail(first.span, first.marks, (moved,)), PieceTrail(second.span, second.marks, ())]
        )
        == []
    )
    early = T0 - timedelta(seconds=5)
    assert across_pieces([first, PieceTrail(second.span, second.marks, (early,))]) == []


def test_a_piece_cut_short_by_a_crash_answers_for_its_own_evidence_too():
    # Checkpointed part way, then the worker died: its own boundaries were never listed again.
    cut_short = PieceTrail(Span(day(9), None), (page(30, 0, 0, 2), page(29, 10, 3, 5)), (), repaired=False)
    rest = PieceTrail(Span(day(9), day(5)), (page(20, 20, 5, 9),), ())
    assert across_pieces([cut_short, rest]) == [Span(day(3), day(2))]
