"""Statements prepared once per database session (infra.db.prepared): what holds across
transactions and rollbacks, and what a schema change under a prepared statement does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from infra.db.engine import make_engine
from infra.db.prepared import Prepared
from tests.integration.helpers import statements_sent

pytestmark = pytest.mark.integration


@pytest.fixture
def table(engine: sa.Engine) -> Iterator[str]:
    name = f"prepared_probe_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (account_id bigint, x integer)")
        conn.exec_driver_sql(f"INSERT INTO {name} VALUES (1, 10), (1, 11), (2, 20)")
    yield name
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {name}")


def test_prepared_once_per_connection_across_transactions_and_rollbacks(engine, table) -> None:
    query = Prepared(f"{table}_q", f"SELECT x FROM {table} WHERE account_id = :a ORDER BY x", {"a": "bigint"})
    with statements_sent(engine) as sent, engine.connect() as conn:
        with conn.begin() as tx:
            assert query.execute(conn, {"a": 1}).scalars().all() == [10, 11]
            tx.rollback()  # PREPARE is not undone by a rollback
        with conn.begin():
            assert query.execute(conn, {"a": 2}).scalars().all() == [20]
    # The first run prepares and executes in one round trip; the second only executes.
    runs = [" ".join(w for w in s.split() if w in ("PREPARE", "EXECUTE")) for s in sent]
    assert [r for r in runs if r] == ["PREPARE EXECUTE", "EXECUTE"]


def test_a_schema_change_fails_one_transaction_and_the_next_prepares_afresh(engine, table) -> None:
    query = Prepared(f"{table}_s", f"SELECT x FROM {table} WHERE account_id = :a", {"a": "bigint"})
    with engine.connect() as conn:
        with conn.begin():
            assert query.execute(conn, {"a": 2}).scalar() == 20
        with conn.begin():
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN x TYPE text")
        stale = pytest.raises(sa.exc.DBAPIError, match="cached plan must not change result type")
        with stale, conn.begin():
            query.execute(conn, {"a": 2})
        with conn.begin():  # as the runtime's retry would
            assert query.execute(conn, {"a": 2}).scalar() == "20"


def test_statements_sent_before_it_share_its_round_trip_and_parameters(engine, table) -> None:
    query = Prepared(f"{table}_b", f"SELECT count(*) FROM {table} WHERE account_id = :a", {"a": "bigint"})
    with engine.begin() as conn:
        before = f"DELETE FROM {table} WHERE account_id = %(a)s AND x = %(x)s;\n"
        assert query.execute(conn, {"a": 1, "x": 10}, before=before).scalar() == 1


def test_every_parameter_needs_a_type() -> None:
    with pytest.raises(ValueError, match=r"parameters \['a', 'b'\] but types for \['a'\]"):
        Prepared("q", "SELECT :a::text, :b", {"a": "bigint"})
    Prepared("cast_is_no_parameter", "SELECT CAST(:a AS text)::text", {"a": "bigint"})


def test_a_name_the_session_holds_already_is_prepared_afresh_under_another(engine, table) -> None:
    query = Prepared(f"{table}_d", f"SELECT x FROM {table} WHERE account_id = :a", {"a": "bigint"})
    with engine.connect() as conn:
        with conn.begin():
            conn.exec_driver_sql(f"PREPARE {table}_d AS SELECT 'not ours'")
        taken = pytest.raises(sa.exc.DBAPIError, match="already exists")
        with taken, conn.begin():
            query.execute(conn, {"a": 2})
        with conn.begin():
            assert query.execute(conn, {"a": 2}).scalar() == 20


def test_an_engine_that_never_prepares_sends_the_statement_whole(database_url, table) -> None:
    query = Prepared(
        f"{table}_w",
        f"SELECT x FROM {table} WHERE account_id = ANY(:ids) AND 'a%' LIKE :pattern ORDER BY x",
        {"ids": "bigint[]", "pattern": "text"},
    )
    plain = make_engine(database_url, prepared_statements=False)
    try:
        with statements_sent(plain) as sent, plain.connect() as conn:
            assert query.execute(conn, {"ids": [1, 2], "pattern": "a%"}).scalars().all() == [10, 11, 20]
            assert query.execute(conn, {"ids": [], "pattern": "a%"}).scalars().all() == []
    finally:
        plain.dispose()
    assert [s.split()[0] for s in sent] == ["SELECT", "SELECT"]


def test_writes_at_commit_that_failed_are_prepared_afresh_next_time(engine, table) -> None:
    from infra.db.at_commit import AtCommit

    insert = Prepared(f"{table}_i", f"INSERT INTO {table} VALUES (:a, :x)", {"a": "bigint", "x": "integer"})
    with engine.connect() as conn:
        with conn.begin():
            writes = AtCommit(conn)
            writes.add("SELECT 1 / 0", {})  # fails before the PREPARE of its first run is reached
            writes.add(insert, {"a": 3, "x": 30})
            with pytest.raises(sa.exc.DataError, match="division by zero"):
                writes.send()
        # The failed round trip never prepared it: the next prepares it (under another name, in
        # case it had), rather than executing a statement this session lacks.
        with statements_sent(engine) as sent, conn.begin():
            writes = AtCommit(conn)
            writes.add(insert, {"a": 3, "x": 31})
            writes.send()
        assert conn.exec_driver_sql(f"SELECT x FROM {table} WHERE account_id = 3").scalars().all() == [31]
    assert [s.split()[0] for s in sent] == ["PREPARE"]
