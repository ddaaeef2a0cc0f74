"""Listing time entries so that rows shifting under the listing are not lost.

Every page is applied as it arrives (read ahead in a thread). What each page said (Harvest's
count, its time, the dates on it) is kept; afterwards, the dates of every page boundary where
rows may have been skipped (domain.listing) are listed again, as fresh requests, for a
bounded number of rounds. A listing that still shifts after those rounds is reported as not
resolved: its caller must then not trust it (a sync does not move its cursor past it, a
deletion check deletes nothing on it).

A long listing is checkpointed as it goes (consumers.resume): at a page where the spent date
changes, what is left is written down as dates, from that page's last day on, and the listing
reads on. Dates are what a checkpoint can trust: page numbers shift with every deletion in
between, dates do not. A resumed listing (or one that stops there to hand on, or to let its
caller act on what it read) lists that rest as a fresh request, reading the stop day again
(upserts make that harmless), so no row of it is lost to a page boundary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from consumers.entry_apply import ParsedPage, apply_page, parse_page
from domain.listing import STAMP_PRECISION, PageMark, PieceTrail, suspect_spans
from domain.spans import ALL_HISTORY, Span
from infra.db.entry_store import EntryStore
from infra.harvest.client import HarvestClient, ListedPage
from infra.harvest.entries import decode_entries_page
from infra.harvest.read_ahead import read_ahead

ENTRIES = "/time_entries"
# Rounds of listing again the dates of boundaries that shifted. Each round lists only what
# the round before found shifted, a day or two per boundary; a user would have to keep
# moving rows across our boundaries for all of them to leave one unresolved.
MAX_ROUNDS = 3


class SeenIds(Protocol):
    """Collects the ids a listing returned (for a deletion check)."""

    def add_seen(self, harvest_ids: Iterable[int]) -> None: ...


OnPage = Callable[[ListedPage], None]


class Pieces(Protocol):
    """How a long listing is checkpointed (consumers.resume)."""

    def due(self, pages: int, page: ListedPage) -> bool:
        """After this page (`pages` read since the last checkpoint): a checkpoint is due, at
        the first page from here where the spent date changes."""
        ...

    def reached(self, so_far: Listed) -> bool:
        """A checkpoint: `so_far` is the listing up to here, its rest still to list. True:
        stop the listing here (its rest then comes back in the result)."""
        ...


@dataclass(frozen=True)
class Listed:
    """What a listing (or the pieces of one read so far) found out about itself."""

    started_at: datetime | None  # Harvest's clock when it served the first page
    pages: int  # pages of the listing itself, not of the lists made again
    resolved: bool  # False: rows may still be missing after MAX_ROUNDS
    # What is left to list (a piece stopped early), None when the listing is complete.
    rest: Span | None = None
    # The dates this piece read completely (a deletion check may trust them).
    covered: Span | None = None
    # What each piece read, for evidence one piece holds of another's shift.
    trail: tuple[PieceTrail, ...] = ()

    def then(self, piece: Listed) -> Listed:
        """This listing, carried on by its next piece."""
        return Listed(
            self.started_at or piece.started_at,
            self.pages + piece.pages,
            self.resolved and piece.resolved,
            rest=piece.rest,
            covered=piece.covered,
            trail=self.trail + piece.trail,
        )

    @classmethod
    def to_do(cls, span: Span) -> Listed:
        """A listing of `span` not begun yet."""
        return cls(None, 0, True, rest=span)


@dataclass
class _Read:
    marks: list[PageMark] = field(default_factory=list)
    changes: list[datetime] = field(default_factory=list)
    started_at: datetime | None = None
    # (id, updated_at) of every changed row read: a change is evidence once. Reading it again
    # in a later round says nothing new (it happened before that round began), and taking it
    # again would list the same dates again whenever a change and a listing share a second.
    known: set[tuple[int, datetime]] = field(default_factory=set)
    rest: Span | None = None
    covered: Span | None = None


def list_entries(
    store: EntryStore,
    harvest: HarvestClient,
    stats: Counter,
    *,
    params: dict[str, str] | None = None,
    span: Span = ALL_HISTORY,
    seen: SeenIds | None = None,
    on_page: OnPage | None = None,
    pieces: Pieces | None = None,
) -> Listed:
    """List the entries of `span` matching `params` (never `from`/`to`: the span gives them),
    apply them, and list again where the listing may have skipped rows. With `pieces`, it
    holds checkpoints and may stop at one: what is left is in the result's `rest`."""
    base = dict(params or {})
    first = _read(store, harvest, base, span, stats, seen, on_page, known=set(), pieces=pieces)
    pending = suspect_spans(first.marks, first.changes, span)
    known = first.known
    rounds = 0
    while pending and rounds < MAX_ROUNDS:
        rounds += 1
        stats["listing.shifted_boundaries"] += len(pending)
        found: list[Span] = []
        for sub in pending:
            again = _read(store, harvest, base, sub, stats, seen, None, known=known)
            stats["listing.lists_again"] += 1
            found += suspect_spans(again.marks, again.changes, sub)
            known |= again.known
        pending = found
    stats["listing.rounds"] += rounds
    if pending:
        stats["listing.unresolved"] += len(pending)
    covered = first.covered if first.rest is not None else span
    trail = (PieceTrail(span, tuple(first.marks), tuple(first.changes)),)
    return Listed(
        first.started_at, len(first.marks), not pending, rest=first.rest, covered=covered, trail=trail
    )


def _read(
    store: EntryStore,
    harvest: HarvestClient,
    params: dict[str, str],
    span: Span,
    stats: Counter,
    seen: SeenIds | None,
    on_page: OnPage | None,
    *,
    known: set[tuple[int, datetime]],
    pieces: Pieces | None = None,
) -> _Read:
    read = _Read(known=set(known))
    pages = harvest.listing(
        ENTRIES, "time_entries", {**params, **span.as_params()}, decode=decode_entries_page
    )
    since, due = 0, False
    with read_ahead(pages, _parse, is_last=lambda listed: listed.last) as listing:
        for listed, parsed in listing:
            apply_page(store, parsed, stats)
            stats["listing.pages"] += 1
            if seen is not None:
                seen.add_seen(parsed.ids)
            _remember(read, listed, parsed)
            if on_page is not None:
                on_page(listed)
            if pieces is None:
                continue
            since += 1
            due = due or pieces.due(since, listed)
            cut = _cut_point(read, span) if due else None
            if cut is None:
                continue
            since, due = 0, False
            if pieces.reached(_so_far(read, span, *cut)):
                read.rest, read.covered = cut
                break
    return read


def _so_far(read: _Read, span: Span, rest: Span, covered: Span) -> Listed:
    # Its boundaries are not repaired yet: a resumed listing repairs them (across_pieces).
    trail = (PieceTrail(span, tuple(read.marks), tuple(read.changes), repaired=False),)
    return Listed(read.started_at, len(read.marks), True, rest=rest, covered=covered, trail=trail)


def _cut_point(read: _Read, span: Span) -> tuple[Span, Span] | None:
    """Where the listing can stop after the last page read: what is left (the dates from that
    page's last day on, which re-reads that day) and what it read completely. None (read on)
    while every row read is of one day."""
    dated = [m for m in read.marks if m.first_day is not None]
    if not dated:
        return None
    first, last = dated[0].first_day, dated[-1].last_day
    assert first is not None and last is not None
    if first == last or read.marks[-1].last_day is None:
        return None
    day = timedelta(days=1)
    if first > last:  # newest first, as Harvest lists them
        return Span(span.start, last), Span(last + day, span.end)
    return Span(last, span.end), Span(span.start, last - day)


def _parse(listed: ListedPage) -> tuple[ListedPage, ParsedPage]:
    # Runs in the read-ahead thread; the raw records are not needed once parsed.
    return listed._replace(records=[]), parse_page(listed.records)


def _remember(read: _Read, listed: ListedPage, parsed: ParsedPage) -> None:
    entries = list(parsed.newest.values())
    read.marks.append(
        PageMark(
            listed.total_entries,
            listed.served_at,
            entries[0].spent_date if entries else None,
            entries[-1].spent_date if entries else None,
        )
    )
    if read.started_at is None:
        read.started_at = listed.served_at
    if read.started_at is not None:
        # Only a change made after the listing began can have shifted it.
        since = read.started_at - STAMP_PRECISION
        for e in entries:
            change = (e.harvest_id, e.updated_at)
            if e.updated_at >= since and change not in read.known:
                read.known.add(change)
                read.changes.append(e.updated_at)
