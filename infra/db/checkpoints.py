"""Sync checkpoints: where a sync stopped, written in the transaction of the data it covers."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from infra.db import tables as t


@dataclass(frozen=True)
class Checkpoint:
    run_id: str  # the run that saved it
    state: dict
    age_s: float  # seconds since it was saved, by the database's clock


class CheckpointRepository:
    """One account's checkpoints, one per scope (the actuals sync, or one backfill part)."""

    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def find(self, scope: str) -> Checkpoint | None:
        row = self.conn.execute(_FIND, {"account_id": self.account_id, "scope": scope}).first()
        return Checkpoint(row[0], row[1], float(row[2])) if row else None

    def save(self, scope: str, run_id: str, state: dict) -> None:
        values = {"run_id": run_id, "state": state, "saved_at": sa.func.now()}
        stmt = insert(t.sync_checkpoints).values(account_id=self.account_id, scope=scope, **values)
        self.conn.execute(stmt.on_conflict_do_update(index_elements=["account_id", "scope"], set_=values))

    def clear(self, scope: str) -> None:
        c = t.sync_checkpoints.c
        self.conn.execute(
            sa.delete(t.sync_checkpoints).where(c.account_id == self.account_id, c.scope == scope)
        )


# Every sync asks it once: written once, as text (building the expression per message cost
# more than the query).
_FIND = sa.text(
    "SELECT run_id, state, EXTRACT(EPOCH FROM now() - saved_at) FROM sync_checkpoints"
    " WHERE account_id = :account_id AND scope = :scope"
).columns(sa.column("run_id", sa.Text), sa.column("state", JSONB), sa.column("age_s", sa.Float))
