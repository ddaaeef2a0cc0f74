"""The actuals rebuild probes each key through time_entries_applied_key, also for an account
the planner's statistics have not seen yet: the first sync of an account added after the
others were analysed. The plan is read with EXPLAIN of the very statements rebuild_actuals
runs, in a database of the test's own whose time_entries autovacuum leaves alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from infra.db.actuals import rebuild_actuals
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from tests.integration.helpers import new_database

pytestmark = pytest.mark.integration

# Accounts 1..SEEN analysed, 10,000 entries each: the statistics list every one of them, so an
# account they lack is estimated at no rows (at 1,000 each the key index is the cheapest anyway).
# Account NEW comes afterwards, with 20,000 entries.
SEEN, NEW = 50, 51
PEOPLE, PROJECTS, DAYS = 20, 5, 200
START = date(2026, 1, 1)

_ACCOUNT = """INSERT INTO accounts (id, name, harvest_account_id, token_sealed)
OVERRIDING SYSTEM VALUE VALUES (:a, 'plan-' || :a, :a, '\\x00')"""
_ROLE = """INSERT INTO roles (account_id, id, name, match_key) OVERRIDING SYSTEM VALUE
VALUES (:a, :a, 'R', 'r')"""
_PEOPLE = """INSERT INTO people (account_id, id, first_name, last_name, role_id) OVERRIDING SYSTEM VALUE
SELECT :a, :a * 1000 + n, 'P', 'Q', :a FROM generate_series(1, :people) AS n"""
_PROJECTS = """INSERT INTO projects (account_id, id, name, project_type) OVERRIDING SYSTEM VALUE
SELECT :a, :a * 1000 + n, 'J', 'time_and_materials' FROM generate_series(1, :projects) AS n"""
# Entry n: person n % PEOPLE, project n % PROJECTS, day n % DAYS, all applied.
_ENTRIES = """INSERT INTO time_entries (account_id, harvest_id, harvest_user_id, harvest_project_id,
  spent_date, hours, billable, harvest_updated_at, applied_person_id, applied_project_id,
  applied_role_id, applied_date, applied_minutes, applied_billable)
SELECT :a, :a * 1000000 + n, n % :people, n % :projects, :start + (n % :days), 1, true, now(),
  :a * 1000 + 1 + n % :people, :a * 1000 + 1 + n % :projects, :a, :start + (n % :days), 60, true
FROM generate_series(1, :entries) AS n"""


# On time_entries, or each of its partitions (DB_HASH_PARTITIONS), which hold the statistics.
_NO_AUTOVACUUM = """DO $$ DECLARE r regclass; BEGIN
  FOR r IN SELECT relid FROM pg_partition_tree('time_entries') WHERE isleaf LOOP
    EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = false)', r);
  END LOOP; END $$"""


@pytest.fixture
def engine(server_database_url: str) -> Iterator[sa.Engine]:
    with new_database(server_database_url, prefix="hs_plans") as url:
        engine = make_engine(url, pool_size=1)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def _account(conn: sa.Connection, account_id: int, entries: int) -> None:
    sizes = {"a": account_id, "people": PEOPLE, "projects": PROJECTS, "days": DAYS, "start": START}
    for statement in (_ACCOUNT, _ROLE, _PEOPLE, _PROJECTS):
        conn.execute(sa.text(statement), sizes)
    conn.execute(sa.text(_ENTRIES), {**sizes, "entries": entries})


def _keys(account_id: int) -> list[tuple[int, int, int, date]]:
    base = account_id * 1000 + 1
    return [(base + n % PEOPLE, base + n % PROJECTS, account_id, START + timedelta(n)) for n in range(60)]


def _plans_of(conn: sa.Connection, run) -> list[str]:  # type: ignore[no-untyped-def]
    """EXPLAIN of every statement on the entries that `run()` executes on `conn`."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if "time_entries" in statement and not statement.lstrip().startswith("EXPLAIN"):
            seen.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", record)
    try:
        run()
    finally:
        sa.event.remove(conn, "before_cursor_execute", record)
    cursor = conn.connection.dbapi_connection.cursor()
    plans = []
    for statement, parameters in seen:
        cursor.execute("EXPLAIN " + statement, parameters)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def test_a_new_accounts_keys_are_probed_through_the_key_index(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(_NO_AUTOVACUUM))
        for account_id in range(1, SEEN + 1):
            _account(conn, account_id, 10_000)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE time_entries"))
    with engine.begin() as conn:
        _account(conn, NEW, 20_000)
        keys = _keys(NEW)
        plans = _plans_of(conn, lambda: rebuild_actuals(conn, NEW, keys[:40], emptied=keys[40:]))
        count = sa.text("SELECT count(*) FROM actuals WHERE account_id = :a")
        built = conn.execute(count, {"a": NEW}).scalar()

    assert len(plans) >= 2, plans  # the rebuild, and the probe of the emptied keys
    for plan in plans:
        # The key is the index's condition (time_entries_applied_key, or each partition's
        # copy of it), never a filter over the rows another index found.
        lines = [line.strip() for line in plan.splitlines()]
        probed = [x for x in lines if x.startswith("Index Cond:") and "applied_person_id = k.person_id" in x]
        assert probed, plan
        assert not any(x.startswith("Filter:") and "applied_person_id" in x for x in lines), plan
    assert built == 60  # every key has entries: the emptied ones were not emptied after all
