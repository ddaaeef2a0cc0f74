"""Accounts: the tenants. Tokens are stored sealed; only infra.crypto opens them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from domain.accounts import AccountRecord
from infra.db import tables as t
from infra.db.at_commit import AtCommit
from infra.db.prepared import Prepared


class AccountRepository:
    def __init__(self, conn: sa.Connection, at_commit: AtCommit) -> None:
        """`at_commit`: the unit of work's writes sent at commit (what ends a sync)."""
        self.conn = conn
        self._at_commit = at_commit

    def add(self, *, name: str, harvest_account_id: int, token_sealed: bytes, timezone: str = "UTC") -> int:
        return self.conn.execute(
            sa.insert(t.accounts)
            .values(
                name=name,
                harvest_account_id=harvest_account_id,
                token_sealed=token_sealed,
                timezone=timezone,
                token_set_at=sa.func.now(),
            )
            .returning(t.accounts.c.id)
        ).scalar_one()

    def get(self, account_id: int) -> AccountRecord | None:
        row = self.conn.execute(_GET, {"account_id": account_id}).mappings().first()
        return _record(row) if row else None

    def get_locked(self, account_id: int, lock: int, key: int | str) -> tuple[AccountRecord | None, bool]:
        """The account, held (as `hold`), and whether the transaction-scoped advisory lock
        (lock, key) was free and is now ours; a text key is hashed (a collision only
        serialises two keys). The lock is only tried when the account exists."""
        query = _GET_LOCKED_TEXT if isinstance(key, str) else _GET_LOCKED
        row = query.execute(self.conn, {"account_id": account_id, "c": lock, "k": key}).mappings().first()
        return (_record(row), bool(row["locked"])) if row else (None, False)

    def hold(self, account_id: int) -> None:
        """What a foreign key would hold per row, once per transaction: the account row cannot
        be deleted while we write for it (time_entries and actuals have no key to accounts; a
        trigger deletes their rows with the account, migration 0006). FOR KEY SHARE leaves
        the row's other columns free to change."""
        self.hold_row(self.conn, account_id)

    @staticmethod
    def hold_row(conn: sa.Connection, account_id: int) -> None:
        """`hold`, for a caller with a connection and no unit of work."""
        conn.execute(_HOLD, {"account_id": account_id})

    def find(self, key: str) -> AccountRecord | None:
        """By numeric id or by name."""
        cond = t.accounts.c.name == key
        if key.isdigit():
            cond = sa.or_(cond, t.accounts.c.id == int(key))
        row = (
            self.conn.execute(sa.select(t.accounts).where(cond).order_by(t.accounts.c.id)).mappings().first()
        )
        return _record(row) if row else None

    def all(self) -> list[AccountRecord]:
        rows = self.conn.execute(sa.select(t.accounts).order_by(t.accounts.c.id)).mappings()
        return [_record(r) for r in rows]

    def set_status(self, account_id: int, status: str, reason: str | None) -> None:
        self.conn.execute(
            sa.update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(status=status, status_reason=reason)
        )

    def update_settings(self, account_id: int, **values: object) -> None:
        """Change account settings (autofill, imports, time zone, working days, windows)."""
        allowed = {c.name for c in t.accounts.columns} - {"id", "token_sealed", "created_at", "token_set_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not account settings: {', '.join(sorted(unknown))}")
        if values:
            self.conn.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id).values(**values))

    def set_token(self, account_id: int, token_sealed: bytes) -> None:
        self.conn.execute(
            sa.update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(
                token_sealed=token_sealed, status="active", status_reason=None, token_set_at=sa.func.now()
            )
        )

    def set_sealed_token(self, account_id: int, token_sealed: bytes) -> None:
        """Replace the sealed token as is (key rotation); status untouched."""
        self.conn.execute(
            sa.update(t.accounts).where(t.accounts.c.id == account_id).values(token_sealed=token_sealed)
        )

    def sealed_tokens(self) -> list[tuple[int, bytes]]:
        rows = self.conn.execute(
            sa.select(t.accounts.c.id, t.accounts.c.token_sealed).order_by(t.accounts.c.id)
        )
        return [(r.id, bytes(r.token_sealed)) for r in rows]

    def record_success(self, account_id: int, kind: str, at: datetime) -> None:
        stmt = insert(t.account_sync_state).values(account_id=account_id, kind=kind, last_success_at=at)
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id", "kind"], set_={"last_success_at": at, "last_error": None}
            )
        )

    def record_error(self, account_id: int, kind: str, error: str, at: datetime) -> None:
        stmt = insert(t.account_sync_state).values(
            account_id=account_id, kind=kind, last_error=error, last_error_at=at
        )
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id", "kind"], set_={"last_error": error, "last_error_at": at}
            )
        )

    def move_cursor(
        self,
        account_id: int,
        kind: str,
        cursor: datetime,
        *,
        succeeded_at: datetime,
        full_reconciled_at: datetime | None,
        hold_facts: str | None = None,
    ) -> None:
        """A completed sync: its success (as record_success) and where the next incremental
        sync asks for changes from, `cursor` (Harvest's clock), in one statement, written at
        the transaction's commit (AtCommit).
        `full_reconciled_at` (ours): when all history was last listed, if this sync did.
        `hold_facts`: the digest of what holds depended on when this sync checked."""
        params = {
            "account_id": account_id,
            "kind": kind,
            "at": succeeded_at,
            "cursor": cursor,
            "hold_facts": hold_facts,
            "full": full_reconciled_at,
        }
        self._at_commit.add(_MOVE_CURSOR, params)

    def sync_state(self, account_id: int) -> dict[str, dict]:
        rows = self.conn.execute(_SYNC_STATE, {"account_id": account_id}).mappings()
        return {r["kind"]: dict(r) for r in rows}


# What every message asks, built once: building an expression costs more than running it.
_GET = sa.select(t.accounts).where(t.accounts.c.id == sa.bindparam("account_id"))


def _locked(name: str, key: str, key_type: str) -> Prepared:
    # Two int4 keys: the class namespaces the lock, the key picks it. Prepared: every message
    # of every account starts with it.
    columns = ", ".join(c.name for c in t.accounts.c)
    return Prepared(
        name,
        f"SELECT {columns}, pg_try_advisory_xact_lock(:c, {key}) AS locked"
        " FROM accounts WHERE id = :account_id FOR KEY SHARE",
        {"account_id": "bigint", "c": "integer", "k": key_type},
    )


_GET_LOCKED = _locked("hs_account_locked", ":k", "integer")
_GET_LOCKED_TEXT = _locked("hs_account_locked_text", "hashtext(:k)", "text")
_HOLD = sa.text("SELECT 1 FROM accounts WHERE id = :account_id FOR KEY SHARE")
_SYNC_STATE = sa.select(t.account_sync_state).where(
    t.account_sync_state.c.account_id == sa.bindparam("account_id")
)
# Prepared: every completed sync moves its cursor, at commit.
_MOVE_CURSOR = Prepared(
    "hs_move_cursor",
    "INSERT INTO account_sync_state"
    " (account_id, kind, last_success_at, last_error, cursor, hold_facts, last_full_reconcile_at)"
    " VALUES (:account_id, :kind, :at, NULL, :cursor, :hold_facts, :full)"
    " ON CONFLICT (account_id, kind) DO UPDATE SET last_success_at = EXCLUDED.last_success_at,"
    " last_error = NULL, cursor = EXCLUDED.cursor, hold_facts = EXCLUDED.hold_facts,"
    " last_full_reconcile_at = coalesce(EXCLUDED.last_full_reconcile_at,"
    " account_sync_state.last_full_reconcile_at)",
    {
        "account_id": "bigint",
        "kind": "text",
        "at": "timestamptz",
        "cursor": "timestamptz",
        "hold_facts": "text",
        "full": "timestamptz",
    },
)


def _record(row: sa.RowMapping) -> AccountRecord:
    return AccountRecord(
        id=row["id"],
        name=row["name"],
        harvest_account_id=row["harvest_account_id"],
        token_sealed=bytes(row["token_sealed"]),
        import_clients_projects=row["import_clients_projects"],
        import_people=row["import_people"],
        import_actuals=row["import_actuals"],
        autofill=row["autofill"],
        timezone=row["timezone"],
        status=row["status"],
        status_reason=row["status_reason"],
        actuals_start_date=row["actuals_start_date"],
        full_reconcile_days=row["full_reconcile_days"],
        working_days=tuple(row["working_days"]),
        token_set_at=row["token_set_at"],
    )
