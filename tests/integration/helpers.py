"""Small helpers for integration tests: polling with a deadline, never a fixed sleep."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import sqlalchemy as sa

from domain.commands import QUEUES
from infra.amqp import dead_letters
from infra.app import App
from infra.db import tables as t

T = TypeVar("T")


@contextlib.contextmanager
def statements_sent(target: sa.Engine | sa.Connection) -> Iterator[list[str]]:
    """The text of each statement sent to PostgreSQL while inside: one per round trip."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    sa.event.listen(target, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(target, "before_cursor_execute", record)


@contextlib.contextmanager
def new_database(server_url: str, prefix: str = "hs_test") -> Iterator[str]:
    """A database of its own on the server at ``server_url`` (empty: not migrated); its URL.
    Dropped afterwards, whoever is still connected."""
    server = sa.engine.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def eventually(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Call `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}; last={last!r}")
        time.sleep(interval)
        last = check()
    return last


def run_status(engine: sa.Engine, account_id: int, message_id: str) -> str | None:
    """The status of the run a command started, or None before it has one."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.sync_runs.c.status).where(
                t.sync_runs.c.account_id == account_id, t.sync_runs.c.message_id == message_id
            )
        ).scalar()


def register_account(app: App, *, harvest_account_id: int, token: str, name: str) -> int:
    """An account here for a simulated Harvest account, its token sealed: our id."""
    with app.uow() as u:
        account_id = u.accounts.add(
            name=name, harvest_account_id=harvest_account_id, token_sealed=app.cipher.seal(token)
        )
        u.commit()
    return account_id


def terminate_connections(database_url: str) -> None:
    """Kill every other connection to the test database, as a PostgreSQL failover would."""
    url = sa.engine.make_url(database_url)
    admin = sa.create_engine(url.set(database="postgres"))
    try:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": url.database},
            )
    finally:
        admin.dispose()


def all_dead_letters(amqp_url: str, prefix: str) -> dict[str, list]:
    """Every work queue's dead letters under ``prefix``, by logical queue (empty ones left out):
    a scenario that ends clean has none in any queue, backfill parts' included."""
    found = {q: dead_letters(amqp_url, prefix, q) for q in QUEUES}
    return {q: letters for q, letters in found.items() if letters}
