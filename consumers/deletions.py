"""Deletions, which Harvest never reports, found at the cost of what changed.

Every sync checks the trailing window of spent dates (`reconcile_window_days`): Harvest counts
the window's entries before the sync lists what was updated, and only spans whose count
differs from ours are halved and, once small, listed (domain.deletions says why equal counts
can be trusted). Every `full_reconcile_days`, or when asked, the whole history is listed
instead: the safety net for anything a count could hide.

A listed span is also applied like any other page, so an entry we lack (one created while
the sync ran, or skipped by offset paging while data changed) is stored rather than missed.
Everything runs in the sync's transaction: a listing that fails part way raises, rolls back,
and deletes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from consumers.entry_apply import EntryStore, apply_page, parse_page
from domain.deletions import DayCounts, Span
from infra.db.accounts import AccountRecord
from infra.db.actuals import rebuild_actuals
from infra.db.deletions import DeletionRepository, Key
from infra.harvest.client import MAX_PER_PAGE, HarvestClient
from infra.harvest.read_ahead import read_ahead

ENTRIES = "/time_entries"
# A span Harvest counts at most this many entries in is listed rather than halved: halving
# costs a count request, and listing it is at most two pages.
LIST_AT_MOST = 2 * MAX_PER_PAGE


@dataclass(frozen=True)
class DeletionCheck:
    """Which spent dates this sync checks, and how."""

    span: Span
    full: bool
    # Harvest's count for `span`, taken before the sync listed what changed (None: list it).
    harvest_count: int | None = None


def plan_check(
    harvest: HarvestClient, account: AccountRecord, state: dict, *, requested_full: bool, started: datetime
) -> DeletionCheck:
    """Decide the check and, for a window, have Harvest count it now: before the listing of
    updated entries, so an entry created meanwhile can never hide a deletion."""
    last_full: datetime | None = state.get("last_full_reconcile_at")
    full = (
        requested_full
        or last_full is None
        or started - last_full >= timedelta(days=account.full_reconcile_days)
    )
    since: date | None = None if full else started.date() - timedelta(days=account.reconcile_window_days)
    if account.actuals_start_date and (since is None or since < account.actuals_start_date):
        since = account.actuals_start_date
    span = Span(since, None)
    if full:
        return DeletionCheck(span, full=True)
    return DeletionCheck(span, full=False, harvest_count=harvest.count(ENTRIES, span.as_params()))


def check_deletions(store: EntryStore, harvest: HarvestClient, check: DeletionCheck, stats: Counter) -> None:
    """Remove what Harvest no longer has in the check's span, listing only where counts differ."""
    deletions = DeletionRepository(store.entries.conn, store.entries.account_id)
    # A full check lists everything and compares nothing: it needs no counts of ours.
    ours = DayCounts(deletions.counts_by_day(check.span) if check.harvest_count is not None else ())
    emptied: list[Key] = []
    pending: list[tuple[Span, int | None]] = [(check.span, check.harvest_count)]
    while pending:
        span, theirs = pending.pop()
        if theirs is not None and theirs == ours.within(span):
            continue
        halves = ours.halve(span) if theirs is not None and theirs > LIST_AT_MOST else None
        if theirs is None or halves is None:
            deleted, keys = _list_and_remove(store, deletions, harvest, span, stats)
            stats["entries.deleted"] += deleted
            emptied.extend(keys)
            continue
        left, right = halves
        left_count = harvest.count(ENTRIES, left.as_params())
        stats["deletions.counts"] += 1
        right_count = None if left_count is None else max(0, theirs - left_count)
        pending += [(right, right_count), (left, left_count)]
    stats["actuals.rebuilt"] += rebuild_actuals(
        store.entries.conn, store.entries.account_id, (), emptied=emptied
    )
    stats["reconciled.full" if check.full else "reconciled.window"] += 1


def _list_and_remove(
    store: EntryStore, deletions: DeletionRepository, harvest: HarvestClient, span: Span, stats: Counter
) -> tuple[int, list[Key]]:
    stats["deletions.spans_listed"] += 1
    listed: Counter = Counter()
    deletions.begin_seen()
    with read_ahead(harvest.pages(ENTRIES, "time_entries", span.as_params()), parse_page) as listing:
        for page in listing:
            apply_page(store, page, listed)
            deletions.add_seen(page.ids)
    stats["deletions.entries_listed"] += listed.pop("entries.received", 0)
    stats.update(listed)
    return deletions.delete_missing(span)
