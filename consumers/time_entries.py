"""Time-entry consumer: Harvest time entries become actuals, incrementally, nothing lost,
nothing doubled.

Later syncs ask only for entries updated since the last completed sync (minus an overlap),
never narrowed by spent_date, so an edit to an entry of any age is seen; the cursor is
Harvest's own time, never ours. Deletions, which Harvest never reports, are found by
comparing counts over all history (consumers.deletions); what changed while the sync ran is
read before it ends (consumers.settle); listings that shift under us are repaired
(consumers.listing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from consumers.backfill import part_commands, plan
from consumers.deletions import DeletionCheck, check_deletions, full_listing_due, history_of, plan_check
from consumers.entry_apply import reapply
from consumers.listing import Listed, OnPage, Pieces, list_entries
from consumers.pipeline import Context, Outcome
from consumers.resume import ListPiece, Resumable
from consumers.settle import iso, settle, still_moving
from domain.accounts import AccountRecord
from domain.commands import SyncActuals
from domain.spans import ALL_HISTORY, Span
from domain.verify import compare, default_range
from infra.db.entry_store import EntryStore
from infra.db.sync_start import ActualsStart
from infra.db.uow import UnitOfWork
from infra.harvest.client import HarvestClient, ListedPage

# The cursor is Harvest's own time (its Date header) when the last listing of changes began;
# updated_since compares it with updated_at stamps, which Harvest may take from another
# clock than its web servers', at second precision. Overlap generously: upserts make the
# re-read harmless.
CURSOR_OVERLAP = timedelta(minutes=5)

log = structlog.get_logger(__name__)

# The checkpoint of an account's actuals sync: one run at a time carries it.
SCOPE = "actuals"


HarvestFor = Callable[..., HarvestClient]  # (account, on_wait=...) -> a client


def backfill_in_progress(cmd: SyncActuals, ctx: Context) -> Outcome | None:
    """While a first sync is being shared out, an actuals sync only makes sure its parts are
    on their way (a crash between recording them and publishing them is healed here). Runs
    before the inbox: the redelivered command that planned the backfill heals it too."""
    # The inbox check that follows the guard is answered by the same read.
    backfill_id = ctx.u.actuals_start(SCOPE, inbox=(cmd.route.inbox, cmd.run_id)).unfinished_backfill
    if backfill_id is None:
        return None
    parts = part_commands(ctx.account.id, backfill_id, ctx.u.backfills.parts(backfill_id, pending_only=True))
    if cmd.run_id == backfill_id:
        return Outcome(status=None, publish=parts)  # its run is the backfill's: still running
    return Outcome(Counter({"backfill.parts_pending": len(parts)}), status="skipped", publish=parts)


def sync_actuals(
    cmd: SyncActuals, ctx: Context, *, harvest_for: HarvestFor, backfill_part_entries: int = 0
) -> Outcome:
    account, u = ctx.account, ctx.u
    stats: Counter = Counter()
    if not account.import_actuals:
        stats["skipped.import_off"] = 1
        return Outcome(stats, status="skipped")
    start = u.actuals_start(SCOPE)
    state = start.state
    res = Resumable.from_saved(ctx, SCOPE, stats, start.checkpoint)
    harvest = harvest_for(account, on_wait=_waiting(ctx, stats, res))
    res.per_page = harvest.per_page
    try:
        # The run's own start, kept across its pieces: what its success and cursor date from.
        started = datetime.fromisoformat(res.remember("started", ctx.clock))
        if state.get("cursor") is None and backfill_part_entries and not res.state.get("listings"):
            planned = _plan_backfill(cmd, ctx, harvest, backfill_part_entries, started)
            if planned is not None:
                return planned
        sync = _Sync(u.entries, harvest, account, res, _progress_reporter(ctx, stats, res), start)
        hold_facts, cursor, full = sync.run(state, cmd, started)
        if cmd.verify:
            stats["verify.differences"] = _verify(u, harvest, account, ctx.clock())
    finally:
        harvest.close()
    res.finish()
    u.accounts.move_cursor(
        account.id,
        "actuals",
        cursor,
        succeeded_at=started,
        full_reconciled_at=started if full else None,
        hold_facts=hold_facts,
    )
    log.info("actuals_synced", account_id=account.id, **{k.replace(".", "_"): v for k, v in stats.items()})
    return Outcome(stats)


def _plan_backfill(
    cmd: SyncActuals, ctx: Context, harvest: HarvestClient, per_part: int, started: datetime
) -> Outcome | None:
    """A first sync too large for one worker: record its parts, to be published once this
    transaction commits; None when one worker should just do it."""
    ranges, planned_at = plan(harvest, start=ctx.account.actuals_start_date, per_part=per_part)
    if not ranges:
        return None
    backfills = ctx.u.backfills
    # Harvest's time: what changes after it, the backfill's last part reads.
    backfills.register(cmd.run_id, planned_at or started, ranges)
    parts = part_commands(ctx.account.id, cmd.run_id, backfills.parts(cmd.run_id))
    # The run stays running: the part that completes the backfill finishes it.
    ctx.u.runs.mark_running(
        account_id=ctx.account.id,
        kind=cmd.run_kind,
        message_id=cmd.run_id,
        at=started,
        progress={"backfill.parts": len(parts)},
    )
    return Outcome(Counter({"backfill.parts": len(parts)}), status=None, publish=parts)


def _progress_reporter(ctx: Context, stats: Counter, res: Resumable) -> OnPage:
    """Progress of the whole run, across its pieces and messages: pages and entries so far
    (kept in the checkpoint), of Harvest's count when the run's first listing began."""

    def report(page: ListedPage) -> None:
        if page.total_entries is not None:
            res.remember("total_entries", lambda: page.total_entries)
        ctx.progress(_progress(ctx, stats, res))

    return report


def _waiting(ctx: Context, stats: Counter, res: Resumable) -> Callable[[str, float], None]:
    """Shows a wait on Harvest in the run's progress: 'waiting for Harvest: rate limited, 4 s'."""

    def show(why: str, seconds: float) -> None:
        stats[f"harvest.waits.{why}"] += 1
        ctx.progress({**_progress(ctx, stats, res), "waiting": f"{why.replace('_', ' ')}, {seconds:.0f} s"})

    return show


def _progress(ctx: Context, stats: Counter, res: Resumable) -> dict:
    total = res.state.get("total_entries")
    return {
        **stats,
        "pages": stats["listing.pages"],
        "entries": stats["entries.received"],
        "at": ctx.clock().isoformat(),
        **({"total_entries": total} if total is not None else {}),
    }


class _Sync:
    """One actuals sync of an account: its listings go piece by piece, each checkpointed, so a
    retried, redelivered or continued message carries on where the last piece ended."""

    def __init__(
        self,
        repo: EntryStore,
        harvest: HarvestClient,
        account: AccountRecord,
        res: Resumable,
        report: OnPage,
        start: ActualsStart,
    ) -> None:
        self.repo, self.harvest, self.account, self.res, self.report = repo, harvest, account, res, report
        self.start = start
        self.stats = res.stats

    def run(self, state: dict, cmd: SyncActuals, started: datetime) -> tuple[str, datetime, bool]:
        """Bring the account's entries and actuals up to date. Returns the hold facts it saw,
        the Harvest time up to which it read every change (the next cursor), and whether it
        listed all history."""
        # Read first: a fact that changes while this sync runs differs from it at the next one.
        hold_facts = self.res.remember("hold_facts", lambda: self.start.hold_facts)
        cursor: datetime | None = state.get("cursor")
        if cursor is None:
            return hold_facts, self._first(state, hold_facts, started), True
        return hold_facts, *self._later(state, hold_facts, cmd, started, cursor)

    def _first(self, state: dict, hold_facts: str, started: datetime) -> datetime:
        """First sync: all history, or from the account's start date."""
        history = history_of(self.account)
        first = self.res.list_in_pieces("first", history, self._lister(on_page=self.report))
        _resolve_again(self.repo, state, hold_facts, self.start.dirty_people, self.stats)
        observed = first.started_at or started
        return settle(self.repo, self.harvest, self.stats, span=history, observed=observed) or observed

    def _later(
        self, state: dict, hold_facts: str, cmd: SyncActuals, started: datetime, cursor: datetime
    ) -> tuple[datetime, bool]:
        history = history_of(self.account)
        repo, harvest, stats = self.repo, self.harvest, self.stats
        full = self.res.remember(
            "full", lambda: full_listing_due(self.account, state, requested=cmd.full_reconcile, now=started)
        )
        # Before the listing: Harvest's count must not include what the listing will store.
        count = self.res.remember("count", lambda: plan_check(harvest, history, full=full).harvest_count)
        since = {"updated_since": iso(cursor - CURSOR_OVERLAP)}
        updates = self.res.list_in_pieces("updates", ALL_HISTORY, self._lister(since, on_page=self.report))
        # A running timer's hours grow while its updated_at may not: re-read them every time.
        list_entries(repo, harvest, stats, params={"is_running": "true"})
        _resolve_again(repo, state, hold_facts, self.start.dirty_people, stats)
        differed = check_deletions(repo, harvest, DeletionCheck(history, full, count), stats, res=self.res)
        observed = updates.started_at or started
        if full or still_moving(updates, differed):
            observed = settle(repo, harvest, stats, span=history, observed=observed) or observed
        # Rows of a listing of changes that kept shifting may be lost edits: read them again.
        return (observed if updates.resolved else cursor), full

    def _lister(self, params: dict[str, str] | None = None, *, on_page: OnPage | None = None) -> ListPiece:
        def piece(rest: Span, ends: Pieces | None) -> Listed:
            return list_entries(
                self.repo,
                self.harvest,
                self.stats,
                params=params,
                span=rest,
                on_page=on_page,
                pieces=ends,
            )

        return piece


def _verify(u: UnitOfWork, harvest: HarvestClient, account: AccountRecord, now: datetime) -> int:
    """The weekly check of our totals against Harvest's reports, right after the sync (under
    its lock): a difference then is drift, not a change we have not read yet."""
    held = u.verifications.held_range(account.id)
    start, end = default_range(account.actuals_start_date, held, now.date())
    compared = compare(harvest, u.verifications.our_hours(account.id), start, end)
    u.verifications.record(
        account.id, checked_at=now, start=start, end=end, compared=compared, source="scheduled"
    )
    return sum(c.differs for c in compared)


def _resolve_again(repo: EntryStore, state: dict, hold_facts: str, dirty: list[int], stats: Counter) -> None:
    """Entries held for a cause that may be fixed now, and people whose role or assignments
    changed (`dirty`, read at the sync's start: a person marked since is resolved again by the
    next sync, as only these are cleared), are resolved again though Harvest did not change them."""
    held = repo.entries.held_ids() if hold_facts != state.get("hold_facts") else []
    reapply(repo, held + repo.entries.ids_of_people(dirty), stats)
    repo.entries.clear_dirty(dirty)
