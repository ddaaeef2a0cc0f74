"""What one no-change daily actuals sync costs in round trips: the statements it sends to
PostgreSQL, the connections it checks out of the pool, and its Harvest requests. At thousands
of accounts a day these are the work (issue 16, `python -m bench tenants`); a change that
adds one to every daily shows here before it shows in the bench."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.integration.actuals_support import sync_actuals, sync_entities
from tests.integration.conftest import replace_settings

pytestmark = pytest.mark.integration


@contextmanager
def counted(engine: sa.Engine) -> Iterator[Counter]:
    seen: Counter = Counter()

    def statement(_conn, _cursor, text, _params, _context, _many):  # type: ignore[no-untyped-def]
        seen["statements"] += 1  # a round trip, whatever it holds
        # Once per pooled connection, in the round trip of a statement's first run (infra.db.prepared).
        seen["prepares"] += text.count("PREPARE ")
        # A write sent as itself, not as the EXECUTE of a prepared one (first in its round trip or not).
        seen["unprepared writes"] += len(re.findall(r"(?:^|;)\s*(?:INSERT|UPDATE|DELETE)\b", text))
        seen[" ".join(text.split())[:90]] += 1

    def returned(_conn, cursor, text, _params, _context, _many):  # type: ignore[no-untyped-def]
        if cursor.description is not None and (run := re.search(r"EXECUTE (\w+)", text)):
            seen[f"rows of {run[1]}"] += cursor.rowcount

    def checkout(*_args):  # type: ignore[no-untyped-def]
        seen["checkouts"] += 1

    dialect = type(engine.dialect)
    real_ping = dialect.do_ping

    def ping(self, dbapi_connection):  # type: ignore[no-untyped-def]
        seen["pings"] += 1
        return real_ping(self, dbapi_connection)

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "after_cursor_execute", returned)
    sa.event.listen(engine.pool, "checkout", checkout)
    dialect.do_ping = ping
    try:
        yield seen
    finally:
        dialect.do_ping = real_ping
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine, "after_cursor_execute", returned)
        sa.event.remove(engine.pool, "checkout", checkout)


# Today's cost, each item one round trip: in the daily's one transaction the account (read and
# held, its lock taken), what the sync reads first (a backfill in parts under way, the inbox
# check, its sync state, checkpoint, hold facts and people to resolve again, together:
# infra.db.sync_start), the day counts of the deletion check, the entries listed again (two
# pages of the overlap), and at its commit its cursor, inbox row and run row together
# (infra.db.at_commit); beside it one statement of the shared rate limit for all three Harvest
# requests.
STATEMENTS, CHECKOUTS, REQUESTS = 7, 2, 3


def test_a_no_change_daily_costs_few_round_trips(app, simulator, new_account, engine) -> None:
    # Harvest's rate limit shared through PostgreSQL, as deployed.
    app = replace_settings(app, harvest_rate_limit=(100, 15.0))
    account_id, _ = new_account(people=5, projects=3, clients=2, days=10, entries_per_day=2)
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    sync_actuals(app, account_id)  # the second sync: one with a cursor, like every daily after it
    simulator.reset_stats()
    with counted(engine) as seen:
        counts = sync_actuals(app, account_id)
    assert counts.get("entries.changed") == 0
    breakdown = "\n".join(f"{n:3d} {text}" for text, n in seen.most_common())
    assert seen["statements"] <= STATEMENTS, breakdown
    assert seen["checkouts"] <= CHECKOUTS, breakdown
    assert seen["pings"] == 0, breakdown  # its connections were in use a moment ago
    assert simulator.stats()["requests"] == REQUESTS
    # Its writes (run's end, cursor, inbox row) are prepared: none is parsed and planned anew.
    assert seen["unprepared writes"] == 0, breakdown
    # Our count agrees with Harvest's: one row, our total, and none per day of history.
    assert seen["rows of hs_entry_day_counts"] == 1, breakdown


def test_a_duplicate_of_a_finished_daily_is_skipped_by_its_first_read(
    app, simulator, new_account, engine
) -> None:
    from domain.commands import SyncActuals

    account_id, _ = new_account(people=3, projects=2, clients=1, days=5, entries_per_day=1)
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    cmd = SyncActuals(account_id, "2026-12-03T00:00:00Z-daily")
    app.handlers[SyncActuals](cmd)
    simulator.reset_stats()
    with counted(engine) as seen:
        counts = app.handlers[SyncActuals](cmd)  # delivered again after it committed
    assert counts == {}
    assert simulator.stats()["requests"] == 0
    # The account with its lock, then the read that found the run in the inbox: nothing else.
    assert seen["statements"] == 2, "\n".join(f"{n:3d} {text}" for text, n in seen.most_common())


# The weekly check against Harvest's reports, on top: the range we hold and both groupings of
# our hours (one statement each, its record goes with the commit's), and its two report
# requests, each a slot of the reports' own shared limit (one at a time: its window is 15 min).
VERIFY_STATEMENTS, VERIFY_REQUESTS = 2 + 2, 2


def test_a_weekly_verification_adds_four_statements(app, simulator, new_account, engine) -> None:
    from domain.commands import SyncActuals

    app = replace_settings(app, harvest_rate_limit=(100, 15.0))
    account_id, harvest_id = new_account(people=5, projects=3, clients=2, days=10, entries_per_day=2)
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    sync_actuals(app, account_id)
    simulator.reset_stats()
    with counted(engine) as seen:
        app.handlers[SyncActuals](SyncActuals(account_id, "2026-12-04T00:00:00Z-daily", verify=True))
    breakdown = "\n".join(f"{n:3d} {text}" for text, n in seen.most_common())
    assert seen["statements"] <= STATEMENTS + VERIFY_STATEMENTS, breakdown
    assert simulator.stats()["requests"] == REQUESTS + VERIFY_REQUESTS
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT r.differences, v.subject, count(*), count(*) FILTER (WHERE v.differs)"
            " FROM verification_runs r"
            " JOIN verification_rows v ON v.account_id = r.account_id AND v.run_id = r.id"
            f" WHERE r.account_id = {account_id} GROUP BY 1, 2 ORDER BY 2"
        ).all()
    people = len({e["user"]["id"] for e in simulator.store(harvest_id).list("time_entries")})
    assert rows == [(0, "person", people, 0), (0, "project", 3, 0)]  # all recorded, none differing
