"""Large first syncs, split by spent date so that several workers share them.

The SyncActuals that finds no cursor and a large history plans the parts, records them, and
publishes one BackfillPart command each; any worker takes any part. Each part lists its dates
(repairing the listing where it shifted) and compares Harvest's count of them with ours. The
part that completes the set reads what changed in Harvest while the parts ran and compares all
history (consumers.settle), then moves the cursor: the backfill ends exact. A backfill left
unfinished (a crash between recording and publishing) has its pending parts published again
by the next SyncActuals of the account.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime

import structlog

from consumers.deletions import history_of
from consumers.listing import ENTRIES, Listed, Pieces, list_entries
from consumers.pipeline import Context, Outcome
from consumers.resume import Resumable
from consumers.settle import settle
from domain import parts as balance
from domain.accounts import AccountRecord
from domain.actuals import split_history
from domain.commands import BackfillPart, SyncActuals
from domain.errors import TransientError
from domain.spans import Span
from infra.db.entry_store import EntryStore
from infra.db.uow import UnitOfWork
from infra.harvest.client import HarvestClient

log = structlog.get_logger(__name__)

HarvestFor = Callable[[AccountRecord], HarvestClient]


class BackfillNotRecorded(TransientError):
    """A part arrived before the plan that published it was committed; try again shortly."""


# Balancing the parts: counts on a coarse grid of the history first, then rounds of at most two
# counts per cut until each cut is within BALANCE_TOLERANCE of a part's share (or one day).
BALANCE_SAMPLES = 12
BALANCE_TOLERANCE = 0.02
BALANCE_ROUNDS = 6


def plan(
    harvest: HarvestClient, *, start: date | None, per_part: int
) -> tuple[list[tuple[date, date]] | None, datetime | None]:
    """Spent-date ranges for the account's history, or None when one worker should just do it;
    and Harvest's time when it was asked (changes after it are read when the backfill ends).
    Two one-entry requests: the newest entry (page 1) and the oldest (the last page); then the
    counts that balance the parts by entries (see balanced_ranges)."""
    params: dict = {"per_page": 1, **({"from": start.isoformat()} if start else {})}
    first = next(iter(harvest.listing(ENTRIES, "time_entries", params)))
    total = first.total_entries or 0
    if total <= per_part or not first.records:
        return None, first.served_at
    newest = date.fromisoformat(first.records[0]["spent_date"])
    last = harvest.get(ENTRIES, {**params, "page": total})
    oldest = date.fromisoformat(last["time_entries"][0]["spent_date"]) if last.get("time_entries") else newest
    ranges = balanced_ranges(harvest, oldest, newest, total, per_part)
    # Entries dated after the newest we saw (made during the backfill) belong to the last part.
    return (ranges if len(ranges) > 1 else None), first.served_at


def balanced_ranges(
    harvest: HarvestClient, oldest: date, newest: date, total: int, per_part: int
) -> list[tuple[date, date]]:
    """oldest..newest in parts of about the same number of entries, from Harvest's counts of
    entries dated oldest..day: a coarse grid (BALANCE_SAMPLES - 1 counts), then a few rounds
    of refinement. Where Harvest gives no count, parts of equal days."""
    parts = balance.part_count(oldest, newest, total, per_part)
    if parts <= 1:
        return [(oldest, newest)]
    counted: dict[date, int] = {}
    ask = balance.grid(oldest, newest, max(BALANCE_SAMPLES, parts))
    for _ in range(BALANCE_ROUNDS + 1):
        for day in ask:
            n = harvest.count(ENTRIES, {"from": oldest.isoformat(), "to": day.isoformat()})
            if n is None:
                return split_history(oldest, newest, total, per_part)
            counted[day] = n
        ask = balance.probes(oldest, newest, total, parts, counted, tolerance=BALANCE_TOLERANCE)
        if not ask:
            break
    cut_days = balance.cuts(oldest, newest, total, parts, counted)
    log.info("backfill_planned", parts=len(cut_days) + 1, counts=len(counted))
    return balance.ranges(oldest, newest, cut_days)


def part_commands(account_id: int, backfill_id: str, parts: list[dict]) -> list[BackfillPart]:
    return [
        BackfillPart(
            account_id, backfill_id, p["part"], p["start_date"].isoformat(), p["end_date"].isoformat()
        )
        for p in parts
    ]


def backfill_part(cmd: BackfillPart, ctx: Context, *, harvest_for: HarvestFor) -> Outcome:
    account, u = ctx.account, ctx.u
    stats: Counter = Counter()
    backfills = u.backfills
    if not any(p["part"] == cmd.part for p in backfills.parts(cmd.backfill_id)):
        raise BackfillNotRecorded(f"backfill {cmd.backfill_id} is not recorded yet")
    repo = u.entries
    is_last = cmd.end == max(p["end_date"] for p in backfills.parts(cmd.backfill_id)).isoformat()
    # The last part also takes entries dated after the plan was made.
    span = Span(date.fromisoformat(cmd.start), None if is_last else date.fromisoformat(cmd.end))
    harvest = harvest_for(account)
    try:
        # Each part resumes on its own: a retried or redelivered part carries on from its
        # last piece.
        res = Resumable.open(ctx, cmd.run_id, stats, per_page=harvest.per_page)

        def piece(rest: Span, ends: Pieces | None) -> Listed:
            return list_entries(repo, harvest, stats, span=rest, pieces=ends)

        res.list_in_pieces("part", span, piece)
        # What shifted in the part's dates meanwhile: compare counts, list what differs.
        settle(repo, harvest, stats, span=span, observed=None)
        res.finish()
        now = ctx.clock()
        whole = backfills.finish_part(
            cmd.backfill_id, cmd.part, worker=_worker_name(), counts=dict(stats), at=now
        )
        if whole is not None:
            _finish(u, repo, harvest, account, whole, backfills.total_counts(cmd.backfill_id), now)
    finally:
        harvest.close()
    log.info("backfill_part_done", account_id=account.id, part=cmd.part, entries=stats["entries.received"])
    # Not a run of its own: the part completing the backfill finished the run that planned it.
    return Outcome(stats, status=None)


def _finish(
    u: UnitOfWork,
    repo: EntryStore,
    harvest: HarvestClient,
    account: AccountRecord,
    backfill: dict,
    counts: dict,
    now: datetime,
) -> None:
    """The last part: every other part has committed. Read what changed in Harvest while the
    parts ran, compare all history, and the first sync is complete."""
    stats: Counter = Counter(counts)
    planned = backfill["started_at"]  # Harvest's time when the backfill was planned
    cursor = settle(repo, harvest, stats, span=history_of(account), observed=planned) or planned
    u.accounts.move_cursor(account.id, "actuals", cursor, succeeded_at=now, full_reconciled_at=now)
    u.runs.finish(
        account.id,
        backfill["backfill_id"],
        kind=SyncActuals.route.run_kind,
        status="succeeded",
        counts=dict(stats),
        at=now,
    )
    log.info("backfill_finished", account_id=account.id, parts=backfill["parts"])


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
