"""What a command needs before it can work: RabbitMQ, PostgreSQL, a migrated schema.

Each missing thing is an exception whose message is the one line an operator needs: what is
missing and how to fix it. ``require_database`` and ``require_broker`` check up front (a
worker or the scheduler at start: once running, they reconnect on their own instead);
``explain`` turns a driver's exception raised anywhere in a command into one of these, or
None when it is something else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pika
import pika.exceptions
import psycopg2
import psycopg2.errors
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from infra.amqp.connection import connection_parameters, mask_url
from infra.db.migrate import current_revision, head_revision, revision_is_behind

BROKER_CONNECT_TIMEOUT_S = 5
MIGRATE = "run `harvest-sync migrate`"


class Missing(RuntimeError):
    """Something the command needs is not there; str() is the one line to show."""


class BrokerUnreachable(Missing):
    pass


class DatabaseUnreachable(Missing):
    pass


class DatabaseNotMigrated(Missing):
    pass


def shown_database_url(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def require_broker(amqp_url: str) -> None:
    """Connect once, or raise BrokerUnreachable."""
    params = connection_parameters(amqp_url, role="preflight", prefix="-")
    for address in params:
        address.connection_attempts = 1
        address.socket_timeout = BROKER_CONNECT_TIMEOUT_S
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPConnectionError as exc:
        raise broker_missing(exc, amqp_url) from exc


def require_database(engine: sa.Engine) -> None:
    """Connect and check the schema is migrated, or raise DatabaseUnreachable / NotMigrated."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise database_missing(exc.orig, url) from exc
    if revision_is_behind(current):
        raise not_migrated(current)


def explain(exc: BaseException, *, database_url: str, amqp_url: str) -> Missing | None:
    """The Missing behind ``exc`` (looking through its causes), or None if it is not one."""
    for error in _chain(exc):
        if isinstance(error, Missing):
            return error
        if isinstance(error, pika.exceptions.AMQPConnectionError):
            return broker_missing(error, amqp_url)
        if isinstance(error, pika.exceptions.ChannelClosedByBroker) and error.reply_code == 404:
            return BrokerUnreachable(
                f"RabbitMQ has {error.reply_text.split(' - ', 1)[-1]}: start a worker once "
                "(it declares the queues) or check AMQP_PREFIX"
            )
        if isinstance(error, psycopg2.OperationalError) and error.pgcode is None:
            # No SQLSTATE: the connection itself failed (refused, lost, login refused).
            return database_missing(error, database_url)
        if isinstance(error, psycopg2.errors.UndefinedTable | psycopg2.errors.UndefinedColumn):
            return _migration_missing(database_url)
    return None


def broker_missing(exc: BaseException, amqp_url: str) -> BrokerUnreachable:
    shown = mask_url(amqp_url)
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError):
        return BrokerUnreachable(
            f"RabbitMQ refused the login at {shown}: check the user and password in AMQP_URL"
        )
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
        return BrokerUnreachable(
            f"RabbitMQ denied access to the virtual host of {shown}: check the vhost in AMQP_URL "
            "and the user's permissions"
        )
    return BrokerUnreachable(f"RabbitMQ is not reachable at {shown}: start it or set AMQP_URL")


def database_missing(exc: BaseException, database_url: str) -> DatabaseUnreachable:
    shown = shown_database_url(database_url)
    text = str(exc)
    if "does not exist" in text and "database" in text:
        name = make_url(database_url).database
        return DatabaseUnreachable(
            f'the database "{name}" does not exist on PostgreSQL at {shown}: '
            f"create it (createdb {name}) or set DATABASE_URL"
        )
    fatal = next((line.split("FATAL:", 1)[1].strip() for line in text.splitlines() if "FATAL:" in line), None)
    if fatal:
        return DatabaseUnreachable(
            f"PostgreSQL refused the connection at {shown} ({fatal}): check DATABASE_URL"
        )
    return DatabaseUnreachable(f"PostgreSQL is not reachable at {shown}: start it or set DATABASE_URL")


def not_migrated(current: str | None) -> DatabaseNotMigrated:
    if current is None:
        return DatabaseNotMigrated(f"the database is not migrated: {MIGRATE}")
    return DatabaseNotMigrated(
        f"the database is at revision {current}, this version needs {head_revision()}: {MIGRATE}"
    )


def _migration_missing(database_url: str) -> DatabaseNotMigrated | None:
    """A missing table or column means "not migrated" only if the schema is really behind."""
    engine = sa.create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        current = current_revision(engine)
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return not_migrated(current) if revision_is_behind(current) else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        # SQLAlchemy wraps the driver's exception; what it was is in .orig.
        yield error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig is not None else error
        error = error.__cause__ or error.__context__
