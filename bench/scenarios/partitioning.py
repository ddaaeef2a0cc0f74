"""Does hash partitioning by account_id pay at 20 million entries over 200 accounts (issue 16)?

The same run twice, in a database of its own each: once migrated with plain tables
(DB_HASH_PARTITIONS=0), once with the hot tables hash-partitioned (BENCH_HASH_PARTITIONS,
default 16). Each time `--accounts` - 1 accounts are loaded directly with SQL (generate_series:
entities, BENCH_ENTRIES_PER_ACCOUNT entries each, default 100,000, with what they apply, their
actuals, a year of runs and inbox rows); then, on the database as a day later finds it, one
more account (the simulator's agency, `--people` etc.) is backfilled through the real path
(bench.scenarios.backfill: admin command -> RabbitMQ -> workers -> PostgreSQL) and synced
daily with no change and after 1% edits (bench.scenarios.incremental). Last, both side by
side with their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.env import bench_env
from bench.report import Section
from bench.scenarios import backfill, incremental
from bench.sim import Agency, Simulator
from bench.stack import Stack

# 200 accounts: 20 million entries. Smaller for a trial run (keep the accounts: with fewer
# than ~100 the planner knows each account's share and misjudges a new one, see README).
ENTRIES_PER_ACCOUNT = int(os.environ.get("BENCH_ENTRIES_PER_ACCOUNT", "100000"))
PARTITIONS = int(os.environ.get("BENCH_HASH_PARTITIONS", "16"))
# A loaded account: its people, projects and days of history.
PEOPLE, PROJECTS, DAYS = 130, 50, 365
# Partitioning must be no worse than plain tables, give or take the machine's noise.
NO_WORSE = 0.90


@dataclass(frozen=True)
class Variant:
    label: str
    partitions: int
    load_s: float
    backfill_rate: float  # entries/s, end to end
    quiet_s: float  # daily sync, no change
    edited_s: float  # daily sync after 1% edits


def run(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args)
    variants = []
    for partitions in (0, PARTITIONS):
        section, daily, variant = _measure(args, agency, partitions)
        variants.append(variant)
        yield section
        yield daily
    yield compare(*variants, args.accounts)


def _agency(args: argparse.Namespace) -> Agency:
    given = {k: getattr(args, k, None) for k in ("people", "projects", "clients", "days", "entries_per_day")}
    return Agency(**{k: v for k, v in given.items() if v is not None})


def _measure(args: argparse.Namespace, agency: Agency, partitions: int) -> tuple[Section, Section, Variant]:
    label = f"{partitions} hash partitions" if partitions else "plain tables"
    with bench_env(args.database_url, args.amqp_url) as env:
        sim = Simulator(env, agency, rate_limit=False)
        stack = Stack(env, sim)
        try:
            own = sim.counts()["time_entries"]
            stack.part_entries = backfill.auto_part_entries(own, args.workers)
            stack.cli("migrate", DB_HASH_PARTITIONS=str(partitions))
            others = max(0, args.accounts * ENTRIES_PER_ACCOUNT - own)
            load_s = load(stack.engine, args.accounts - 1, others)
            stack.a_day_later()
            result = backfill.measure(stack, agency, args.workers, title=f"backfill, {label}")
            result.section.add(
                "loaded before: accounts, entries (s)", f"{args.accounts - 1}, {others:,} ({load_s:.0f} s)"
            )
            daily = incremental.measure(stack, result)
            daily.title = f"daily sync, {label}"
            variant = Variant(
                label,
                partitions,
                load_s,
                result.entries / result.run.seconds,
                _seconds(daily, "no change: wall"),
                _seconds(daily, "edited: wall"),
            )
            return result.section, daily, variant
        finally:
            stack.close()
            sim.stop()


def compare(plain: Variant, hashed: Variant, accounts: int) -> Section:
    section = Section(
        "partitioning: hash-partitioned against plain tables",
        f"{accounts} accounts, {accounts * ENTRIES_PER_ACCOUNT:,} entries; ratio = partitioned / plain"
        " (rate: higher is better; seconds: lower is better)",
    )
    rate = hashed.backfill_rate / plain.backfill_rate
    section.add(
        "backfill entries/s: plain, partitioned (ratio)",
        f"{plain.backfill_rate:,.0f}, {hashed.backfill_rate:,.0f} ({rate:.2f})",
        f">= {NO_WORSE:.2f}",
        rate >= NO_WORSE,
    )
    for name, a, b in (
        ("daily, no change, s", plain.quiet_s, hashed.quiet_s),
        ("daily, 1% edited, s", plain.edited_s, hashed.edited_s),
    ):
        ratio = b / a
        section.add(
            f"{name}: plain, partitioned (ratio)",
            f"{a:.2f}, {b:.2f} ({ratio:.2f})",
            f"<= {1 / NO_WORSE:.2f}",
            ratio <= 1 / NO_WORSE,
        )
    section.add(
        "SQL load of the other accounts, s: plain, partitioned", f"{plain.load_s:.0f}, {hashed.load_s:.0f}"
    )
    return section


def _seconds(section: Section, name: str) -> float:
    value = next(f.value for f in section.figures if f.name == name)
    return float(re.match(r"[0-9.]+", value).group())


def load(engine: sa.Engine, accounts: int, entries: int) -> float:
    """`accounts` accounts with `entries` entries between them, as their syncs would have left
    them: entities, entries with what they apply, actuals (the sums), a year of runs with their
    inbox rows. The entry_day_counts triggers count the entries as a sync's writes would."""
    started = time.monotonic()
    per_account = entries // accounts if accounts else 0
    end = datetime.now(UTC).date() - timedelta(days=1)
    with _without_secondary_indexes(engine, ("time_entries", "actuals")):
        for i in range(accounts):
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                _load_account(conn, i, per_account, end)
    return time.monotonic() - started


@contextlib.contextmanager
def _without_secondary_indexes(engine: sa.Engine, tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the tables' indexes other than their keys' while loading, build them again after:
    built once at the end rather than entry by entry."""
    with engine.begin() as conn:
        indexes = conn.execute(
            sa.text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
                " WHERE t.relname = ANY(:tables) AND NOT i.indisunique AND NOT t.relispartition"
            ),
            {"tables": list(tables)},
        ).all()
        for name, _definition in indexes:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with engine.begin() as conn:
            for _name, definition in indexes:
                # A partitioned table's index reads "ON ONLY t": built so, it would stay invalid
                # and leave every partition without it.
                conn.exec_driver_sql(definition.replace(" ON ONLY ", " ON ", 1))


def _load_account(conn: sa.Connection, i: int, entries: int, end) -> None:
    a = conn.execute(
        sa.text(
            "INSERT INTO accounts (name, harvest_account_id, token_sealed)"
            " VALUES (:n, :h, '\\x00') RETURNING id"
        ),
        {"n": f"loaded-{i}", "h": 2_000_000 + i},
    ).scalar()
    p = {"a": a, "people": PEOPLE, "projects": PROJECTS, "days": DAYS, "k": entries, "end": end}
    conn.execute(sa.text("INSERT INTO roles (account_id, name, match_key) VALUES (:a, 'Dev', 'dev')"), p)
    conn.execute(
        sa.text(
            "INSERT INTO projects (account_id, name, project_type) SELECT :a, 'p' || g, 'time_and_materials'"
            " FROM generate_series(1, :projects) g"
        ),
        p,
    )
    conn.execute(
        sa.text(
            "INSERT INTO people (account_id, first_name, last_name, role_id)"
            " SELECT :a, 'f', 'l' || g, (SELECT id FROM roles WHERE account_id = :a)"
            " FROM generate_series(1, :people) g"
        ),
        p,
    )
    conn.execute(
        sa.text(
            """
            WITH pe AS (SELECT array_agg(id ORDER BY id) AS ids FROM people WHERE account_id = :a),
                 pr AS (SELECT array_agg(id ORDER BY id) AS ids FROM projects WHERE account_id = :a),
                 ro AS (SELECT id FROM roles WHERE account_id = :a)
            INSERT INTO time_entries (account_id, harvest_id, harvest_user_id, harvest_project_id, spent_date,
                hours, billable, harvest_updated_at, applied_person_id, applied_project_id, applied_role_id,
                applied_date, applied_minutes, applied_billable)
            SELECT :a, g, 1000 + g % :people, 5000 + g % :projects, CAST(:end AS date) - g % :days,
                   (1 + g % 16) / 4.0, g % 3 > 0, now() - interval '1 day',
                   pe.ids[1 + g % :people], pr.ids[1 + g % :projects], ro.id,
                   CAST(:end AS date) - g % :days, (1 + g % 16) * 15, g % 3 > 0
            FROM generate_series(1, :k) AS g, pe, pr, ro
            """
        ),
        p,
    )
    conn.execute(
        sa.text(
            "INSERT INTO actuals (account_id, person_id, project_id, role_id, date, billable_minutes,"
            " nonbillable_minutes)"
            " SELECT account_id, applied_person_id, applied_project_id, applied_role_id, applied_date,"
            " coalesce(sum(applied_minutes) FILTER (WHERE applied_billable), 0),"
            " coalesce(sum(applied_minutes) FILTER (WHERE NOT applied_billable), 0)"
            " FROM time_entries WHERE account_id = :a GROUP BY 1, 2, 3, 4, 5"
        ),
        p,
    )
    runs = (
        "SELECT :a, 'actuals', 'sync-actuals:' || :a || ':' || (CAST(:end AS date) - g), 'succeeded',"
        " CAST(:end AS date) - g, CAST(:end AS date) - g FROM generate_series(1, :days) g"
    )
    conn.execute(
        sa.text(
            f"INSERT INTO sync_runs (account_id, kind, message_id, status, started_at, finished_at) {runs}"
        ),
        p,
    )
    conn.execute(
        sa.text(
            "INSERT INTO processed_messages (account_id, consumer, message_id)"
            " SELECT account_id, 'actuals', message_id FROM sync_runs WHERE account_id = :a"
        ),
        p,
    )
