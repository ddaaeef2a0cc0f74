"""Integration fixtures: a database of the test session's own, a broker prefix per test, a
simulator per test, and an App wired to all three."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from harvest_sync.bootstrap import bootstrap
from infra.app import App
from infra.config import Settings
from infra.crypto import generate_key
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from tests.integration.helpers import new_database, register_account

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def database_url(server_database_url: str) -> Iterator[str]:
    """A fresh database, migrated, dropped at the end of the session."""
    with new_database(server_database_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def amqp_prefix(amqp_url: str) -> Iterator[str]:
    """A topology name prefix of this test's own, deleted afterwards."""
    prefix = f"test.{uuid.uuid4().hex[:8]}"
    yield prefix
    from infra.amqp import QUEUES, delete_topology
    from infra.amqp.connection import blocking_channel

    with blocking_channel(amqp_url, role="test-cleanup", prefix=prefix) as channel:
        # Tests use up to two retry tiers; deleting absent queues is harmless.
        delete_topology(channel, prefix=prefix, queues=QUEUES, retry_delays=(0, 0, 0, 0))


@pytest.fixture(scope="session")
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def simulator() -> Iterator:
    from simulator.server import SimulatorServer

    with SimulatorServer(port=0) as sim:
        sim.configure(rate_limit_enabled=False)
        yield sim


@pytest.fixture
def settings(database_url: str, amqp_url: str, amqp_prefix: str, secret_key: str, simulator) -> Settings:
    return Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_keys=(secret_key,),
        harvest_api_url=simulator.base_url,
        amqp_prefix=amqp_prefix,
        retry_delays=(1, 2),
        harvest_timeout_s=5.0,
    )


@pytest.fixture
def env(settings: Settings, secret_key: str) -> dict[str, str]:
    """The same settings as environment variables, for CLI tests."""
    return {
        "DATABASE_URL": settings.database_url,
        "AMQP_URL": settings.amqp_url,
        "AMQP_PREFIX": settings.amqp_prefix,
        "HARVEST_API_URL": settings.harvest_api_url,
        "HARVEST_SYNC_SECRET_KEY": secret_key,
        "RETRY_DELAYS": "1,2",
        "HARVEST_TIMEOUT_S": "5",
        "LOG_LEVEL": "warning",
    }


@pytest.fixture
def app(settings: Settings, engine: sa.Engine) -> App:
    return bootstrap(settings, engine=engine)


@pytest.fixture
def new_account(app: App, simulator) -> Callable[..., tuple[int, int]]:
    """Create a simulated Harvest account and a matching account here: (our id, harvest id)."""

    def make(harvest_account_id: int | None = None, **sizes: int) -> tuple[int, int]:
        token = f"tok-{uuid.uuid4().hex}"
        params = {"seed": 7, "people": 12, "projects": 8, "clients": 4, "days": 10, "entries_per_day": 2}
        for _ in range(10):  # a random id may be one this simulator holds already: draw again
            harvest_id = harvest_account_id or 3_000_000 + uuid.uuid4().int % 1_000_000
            try:
                simulator.add_account(account_id=harvest_id, token=token, **{**params, **sizes})
                break
            except ValueError:
                if harvest_account_id:
                    raise
        our_id = register_account(
            app, harvest_account_id=harvest_id, token=token, name=f"acct-{uuid.uuid4().hex[:8]}"
        )
        return our_id, harvest_id

    return make


@pytest.fixture
def run_worker(app: App) -> Iterator[Callable[..., threading.Thread]]:
    """Start consumer runtimes in threads; all are stopped and joined at teardown."""
    from harvest_sync.worker import build_runtime

    started = []

    def start(queues: tuple[str, ...] = ("entities",), the_app: App | None = None) -> threading.Thread:
        runtime = build_runtime(the_app or app, list(queues))
        thread = threading.Thread(target=runtime.run, daemon=True)
        thread.start()
        started.append((runtime, thread))
        return thread

    yield start
    for runtime, _thread in started:
        runtime.stop()
    for _runtime, thread in started:
        thread.join(timeout=30)


@pytest.fixture
def synced(app, simulator, new_account, engine):
    """An account with entities and actuals imported once: (our id, harvest store)."""
    account_id, harvest_id = new_account(people=15, projects=8, clients=4, days=20, entries_per_day=2)
    from tests.integration.actuals_support import sync_actuals, sync_entities

    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    return account_id, simulator.store(harvest_id)


def replace_settings(app: App, **changes: object) -> App:
    return bootstrap(dataclasses.replace(app.settings, **changes), engine=app.engine)
