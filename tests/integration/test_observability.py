"""/healthz, /readyz and /metrics of a running worker and scheduler, over HTTP; and no token in logs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import structlog
from prometheus_client.parser import text_string_to_metric_families

from domain.commands import SyncActuals, SyncEntities
from harvest_sync.bootstrap import bootstrap
from harvest_sync.worker import build_runtime
from infra.amqp import purge_dead_letters
from infra.amqp.consumer import ConsumerRuntime
from infra.app import App
from infra.db import tables as t
from infra.logging import configure_logging
from infra.observability.database import read_snapshot
from infra.observability.health import Check
from infra.observability.wiring import consumer_check, scheduler_check, start_server
from producers.scheduler import Scheduler
from tests.integration.helpers import eventually, register_account

ALL = ("clients_projects", "people")


# -- helpers --------------------------------------------------------------------------------


def http_get(url: str) -> tuple[int, str]:
    """(status, body); an HTTP error status is an answer here, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    status, text = http_get(f"{base}/metrics")
    assert status == 200, text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; 0 if absent (a counter not yet touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def readyz(base: str) -> tuple[int, dict]:
    status, body = http_get(f"{base}/readyz")
    return status, json.loads(body)


def now_iso() -> str:
    return f"{datetime.now(UTC).isoformat()}-{uuid.uuid4().hex[:6]}"


def run_row(engine: sa.Engine, account_id: int, message_id: str) -> dict | None:
    runs = t.sync_runs
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(runs).where(runs.c.account_id == account_id, runs.c.message_id == message_id)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def wait_run(engine: sa.Engine, account_id: int, message_id: str, statuses: tuple[str, ...]) -> dict:
    return eventually(
        lambda: (r := run_row(engine, account_id, message_id)) and r["status"] in statuses and r,
        what=f"run {message_id} in {statuses}",
    )


@dataclasses.dataclass
class Served:
    """A consumer runtime on a thread, with the endpoints in front of it."""

    runtime: ConsumerRuntime
    base: str


@pytest.fixture
def serve_worker() -> Iterator[Callable[..., Served]]:
    """Start a worker runtime (optionally not running) with its endpoints; stop both at teardown."""
    started: list[tuple[ConsumerRuntime, threading.Thread | None, object]] = []

    def start(app: App, queues: tuple[str, ...] = ("entities",), *, run: bool = True) -> Served:
        runtime = build_runtime(app, list(queues))
        thread = None
        if run:
            thread = threading.Thread(target=runtime.run, daemon=True)
            thread.start()
        # A short cache so a test sees a sync's effect on the database gauges within its deadline.
        server = start_server(app, broker=consumer_check(runtime), port=0, scrape_cache_ttl_s=0.2)
        started.append((runtime, thread, server))
        return Served(runtime, f"http://127.0.0.1:{server.port}")

    yield start
    for runtime, thread, server in started:
        server.close()  # type: ignore[attr-defined]
        runtime.stop()
        if thread is not None:
            thread.join(timeout=30)


# -- the worker's endpoints -----------------------------------------------------------------


def test_worker_endpoints_report_a_sync(app, engine, new_account, serve_worker):
    # Given a running worker with its endpoints, and an account
    account_id, _harvest_id = new_account()
    served = serve_worker(app, ("entities", "time_entries"))
    base = served.base

    # Then it is alive at once, and ready once consuming with the database answering
    assert http_get(f"{base}/healthz")[0] == 200
    _status, body = eventually(lambda: (r := readyz(base))[0] == 200 and r, what="/readyz 200")
    assert body == {"status": "ready", "checks": {"broker": "ok", "database": "ok"}}
    before = scrape(base)

    # When the account's entities and actuals are synced through the broker
    entities_id = app.publish(SyncEntities(account_id, ALL, now_iso()))
    wait_run(engine, account_id, entities_id, ("succeeded",))
    actuals_id = app.publish(SyncActuals(account_id, now_iso()))
    actuals_run = wait_run(engine, account_id, actuals_id, ("succeeded",))

    # Then the numbers moved: acks are counted after the broker settled, so poll for them
    after = eventually(
        lambda: (
            (m := scrape(base))
            and value(m, "harvest_sync_messages_total", queue="time_entries", outcome="acked")
            > value(before, "harvest_sync_messages_total", queue="time_entries", outcome="acked")
            and m
        ),
        what="the actuals sync counted as acked",
    )

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("harvest_sync_messages_total", queue="entities", outcome="acked") == 1
    assert grew("harvest_sync_messages_total", queue="time_entries", outcome="acked") == 1
    assert grew("harvest_sync_messages_total", queue="entities", outcome="dead_lettered") == 0
    assert grew("harvest_sync_handler_duration_seconds_count", queue="entities", result="ok") == 1
    assert grew("harvest_sync_handler_duration_seconds_count", queue="time_entries", result="ok") == 1
    assert grew("harvest_sync_handler_duration_seconds_sum", queue="entities", result="ok") > 0
    # Harvest requests by status and path template (no ids in the label)
    assert grew("harvest_sync_harvest_requests_total", status="200", path="/v2/clients") >= 1
    assert grew("harvest_sync_harvest_requests_total", status="200", path="/v2/time_entries") >= 1
    assert not any(
        name == "harvest_sync_harvest_requests_total" and any(ch.isdigit() for ch in dict(labels)["path"][3:])
        for name, labels in after
    )
    # Entries upserted: what the actuals handler reported, read from its returned stats
    changed = actuals_run["counts"].get("entries.changed", 0)
    assert changed > 0
    assert grew("harvest_sync_entries_upserted_total") == changed
    assert grew("harvest_sync_entries_received_total") == actuals_run["counts"]["entries.received"]

    # And the database gauges show the account's fresh syncs
    assert value(after, "harvest_sync_database_gauges_up") == 1
    for kind in ("clients_projects", "people", "actuals"):
        key = (
            "harvest_sync_last_success_age_seconds",
            frozenset({"account_id": str(account_id), "kind": kind}.items()),
        )
        assert key in after, f"no sync age for {kind}"
        assert 0 <= after[key] < 120
    assert value(after, "harvest_sync_accounts", status="active") >= 1


def test_readyz_fails_when_the_broker_connection_is_gone(app, serve_worker):
    served = serve_worker(app)
    eventually(lambda: readyz(served.base)[0] == 200, what="/readyz 200")

    served.runtime.stop()

    _status, body = eventually(lambda: (r := readyz(served.base))[0] == 503 and r, what="/readyz 503")
    assert body["status"] == "not ready"
    assert body["checks"] == {"broker": "not connected to the broker", "database": "ok"}
    assert http_get(f"{served.base}/healthz")[0] == 200  # alive all the same


def test_readiness_is_a_metric_too(app, serve_worker):
    # What /readyz answers is exported, so an alert can see a worker that is not ready
    served = serve_worker(app)
    eventually(lambda: value(scrape(served.base), "harvest_sync_ready", role="worker") == 1, what="ready 1")

    served.runtime.stop()

    eventually(lambda: value(scrape(served.base), "harvest_sync_ready", role="worker") == 0, what="ready 0")
    assert ("harvest_sync_ready", frozenset({"role": "worker"}.items())) in scrape(served.base)


def test_dead_letters_are_counted_until_purged(app, amqp_url, serve_worker):
    from tests.integration.test_dead_letters import _raw_publish

    served = serve_worker(app)
    eventually(lambda: readyz(served.base)[0] == 200, what="consuming")  # the queues are declared
    assert value(scrape(served.base), "harvest_sync_broker_gauges_up") == 1
    assert ("harvest_sync_dead_letters", frozenset({"queue": "entities"}.items())) in scrape(served.base)
    assert value(scrape(served.base), "harvest_sync_dead_letters", queue="entities") == 0

    # When two malformed commands are dead-lettered
    _raw_publish(amqp_url, app.settings.amqp_prefix, [b"not json", b"{}"])

    # Then the entities dead-letter queue counts them, until an operator purges them
    eventually(
        lambda: value(scrape(served.base), "harvest_sync_dead_letters", queue="entities") == 2,
        what="two dead letters counted",
    )
    assert value(scrape(served.base), "harvest_sync_dead_letters", queue="time_entries") == 0
    purge_dead_letters(amqp_url, app.settings.amqp_prefix, "entities")
    eventually(
        lambda: value(scrape(served.base), "harvest_sync_dead_letters", queue="entities") == 0,
        what="none after the purge",
    )


def test_a_broker_that_cannot_be_read_shows_as_down_not_as_empty(app, serve_worker):
    broken = bootstrap(dataclasses.replace(app.settings, amqp_url="amqp://guest:guest@127.0.0.1:1/%2F"))
    try:
        served = serve_worker(broken, run=False)
        metrics = scrape(served.base)
        assert value(metrics, "harvest_sync_broker_gauges_up") == 0
        assert not any(name == "harvest_sync_dead_letters" for name, _ in metrics)
        assert value(metrics, "harvest_sync_ready", role="worker") == 0
    finally:
        broken.engine.dispose()


def test_no_sync_age_for_a_kind_switched_off(app, engine, new_account):
    # An account that stopped importing people on purpose: its people age must not raise alerts
    account_id, _ = new_account()
    with app.uow() as u:
        for kind in ("people", "actuals"):
            u.accounts.record_success(account_id, kind, datetime.now(UTC))
        u.commit()

    def kinds() -> set[str]:
        return {kind for acc, kind, _at in read_snapshot(engine).last_success if acc == account_id}

    assert kinds() == {"people", "actuals"}
    with app.uow() as u:
        u.accounts.update_settings(account_id, import_people=False)
        u.commit()
    assert kinds() == {"actuals"}


def test_readyz_fails_when_the_database_is_unreachable(app, serve_worker):
    # Given a worker connected to the broker, whose database does not exist
    missing = app.engine.url.set(database=f"hs_missing_{uuid.uuid4().hex[:8]}")
    broken = bootstrap(
        dataclasses.replace(app.settings, database_url=missing.render_as_string(hide_password=False))
    )
    try:
        served = serve_worker(broken)

        # Then /readyz is 503 naming the database, while the broker check passes
        status, body = eventually(
            lambda: (r := readyz(served.base))[1]["checks"]["broker"] == "ok" and r,
            what="the broker connected",
        )
        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"]["database"].startswith("OperationalError")
        assert http_get(f"{served.base}/healthz")[0] == 200
        # and /metrics still answers, saying the database gauges are missing
        metrics = scrape(served.base)
        assert value(metrics, "harvest_sync_database_gauges_up") == 0
        assert not any(name == "harvest_sync_last_success_age_seconds" for name, _ in metrics)
    finally:
        broken.engine.dispose()


# -- the scheduler's endpoints --------------------------------------------------------------


def test_scheduler_is_ready_while_its_ticks_succeed(app):
    # Given a scheduler whose ticks we control (a real tick would publish the shared database's
    # due slots; its publishing is tested in test_scheduler.py)
    failing = threading.Event()

    def tick(now: datetime | None = None) -> int:
        if failing.is_set():
            raise RuntimeError("broker unreachable")
        return 2

    runner = Scheduler(app, on_tick=app.metrics.scheduler_tick)
    runner.tick = tick  # type: ignore[method-assign]
    check: Check = scheduler_check(runner)
    server = start_server(app, broker=check, port=0, role="scheduler")
    base = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=runner.run, kwargs={"interval_s": 0.05}, daemon=True)
    try:
        assert readyz(base) == (
            503,
            {"status": "not ready", "checks": {"broker": "no tick finished yet", "database": "ok"}},
        )
        thread.start()

        # Then it is ready after a successful tick, and its ticks are counted
        eventually(lambda: readyz(base)[0] == 200, what="/readyz 200")
        metrics = scrape(base)
        assert value(metrics, "harvest_sync_ready", role="scheduler") == 1
        assert value(metrics, "harvest_sync_scheduler_ticks_total", result="ok") >= 1
        assert value(metrics, "harvest_sync_scheduler_slots_published_total") >= 2

        # When ticks start failing, it is not ready, and the failures are counted
        failing.set()
        _status, body = eventually(lambda: (r := readyz(base))[0] == 503 and r, what="/readyz 503")
        assert body["checks"]["broker"] == "last tick failed"
        assert value(scrape(base), "harvest_sync_scheduler_ticks_total", result="failed") >= 1
    finally:
        runner.stop()
        thread.join(timeout=10)
        server.close()


# -- no token in any log line ---------------------------------------------------------------


@contextlib.contextmanager
def debug_json_logging() -> Iterator[None]:
    """LOG_LEVEL=debug, LOG_FORMAT=json inside the block; the previous configuration afterwards.

    Entered in the test body: structlog binds sys.stderr when configured, and pytest replaces
    capfd's stream between setup, call and teardown, so a fixture would bind a closed one.
    """
    saved = structlog.get_config()
    configure_logging("debug", "json")
    try:
        yield
    finally:
        structlog.configure(**saved)


@dataclasses.dataclass
class Tokens:
    good: str  # an account's real token (revoked half-way)
    malformed: str  # another account's token, with a line break a paste left in it


def sync_revoke_and_crash(app, engine, simulator, new_account, run_worker, output) -> Tokens:
    """A full sync, a revoked token (needs attention), a token a paste broke (refused without
    being quoted) and a crash inside the Harvest client with a traceback, all logged."""
    account_id, harvest_id = new_account()
    with app.uow() as u:
        good = app.cipher.open(u.accounts.get(account_id).token_sealed)
    malformed = f"tok-{uuid.uuid4().hex}\n"
    bad_account = register_account(
        app, harvest_account_id=harvest_id, token=malformed, name=f"acct-{uuid.uuid4().hex[:8]}"
    )
    assert good.startswith("tok-")
    run_worker(("entities", "time_entries"))
    wait_run(engine, account_id, app.publish(SyncEntities(account_id, ALL, now_iso())), ("succeeded",))
    wait_run(engine, account_id, app.publish(SyncActuals(account_id, now_iso())), ("succeeded",))
    simulator.revoke(harvest_id)
    wait_run(engine, account_id, app.publish(SyncEntities(account_id, ALL, now_iso())), ("failed",))
    wait_run(engine, bad_account, app.publish(SyncEntities(bad_account, ALL, now_iso())), ("failed",))

    # A crash with a traceback while a client holding a real token is in hand.
    simulator.set_token(harvest_id, good)
    real_factory = app.harvest_factory

    def crashing(account):  # type: ignore[no-untyped-def]
        client = App.harvest_for(dataclasses.replace(app, harvest_factory=real_factory), account)
        client.close()
        raise RuntimeError(f"crashed while talking to {client.base_url}")

    app.harvest_factory = crashing
    try:
        app.publish(SyncEntities(account_id, ALL, now_iso()))
        eventually(
            lambda: "handler_crashed" in output() and '"requeued"' in output(), what="the crash logged"
        )
    finally:
        app.harvest_factory = real_factory
    return Tokens(good, malformed.strip())


def accumulate(capfd: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything captured on fd 1 and 2 so far (readouterr() empties the capture)."""
    captured: list[str] = []

    def output() -> str:
        out, err = capfd.readouterr()
        captured.extend((out, err))
        return "".join(captured)

    return output


def assert_nowhere(secrets: Tokens, text: str) -> None:
    for secret in (secrets.good, secrets.malformed):
        assert secret not in text
        assert secret.removeprefix("tok-") not in text  # not even in part


def test_no_token_in_anything_a_sync_logs(app, engine, simulator, new_account, run_worker, capfd, caplog):
    output = accumulate(capfd)
    with debug_json_logging():
        tokens = sync_revoke_and_crash(app, engine, simulator, new_account, run_worker, output)
    # structlog writes to stderr; the standard library's records (pika, urllib3) go to caplog
    text = output() + caplog.text

    # The capture holds what we meant to capture: every level, a traceback, the scrubber at work
    for expected in (
        '"level":"debug"',
        '"event":"entities_synced"',
        '"event":"actuals_synced"',
        '"event":"dead_lettered"',
        '"level":"error"',
        "Traceback (most recent call last)",
        "HarvestTokenUnusable",
    ):
        assert expected in text, f"{expected!r} not captured"
    assert_nowhere(tokens, text)


def test_no_token_anywhere_even_with_library_debug_logging(
    app, engine, simulator, new_account, run_worker, capfd, caplog
):
    caplog.set_level(logging.DEBUG)  # beyond LOG_LEVEL=debug: pika and urllib3 at DEBUG too
    output = accumulate(capfd)
    with debug_json_logging():
        tokens = sync_revoke_and_crash(app, engine, simulator, new_account, run_worker, output)
    text = output() + caplog.text
    assert "GET /v2/clients" in text  # urllib3's DEBUG line: the libraries' records are captured
    with engine.connect() as conn:
        stored = [
            *conn.execute(sa.select(t.sync_runs.c.error).where(t.sync_runs.c.error.is_not(None))).scalars(),
            *conn.execute(
                sa.select(t.account_sync_state.c.last_error).where(
                    t.account_sync_state.c.last_error.is_not(None)
                )
            ).scalars(),
        ]
    assert_nowhere(tokens, text + "\n".join(stored))
