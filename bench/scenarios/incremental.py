"""What a daily sync costs after a backfill: with nothing changed, with 1% of the entries
edited, and with 0.5% deleted across all history; and whether the weekly full listing still
finds anything after those (it should not). Runs on the stack a backfill just filled."""

from __future__ import annotations

import random
import time

from bench.report import Section
from bench.scenarios.backfill import BackfillResult
from bench.stack import Stack

TARGET_SHARE = 0.03  # of the backfill's time and requests
# What a day without change must ask: entries updated since the last sync, running timers, and
# Harvest's count of all history.
FEW_REQUESTS = 3
DELETED_FRACTION = 0.005


def measure(
    stack: Stack,
    backfill: BackfillResult,
    edit_fraction: float = 0.01,
    seed: int = 6,
    *,
    settle_s: float = 0.0,
    limited: bool = False,
) -> Section:
    """First a day with no change, then a day with `edit_fraction` of the entries edited, each
    on the database as a day later finds it (Stack.a_day_later). `settle_s`: time to let pass
    before each sync (under a rate limit, the backfill's requests must leave the window, as they
    have a day later)."""
    section = Section(
        "incremental daily sync" + (", Harvest's limit enforced" if limited else ""),
        f"after the backfill above; then {edit_fraction:.0%} of entries edited",
    )
    stack.a_day_later()
    time.sleep(settle_s)
    stack.sim.reset_stats()
    quiet = stack.admin_sync("--what=actuals")
    quiet_stats = stack.sim.stats()
    section.add("no change: wall", f"{quiet.seconds:.2f} s")
    section.add(
        "no change: requests",
        f"{quiet_stats['requests']} ({_paths(quiet_stats)})",
        f"<= {FEW_REQUESTS} (the few it must)",
        quiet_stats["requests"] <= FEW_REQUESTS,
    )
    with stack.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT harvest_id, hours FROM time_entries WHERE account_id = %(a)s AND NOT is_running"
            " ORDER BY harvest_id",
            {"a": stack.account_id},
        ).all()
    edits = random.Random(seed).sample(stored, max(1, int(len(stored) * edit_fraction)))
    hours_before = float(stack.scalar("SELECT SUM(hours) FROM time_entries WHERE account_id = :account_id"))
    for entry_id, hours in edits:
        # A quarter of an hour more: every edit changes minutes, so every edit touches an actual.
        stack.sim.update_entry(entry_id, {"hours": round(float(hours) + 0.25, 2)})
    stack.a_day_later()
    time.sleep(settle_s)
    stack.sim.reset_stats()
    edited = stack.admin_sync("--what=actuals")
    stats = stack.sim.stats()
    time_share = edited.seconds / backfill.run.seconds
    req_share = stats["requests"] / backfill.requests
    section.add("entries edited", f"{len(edits):,} of {backfill.entries:,}")
    section.add("edited: wall", f"{edited.seconds:.2f} s (backfill {backfill.run.seconds:.1f} s)")
    section.add(
        "edited: time / backfill's", f"{time_share:.1%}", f"<= {TARGET_SHARE:.0%}", time_share <= TARGET_SHARE
    )
    section.add("edited: requests", f"{stats['requests']} ({_paths(stats)})")
    section.add(
        "edited: requests / backfill's",
        f"{req_share:.1%} (backfill {backfill.requests})",
        f"<= {TARGET_SHARE:.0%}",
        req_share <= TARGET_SHARE,
    )
    counts = edited.counts
    section.add(
        "edited: entries received / changed; deletion check",
        f"{counts.get('entries.received', 0):,} / {counts.get('entries.changed', 0):,};"
        f" counts of all history ({counts.get('deletions.counts', 0)} more counts,"
        f" {counts.get('deletions.spans_listed', 0)} spans listed,"
        f" {counts.get('settle.rounds', 0)} closing rounds)",
    )
    expected = hours_before + 0.25 * len(edits)
    after = float(stack.scalar("SELECT SUM(hours) FROM time_entries WHERE account_id = :account_id"))
    section.add(
        "check: stored hours include every edit",
        "ok" if abs(after - expected) < 0.01 else f"MISMATCH {after} vs {expected}",
    )
    return section


def measure_deletions(
    stack: Stack, backfill: BackfillResult, fraction: float = DELETED_FRACTION, seed: int = 7
) -> Section:
    """A day on which `fraction` of the entries were deleted, spread over all history; then
    the weekly full listing, which should find nothing the daily sync missed."""
    section = Section(
        "daily sync after deletions of any age",
        f"after the syncs above; {fraction:.1%} of entries deleted across all history",
    )
    with stack.engine.connect() as conn:
        stored = (
            conn.exec_driver_sql(
                "SELECT harvest_id FROM time_entries WHERE account_id = %(a)s AND NOT is_running",
                {"a": stack.account_id},
            )
            .scalars()
            .all()
        )
    doomed = random.Random(seed).sample(sorted(stored), max(1, int(len(stored) * fraction)))
    oldest = stack.scalar(
        "SELECT min(spent_date) FROM time_entries WHERE account_id = :account_id AND harvest_id = ANY(:ids)",
        ids=doomed,
    )
    for entry_id in doomed:
        stack.sim.delete_entry(entry_id)
    stack.a_day_later()
    stack.sim.reset_stats()
    daily = stack.admin_sync("--what=actuals")
    stats = stack.sim.stats()
    deleted = daily.counts.get("entries.deleted", 0)
    section.add("entries deleted in Harvest", f"{len(doomed):,} of {backfill.entries:,} (oldest {oldest})")
    section.add("daily sync: deletions found", f"{deleted:,}", f"= {len(doomed):,}", deleted == len(doomed))
    section.add(
        "daily sync: requests, wall",
        f"{stats['requests']} ({stats['requests'] / backfill.requests:.0%} of the backfill's),"
        f" {daily.seconds:.2f} s ({daily.seconds / backfill.run.seconds:.0%} of the backfill's)",
    )
    section.add(
        "daily sync: counts asked / spans listed / entries listed",
        f"{daily.counts.get('deletions.counts', 0)} / {daily.counts.get('deletions.spans_listed', 0)}"
        f" / {daily.counts.get('deletions.entries_listed', 0):,}",
    )
    stack.sim.reset_stats()
    full = stack.admin_sync("--what=actuals", "--full")
    found = full.counts.get("entries.deleted", 0) + full.counts.get("entries.changed", 0)
    section.add(
        "weekly full listing afterwards: deleted + changed it found",
        f"{found} ({stack.sim.stats()['requests']} requests, {full.seconds:.2f} s)",
        "0",
        found == 0,
    )
    return section


def _paths(stats: dict) -> str:
    return ", ".join(f"{path} x{n}" for path, n in sorted(stats["by_path"].items()))
