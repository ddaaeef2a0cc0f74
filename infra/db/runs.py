"""Sync runs: one per command, what `admin sync --wait` and `admin status` read."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from infra.db import tables as t


class RunRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def upsert(self, *, account_id: int, kind: str, message_id: str, **values: object) -> None:
        stmt = insert(t.sync_runs).values(account_id=account_id, kind=kind, message_id=message_id, **values)
        self.conn.execute(stmt.on_conflict_do_update(constraint="sync_runs_one_per_message", set_=values))

    def mark_running(self, *, account_id: int, kind: str, message_id: str, at: datetime) -> None:
        """Running again after a retry, a redelivery or a continuation, but never undo a
        finished success. The run keeps the time it first started (a queued run has none)."""
        self.conn.execute(
            _MARK_RUNNING, {"account_id": account_id, "kind": kind, "message_id": message_id, "at": at}
        )

    def get(self, account_id: int, message_id: str) -> dict | None:
        row = (
            self.conn.execute(
                sa.select(t.sync_runs).where(
                    t.sync_runs.c.account_id == account_id, t.sync_runs.c.message_id == message_id
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def latest(self, account_id: int, kind: str) -> dict | None:
        row = (
            self.conn.execute(
                sa.select(t.sync_runs)
                .where(t.sync_runs.c.account_id == account_id, t.sync_runs.c.kind == kind)
                .order_by(t.sync_runs.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def latest_for(self, account_id: int, kind: str) -> dict | None:
        """The newest run that covered `kind` (entity runs cover 'clients_projects+people')."""
        row = (
            self.conn.execute(
                sa.select(t.sync_runs)
                .where(
                    t.sync_runs.c.account_id == account_id,
                    sa.or_(t.sync_runs.c.kind == kind, t.sync_runs.c.kind.like(f"%{kind}%")),
                )
                .order_by(t.sync_runs.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def finish(self, account_id: int, message_id: str, *, status: str, counts: dict, at: datetime) -> None:
        values = {"status": status, "counts": counts, "at": at}
        self.conn.execute(_FINISH, {"account_id": account_id, "message_id": message_id, **values})

    def set_progress(self, account_id: int, message_id: str, progress: dict, *, durable: bool = True) -> None:
        """`durable=False`: advisory progress a crash may lose, so the commit of its own
        transaction need not wait for the disk."""
        if not durable:
            self.conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        self.conn.execute(
            sa.update(t.sync_runs)
            .where(t.sync_runs.c.account_id == account_id, t.sync_runs.c.message_id == message_id)
            .values(progress=progress)
        )


# Written once, as text: a daily sync runs both, and building and hashing the equivalent
# expressions per message cost more than the statements themselves. The running mark's
# transaction commits without waiting for the disk, in the same round trip: the mark only
# shows what is going on, and a later durable commit (the run's success or failure) flushes
# it first anyway, so a crash can lose it only with everything after it.
_MARK_RUNNING = sa.text(
    "SET LOCAL synchronous_commit = off;"
    " INSERT INTO sync_runs (account_id, kind, message_id, status, started_at)"
    " VALUES (:account_id, :kind, :message_id, 'running', :at)"
    " ON CONFLICT ON CONSTRAINT sync_runs_one_per_message DO UPDATE"
    " SET status = 'running', started_at = coalesce(sync_runs.started_at, EXCLUDED.started_at)"
    " WHERE sync_runs.status <> 'succeeded'"
)
_FINISH = sa.text(
    "UPDATE sync_runs SET status = :status, counts = :counts, finished_at = :at, error = NULL"
    " WHERE account_id = :account_id AND message_id = :message_id"
).bindparams(sa.bindparam("counts", type_=JSONB), sa.bindparam("at", type_=sa.DateTime(timezone=True)))
