"""Metrics, scrape-time gauges, readiness and the HTTP endpoints, without services."""

from __future__ import annotations

import json
import socket
import types
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
from prometheus_client import generate_latest

from infra.config import ConfigError, Settings, load_settings
from infra.harvest.client import HarvestClient
from infra.observability.database import DatabaseGauges, Snapshot
from infra.observability.health import HealthServer, Readiness, make_app
from infra.observability.metrics import Metrics, path_template
from infra.observability.wiring import consumer_check, scheduler_check, serve_observability
from producers.scheduler import Scheduler

# -- path templates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v2/clients", "/v2/clients"),
        ("/v2/projects/123/user_assignments", "/v2/projects/{id}/user_assignments"),
        ("/v2/time_entries/98765432101", "/v2/time_entries/{id}"),
        ("/v2/users/7/project_assignments/8", "/v2/users/{id}/project_assignments/{id}"),
        ("/v2/invoices/2d4f1c8a-5b6e-4f3a-9c1d-7e8f9a0b1c2d", "/v2/invoices/{id}"),
        ("", "/"),
    ],
)
def test_paths_become_templates(path, template):
    assert path_template(path) == template


def test_a_long_odd_path_is_cut_short():
    assert len(path_template("/v2/" + "x" * 500)) == 100


# -- recording ------------------------------------------------------------------------------


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_each_app_has_a_registry_of_its_own():
    one, two = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    one.on_event("acked", types.SimpleNamespace(queue="entities"), {})
    assert sample(one, "harvest_sync_messages_total", queue="entities", outcome="acked") == 1
    assert sample(two, "harvest_sync_messages_total", queue="entities", outcome="acked") == 0


def test_outcomes_are_counted_by_queue_and_start_at_zero():
    metrics = Metrics()
    assert sample(metrics, "harvest_sync_messages_total", queue="time_entries", outcome="dead_lettered") == 0
    for event in ("acked", "acked", "retry_scheduled", "stale_dropped"):
        metrics.on_event(event, types.SimpleNamespace(queue="time_entries"), {"reason": "x"})
    metrics.on_event("requeued", None, {})
    assert sample(metrics, "harvest_sync_messages_total", queue="time_entries", outcome="acked") == 2
    assert (
        sample(metrics, "harvest_sync_messages_total", queue="time_entries", outcome="retry_scheduled") == 1
    )
    assert sample(metrics, "harvest_sync_messages_total", queue="time_entries", outcome="stale_dropped") == 1
    assert sample(metrics, "harvest_sync_messages_total", queue="unknown", outcome="requeued") == 1


def test_handler_time_is_observed_whether_it_returns_or_raises():
    metrics = Metrics()
    with metrics.time_handler("autofill"):
        pass
    with pytest.raises(ValueError), metrics.time_handler("autofill"):
        raise ValueError("boom")
    assert sample(metrics, "harvest_sync_handler_duration_seconds_count", queue="autofill", result="ok") == 1
    assert (
        sample(metrics, "harvest_sync_handler_duration_seconds_count", queue="autofill", result="error") == 1
    )


def test_entries_come_from_the_handlers_stats():
    metrics = Metrics()
    metrics.record_handler_result(
        Counter({"entries.received": 40, "entries.changed": 7, "held.role_unknown": 2})
    )
    metrics.record_handler_result(Counter({"clients.created": 3}))  # entities: nothing to count
    metrics.record_handler_result(None)
    assert sample(metrics, "harvest_sync_entries_received_total") == 40
    assert sample(metrics, "harvest_sync_entries_upserted_total") == 7


def test_scheduler_ticks_are_counted():
    metrics = Metrics()
    metrics.scheduler_tick(True, 5)
    metrics.scheduler_tick(False, 0)
    assert sample(metrics, "harvest_sync_scheduler_ticks_total", result="ok") == 1
    assert sample(metrics, "harvest_sync_scheduler_ticks_total", result="failed") == 1
    assert sample(metrics, "harvest_sync_scheduler_slots_published_total") == 5


# -- the Harvest client's hooks, through a real client --------------------------------------


class ScriptedAdapter(requests.adapters.BaseAdapter):
    """Harvest's transport answering from a script of (status, headers) instead of the network;
    mounted for "https://" on a real session, where the client sends."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self._script = list(script)

    def send(self, request, **_kwargs):  # type: ignore[override]
        status, headers = self._script.pop(0)
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = status, request.url, request
        resp.headers.update({"Content-Type": "application/json", **headers})
        resp._content = json.dumps({"projects": [], "links": {"next": None}}).encode()
        return resp

    def close(self) -> None:
        pass


def scripted_session(script: list[tuple[int, dict[str, str]]]) -> requests.Session:
    session = requests.Session()
    session.mount("https://", ScriptedAdapter(script))
    return session


def test_harvest_responses_and_waits_are_recorded_by_source():
    metrics = Metrics()
    hooks = metrics.harvest_hooks()
    slept: list[float] = []
    # Retry-After 7 honoured, answered by another 429 (so backed off beyond it), then a 503.
    script = [(429, {"Retry-After": "7"}), (429, {"Retry-After": "7"}), (503, {}), (200, {})]
    client = HarvestClient(
        "https://api.example.test/v2",
        token="tok-secret",
        harvest_account_id=1,
        user_agent="t (t@example.com)",
        on_response=hooks.on_response,
        on_wait_source=hooks.harvest_wait,
        sleep=slept.append,
        session=scripted_session(script),
    )

    list(client.pages("/projects/123/user_assignments", "projects"))

    path = "/v2/projects/{id}/user_assignments"
    for status, n in (("429", 2), ("503", 1), ("200", 1)):
        assert sample(metrics, "harvest_sync_harvest_requests_total", status=status, path=path) == n
    assert sample(metrics, "harvest_sync_harvest_rate_limited_total") == 2
    assert len(slept) == 3 and slept[0] == 7 and slept[1] > 7

    def waits(source: str) -> tuple[float | None, float | None]:
        return (
            sample(metrics, "harvest_sync_harvest_rate_limit_waits_total", source=source),
            sample(metrics, "harvest_sync_harvest_rate_limit_wait_seconds_total", source=source),
        )

    assert waits("retry_after") == (1, 7)
    assert waits("backoff") == (1, slept[1])
    assert waits("unavailable") == (1, slept[2])
    assert waits("shared_limit") == (0, 0)


def test_shared_limit_waits_are_recorded_apart():
    metrics = Metrics()
    metrics.harvest_hooks().shared_limit_wait(1.5)
    assert sample(metrics, "harvest_sync_harvest_rate_limit_waits_total", source="shared_limit") == 1
    assert sample(metrics, "harvest_sync_harvest_rate_limit_wait_seconds_total", source="shared_limit") == 1.5
    assert sample(metrics, "harvest_sync_harvest_rate_limit_waits_total", source="retry_after") == 0


def test_a_network_error_is_labelled_error():
    metrics = Metrics()
    metrics.harvest_response(0, "/v2/clients")
    assert sample(metrics, "harvest_sync_harvest_requests_total", status="error", path="/v2/clients") == 1


# -- scrape-time database gauges ------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gauges(load, monotonic: Clock, wall: Clock) -> Metrics:
    metrics = Metrics()
    metrics.watch_database(DatabaseGauges(load, ttl_s=15, monotonic=monotonic, wall_clock=wall))
    return metrics


def test_database_gauges_are_read_once_per_ttl_and_ages_keep_growing():
    reads: list[int] = []

    def load() -> Snapshot:
        reads.append(1)
        return Snapshot(
            accounts_by_status={"active": 3, "needs_attention": 1},
            ledger_by_reason={"role_unknown": 4},
            last_success=[(42, "actuals", 900.0)],
        )

    monotonic, wall = Clock(), Clock(1000.0)
    metrics = gauges(load, monotonic, wall)
    assert reads == []  # registering does not query

    age = {"account_id": "42", "kind": "actuals"}
    assert sample(metrics, "harvest_sync_last_success_age_seconds", **age) == 100
    monotonic.now += 10
    wall.now += 10
    assert sample(metrics, "harvest_sync_last_success_age_seconds", **age) == 110  # from the cache
    assert len(reads) == 1
    assert sample(metrics, "harvest_sync_ledger_entries", reason="role_unknown") == 4
    assert sample(metrics, "harvest_sync_accounts", status="needs_attention") == 1
    assert sample(metrics, "harvest_sync_database_gauges_up") == 1
    monotonic.now += 5
    generate_latest(metrics.registry)
    assert len(reads) == 2  # 15 s later: read again


def test_learned_rate_limits_are_gauges_per_account_and_bucket():
    snapshot = Snapshot(learned_limits=[(42, "api", 50.0), (42, "reports", 100.0), (7, "api", 12.5)])
    metrics = gauges(lambda: snapshot, Clock(), Clock())
    name = "harvest_sync_harvest_learned_rate_limit"
    assert sample(metrics, name, account_id="42", bucket="api") == 50
    assert sample(metrics, name, account_id="42", bucket="reports") == 100
    assert sample(metrics, name, account_id="7", bucket="api") == 12.5
    assert sample(metrics, name, account_id="7", bucket="reports") is None  # never refused


def test_a_failed_database_read_shows_as_down_and_is_not_retried_at_every_scrape():
    reads: list[int] = []

    def load() -> Snapshot:
        reads.append(1)
        raise sa.exc.OperationalError("SELECT", {}, Exception("connection refused"))

    metrics = gauges(load, Clock(), Clock())
    assert sample(metrics, "harvest_sync_database_gauges_up") == 0
    assert sample(metrics, "harvest_sync_ledger_entries", reason="role_unknown") is None
    generate_latest(metrics.registry)
    assert len(reads) == 1


def test_the_database_collector_is_registered_once():
    metrics = Metrics()
    first = DatabaseGauges(lambda: Snapshot())
    metrics.watch_database(first)
    metrics.watch_database(DatabaseGauges(lambda: Snapshot()))  # would raise on a duplicate
    assert sample(metrics, "harvest_sync_database_gauges_up") == 1


# -- readiness ------------------------------------------------------------------------------


def test_ready_only_when_every_check_passes_and_every_failure_is_named():
    def broken() -> str | None:
        raise sa.exc.OperationalError(
            "SELECT 1", {}, Exception("could not connect to postgresql://app:hunter2@db:5432/x")
        )

    assert Readiness({"a": lambda: None, "b": lambda: None}).evaluate() == (True, {"a": "ok", "b": "ok"})
    ready, checks = Readiness({"broker": lambda: "not connected", "database": broken}).evaluate()
    assert not ready
    assert checks["broker"] == "not connected"
    assert checks["database"].startswith("OperationalError: ")
    assert "hunter2" not in checks["database"]  # a URL's password is scrubbed from the body


def test_consumer_and_scheduler_checks():
    runtime = types.SimpleNamespace(connected=False)
    assert consumer_check(runtime)() == "not connected to the broker"
    runtime.connected = True
    assert consumer_check(runtime)() is None

    scheduler = types.SimpleNamespace(last_tick_ok=None)
    check = scheduler_check(scheduler)
    assert check() == "no tick finished yet"
    scheduler.last_tick_ok = False
    assert check() == "last tick failed"
    scheduler.last_tick_ok = True
    assert check() is None


def test_the_scheduler_reports_each_tick_and_survives_a_broken_hook():
    calls: list[tuple[bool, int]] = []
    runner = Scheduler(types.SimpleNamespace(), on_tick=lambda ok, n: calls.append((ok, n)))
    outcomes = iter([3, RuntimeError("broker down")])

    def tick(now=None) -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            runner.stop()
            raise outcome
        return outcome

    runner.tick = tick  # type: ignore[method-assign]
    runner.run(interval_s=0)
    assert calls == [(True, 3), (False, 0)]
    assert runner.last_tick_ok is False

    def broken_hook(ok: bool, n: int) -> None:
        raise ValueError("metrics broke")

    runner = Scheduler(types.SimpleNamespace(), on_tick=broken_hook)
    runner.tick = lambda now=None: runner.stop() or 0  # type: ignore[method-assign]
    runner.run(interval_s=0)
    assert runner.last_tick_ok is True


# -- the HTTP endpoints ---------------------------------------------------------------------


def get(url: str, method: str = "GET") -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def endpoint() -> Iterator[tuple[str, dict[str, str | None]]]:
    """A server on a free port whose broker check answers what the test puts in `state`."""
    metrics = Metrics()
    metrics.on_event("acked", types.SimpleNamespace(queue="entities"), {})
    state: dict[str, str | None] = {"broker": None}
    readiness = Readiness({"broker": lambda: state["broker"], "database": lambda: None})
    server = HealthServer(make_app(metrics.registry, readiness), host="127.0.0.1", port=0).start()
    yield f"http://127.0.0.1:{server.port}", state
    server.close()
    server.close()  # twice is harmless


def test_healthz_readyz_and_metrics(endpoint):
    base, state = endpoint
    assert get(f"{base}/healthz")[0] == 200

    status, content_type, body = get(f"{base}/readyz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"status": "ready", "checks": {"broker": "ok", "database": "ok"}}

    state["broker"] = "not connected to the broker"
    status, _, body = get(f"{base}/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["broker"] == "not connected to the broker"
    assert get(f"{base}/healthz")[0] == 200  # liveness ignores dependencies

    status, content_type, body = get(f"{base}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert 'harvest_sync_messages_total{outcome="acked",queue="entities"} 1.0' in body


def test_unknown_paths_and_methods_are_refused(endpoint):
    base, _ = endpoint
    assert get(f"{base}/nope")[0] == 404
    assert get(f"{base}/healthz", method="POST")[0] == 405


# -- METRICS_PORT ---------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    return {"HARVEST_SYNC_SECRET_KEY": "k", **extra}


def test_metrics_port_setting():
    assert load_settings(base_env()).metrics_port == 9100
    assert load_settings(base_env(METRICS_PORT="9200")).metrics_port == 9200
    assert load_settings(base_env(METRICS_PORT="0")).metrics_port == 0
    for bad in ("70000", "-1", "http"):
        with pytest.raises(ConfigError, match="METRICS_PORT"):
            load_settings(base_env(METRICS_PORT=bad))


def fake_app(port: int) -> types.SimpleNamespace:
    """What serve_observability reads of an App; the engine never connects here."""
    settings = Settings(
        database_url="postgresql+psycopg2://u@127.0.0.1:1/x",
        amqp_url="amqp://h",
        secret_keys=("k",),
        metrics_port=port,
    )
    return types.SimpleNamespace(
        settings=settings, engine=sa.create_engine(settings.database_url), metrics=Metrics()
    )


def test_metrics_port_zero_serves_nothing():
    assert serve_observability(fake_app(0), broker=lambda: None) is None


def test_a_taken_port_is_logged_and_the_process_goes_on():
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        assert serve_observability(fake_app(taken.getsockname()[1]), broker=lambda: None) is None
