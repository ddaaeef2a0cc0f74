"""Where a page-numbered listing may have skipped rows, from what its pages said.

Harvest pages /time_entries by page number, sorted by spent date. When rows before the
current offset go away (a deletion, or an entry moved to a later position) between two page
requests, every later row moves up: the rows at the start of the next page slide onto the page
already read, and the listing never sees them. They were not edited, so no later
`updated_since` finds them either.

Such a skip can only happen at a page boundary, and only to rows dated between the last row of
the page before and the first row of the page after (the shifted block sits exactly there).
It needs something to change between those two requests:

* a row leaves the listing (a deletion, or a move out of its dates): `total_entries` of the
  two pages differs;
* a row moves within it, or one comes in while another leaves: the moved or new row carries an
  `updated_at` between the two pages' times, and it is read later in the same listing.

Listing again the dates of every boundary with such evidence, as a fresh request, gets the
skipped rows. Rows repeated by a shift the other way are harmless (upserts by id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

from domain.spans import Span

# Harvest's timestamps and its Date header have second precision: a change stamped in the
# second a page was served may have happened just before or just after it.
STAMP_PRECISION = timedelta(seconds=1)


@dataclass(frozen=True)
class PageMark:
    """What a listing remembers of each page it read."""

    total: int | None  # Harvest's total_entries when it served the page
    served_at: datetime | None  # Harvest's clock then
    first_day: date | None  # spent date of the page's first and last rows (None: empty page)
    last_day: date | None


def boundary_span(before: PageMark, after: PageMark, listing: Span) -> Span:
    """The dates rows skipped between two pages can have: from the last row of `before` to the
    first of `after` (or to the listing's end, in the direction it runs, when `after` is
    empty), cut to the listing's span."""
    assert before.last_day is not None
    if after.first_day is not None:
        low, high = sorted((before.last_day, after.first_day))
        return Span(low, high).within(listing)
    ascending = before.first_day is not None and before.first_day < before.last_day
    if ascending:
        return Span(before.last_day, listing.end).within(listing)
    return Span(listing.start, before.last_day).within(listing)


def shifted(before: PageMark, after: PageMark, changes: Iterable[datetime]) -> bool:
    """Whether rows may have moved between the two pages: Harvest's count changed, or a row
    read in this listing was changed between the two requests. Without Harvest's time (no
    Date header) only the count can tell."""
    if before.total is not None and after.total is not None and before.total != after.total:
        return True
    return changed_between(before, after, changes)


def changed_between(before: PageMark, after: PageMark, changes: Iterable[datetime]) -> bool:
    """Whether one of `changes` happened between the requests of the two pages."""
    if before.served_at is None or after.served_at is None:
        return False
    low, high = before.served_at - STAMP_PRECISION, after.served_at + STAMP_PRECISION
    return any(low <= at <= high for at in changes)


def suspect_spans(marks: list[PageMark], changes: list[datetime], listing: Span) -> list[Span]:
    """The spans to list again: one per page boundary that may have skipped rows, merged
    where they touch or overlap. `changes`: `updated_at` of the rows the listing read that
    were changed after it began (a row changed before the first page cannot shift it)."""
    spans = [
        boundary_span(before, after, listing)
        for before, after in pairwise(marks)
        if before.last_day is not None and shifted(before, after, changes)
    ]
    return merge([s for s in spans if not s.is_empty()])


@dataclass(frozen=True)
class PieceTrail:
    """What one piece of a listing read (consumers.listing cuts long listings in pieces)."""

    span: Span
    marks: tuple[PageMark, ...]
    changes: tuple[datetime, ...]  # updated_at of rows it read changed after the listing began
    # Whether the piece listed again what its own evidence showed (False: it was cut short by
    # a crash after its checkpoint, and its rest was listed by a resumed sync).
    repaired: bool = True


def across_pieces(trail: Iterable[PieceTrail]) -> list[Span]:
    """The boundaries of each piece that a change read only by a later piece may have shifted
    (and, of a piece not repaired, what its own evidence shows). A row moved while piece 1 was
    read shows up, with its new updated_at, in piece 3 perhaps."""
    pieces = list(trail)
    spans: list[Span] = []
    for i, piece in enumerate(pieces):
        later = [c for p in pieces[i + 1 :] for c in p.changes]
        if not piece.repaired:
            spans += suspect_spans(list(piece.marks), list(piece.changes) + later, piece.span)
            continue
        spans += [
            boundary_span(before, after, piece.span)
            for before, after in pairwise(piece.marks)
            if before.last_day is not None and changed_between(before, after, later)
        ]
    return merge([s for s in spans if not s.is_empty()])


def merge(spans: list[Span]) -> list[Span]:
    """Overlapping or adjacent spans as one (an open end sorts outermost)."""
    ordered = sorted(spans, key=lambda s: s.start or date.min)
    out: list[Span] = []
    for span in ordered:
        if out and _touches(out[-1], span):
            last = out[-1]
            end = None if last.end is None or span.end is None else max(last.end, span.end)
            out[-1] = Span(last.start, end)
        else:
            out.append(span)
    return out


def _touches(left: Span, right: Span) -> bool:
    if left.end is None or right.start is None:
        return True
    return right.start <= left.end + timedelta(days=1)
