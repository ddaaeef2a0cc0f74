"""A bench run's own database, broker prefix, secret key and scratch directory, removed at the end.

Nothing here is shared with a developer's data: the database is `hs_bench_<random>` and every
exchange and queue starts with `bench.<random>`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from infra.crypto import generate_key

DEFAULT_SERVER_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class BenchEnv:
    database_url: str
    amqp_url: str
    prefix: str
    secret_key: str
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a harvest-sync subprocess of this run."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "AMQP_", "DATABASE_"))}
        env.update(
            DATABASE_URL=self.database_url,
            AMQP_URL=self.amqp_url,
            AMQP_PREFIX=self.prefix,
            HARVEST_SYNC_SECRET_KEY=self.secret_key,
            # Several workers on one machine: no two may bind the same metrics port.
            METRICS_PORT="0",
            LOG_FORMAT="json",
            LOG_LEVEL="info",
        )
        env.update(extra)
        return env

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url, pool_size=2, max_overflow=2)


def _require_local(url: str, what: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"bench: {what} must be on 127.0.0.1 (got host {host!r})")


@contextlib.contextmanager
def bench_env(server_url: str = DEFAULT_SERVER_URL, amqp_url: str = DEFAULT_AMQP_URL) -> Iterator[BenchEnv]:
    """Create the database and scratch directory; drop them and the broker objects afterwards."""
    _require_local(server_url, "PostgreSQL")
    _require_local(amqp_url, "RabbitMQ")
    token = secrets.token_hex(4)
    name = f"hs_bench_{token}"
    server = make_url(server_url)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}_"))
    env = BenchEnv(
        database_url=server.set(database=name).render_as_string(hide_password=False),
        amqp_url=amqp_url,
        prefix=f"bench.{token}",
        secret_key=generate_key(),
        workdir=workdir,
    )
    ok = False
    try:
        yield env
        ok = True
    finally:
        _delete_topology(env)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"bench: logs kept in {workdir}")


def _delete_topology(env: BenchEnv) -> None:
    from infra.amqp import QUEUES, delete_topology
    from infra.amqp.connection import blocking_channel

    try:
        with blocking_channel(env.amqp_url, role="bench-cleanup", prefix=env.prefix) as channel:
            delete_topology(channel, prefix=env.prefix, queues=QUEUES, retry_delays=(0, 0, 0, 0))
    except Exception as exc:  # cleanup must not hide the run's own error
        print(f"bench: could not delete broker objects of {env.prefix}: {exc}")
