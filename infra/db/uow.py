"""Unit of work: one transaction, rolled back unless commit() is called, and every repository
a handler writes through. Opened for one account, it also hands out that account's time
entries, deletions, backfills and autofill, all scoped to it.

The advisory lock, the inbox row and the effects of a message all live in it; the broker ack
comes after the commit, from the consumer runtime.
"""

from __future__ import annotations

from types import TracebackType

import sqlalchemy as sa

from domain.accounts import AccountRecord
from domain.commands import Lock
from domain.errors import TransientError
from infra.db.accounts import AccountRepository
from infra.db.at_commit import AtCommit
from infra.db.autofill import AutofillRepository
from infra.db.backfills import BackfillRepository
from infra.db.checkpoints import CheckpointRepository
from infra.db.deletions import DeletionRepository
from infra.db.entities import EntityRepository
from infra.db.entry_store import EntryStore
from infra.db.prepared import Prepared
from infra.db.runs import RunRepository
from infra.db.sync_start import ActualsStart, read_actuals_start
from infra.db.verifications import VerificationRepository


class LockLost(TransientError):
    """Between two transactions of one long sync, another pod took its lock; the sync carries
    on there from the checkpoint just committed."""


class UnitOfWork:
    def __init__(self, engine: sa.Engine, account_id: int | None = None) -> None:
        self._engine = engine
        self._account_id = account_id
        self._entries: EntryStore | None = None
        self._held = False
        self.conn: sa.Connection

    def __enter__(self) -> UnitOfWork:
        self.conn = self._engine.connect()
        self._tx = self.conn.begin()
        self._at_commit = AtCommit(self.conn)
        self.accounts = AccountRepository(self.conn, self._at_commit)
        self.entities = EntityRepository(self.conn)
        self.runs = RunRepository(self.conn, self._at_commit)
        self.verifications = VerificationRepository(self.conn, self._at_commit)
        self._entries = None
        self._held = False
        self._start: tuple[str, ActualsStart] | None = None
        # Inbox rows read under this transaction's lock: (consumer, message id) -> processed.
        self._inbox_seen: dict[tuple[str, str], bool] = {}
        return self

    def account(self, lock: Lock, key: int | str) -> tuple[AccountRecord | None, bool]:
        """The unit's account, its row held for the rest of the unit (AccountRepository.hold),
        and whether this unit took `lock` of `key` (as try_lock), in one statement: what
        every message asks first. (None, False) when the account does not exist."""
        record, locked = self.accounts.get_locked(self.account_id, int(lock), key)
        self._held = record is not None
        return record, locked

    @property
    def account_id(self) -> int:
        if self._account_id is None:
            raise RuntimeError("this unit of work was opened for no account")
        return self._account_id

    @property
    def entries(self) -> EntryStore:
        """The account's time entries and what resolving them needs; opening them holds the
        account row for this transaction."""
        if self._entries is None:
            self._hold_account()
            self._entries = EntryStore.open(self.conn, self.account_id, hold=False)
        return self._entries

    @property
    def deletions(self) -> DeletionRepository:
        return self.entries.deletions

    @property
    def backfills(self) -> BackfillRepository:
        return BackfillRepository(self.conn, self.account_id)

    @property
    def checkpoints(self) -> CheckpointRepository:
        return CheckpointRepository(self.conn, self.account_id)

    def actuals_start(self, scope: str, *, inbox: tuple[str, str] | None = None) -> ActualsStart:
        """What an actuals sync reads first, in one statement (infra.db.sync_start), read
        once per transaction: the command's guard and its handler share it, and what it holds
        changes only under the sync's own lock, held between them. With `inbox` (consumer,
        message id) it answers processed() for that message too."""
        if self._start is None or self._start[0] != scope:
            start = read_actuals_start(self.conn, self.account_id, scope, inbox)
            self._start = (scope, start)
            if inbox is not None:
                self._inbox_seen[inbox] = start.processed
        return self._start[1]

    @property
    def autofill(self) -> AutofillRepository:
        return AutofillRepository(self.conn, self.account_id)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()

    def commit(self) -> None:
        self._at_commit.send()
        self._tx.commit()
        self._start = None
        self._inbox_seen.clear()

    def commit_and_continue(self, lock: Lock, key: int | str) -> None:
        """Commit what is done so far (a checkpoint with its data) and go on in a new
        transaction, under the same lock and holds; LockLost if another pod took the lock in
        between."""
        self.commit()
        self._tx = self.conn.begin()
        if not self.try_lock(lock, key):
            raise LockLost(f"the {lock.name.lower()} lock of {key} was taken between two checkpoints")
        if self._held:
            self.accounts.hold(self.account_id)

    def _hold_account(self) -> None:
        if not self._held:
            self.accounts.hold(self.account_id)
            self._held = True

    def try_lock(self, lock: Lock, key: int | str) -> bool:
        """Mutual exclusion across pods (of an account, or of a text key such as a backfill
        part's id), released at commit or rollback."""
        # Two int4 keys: the class namespaces the lock, the key picks it. Account ids fit int4
        # here; a text key is hashed (a collision only serialises two keys).
        query = _TRY_LOCK_TEXT if isinstance(key, str) else _TRY_LOCK
        return bool(self.conn.execute(query, {"c": int(lock), "k": key}).scalar())

    def processed(self, consumer: str, message_id: str) -> bool:
        """Inbox (the account's own): whether this consumer already completed this message (or run)."""
        if (consumer, message_id) in self._inbox_seen:
            return self._inbox_seen[(consumer, message_id)]
        params = {"account_id": self.account_id, "consumer": consumer, "message_id": message_id}
        return self.conn.execute(_PROCESSED, params).first() is not None

    def mark_processed(self, consumer: str, message_id: str) -> None:
        """Inbox: this consumer has completed this message (or run), written at commit
        (AtCommit); from then on its deliveries are duplicates. The caller holds the message's
        lock and has asked processed() already."""
        if self._inbox_seen.get((consumer, message_id)):
            return  # found there under this transaction's lock: a duplicate, nothing to write
        params = {"account_id": self.account_id, "consumer": consumer, "message_id": message_id}
        self._at_commit.add(_MARK_PROCESSED, params)
        self._inbox_seen[(consumer, message_id)] = True


# What every message runs, written once: building the expressions per message cost more than
# the statements.
_TRY_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(:c, :k)")
_TRY_LOCK_TEXT = sa.text("SELECT pg_try_advisory_xact_lock(:c, hashtext(:k))")
_PROCESSED = sa.text(
    "SELECT 1 FROM processed_messages"
    " WHERE account_id = :account_id AND consumer = :consumer AND message_id = :message_id"
)
# Prepared: every completed message writes it, at commit.
_MARK_PROCESSED = Prepared(
    "hs_mark_processed",
    "INSERT INTO processed_messages (account_id, consumer, message_id)"
    " VALUES (:account_id, :consumer, :message_id) ON CONFLICT DO NOTHING",
    {"account_id": "bigint", "consumer": "text", "message_id": "text"},
)
