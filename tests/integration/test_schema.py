"""The migrations build the schema tables.py describes, and the settings the sync relies on."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from infra.db.tables import metadata

EDITED_AT_RANDOM = ("time_entries", "actuals", "import_ledger")


def partitions(conn: sa.Connection) -> set[str]:
    """The partitions of hash-partitioned tables (DB_HASH_PARTITIONS): tables.py describes
    their parents, which is what the code reads and writes."""
    return set(conn.execute(sa.text("SELECT relname FROM pg_class WHERE relispartition")).scalars())


def test_migrations_and_tables_py_agree(engine):
    with engine.connect() as conn:
        skipped = partitions(conn)

        def described(name, type_, parent_names) -> bool:
            return not (type_ == "table" and name in skipped)

        context = MigrationContext.configure(conn, opts={"include_name": described})
        assert compare_metadata(context, metadata) == []


def test_edited_rows_have_room_for_hot_updates(engine):
    """On the table, or on every partition of it (a partitioned table holds no rows itself)."""
    with engine.connect() as conn:
        options = dict(
            conn.execute(
                sa.text(
                    "SELECT t.relname,"
                    " array_agg(DISTINCT array_to_string(coalesce(p.reloptions, t.reloptions), ','))"
                    " FROM pg_class t LEFT JOIN pg_inherits i ON i.inhparent = t.oid"
                    " LEFT JOIN pg_class p ON p.oid = i.inhrelid"
                    " WHERE t.relname = ANY(:names) GROUP BY t.relname"
                ),
                {"names": list(EDITED_AT_RANDOM)},
            ).all()
        )
    assert options == {name: ["fillfactor=90"] for name in EDITED_AT_RANDOM}
