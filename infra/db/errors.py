"""Database failures as the runtime's failure kinds: a lost or refused connection is weather,
worth retrying; anything else from the database layer is a DatabaseError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from domain.errors import TransientError

# Any failure of the database layer (for code that must survive one, e.g. recording another).
DatabaseError = sa.exc.SQLAlchemyError


class DatabaseUnavailable(TransientError):
    """PostgreSQL went away (restart, failover, killed connection): retry once it is back."""


@contextmanager
def database_errors_are_transient() -> Iterator[None]:
    """A lost or refused database connection is worth retrying, not dead-lettering."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(f"database unavailable: {type(exc.orig).__name__}") from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable("database connection lost") from exc
        raise
