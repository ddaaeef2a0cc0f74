"""account keys of the hot tables as a trigger

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 03:19:20.283117

time_entries and actuals get a row per time entry / per actual in a sync; their foreign key to
accounts cost a key check per row (a sixth of a first sync's database CPU). What it gave
stays: deleting an account deletes their rows (the trigger below; actuals also go with their
people and projects), and a sync holds its account row FOR KEY SHARE while it writes, so an
account cannot be deleted under it (consumers.entry_apply.EntryStore.open).
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("actuals_account_id_fkey"), "actuals", type_="foreignkey")
    op.drop_constraint(op.f("time_entries_account_id_fkey"), "time_entries", type_="foreignkey")
    op.execute(
        """
        CREATE FUNCTION delete_account_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM time_entries WHERE account_id = OLD.id;
            DELETE FROM actuals WHERE account_id = OLD.id;
            RETURN OLD;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER accounts_delete_rows BEFORE DELETE ON accounts"
        " FOR EACH ROW EXECUTE FUNCTION delete_account_rows()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER accounts_delete_rows ON accounts")
    op.execute("DROP FUNCTION delete_account_rows()")
    op.create_foreign_key(
        op.f("time_entries_account_id_fkey"),
        "time_entries",
        "accounts",
        ["account_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("actuals_account_id_fkey"), "actuals", "accounts", ["account_id"], ["id"], ondelete="CASCADE"
    )
