"""exact after every sync: deletions of any age, Harvest's reports, per-day counts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:30:00

entry_day_counts: our time entries per spent date, as Harvest would count them, kept up to date
by statement-level triggers on time_entries (one small grouped write per statement, whatever
wrote it: a page, a deletion, an account going away). The daily deletion check now compares
Harvest's count of all history with ours; counting an account's entries each day would read
its whole history (measured: 0.2 s for 750k entries after a VACUUM, 0.5 s after a day of
edits), these rows cost a read of ~365.

accounts.reconcile_window_days is retired: the daily check covers all history, so there is no
window left to choose. full_reconcile_days stays (the periodic listing of all history).

harvest_request_log.bucket: Harvest limits /reports/* (100 per 15 minutes) apart from the
rest of the API; `admin verify` and the weekly check take slots from their own log.

verification_runs / verification_rows: what `admin verify` and the weekly check found.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Counted as Harvest counts: an entry we keep after Harvest deleted it (sync_off) is not.
_COUNTED = "harvest_deleted_at IS NULL"

TRIGGERS = {
    "INSERT": (
        "entry_day_counts_insert",
        f"""
        INSERT INTO entry_day_counts AS d (account_id, spent_date, entries)
        SELECT account_id, spent_date, count(*) FROM new_rows WHERE {_COUNTED}
        GROUP BY account_id, spent_date ORDER BY account_id, spent_date
        ON CONFLICT (account_id, spent_date) DO UPDATE SET entries = d.entries + excluded.entries;
        """,
        "REFERENCING NEW TABLE AS new_rows",
    ),
    "UPDATE": (
        "entry_day_counts_update",
        f"""
        INSERT INTO entry_day_counts AS d (account_id, spent_date, entries)
        SELECT account_id, spent_date, sum(n) FROM (
            SELECT account_id, spent_date, 1 AS n FROM new_rows WHERE {_COUNTED}
            UNION ALL
            SELECT account_id, spent_date, -1 FROM old_rows WHERE {_COUNTED}
        ) AS moved
        GROUP BY account_id, spent_date HAVING sum(n) <> 0 ORDER BY account_id, spent_date
        ON CONFLICT (account_id, spent_date) DO UPDATE SET entries = d.entries + excluded.entries;
        """,
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    "DELETE": (
        "entry_day_counts_delete",
        f"""
        UPDATE entry_day_counts AS d SET entries = d.entries - gone.n
        FROM (SELECT account_id, spent_date, count(*) AS n FROM old_rows WHERE {_COUNTED}
              GROUP BY account_id, spent_date) AS gone
        WHERE d.account_id = gone.account_id AND d.spent_date = gone.spent_date;
        """,
        "REFERENCING OLD TABLE AS old_rows",
    ),
}


def upgrade() -> None:
    op.create_table(
        "entry_day_counts",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("spent_date", sa.Date(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "spent_date", name=op.f("entry_day_counts_pkey")),
    )
    for event, (name, body, referencing) in TRIGGERS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON time_entries {referencing}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    # In the same transaction as the triggers: no write can fall between count and trigger.
    op.execute(
        f"INSERT INTO entry_day_counts (account_id, spent_date, entries)"
        f" SELECT account_id, spent_date, count(*) FROM time_entries WHERE {_COUNTED}"
        f" GROUP BY account_id, spent_date"
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION delete_account_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM time_entries WHERE account_id = OLD.id;
            DELETE FROM entry_day_counts WHERE account_id = OLD.id;
            DELETE FROM actuals WHERE account_id = OLD.id;
            RETURN OLD;
        END $$
        """
    )
    op.drop_column("accounts", "reconcile_window_days")
    op.add_column("harvest_request_log", sa.Column("bucket", sa.Text(), server_default="api", nullable=False))
    op.drop_index("harvest_request_log_account_at", table_name="harvest_request_log")
    op.create_index(
        "harvest_request_log_account_at", "harvest_request_log", ["account_id", "bucket", "at"], unique=False
    )
    op.create_table(
        "verification_runs",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("range_from", sa.Date(), nullable=False),
        sa.Column("range_to", sa.Date(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("verification_runs_account_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("verification_runs_pkey")),
    )
    op.create_table(
        "verification_rows",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("harvest_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("harvest_hours", sa.Numeric(14, 2), nullable=False),
        sa.Column("our_hours", sa.Numeric(14, 2), nullable=False),
        sa.Column("differs", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "run_id"],
            ["verification_runs.account_id", "verification_runs.id"],
            name=op.f("verification_rows_account_id_run_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "run_id", "subject", "harvest_id", name=op.f("verification_rows_pkey")
        ),
    )


def downgrade() -> None:
    op.drop_table("verification_rows")
    op.drop_table("verification_runs")
    op.drop_index("harvest_request_log_account_at", table_name="harvest_request_log")
    op.create_index(
        "harvest_request_log_account_at", "harvest_request_log", ["account_id", "at"], unique=False
    )
    op.drop_column("harvest_request_log", "bucket")
    op.add_column(
        "accounts",
        sa.Column("reconcile_window_days", sa.Integer(), server_default="60", nullable=False),
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION delete_account_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM time_entries WHERE account_id = OLD.id;
            DELETE FROM actuals WHERE account_id = OLD.id;
            RETURN OLD;
        END $$
        """
    )
    for name, _body, _referencing in TRIGGERS.values():
        op.execute(f"DROP TRIGGER {name} ON time_entries")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("entry_day_counts")
