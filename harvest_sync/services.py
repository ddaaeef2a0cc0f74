"""Finding PostgreSQL and RabbitMQ for the demo: the configured URLs, else testcontainers where
Docker runs, else one line saying what to start (infra.preflight's exceptions, which the CLI
shows as one line with its exit status)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pika
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from infra.amqp.connection import connection_parameters, mask_url
from infra.preflight import BrokerUnreachable, DatabaseUnreachable, shown_database_url


def postgres_up(database_url: str) -> bool:
    """True if the server answers (the database itself may not exist yet)."""
    url = make_url(database_url).set(database="postgres")
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if the server lacks it."""
    url = make_url(database_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database}
            )
            if exists.first() is None:
                conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def rabbitmq_up(amqp_url: str) -> bool:
    params = connection_parameters(amqp_url, role="services", prefix="-")
    for address in params:
        address.connection_attempts = 1
        address.socket_timeout = 3
    try:
        pika.BlockingConnection(params).close()
        return True
    except pika.exceptions.AMQPError:
        return False


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        import docker  # installed with the 'containers' extra

        docker.from_env().ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def services(database_url: str, amqp_url: str) -> Iterator[tuple[str, str]]:
    """Yield usable (database_url, amqp_url), starting containers only when needed and possible."""
    with contextlib.ExitStack() as stack:
        if not postgres_up(database_url):
            if not docker_available():
                raise DatabaseUnreachable(
                    f"PostgreSQL is not reachable at {shown_database_url(database_url)}: start it "
                    "(docker compose up -d postgres, or your OS service) or set DATABASE_URL"
                )
            from testcontainers.community.postgres import PostgresContainer

            pg = stack.enter_context(PostgresContainer("postgres:15", driver="psycopg2"))
            database_url = pg.get_connection_url()
        if not rabbitmq_up(amqp_url):
            if not docker_available():
                raise BrokerUnreachable(
                    f"RabbitMQ is not reachable at {mask_url(amqp_url)}: start it "
                    "(docker compose up -d rabbitmq, or rabbitmq-server -detached) or set AMQP_URL"
                )
            from testcontainers.community.rabbitmq import RabbitMqContainer

            mq = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-management"))
            amqp_url = f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}/%2F"
        yield database_url, amqp_url
