"""Service fixtures: URLs from the environment, testcontainers where Docker exists.

Locally a missing service skips the tests that need it; under CI=true it is a failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import pytest

IN_CI = os.getenv("CI") == "true"

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _reachable_pg(url: str) -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def _reachable_amqp(url: str) -> bool:
    import pika

    try:
        params = pika.URLParameters(url)
        params.socket_timeout = 3
        params.connection_attempts = 1
        pika.BlockingConnection(params).close()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _pg_container() -> Iterator[str]:
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver="psycopg2") as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def _rabbit_container() -> Iterator[str]:
    from testcontainers.community.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13") as mq:
        host, port = mq.get_container_host_ip(), mq.get_exposed_port(5672)
        yield f"amqp://guest:guest@{host}:{port}/%2F"


def _service_url(
    env_var: str,
    default: str,
    reachable: Callable[[str], bool],
    start_container: Callable[[], contextlib.AbstractContextManager[str]],
) -> Iterator[str]:
    """Yield a URL: the environment's, else the local default, else a container, else skip."""
    url = os.getenv(env_var)
    if url:
        yield url
        return
    if reachable(default):
        yield default
        return
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(start_container())
        except Exception as exc:
            if IN_CI:
                raise RuntimeError(
                    f"{env_var} is not set, {default} is down and Docker failed: {exc}"
                ) from exc
            pytest.skip(f"{env_var} not set, nothing at {default} and no Docker: {exc}")
        yield url


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str]:
    """A PostgreSQL server URL (any database on it); tests make their own databases there."""
    yield from _service_url("DATABASE_URL", DEFAULT_DATABASE_URL, _reachable_pg, _pg_container)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    yield from _service_url("AMQP_URL", DEFAULT_AMQP_URL, _reachable_amqp, _rabbit_container)
