"""The one check that a row named by id belongs to the account a command runs for."""

from __future__ import annotations

import sqlalchemy as sa


def require_in_account(conn: sa.Connection, table: sa.Table, account_id: int, row_id: int, what: str) -> None:
    """Raise LookupError (a one-line CLI failure) unless row `row_id` of `table` is this account's."""
    found = conn.execute(
        sa.select(table.c.id).where(table.c.id == row_id, table.c.account_id == account_id)
    ).first()
    if not found:
        raise LookupError(f"no {what} {row_id} in this account")
