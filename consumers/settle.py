"""Closing a sync exactly: what changed in Harvest while the sync was listing is read before it
ends, so its actuals equal Harvest's when it commits, not only a day later.

A round: Harvest counts all the history (one request), the entries changed since the last
listing began are listed (usually one page, often empty), and the counts are compared, which
lists only spans that differ (consumers.deletions). The count comes first, so an entry created
meanwhile adds to a difference rather than hiding a deletion. Rounds go on while the last one
still found something moving (a listing of several pages, a shift, a difference), at most
MAX_ROUNDS; the next sync picks up whatever is left.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from consumers.deletions import DeletionCheck, check_deletions
from consumers.listing import ENTRIES, Listed, list_entries
from domain.listing import STAMP_PRECISION
from domain.spans import Span
from infra.db.entry_store import EntryStore
from infra.harvest.client import HarvestClient

MAX_ROUNDS = 3


def still_moving(listed: Listed, differed: bool) -> bool:
    """Whether Harvest may have changed under a round: it read more than one page (time for
    users to change what was read), it shifted, or counts differed."""
    return listed.pages > 1 or not listed.resolved or differed


def settle(
    store: EntryStore, harvest: HarvestClient, stats: Counter, *, span: Span, observed: datetime | None
) -> datetime | None:
    """Rounds over `span` until nothing moves; return the Harvest time up to which every
    change is read. `observed`: when the last listing began; None compares counts only (a
    backfill part, whose changes the part finishing the backfill reads)."""
    for _ in range(MAX_ROUNDS):
        stats["settle.rounds"] += 1
        count = harvest.count(ENTRIES, span.as_params())
        listed = (
            list_entries(store, harvest, stats, params={"updated_since": iso(observed - STAMP_PRECISION)})
            if observed is not None
            else Listed(None, 1, resolved=True)
        )
        differed = check_deletions(store, harvest, DeletionCheck(span, False, count), stats)
        if listed.resolved and listed.started_at is not None:
            observed = listed.started_at
        if not still_moving(listed, differed):
            return observed
    stats["settle.left_moving"] += 1
    return observed


def iso(moment: datetime) -> str:
    """`updated_since` as Harvest reads it: UTC, second precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
