"""Starting the endpoints for a worker or the scheduler, and their broker readiness checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import structlog

from infra.harvest.ratelimit import bucket_limits
from infra.observability.broker import BrokerGauges
from infra.observability.database import (
    SCRAPE_CACHE_TTL_S,
    DatabaseGauges,
    database_check,
    probe_engine,
)
from infra.observability.health import Check, HealthServer, Readiness, ReadinessGauge, make_app
from infra.observability.metrics import QUEUES

if TYPE_CHECKING:
    from infra.app import App

log = structlog.get_logger(__name__)


class _Consumer(Protocol):
    @property
    def connected(self) -> bool: ...


class _Ticking(Protocol):
    last_tick_ok: bool | None


def consumer_check(runtime: _Consumer) -> Check:
    """Ready while the consumer runtime is consuming on a live connection."""
    return lambda: None if runtime.connected else "not connected to the broker"


def scheduler_check(scheduler: _Ticking) -> Check:
    """Ready once a tick has succeeded and until one fails.

    A tick publishes only when slots are due, so the broker is contacted then; a failed publish
    (or database read) fails the tick and the scheduler rebuilds its publisher on the next one.
    """

    def check() -> str | None:
        if scheduler.last_tick_ok is None:
            return "no tick finished yet"
        return None if scheduler.last_tick_ok else "last tick failed"

    return check


def broker_check(amqp_url: str, *, cache_s: float = 30.0) -> Check:
    """Ready while RabbitMQ accepts a connection, tried at most every `cache_s` seconds: for a
    process that only publishes now and then (the console), so holds no connection."""
    import threading
    import time

    import pika

    from infra.amqp.connection import connection_parameters

    state: dict[str, object] = {"at": None, "reason": None}
    lock = threading.Lock()

    def check() -> str | None:
        with lock:
            at = state["at"]
            if isinstance(at, float) and time.monotonic() - at < cache_s:
                return state["reason"]  # type: ignore[return-value]
            params = connection_parameters(amqp_url, role="readiness", prefix="-")
            for address in params:
                address.connection_attempts, address.socket_timeout = 1, 2
            try:
                pika.BlockingConnection(params).close()
                reason = None
            except pika.exceptions.AMQPError as exc:
                reason = f"broker unreachable: {type(exc).__name__}"
            state.update(at=time.monotonic(), reason=reason)
            return reason

    return check


def start_server(
    app: App,
    *,
    broker: Check,
    port: int,
    role: str = "worker",
    host: str = "0.0.0.0",
    scrape_cache_ttl_s: float = SCRAPE_CACHE_TTL_S,
) -> HealthServer:
    """Serve /healthz, /readyz (broker and database) and /metrics for ``app`` on ``port``.

    ``role`` (worker, scheduler) labels ``harvest_sync_ready``.
    """
    s = app.settings
    probe = probe_engine(app.engine)
    # The learned rates are capped by the configured limits, as the limiter caps them.
    limits = {bucket: limit for bucket, (limit, _window) in bucket_limits(s.harvest_rate_limit).items()}
    app.metrics.watch_database(DatabaseGauges.for_engine(probe, ttl_s=scrape_cache_ttl_s, rate_limits=limits))
    app.metrics.watch(
        "broker", BrokerGauges.for_broker(s.amqp_url, s.amqp_prefix, QUEUES, ttl_s=scrape_cache_ttl_s)
    )
    readiness = Readiness({"broker": broker, "database": database_check(probe)})
    app.metrics.watch("readiness", ReadinessGauge(readiness, role))
    return HealthServer(make_app(app.metrics.registry, readiness), host=host, port=port).start()


def serve_observability(app: App, *, broker: Check, role: str = "worker") -> HealthServer | None:
    """Start the endpoints on METRICS_PORT; None when it is 0 (disabled) or taken.

    A taken port is logged, not fatal: several workers on one machine share the default port,
    and the work matters more than its metrics. In Kubernetes each pod has its own port space,
    and a pod without endpoints never turns ready, which is visible.
    """
    port = app.settings.metrics_port
    if port == 0:
        log.info("observability_disabled", reason="METRICS_PORT=0")
        return None
    try:
        return start_server(app, broker=broker, port=port, role=role)
    except OSError as exc:
        log.error("observability_port_unavailable", port=port, error=str(exc))
        return None
