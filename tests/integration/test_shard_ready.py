"""A schema ready to shard (migration 0011), read from the catalog of a migrated database:
every primary and unique key of a per-account table leads with account_id, no foreign key
crosses accounts, and with DB_HASH_PARTITIONS the hot tables are hash-partitioned by
account_id. The same check finds what was wrong at 0010, and 0011 converts a populated 0010
database in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from infra.db.tables import GLOBAL_TABLES, HASH_PARTITIONED
from tests.integration.helpers import new_database

pytestmark = pytest.mark.integration

BOOKKEEPING = ("alembic_version",)

_TABLES = """
SELECT c.oid, c.relname, EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
       AND a.attname = 'account_id' AND NOT a.attisdropped) AS per_account
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
AND NOT c.relispartition ORDER BY c.relname
"""
# Unique indexes cover primary keys, unique constraints and bare unique indexes alike.
_UNIQUE_KEYS = """
SELECT t.relname, x.relname AS key, (SELECT attname FROM pg_attribute
       WHERE attrelid = i.indrelid AND attnum = i.indkey[0]) AS first_column
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
WHERE i.indisunique AND t.oid = ANY(:oids)
"""
_FOREIGN_KEYS = """
SELECT t.relname, k.conname, r.relname AS target,
       ARRAY(SELECT attname FROM unnest(k.conkey) WITH ORDINALITY AS u(n, i)
             JOIN pg_attribute ON attrelid = k.conrelid AND attnum = u.n ORDER BY u.i) AS columns,
       ARRAY(SELECT attname FROM unnest(k.confkey) WITH ORDINALITY AS u(n, i)
             JOIN pg_attribute ON attrelid = k.confrelid AND attnum = u.n ORDER BY u.i) AS target_columns
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f' AND k.conparentid = 0 AND t.oid = ANY(:oids)
"""
_HASH_PARTITIONS = """
SELECT c.relname, p.partstrat,
       ARRAY(SELECT attname FROM unnest(p.partattrs::int2[]) AS u(n)
             JOIN pg_attribute ON attrelid = p.partrelid AND attnum = u.n) AS columns,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = c.oid) AS partitions
FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
"""


def breaches(conn: sa.Connection, partitions: int = 0) -> list[str]:
    """What keeps this schema from distributing on account_id, one line each; with
    `partitions`, also each hot table not hash-partitioned by account_id into that many."""
    tables = conn.execute(sa.text(_TABLES)).all()
    found = [
        f"{t.relname}: no account_id, and not a global table"
        for t in tables
        if not t.per_account and t.relname not in (*GLOBAL_TABLES, *BOOKKEEPING)
    ]
    oids = [t.oid for t in tables if t.per_account and t.relname not in GLOBAL_TABLES]
    per_account = {t.relname for t in tables if t.per_account and t.relname not in GLOBAL_TABLES}
    for row in conn.execute(sa.text(_UNIQUE_KEYS), {"oids": oids}):
        if row.first_column != "account_id":
            found.append(f"{row.relname}: key {row.key} leads with {row.first_column}, not account_id")
    for fk in conn.execute(sa.text(_FOREIGN_KEYS), {"oids": oids}):
        pairs = dict(zip(fk.columns, fk.target_columns, strict=True))
        if fk.target == "accounts":
            ok = pairs.get("account_id") == "id"
        elif fk.target in per_account:
            ok = pairs.get("account_id") == "account_id"
        else:
            ok = fk.target in GLOBAL_TABLES  # a reference table: on every node
        if not ok:
            found.append(
                f"{fk.relname}: foreign key {fk.conname} {fk.columns} -> {fk.target} {fk.target_columns}"
            )
    if partitions:
        hashed = {r.relname: r for r in conn.execute(sa.text(_HASH_PARTITIONS))}
        for name in HASH_PARTITIONED:
            r = hashed.get(name)
            if r is None or r.partstrat != "h" or r.columns != ["account_id"] or r.partitions != partitions:
                found.append(f"{name}: not hash-partitioned by account_id into {partitions}")
    return found


@pytest.fixture
def fresh_database(server_database_url: str) -> Iterator[sa.Engine]:
    with new_database(server_database_url) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def test_every_key_of_a_per_account_table_leads_with_account_id(engine):
    with engine.connect() as conn:
        assert breaches(conn) == []


def test_the_check_finds_what_0010_breaks(fresh_database):
    upgrade(fresh_database, "0010")
    with fresh_database.connect() as conn:
        found = breaches(conn)
    assert "processed_messages: no account_id, and not a global table" in found
    assert "clients: key clients_pkey leads with id, not account_id" in found
    assert any(
        line.startswith("actuals: foreign key actuals_person_id_fkey ['person_id'] -> people")
        for line in found
    )
    assert "projects: foreign key projects_client_id_fkey ['client_id'] -> clients ['id']" in found


def test_0011_converts_a_populated_database_into_hash_partitions(fresh_database, monkeypatch):
    upgrade(fresh_database, "0010")
    with fresh_database.begin() as conn:
        account, other = _populate(conn, "a"), _populate(conn, "b")
        before = conn.execute(sa.text("SELECT max(id) FROM people")).scalar()
    monkeypatch.setenv("DB_HASH_PARTITIONS", "4")
    upgrade(fresh_database)
    with fresh_database.begin() as conn:
        assert breaches(conn, partitions=4) == []
        # The inbox rows found their accounts in their run ids.
        assert conn.execute(
            sa.text("SELECT account_id FROM processed_messages ORDER BY 1")
        ).scalars().all() == [
            account,
            other,
        ]
        assert conn.execute(sa.text("SELECT count(*) FROM time_entries")).scalar() == 2 * 30
        # Identities carry on past the copied rows, and the per-day counts still follow entries.
        conn.execute(
            sa.text(
                "INSERT INTO actuals (account_id, person_id, project_id, role_id, date)"
                " SELECT account_id, id, (SELECT id FROM projects p WHERE p.account_id = people.account_id),"
                " role_id, '2026-01-01'"
                " FROM people WHERE account_id = :a"
            ),
            {"a": account},
        )
        assert conn.execute(sa.text("SELECT min(id) FROM actuals")).scalar() > 0
        conn.execute(
            sa.text("DELETE FROM time_entries WHERE account_id = :a AND spent_date = '2026-01-02'"),
            {"a": account},
        )
        counts = dict(
            conn.execute(
                sa.text("SELECT spent_date::text, entries FROM entry_day_counts WHERE account_id = :a"),
                {"a": account},
            ).all()
        )
        assert counts["2026-01-02"] == 0 and counts["2026-01-03"] == 10
        people = conn.execute(
            sa.text(
                "INSERT INTO people (account_id, first_name, last_name, role_id)"
                " SELECT account_id, 'n', 'm', role_id FROM people WHERE account_id = :a LIMIT 1 RETURNING id"
            ),
            {"a": account},
        ).scalar()
        assert people > before
        # A reference across accounts is refused by the composite key.
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(
                sa.text(
                    "UPDATE people SET role_id = (SELECT id FROM roles WHERE account_id = :o)"
                    " WHERE account_id = :a"
                ),
                {"a": account, "o": other},
            )
        # An account going away takes its rows from every partition.
        conn.execute(sa.text("DELETE FROM accounts WHERE id = :a"), {"a": account})
        left = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM time_entries WHERE account_id = :a)"
                " + (SELECT count(*) FROM processed_messages WHERE account_id = :a)"
                " + (SELECT count(*) FROM sync_runs WHERE account_id = :a)"
            ),
            {"a": account},
        ).scalar()
        assert left == 0


def _populate(conn: sa.Connection, name: str) -> int:
    """An account at 0010 with a role, client, project, person, run, inbox row and 30 entries."""
    account = conn.execute(
        sa.text(
            "INSERT INTO accounts (name, harvest_account_id, token_sealed)"
            " VALUES (:n, 1, '\\x00') RETURNING id"
        ),
        {"n": name},
    ).scalar()
    params = {"a": account}
    conn.execute(sa.text("INSERT INTO roles (account_id, name, match_key) VALUES (:a, 'Dev', 'dev')"), params)
    conn.execute(sa.text("INSERT INTO clients (account_id, name) VALUES (:a, 'C')"), params)
    conn.execute(
        sa.text(
            "INSERT INTO projects (account_id, name, client_id, project_type) SELECT :a, 'P', id,"
            " 'fixed_price' FROM clients WHERE account_id = :a"
        ),
        params,
    )
    conn.execute(
        sa.text(
            "INSERT INTO people (account_id, first_name, last_name, role_id) SELECT :a, 'F', 'L', id"
            " FROM roles WHERE account_id = :a"
        ),
        params,
    )
    run_id = f"sync-actuals:{account}:2026-12-01T03:00:00"
    conn.execute(
        sa.text(
            "INSERT INTO sync_runs (account_id, kind, message_id, status)"
            " VALUES (:a, 'actuals', :m, 'succeeded')"
        ),
        {**params, "m": run_id},
    )
    conn.execute(
        sa.text("INSERT INTO processed_messages (consumer, message_id) VALUES ('actuals', :m)"), {"m": run_id}
    )
    conn.execute(
        sa.text(
            "INSERT INTO time_entries (account_id, harvest_id, harvest_user_id, harvest_project_id,"
            " spent_date, hours, billable, harvest_updated_at)"
            " SELECT :a, g, 1, 1, DATE '2026-01-01' + g % 3, 1, true, now()"
            " FROM generate_series(1, 30) g"
        ),
        params,
    )
    return account
