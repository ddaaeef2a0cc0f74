"""First sync of a whole agency: admin command -> RabbitMQ -> N workers -> PostgreSQL actuals,
against the simulator with its rate limit off, and the COPY ceiling of the same rows."""

from __future__ import annotations

from dataclasses import dataclass

from bench import procs
from bench.ceiling import copy_ceiling
from bench.report import Section
from bench.sim import Agency
from bench.stack import Run, Stack

TARGET_RATE = 42_000  # entries/s end to end, 2 workers (issue 16)
# The last part done within this share of the first's time (issue 16: balanced parts).
TARGET_PARTS_SPREAD = 0.15
TARGET_CEILING_SHARE = 0.15
TARGET_RSS_MB = 200.0
# One part per worker: parts are balanced by Harvest's counts (consumers.backfill.plan), so
# they finish together. Two per worker ran in two rounds, the last part ending at twice the
# first's time.
PARTS_PER_WORKER = 1


@dataclass
class BackfillResult:
    run: Run
    entries: int
    requests: int
    section: Section


def auto_part_entries(total_entries: int, workers: int) -> int:
    """BACKFILL_PART_ENTRIES for `workers` to share the history (0: one worker does it whole)."""
    if workers <= 1:
        return 0
    return max(2000, -(-total_entries // (workers * PARTS_PER_WORKER)))


def params(agency: Agency, workers: int, part_entries: int, rate_limit: str) -> str:
    split = f"parts of <= {part_entries:,} entries" if part_entries else "not split"
    return (
        f"{agency.people} people x {agency.days} days, {agency.entries_per_day} entries/person/working day, "
        f"{workers} worker(s), {split}, HARVEST_RATE_LIMIT={rate_limit}"
    )


def measure(stack: Stack, agency: Agency, workers: int, *, title: str = "backfill") -> BackfillResult:
    """Entities first (not timed), then the timed actuals backfill with `workers` processes."""
    total = stack.sim.counts()["time_entries"]
    section = Section(title, params(agency, workers, stack.part_entries, stack.rate_limit))
    stack.prepare()
    entities_worker = stack.start_workers("entities", 1)
    stack.sync_entities()
    stack.stop_workers(entities_worker)
    pool = stack.start_workers("time_entries", workers)
    stack.sim.reset_stats()
    busy0, all0 = procs.machine_busy_seconds()
    sim_cpu0 = procs.cpu_seconds(stack.sim.proc.pid)
    wal0 = _wal(stack)
    run = stack.admin_sync("--what=actuals")
    busy1, all1 = procs.machine_busy_seconds()
    wal = _wal(stack) - wal0
    checkpoints = stack.scalar("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
    sim_cpu = procs.cpu_seconds(stack.sim.proc.pid) - sim_cpu0
    for proc in pool:
        proc.sample()
    stats = stack.sim.stats()
    rate = total / run.seconds
    rss = [p.rss_mb for p in pool]
    section.add("time entries", f"{total:,}")
    section.add("wall, publish -> run succeeded", f"{run.seconds:.1f} s")
    section.add("entries/s end to end", f"{rate:,.0f}", f">= {TARGET_RATE:,}", rate >= TARGET_RATE)
    section.add("Harvest requests", f"{stats['requests']:,} ({_statuses(stats)})")
    section.add(
        "peak RSS per worker",
        ", ".join(f"{r:.0f}" for r in rss) + " MB",
        f"<= {TARGET_RSS_MB:.0f} MB",
        max(rss) <= TARGET_RSS_MB,
    )
    section.add(
        "CPU s: workers / simulator / machine busy of available",
        f"{sum(p.cpu_s for p in pool):.1f} / {sim_cpu:.1f} / {busy1 - busy0:.1f} of {all1 - all0:.1f}",
    )
    section.add(
        "WAL written (checkpoints since server start)",
        f"{wal / 2**20:,.0f} MiB ({checkpoints})",
    )
    section.add("check: stored = Harvest's, actual minutes = applied minutes", _check(stack, total))
    if stack.part_entries:
        done = _parts_done(stack, run)
        section.add(
            "parts: count, done (s after publish)", f"{len(done)}: " + ", ".join(f"{d:.1f}" for d in done)
        )
        if len(done) > 1:
            spread = done[-1] / done[0] - 1
            section.add(
                "last part done after the first",
                f"{spread:.1%} later",
                f"<= {TARGET_PARTS_SPREAD:.0%}",
                spread <= TARGET_PARTS_SPREAD,
            )
    ceiling = copy_ceiling(stack.engine, stack.account_id)
    share = rate / ceiling.rows_per_s
    section.add(
        "COPY ceiling (same shape as time_entries)",
        f"{ceiling.rows_per_s:,.0f} rows/s ({ceiling.seconds:.1f} s)",
    )
    section.add(
        "end to end / COPY ceiling",
        f"{share:.1%}",
        f">= {TARGET_CEILING_SHARE:.0%}",
        share >= TARGET_CEILING_SHARE,
    )
    section.add(
        "COPY into a bare heap (no index), for reference",
        f"{ceiling.bare_rows_per_s:,.0f} rows/s ({rate / ceiling.bare_rows_per_s:.1%})",
    )
    return BackfillResult(run, total, stats["requests"], section)


def _statuses(stats: dict) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(stats["by_status"].items())) or "none"


def _check(stack: Stack, total: int) -> str:
    stored = stack.scalar("SELECT count(*) FROM time_entries WHERE account_id = :account_id")
    applied = stack.scalar(
        "SELECT COALESCE(SUM(applied_minutes), 0) FROM time_entries WHERE account_id = :account_id"
    )
    actual = stack.scalar(
        "SELECT COALESCE(SUM(billable_minutes + nonbillable_minutes), 0) FROM actuals"
        " WHERE account_id = :account_id"
    )
    if stored == total and applied == actual:
        return f"ok ({stored:,} entries, {actual:,} minutes)"
    return f"MISMATCH: {stored:,} of {total:,} entries, {actual:,} actual vs {applied:,} applied minutes"


def _parts_done(stack: Stack, run: Run) -> list[float]:
    """Seconds after the publish at which each part was done, first to last."""
    with stack.engine.connect() as conn:
        done = (
            conn.exec_driver_sql(
                "SELECT EXTRACT(EPOCH FROM done_at - %(at)s) FROM backfill_parts"
                " WHERE account_id = %(a)s ORDER BY done_at",
                {"at": run.requested_at, "a": stack.account_id},
            )
            .scalars()
            .all()
        )
    return [float(d) for d in done]


def _wal(stack: Stack) -> int:
    """The server's WAL position, in bytes."""
    return int(stack.scalar("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
