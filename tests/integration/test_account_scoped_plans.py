"""A sync reads its own account's rows only: every statement of an entity sync, a first sync, a
daily sync with changes and deletions and a weekly verification can reach the rows of a
per-account table through an index whose condition names the account. A join on a bare id
(the keys lead with account_id, migration 0011) scans that table across every tenant, a cost
that grows with the number of accounts, not with the account synced.

Each statement is explained where it runs, in its own transaction (temporary tables and all),
inside a savepoint that undoes the explain, with sequential scans priced out so the plan shows
whether an index could serve it at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from infra.db import tables as t
from tests.integration.actuals_support import sync_actuals, sync_entities
from tests.integration.conftest import replace_settings

pytestmark = pytest.mark.integration

PER_ACCOUNT = {
    table.name for table in t.metadata.tables.values() if "account_id" in table.c and table.name != "accounts"
}
# EXECUTE: a prepared statement (infra.db.prepared), explained as it runs.
EXPLAINABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "EXECUTE")
INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


def _table(relation: str) -> str:
    """time_entries_p3, a hash partition (DB_HASH_PARTITIONS), is time_entries."""
    base, _, suffix = relation.rpartition("_p")
    return base if suffix.isdigit() and base in PER_ACCOUNT else relation


def _offences(node: dict, index_tables: dict[str, str]) -> Iterator[str]:
    kind = node.get("Node Type")
    table = _table(node.get("Relation Name", "")) or index_tables.get(node.get("Index Name", ""), "")
    if table in PER_ACCOUNT:
        if kind == "Seq Scan":
            yield f"a sequential scan of {table}"
        elif kind in INDEX_NODES and "account_id" not in node.get("Index Cond", ""):
            yield f"{kind} of {table} through {node.get('Index Name')} without the account"
    for child in node.get("Plans", []):
        yield from _offences(child, index_tables)


@contextmanager
def explained(engine: sa.Engine, index_tables: dict[str, str]) -> Iterator[list[str]]:
    found: list[str] = []

    def explain(conn, cursor, statement, parameters, _context, many):  # type: ignore[no-untyped-def]
        text = statement.lstrip()
        dbapi = cursor.connection
        if many or ";" in text or not text.upper().startswith(EXPLAINABLE) or dbapi.autocommit:
            return
        with dbapi.cursor() as c:
            c.execute("SAVEPOINT scoped_plan; SET LOCAL enable_seqscan = off")
            c.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = c.fetchone()[0][0]["Plan"]
            c.execute("ROLLBACK TO SAVEPOINT scoped_plan")
        found.extend(f"{o}: {' '.join(text.split())[:160]}" for o in _offences(plan, index_tables))

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        yield found
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)


def _index_tables(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'")
        return {name: _table(table) for name, table in rows}


def _entry(store, user_id: int, project_id: int, day: str) -> dict:  # type: ignore[no-untyped-def]
    task = store.list("time_entries")[0]["task"]["id"]
    fields = {"user_id": user_id, "project_id": project_id, "spent_date": day, "hours": 1.5, "task_id": task}
    return store.create("time_entries", fields)


def test_every_statement_of_a_sync_reads_its_account_through_an_index(
    app, simulator, new_account, engine
) -> None:
    app = replace_settings(app, harvest_rate_limit=(100, 15.0))
    for _ in range(3):  # other tenants' rows for a scan to wander into
        other, _ = new_account(people=6, projects=3, clients=2, days=10, entries_per_day=2)
        sync_entities(app, other)
        sync_actuals(app, other)
    account_id, harvest_id = new_account(people=6, projects=3, clients=2, days=10, entries_per_day=2)
    store = simulator.store(harvest_id)
    index_tables = _index_tables(engine)
    with explained(engine, index_tables) as offences:
        sync_entities(app, account_id)
        sync_actuals(app, account_id)
        entries = store.list("time_entries")
        store.update("time_entries", entries[0]["id"], {"hours": 7.25})
        store.delete("time_entries", entries[1]["id"])
        sample = entries[2]
        _entry(store, sample["user"]["id"], sample["project"]["id"], sample["spent_date"])
        counts = sync_actuals(app, account_id)
        sync_actuals(app, account_id, full=True)
    assert counts["entries.changed"] >= 2
    assert offences == []
