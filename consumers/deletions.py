"""Deletions, which Harvest never reports, found at the cost of what changed.

Every sync has Harvest count all of the account's history (one request) and compares that
with our count: only spans whose counts differ are halved and, once small, listed
(domain.deletions says why equal counts can be trusted). Every `full_reconcile_days`, or when
asked, the whole history is listed instead: the safety net for anything a count could hide.

A listed span is also applied like any other page, so an entry we lack (one created while
the sync ran, or skipped by offset paging while data changed) is stored rather than missed.
Nothing is deleted on a listing that kept shifting (its rows may be missing for that reason).
A listing of all history goes in pieces, each committed with the sync's checkpoint
(consumers.resume): what a piece read completely is checked, and its deletions committed, with
it. A listing that fails part way rolls back only its current piece.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from consumers.listing import ENTRIES, Listed, Pieces, list_entries
from consumers.resume import Resumable
from domain.accounts import AccountRecord
from domain.deletions import DayCounts, worth_halving
from domain.spans import Span
from infra.db.entry_store import EntryStore
from infra.harvest.client import HarvestClient

# The checkpointed listing of a full check.
PHASE = "deletions"


@dataclass(frozen=True)
class DeletionCheck:
    """Which spent dates this sync checks, and how."""

    span: Span
    full: bool
    # Harvest's count for `span`, taken before the changes were listed (None: list it all).
    harvest_count: int | None = None


def history_of(account: AccountRecord) -> Span:
    """The spent dates the account's actuals cover: all of them, or from its start date."""
    return Span(account.actuals_start_date, None)


def full_listing_due(account: AccountRecord, state: dict, *, requested: bool, now: datetime) -> bool:
    """The periodic listing of all history: asked for, never done, or `full_reconcile_days` old."""
    last_full: datetime | None = state.get("last_full_reconcile_at")
    return requested or last_full is None or now - last_full >= timedelta(days=account.full_reconcile_days)


def plan_check(harvest: HarvestClient, span: Span, *, full: bool) -> DeletionCheck:
    """The check of `span`; unless it lists everything, Harvest counts it now: before the
    changes are listed, so an entry created meanwhile can never hide a deletion."""
    if full:
        return DeletionCheck(span, full=True)
    return DeletionCheck(span, full=False, harvest_count=harvest.count(ENTRIES, span.as_params()))


def check_deletions(
    store: EntryStore,
    harvest: HarvestClient,
    check: DeletionCheck,
    stats: Counter,
    *,
    res: Resumable | None = None,
) -> bool:
    """Remove what Harvest no longer has in the check's span, listing only where counts
    differ; return whether anything differed (something had to be listed). With `res`, a
    full check lists in checkpointed pieces."""
    deletions = store.deletions
    # A full check lists everything and compares nothing: it needs no counts of ours.
    theirs = check.harvest_count
    per_day = () if theirs is None else deletions.counts_by_day(check.span, unless_total=theirs)
    if per_day is None:  # our total is Harvest's: nothing in the span was deleted
        stats["reconciled.by_counts"] += 1
        return False
    ours = DayCounts(per_day)
    list_at_most = 2 * harvest.per_page  # a span this small is listed in at most two pages
    differed = False
    pending: list[tuple[Span, int | None]] = [(check.span, check.harvest_count)]
    while pending:
        span, theirs = pending.pop()
        held = ours.within(span)
        if theirs is not None and theirs == held:
            continue
        differed = True
        halve = theirs is not None and worth_halving(theirs, held, list_at_most)
        halves = ours.halve(span) if halve else None
        if halves is None:
            _list_and_remove(store, harvest, span, stats, res if check.full else None)
            continue
        left, right = halves
        left_count = harvest.count(ENTRIES, left.as_params())
        stats["deletions.counts"] += 1
        right_count = None if left_count is None else max(0, theirs - left_count)
        pending += [(right, right_count), (left, left_count)]
    stats["reconciled.full" if check.full else "reconciled.by_counts"] += 1
    return differed


def _list_and_remove(
    store: EntryStore, harvest: HarvestClient, span: Span, stats: Counter, res: Resumable | None
) -> None:
    """List `span` and delete what it did not return, piece by piece with `res`."""
    stats["deletions.spans_listed"] += 1
    deletions = store.deletions

    def list_piece(rest: Span, ends: Pieces | None) -> Listed:
        listed: Counter = Counter()
        deletions.begin_seen()  # per piece: the ids collected go with the piece's commit
        piece = list_entries(store, harvest, listed, span=rest, seen=deletions, pieces=ends)
        stats["deletions.entries_listed"] += listed.pop("entries.received", 0)
        stats.update(listed)
        return piece

    def remove(piece: Listed) -> None:
        if not piece.resolved:
            # Rows may be missing from this listing because it shifted: none of them is deleted.
            stats["deletions.spans_not_trusted"] += 1
            return
        assert piece.covered is not None
        deleted, emptied = deletions.delete_missing(piece.covered)
        stats["entries.deleted"] += deleted
        stats["actuals.rebuilt"] += store.rebuild_actuals((), emptied=emptied)

    if res is None:
        remove(list_piece(span, None))
    else:
        res.list_in_pieces(PHASE, span, list_piece, after_piece=remove)
