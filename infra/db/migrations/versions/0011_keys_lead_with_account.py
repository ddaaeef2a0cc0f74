"""a schema ready to shard: keys lead with account_id, hot tables optionally hash-partitioned

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:10:00

Keys. Every primary and unique key of a per-account table leads with account_id (a lone
identity `id` becomes (account_id, id), the identity kept), and every foreign key between
per-account tables is composite, (account_id, x_id) -> (account_id, id): a row can only ever
point at a row of its own account, and Citus can distribute every such table on account_id
and co-locate them (README, "The path to Citus"). projects.client_id keeps ON DELETE SET
NULL, for client_id alone (PostgreSQL 15's column list: account_id stays).

The inbox (processed_messages) gains account_id. A run id names its account second
("sync-actuals:42:..."), so existing rows get theirs from it; a row that names no account
that still exists is dropped (it could only deduplicate a message of a deleted account).

Partitioning. With DB_HASH_PARTITIONS=N (N >= 2) in the environment of `harvest-sync
migrate`, the hot per-account tables (HOT below) are rebuilt as PARTITION BY HASH
(account_id) with N partitions `<table>_p<i>`; unset, 0 or 1 leaves them plain, the default:
at 10M entries over 200 accounts partitioning did not pay (bench/scenarios/partitioning.py,
figures in README). The number is read once, here; to change it later, rebuild with
`harvest-sync migrate` after a downgrade to 0010 (or a dump and restore). A rebuild copies the
rows into a new table and swaps names, in this migration's transaction: the table is locked
(ACCESS EXCLUSIVE) until it commits, so run it with the workers stopped (README).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PARTITIONS_ENV = "DB_HASH_PARTITIONS"
# The per-account tables a sync writes many rows of: entries, actuals, the ledger, the inbox
# and the runs.
HOT = ("time_entries", "actuals", "import_ledger", "processed_messages", "sync_runs")

# Tables whose primary key was a lone identity id.
LONE_ID = (
    "clients",
    "roles",
    "projects",
    "people",
    "external_refs",
    "assignments",
    "sync_runs",
    "import_ledger",
    "actuals",
    "time_off",
)

# (table, column, referenced table, ON DELETE): the foreign keys between per-account tables.
REFERENCES = (
    ("projects", "client_id", "clients", "SET NULL (client_id)"),
    ("people", "role_id", "roles", None),
    ("external_refs", "client_id", "clients", "CASCADE"),
    ("external_refs", "project_id", "projects", "CASCADE"),
    ("external_refs", "person_id", "people", "CASCADE"),
    ("assignments", "person_id", "people", "CASCADE"),
    ("assignments", "project_id", "projects", "CASCADE"),
    ("assignments", "role_id", "roles", None),
    ("actuals", "person_id", "people", "CASCADE"),
    ("actuals", "project_id", "projects", "CASCADE"),
    ("actuals", "role_id", "roles", None),
    ("actuals_dirty_people", "person_id", "people", "CASCADE"),
    ("time_off", "person_id", "people", "CASCADE"),
)

# Redundant once the primary key leads with account_id.
ACCOUNT_INDEXES = {"clients_account": "clients", "projects_account": "projects", "people_account": "people"}

# A run id names its account second: "sync-actuals:42:2026-12-02T03:00:00".
RUN_ACCOUNT = r"^[^:]+:([0-9]{1,18}):"


def hash_partitions() -> int:
    """DB_HASH_PARTITIONS: 0 or 1 (or unset) leaves the hot tables plain."""
    raw = os.environ.get(PARTITIONS_ENV, "").strip() or "0"
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{PARTITIONS_ENV} must be a whole number, got {raw!r}") from None
    if n < 0:
        raise ValueError(f"{PARTITIONS_ENV} must be 0 or more, got {n}")
    return n if n >= 2 else 0


def upgrade() -> None:
    _inbox_gains_account()
    for table, column, _target, _on_delete in REFERENCES:
        op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")
    for table in LONE_ID:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY (account_id, id)")
    for table, column, target, on_delete in REFERENCES:
        action = f" ON DELETE {on_delete}" if on_delete else ""
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_account_id_{column}_fkey"
            f" FOREIGN KEY (account_id, {column}) REFERENCES {target} (account_id, id){action}"
        )
    for index, table in ACCOUNT_INDEXES.items():
        op.drop_index(index, table_name=table)
    partitions = hash_partitions()
    if partitions:
        for table in HOT:
            rebuild(table, partitions)


def downgrade() -> None:
    for table in HOT:
        if _is_partitioned(table):
            rebuild(table, 0)
    for index, table in ACCOUNT_INDEXES.items():
        op.create_index(index, table, ["account_id"])
    for table, column, _target, _on_delete in REFERENCES:
        op.drop_constraint(f"{table}_account_id_{column}_fkey", table, type_="foreignkey")
    for table in LONE_ID:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY (id)")
    for table, column, target, on_delete in REFERENCES:
        action = f" ON DELETE {on_delete.split(' (')[0]}" if on_delete else ""
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey"
            f" FOREIGN KEY ({column}) REFERENCES {target} (id){action}"
        )
    op.execute("ALTER TABLE processed_messages DROP CONSTRAINT processed_messages_account_id_fkey")
    op.execute(
        "ALTER TABLE processed_messages DROP CONSTRAINT processed_messages_pkey,"
        " ADD PRIMARY KEY (consumer, message_id)"
    )
    op.drop_column("processed_messages", "account_id")


def _inbox_gains_account() -> None:
    op.add_column("processed_messages", sa.Column("account_id", sa.BigInteger(), nullable=True))
    op.execute(
        f"UPDATE processed_messages SET account_id = substring(message_id FROM '{RUN_ACCOUNT}')::bigint"
        f" WHERE message_id ~ '{RUN_ACCOUNT}'"
    )
    op.execute(
        "DELETE FROM processed_messages AS m WHERE m.account_id IS NULL"
        " OR NOT EXISTS (SELECT FROM accounts a WHERE a.id = m.account_id)"
    )
    op.alter_column("processed_messages", "account_id", nullable=False)
    op.execute(
        "ALTER TABLE processed_messages DROP CONSTRAINT processed_messages_pkey,"
        " ADD PRIMARY KEY (account_id, consumer, message_id)"
    )
    op.create_foreign_key(
        "processed_messages_account_id_fkey",
        "processed_messages",
        "accounts",
        ["account_id"],
        ["id"],
        ondelete="CASCADE",
    )


def rebuild(table: str, partitions: int) -> None:
    """Rebuild `table` hash-partitioned by account_id into `partitions` (0: a plain table):
    a new table of the same columns, defaults, identity and checks, the rows copied, the
    names swapped, then its keys, indexes and triggers as they were (created after the copy:
    faster, and the entry_day_counts triggers must not count the copied rows again)."""
    conn = op.get_bind()
    if _referenced_by(conn, table):
        raise RuntimeError(f"{table} is referenced by a foreign key; rebuild it by hand")
    keys, indexes, triggers = _definitions(conn, table)
    options = _storage_options(conn, table)
    new = f"{table}_rebuilt"
    spec = " PARTITION BY HASH (account_id)" if partitions else (f" WITH ({options})" if options else "")
    op.execute(
        f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS){spec}"
    )
    for i in range(partitions):
        storage = f" WITH ({options})" if options else ""
        op.execute(
            f"CREATE TABLE {table}_p{i} PARTITION OF {new}"
            f" FOR VALUES WITH (MODULUS {partitions}, REMAINDER {i}){storage}"
        )
    op.execute(f"INSERT INTO {new} SELECT * FROM {table}")
    identity = conn.execute(
        sa.text(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attidentity <> ''"
        ),
        {"t": new},
    ).scalar()
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {new} RENAME TO {table}")
    if identity is not None:
        sequence = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": identity}
        ).scalar()
        op.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_{identity}_seq")
        op.execute(
            f"SELECT setval('{table}_{identity}_seq', coalesce((SELECT max({identity}) FROM {table}), 0) + 1, false)"
        )
    for name, definition in keys:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for statement in (*indexes, *triggers):
        op.execute(statement)
    if not partitions:
        op.execute(f"ANALYZE {table}")


def _definitions(conn: sa.Connection, table: str) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The table's keys (primary, unique, foreign: name and definition), its other indexes and
    its triggers (as statements); checks travel with CREATE TABLE ... LIKE."""
    keys = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f')"
            " AND conparentid = 0 ORDER BY contype DESC, conname"
        ),
        {"t": table},
    ).all()
    indexes = conn.execute(
        sa.text(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass)"
            " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid"
            " AND c.conrelid = i.indrelid) ORDER BY 1"
        ),
        {"t": table},
    ).scalars()
    triggers = conn.execute(
        sa.text(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal AND tgparentid = 0 ORDER BY tgname"
        ),
        {"t": table},
    ).scalars()
    return [(name, d) for name, d in keys], list(indexes), list(triggers)


def _storage_options(conn: sa.Connection, table: str) -> str:
    """The table's storage options (fillfactor), or its first partition's."""
    options = conn.execute(
        sa.text(
            "SELECT coalesce(c.reloptions, p.reloptions) FROM pg_class c"
            " LEFT JOIN LATERAL (SELECT k.reloptions FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid"
            "  WHERE i.inhparent = c.oid ORDER BY k.relname LIMIT 1) AS p ON true"
            " WHERE c.oid = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).scalar()
    return ", ".join(options or ())


def _referenced_by(conn: sa.Connection, table: str) -> bool:
    return bool(
        conn.execute(
            sa.text("SELECT EXISTS (SELECT FROM pg_constraint WHERE confrelid = CAST(:t AS regclass))"),
            {"t": table},
        ).scalar()
    )


def _is_partitioned(table: str) -> bool:
    return bool(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = CAST(:t AS regclass))"
            ),
            {"t": table},
        )
        .scalar()
    )
