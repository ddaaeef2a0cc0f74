"""The engine pings a pooled connection only after it sat idle: a busy worker reuses its
connections without a round trip each time, and one a restart killed while idle is replaced
before use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from infra.db.engine import make_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def pings(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the pings of engines made in the test (they share the dialect class)."""
    seen: list[int] = []
    dialect_class = type(engine.dialect)
    real = dialect_class.do_ping

    def counted(self, dbapi_connection):  # type: ignore[no-untyped-def]
        seen.append(1)
        return real(self, dbapi_connection)

    monkeypatch.setattr(dialect_class, "do_ping", counted)
    yield seen


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_busy_connection_is_not_pinged(database_url: str, pings: list[int]) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        first = _backend_pid(engine)
        assert all(_backend_pid(engine) == first for _ in range(20))  # the same connection
    finally:
        engine.dispose()
    assert pings == []


def test_an_idle_connection_a_restart_killed_is_replaced(
    database_url: str, engine: sa.Engine, pings: list[int]
) -> None:
    fresh = make_engine(database_url, pool_size=1, ping_after_idle_s=0.0)
    try:
        killed = _backend_pid(fresh)
        with engine.connect() as admin:
            # Waits (up to 5 s) until the session is gone, as after a restart.
            assert admin.exec_driver_sql(f"SELECT pg_terminate_backend({killed}, 5000)").scalar_one()
        replaced = _backend_pid(fresh)
    finally:
        fresh.dispose()
    assert replaced != killed
    assert pings
