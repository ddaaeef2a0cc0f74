"""The migrations build the schema tables.py describes, and the settings the sync relies on."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from infra.db.tables import metadata

EDITED_AT_RANDOM = ("time_entries", "actuals", "import_ledger")


def test_migrations_and_tables_py_agree(engine):
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_edited_rows_have_room_for_hot_updates(engine):
    with engine.connect() as conn:
        options = dict(
            conn.execute(
                sa.text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:names)"),
                {"names": list(EDITED_AT_RANDOM)},
            ).all()
        )
    assert options == {name: ["fillfactor=90"] for name in EDITED_AT_RANDOM}
