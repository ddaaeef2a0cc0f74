"""Time-entry consumer: Harvest time entries become actuals, incrementally, nothing lost,
nothing doubled.

Later syncs ask only for entries updated since the last completed sync (minus an overlap),
never narrowed by spent_date, so an edit to an entry of any age is seen. Deletions, which
Harvest never reports, are found by consumers.deletions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import chain

import structlog

from consumers.backfill import PublishMany, part_commands, plan
from consumers.deletions import check_deletions, plan_check
from consumers.entry_apply import EntryStore, apply_page, parse_page, reapply
from consumers.runs import Clock, db_errors_are_transient, require_account, tracked_run, utcnow
from domain.commands import SyncActuals
from domain.errors import TransientError
from infra.db.accounts import AccountRecord
from infra.db.backfills import BackfillRepository
from infra.db.uow import UnitOfWork
from infra.harvest.client import HarvestClient
from infra.harvest.read_ahead import read_ahead

CONSUMER = "time_entries"
LOCK_CLASS = 2  # advisory-lock namespace: one actuals sync per account at a time
# updated_since has second precision and looks exclusive: overlap so an edit in the cursor's
# own second is not lost; upserts make the re-read harmless.
CURSOR_OVERLAP = timedelta(minutes=5)

log = structlog.get_logger(__name__)


class AccountBusy(TransientError):
    """Another pod is syncing this account's actuals; try again shortly."""


@db_errors_are_transient
def handle_sync_actuals(
    cmd: SyncActuals,
    *,
    uow: Callable[[], UnitOfWork],
    harvest_for: Callable[[AccountRecord], HarvestClient],
    publish_many: PublishMany | None = None,
    backfill_part_entries: int = 0,
    clock: Clock = utcnow,
) -> Counter:
    account = require_account(uow, cmd.account_id)
    stats: Counter = Counter()
    with (
        tracked_run(uow, account_id=account.id, kind="actuals", message_id=cmd.message_id, clock=clock),
        uow() as u,
    ):
        if not u.try_lock(LOCK_CLASS, account.id):
            raise AccountBusy(f"actuals sync for account {account.id} is running elsewhere")
        backfills = BackfillRepository(u.conn, account.id)
        pending = backfills.unfinished()
        if pending is not None:
            # A first sync is still being shared out: make sure its parts are on their way.
            parts = part_commands(
                account.id, pending["backfill_id"], backfills.parts(pending["backfill_id"], pending_only=True)
            )
            if cmd.message_id != pending["backfill_id"]:
                u.runs.finish(
                    account.id,
                    cmd.message_id,
                    status="skipped",
                    counts={"backfill.parts_pending": len(parts)},
                    at=clock(),
                )
            u.commit()
            if publish_many is not None:
                publish_many(parts)
            return stats
        if not u.claim_message(CONSUMER, cmd.message_id):
            log.info("duplicate_skipped", account_id=account.id)
            return stats
        started = clock()
        if not account.import_actuals:
            stats["skipped.import_off"] = 1
            u.runs.finish(account.id, cmd.message_id, status="skipped", counts=dict(stats), at=started)
            u.commit()
            return stats
        state = u.accounts.sync_state(account.id).get("actuals") or {}
        repo = EntryStore.open(u.conn, account.id)
        harvest = harvest_for(account)
        if state.get("cursor") is None and backfill_part_entries and publish_many is not None:
            ranges = plan(harvest, start=account.actuals_start_date, per_part=backfill_part_entries)
            if ranges:
                harvest.close()
                backfills.register(cmd.message_id, started, ranges)
                parts = part_commands(account.id, cmd.message_id, backfills.parts(cmd.message_id))
                u.runs.set_progress(account.id, cmd.message_id, {"backfill.parts": len(parts)})
                u.commit()
                # After the commit: a crash before this publish is healed by the next sync.
                publish_many(parts)
                stats["backfill.parts"] = len(parts)
                return stats

        def report(pages: int) -> None:
            # Its own short transaction, so `admin status` sees progress while this one runs.
            with uow() as p:
                # Advisory: a crash may lose it, so its commit need not wait for the disk.
                p.conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                p.runs.set_progress(account.id, cmd.message_id, {"pages": pages, **stats})
                p.commit()

        try:
            hold_facts = _sync(repo, harvest, account, state, cmd, started, stats, report)
        finally:
            harvest.close()
        u.accounts.record_success(account.id, "actuals", started)
        full = stats["reconciled.full"] > 0 or state.get("cursor") is None
        u.accounts.move_cursor(account.id, "actuals", started, full_reconcile=full, hold_facts=hold_facts)
        u.runs.finish(account.id, cmd.message_id, status="succeeded", counts=dict(stats), at=clock())
        u.commit()
    log.info("actuals_synced", account_id=account.id, **{k.replace(".", "_"): v for k, v in stats.items()})
    return stats


def _sync(
    repo: EntryStore,
    harvest: HarvestClient,
    account: AccountRecord,
    state: dict,
    cmd: SyncActuals,
    started: datetime,
    stats: Counter,
    report: Callable[[int], None],
) -> str:
    """Bring the account's entries and actuals up to date; returns the hold facts it saw."""
    # Read first: a fact that changes while this sync runs differs from it at the next one.
    hold_facts = repo.lookups.hold_facts()
    cursor: datetime | None = state.get("cursor")
    check = None
    if cursor is None:
        # First sync: all history, or from the account's start date.
        params = {"from": account.actuals_start_date.isoformat()} if account.actuals_start_date else {}
    else:
        params = {"updated_since": _iso(cursor - CURSOR_OVERLAP)}
        # Before the listing: Harvest's count must not include what the listing will store.
        check = plan_check(harvest, account, state, requested_full=cmd.full_reconcile, started=started)
    listings = [harvest.pages("/time_entries", "time_entries", params)]
    if cursor is not None:
        # A running timer's hours grow while its updated_at may not: re-read them every time
        # (fetched while the last page of updates is stored).
        listings.append(harvest.pages("/time_entries", "time_entries", {"is_running": "true"}))
    with read_ahead(chain.from_iterable(listings), parse_page) as listing:
        for pages, page in enumerate(listing, start=1):
            apply_page(repo, page, stats)
            report(pages)
    # Entries held for a cause that may be fixed now, and people whose role or assignments
    # changed, are resolved again even though Harvest did not change them.
    held = repo.entries.held_ids() if hold_facts != state.get("hold_facts") else []
    dirty = repo.entries.dirty_people()
    reapply(repo, held + repo.entries.ids_of_people(dirty), stats)
    repo.entries.clear_dirty(dirty)
    if check is not None:
        check_deletions(repo, harvest, check, stats)
    return hold_facts


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
