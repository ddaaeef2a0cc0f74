"""Large first syncs, split by spent date so that several workers share them.

The SyncActuals that finds no cursor and a large history plans the parts, records them, and
publishes one BackfillPart command each; any worker takes any part. The part that completes the
set moves the cursor to when the backfill started, so the next daily sync picks up every edit
made meanwhile. A backfill left unfinished (a crash between recording and publishing) has its
pending parts published again by the next SyncActuals of the account.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime

import structlog

from consumers.entry_apply import EntryStore, apply_page, parse_page
from consumers.runs import Clock, db_errors_are_transient, require_account, utcnow
from domain.actuals import split_history
from domain.commands import BackfillPart, Command
from domain.errors import TransientError
from infra.db.accounts import AccountRecord
from infra.db.backfills import BackfillRepository
from infra.db.uow import UnitOfWork
from infra.harvest.client import HarvestClient
from infra.harvest.read_ahead import read_ahead

CONSUMER = "backfill"
PART_LOCK_CLASS = 4  # advisory-lock namespace for one part (keyed by a hash of its id)
log = structlog.get_logger(__name__)

PublishMany = Callable[[Sequence[Command]], None]


class BackfillNotRecorded(TransientError):
    """A part arrived before the plan that published it was committed; try again shortly."""


def plan(harvest: HarvestClient, *, start: date | None, per_part: int) -> list[tuple[date, date]] | None:
    """Spent-date ranges for the account's history, or None when one worker should just do it.
    Two one-entry requests: the newest entry (page 1) and the oldest (the last page)."""
    params: dict = {"per_page": 1, **({"from": start.isoformat()} if start else {})}
    first = harvest.get("/time_entries", params)
    total = int(first.get("total_entries") or 0)
    if total <= per_part or not first.get("time_entries"):
        return None
    newest = date.fromisoformat(first["time_entries"][0]["spent_date"])
    last = harvest.get("/time_entries", {**params, "page": total})
    oldest = date.fromisoformat(last["time_entries"][0]["spent_date"]) if last.get("time_entries") else newest
    ranges = split_history(oldest, newest, total, per_part)
    # Entries dated after the newest we saw (made during the backfill) belong to the last part.
    return ranges if len(ranges) > 1 else None


def part_commands(account_id: int, backfill_id: str, parts: list[dict]) -> list[BackfillPart]:
    return [
        BackfillPart(
            account_id, backfill_id, p["part"], p["start_date"].isoformat(), p["end_date"].isoformat()
        )
        for p in parts
    ]


@db_errors_are_transient
def handle_backfill_part(
    cmd: BackfillPart,
    *,
    uow: Callable[[], UnitOfWork],
    harvest_for: Callable[[AccountRecord], HarvestClient],
    clock: Clock = utcnow,
) -> Counter:
    account = require_account(uow, cmd.account_id)
    stats: Counter = Counter()
    with uow() as u:
        if not u.try_lock_key(PART_LOCK_CLASS, cmd.message_id):
            raise TransientError(f"part {cmd.part} of {cmd.backfill_id} is running elsewhere")
        if not u.claim_message(CONSUMER, cmd.message_id):
            return stats
        backfills = BackfillRepository(u.conn, account.id)
        if not any(p["part"] == cmd.part for p in backfills.parts(cmd.backfill_id)):
            raise BackfillNotRecorded(f"backfill {cmd.backfill_id} is not recorded yet")
        repo = EntryStore.open(u.conn, account.id)
        is_last = cmd.end == max(p["end_date"] for p in backfills.parts(cmd.backfill_id)).isoformat()
        # The last part also takes entries dated after the plan was made.
        params = {"from": cmd.start, **({} if is_last else {"to": cmd.end})}
        harvest = harvest_for(account)
        try:
            with read_ahead(harvest.pages("/time_entries", "time_entries", params), parse_page) as listing:
                for page in listing:
                    apply_page(repo, page, stats)
        finally:
            harvest.close()
        now = clock()
        whole = backfills.finish_part(
            cmd.backfill_id, cmd.part, worker=_worker_name(), counts=dict(stats), at=now
        )
        if whole is not None:
            _finish(u, account, whole, backfills.total_counts(cmd.backfill_id), now)
        u.commit()
    log.info("backfill_part_done", account_id=account.id, part=cmd.part, entries=stats["entries.received"])
    return stats


def _finish(u: UnitOfWork, account: AccountRecord, backfill: dict, counts: dict, now: datetime) -> None:
    """The last part: the first sync is complete."""
    started = backfill["started_at"]
    u.accounts.record_success(account.id, "actuals", started)
    u.accounts.move_cursor(account.id, "actuals", started, full_reconcile=True)
    u.runs.finish(account.id, backfill["backfill_id"], status="succeeded", counts=counts, at=now)
    log.info("backfill_finished", account_id=account.id, parts=backfill["parts"])


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
