"""Sync runs: one per command, what `admin sync --wait` and `admin status` read."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from psycopg2.extras import Json
from sqlalchemy.dialects.postgresql import JSONB, insert

from infra.db import tables as t
from infra.db.at_commit import AtCommit
from infra.db.prepared import Prepared


class RunRepository:
    def __init__(self, conn: sa.Connection, at_commit: AtCommit) -> None:
        """`at_commit`: the unit of work's writes sent at commit (what ends a sync)."""
        self.conn = conn
        self._at_commit = at_commit

    def upsert(self, *, account_id: int, kind: str, message_id: str, **values: object) -> None:
        stmt = insert(t.sync_runs).values(account_id=account_id, kind=kind, message_id=message_id, **values)
        self.conn.execute(stmt.on_conflict_do_update(constraint="sync_runs_one_per_message", set_=values))

    def fail(
        self, *, account_id: int, kind: str, message_id: str, status: str, error: str, at: datetime | None
    ) -> None:
        """A failure ('retrying', or 'failed' with `at` its end), but never over a finished
        success: a duplicate delivery refused its lock while the run committed must not turn
        the run back to retrying."""
        params = {
            "account_id": account_id,
            "kind": kind,
            "message_id": message_id,
            "status": status,
            "error": error,
            "at": at,
        }
        self.conn.execute(_FAIL, params)

    def mark_running(
        self,
        *,
        account_id: int,
        kind: str,
        message_id: str,
        at: datetime,
        progress: dict | None = None,
        durable: bool = True,
    ) -> None:
        """Running (again, after a retry, a redelivery or a continuation), with its progress
        when given; never undo a finished success. The run keeps the time it first started (a
        queued run has none). `durable=False`: a mark of its own transaction, which a crash may
        lose, so its commit need not wait for the disk."""
        params = {
            "account_id": account_id,
            "kind": kind,
            "message_id": message_id,
            "at": at,
            "progress": progress,
        }
        self.conn.execute(_MARK_RUNNING if durable else _MARK_RUNNING_QUICKLY, params)

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

    def finish(
        self,
        account_id: int,
        message_id: str,
        *,
        kind: str,
        status: str,
        counts: dict,
        at: datetime,
        started_at: datetime | None = None,
    ) -> None:
        """The run's end, in the transaction of its effects, written at its commit (AtCommit);
        the first row of a run too short to have shown it was running (`started_at`: when its
        message began)."""
        values = {"kind": kind, "status": status, "counts": Json(counts), "at": at, "started_at": started_at}
        self._at_commit.add(_FINISH, {"account_id": account_id, "message_id": message_id, **values})


# Written once, as text: a daily sync runs them, and building and hashing the equivalent
# expressions per message cost more than the statements themselves.
_MARK_RUNNING_SQL = (
    "INSERT INTO sync_runs (account_id, kind, message_id, status, started_at, progress)"
    " VALUES (:account_id, :kind, :message_id, 'running', :at, coalesce(:progress, '{}'::jsonb))"
    " ON CONFLICT ON CONSTRAINT sync_runs_one_per_message DO UPDATE"
    " SET status = 'running', started_at = coalesce(sync_runs.started_at, EXCLUDED.started_at),"
    " progress = coalesce(:progress, sync_runs.progress)"
    " WHERE sync_runs.status <> 'succeeded'"
)
_PROGRESS = sa.bindparam("progress", type_=JSONB(none_as_null=True))  # None: keep what is there
_AT = sa.bindparam("at", type_=sa.DateTime(timezone=True))
_MARK_RUNNING = sa.text(_MARK_RUNNING_SQL).bindparams(_PROGRESS, _AT)
# A mark in a transaction of its own commits without waiting for the disk, in the same round
# trip: it only shows what is going on, and a later durable commit (the run's end) flushes it
# first anyway, so a crash can lose it only with everything after it.
_MARK_RUNNING_QUICKLY = sa.text("SET LOCAL synchronous_commit = off; " + _MARK_RUNNING_SQL).bindparams(
    _PROGRESS, _AT
)
_FAIL = sa.text(
    "INSERT INTO sync_runs (account_id, kind, message_id, status, error, finished_at)"
    " VALUES (:account_id, :kind, :message_id, :status, :error, :at)"
    " ON CONFLICT ON CONSTRAINT sync_runs_one_per_message DO UPDATE"
    " SET status = EXCLUDED.status, error = EXCLUDED.error,"
    " finished_at = coalesce(EXCLUDED.finished_at, sync_runs.finished_at)"
    " WHERE sync_runs.status <> 'succeeded'"
).bindparams(_AT)
# Prepared: every sync's run ends with it, at commit.
_FINISH = Prepared(
    "hs_run_finish",
    "INSERT INTO sync_runs (account_id, kind, message_id, status, counts, started_at, finished_at)"
    " VALUES (:account_id, :kind, :message_id, :status, :counts, :started_at, :at)"
    " ON CONFLICT ON CONSTRAINT sync_runs_one_per_message DO UPDATE"
    " SET status = EXCLUDED.status, counts = EXCLUDED.counts, finished_at = EXCLUDED.finished_at,"
    " error = NULL, started_at = coalesce(sync_runs.started_at, EXCLUDED.started_at)",
    {
        "account_id": "bigint",
        "kind": "text",
        "message_id": "text",
        "status": "text",
        "counts": "jsonb",
        "started_at": "timestamptz",
        "at": "timestamptz",
    },
)
