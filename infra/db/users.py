"""Console users and their failed sign-ins. Only argon2 hashes are stored, never a password."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from infra.db import tables as t


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    name: str
    role: str
    password_hash: str = field(repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, name: str, password_hash: str, role: str) -> int:
        return self.conn.execute(
            sa.insert(t.console_users)
            .values(name=name, password_hash=password_hash, role=role)
            .returning(t.console_users.c.id)
        ).scalar_one()

    def find(self, name: str) -> ConsoleUser | None:
        return self._one(t.console_users.c.name == name)

    def get(self, user_id: int) -> ConsoleUser | None:
        return self._one(t.console_users.c.id == user_id)

    def all(self) -> list[ConsoleUser]:
        rows = self.conn.execute(sa.select(t.console_users).order_by(t.console_users.c.name)).mappings()
        return [_user(r) for r in rows]

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.conn.execute(
            sa.update(t.console_users)
            .where(t.console_users.c.id == user_id)
            .values(password_hash=password_hash)
        )

    def _one(self, condition: sa.ColumnElement[bool]) -> ConsoleUser | None:
        row = self.conn.execute(sa.select(t.console_users).where(condition)).mappings().first()
        return _user(row) if row else None


def _user(row: sa.RowMapping) -> ConsoleUser:
    return ConsoleUser(id=row["id"], name=row["name"], role=row["role"], password_hash=row["password_hash"])


class LoginFailureRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def state(self, keys: Sequence[str]) -> dict[str, tuple[int, datetime]]:
        """key -> (failures in a row, when the last one was)."""
        f = t.console_login_failures
        rows = self.conn.execute(
            sa.select(f.c.key, f.c.failures, f.c.last_failed_at).where(f.c.key.in_(keys))
        )
        return {key: (failures, at) for key, failures, at in rows}

    def record(self, keys: Sequence[str], at: datetime, *, forget_after: timedelta) -> None:
        """One more failure for each key; a count older than `forget_after` starts again."""
        f = t.console_login_failures
        stmt = insert(f).values([{"key": k, "failures": 1, "last_failed_at": at} for k in sorted(set(keys))])
        stale = f.c.last_failed_at < stmt.excluded.last_failed_at - forget_after
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": sa.case((stale, 1), else_=f.c.failures + 1),
                    "last_failed_at": stmt.excluded.last_failed_at,
                },
            )
        )

    def clear(self, key: str) -> None:
        f = t.console_login_failures
        self.conn.execute(sa.delete(f).where(f.c.key == key))
