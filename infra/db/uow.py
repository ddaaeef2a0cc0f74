"""Unit of work: one transaction, rolled back unless commit() is called.

The advisory lock, the inbox row and the effects of a message all live in it; the broker ack
comes after the commit, from the consumer runtime.
"""

from __future__ import annotations

from types import TracebackType

import sqlalchemy as sa

from domain.commands import Lock
from infra.db import tables as t
from infra.db.accounts import AccountRepository
from infra.db.entities import EntityRepository
from infra.db.runs import RunRepository
from infra.db.verifications import VerificationRepository


class UnitOfWork:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self.conn: sa.Connection

    def __enter__(self) -> UnitOfWork:
        self.conn = self._engine.connect()
        self._tx = self.conn.begin()
        self.accounts = AccountRepository(self.conn)
        self.entities = EntityRepository(self.conn)
        self.runs = RunRepository(self.conn)
        self.verifications = VerificationRepository(self.conn)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()

    def commit(self) -> None:
        self._tx.commit()

    def try_lock(self, lock: Lock, key: int | str) -> bool:
        """Mutual exclusion across pods (of an account, or of a text key such as a backfill
        part's id), released at commit or rollback."""
        # Two int4 keys: the class namespaces the lock, the key picks it. Account ids fit int4
        # here; a text key is hashed (a collision only serialises two keys).
        if isinstance(key, str):
            sql, params = "SELECT pg_try_advisory_xact_lock(:c, hashtext(:k))", {"c": int(lock), "k": key}
        else:
            sql, params = "SELECT pg_try_advisory_xact_lock(:c, :k)", {"c": int(lock), "k": key}
        return bool(self.conn.execute(sa.text(sql), params).scalar())

    def claim_message(self, consumer: str, message_id: str) -> bool:
        """Inbox: False when this consumer already committed this message (a duplicate)."""
        stmt = (
            sa.dialects.postgresql.insert(t.processed_messages)
            .values(consumer=consumer, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(t.processed_messages.c.message_id)
        )
        return self.conn.execute(stmt).first() is not None
