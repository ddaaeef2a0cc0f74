"""/healthz, /readyz and /metrics over HTTP, on a daemon thread of the worker or scheduler.

* ``/healthz``: 200 while the process can answer at all. It checks nothing else on purpose: a
  liveness probe that fails when the broker or database is down would restart every pod during
  an outage that a restart cannot fix.
* ``/readyz``: 200 when every readiness check passes, else 503; the JSON body names each check
  and whether it passed.
* ``/metrics``: prometheus_client's WSGI app on the App's registry.

stdlib ``wsgiref`` with a thread per request: a slow database check must not hold up /healthz.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily

from infra.logging import scrub_secrets

log = structlog.get_logger(__name__)

Check = Callable[[], str | None]
"""A readiness check: returns None when ready, else a short reason; raising counts as failing."""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_MAX_REASON = 120


class Readiness:
    """Runs named checks; logs a line only when readiness changes, not at every probe."""

    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)
        self._was_ready: bool | None = None
        self._lock = threading.Lock()

    def evaluate(self) -> tuple[bool, dict[str, str]]:
        """(ready, {check name: "ok" or why it failed}). Every check runs, so all failures show."""
        results = {name: _run(check) for name, check in self._checks.items()}
        ready = all(result == "ok" for result in results.values())
        with self._lock:
            changed, self._was_ready = ready != self._was_ready, ready
        if changed:
            if ready:
                log.info("ready")
            else:
                log.warning("not_ready", **{f"check_{k}": v for k, v in results.items() if v != "ok"})
        return ready, results


class ReadinessGauge:
    """A Prometheus collector: ``harvest_sync_ready{role}`` is 1 when /readyz would answer 200.

    The checks run at scrape time, so an alert can see what only the probe saw before.
    """

    def __init__(self, readiness: Readiness, role: str) -> None:
        self._readiness = readiness
        self._role = role

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]  # registering must not run the checks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ready, _checks = self._readiness.evaluate()
        family = self._family()
        family.add_metric([self._role], 1.0 if ready else 0.0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "harvest_sync_ready",
            "1 when every readiness check passes (broker and database), as /readyz; by process role.",
            labels=["role"],
        )


def _run(check: Check) -> str:
    try:
        reason = check()
    except Exception as exc:
        # The class and first line only: the body is served without authentication.
        first_line = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    if reason is None:
        return "ok"
    # Driver errors may quote a URL; scrub it as a log line would be.
    return str(scrub_secrets(None, "", {"reason": reason})["reason"])[:_MAX_REASON]


def make_app(registry: CollectorRegistry, readiness: Readiness) -> Callable[..., Iterable[bytes]]:
    """The WSGI app serving the three endpoints."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _reply(start_response, "405 Method Not Allowed", {"error": "GET only"})
        if path == "/healthz":
            return _reply(start_response, "200 OK", {"status": "alive"})
        if path == "/readyz":
            ready, checks = readiness.evaluate()
            status = "200 OK" if ready else "503 Service Unavailable"
            return _reply(
                start_response, status, {"status": "ready" if ready else "not ready", "checks": checks}
            )
        if path == "/metrics":
            return metrics_app(environ, start_response)
        return _reply(start_response, "404 Not Found", {"error": f"no route {path[:50]}"})

    return app


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode() + b"\n"
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [data]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request stuck on the database must not block shutdown
    allow_reuse_address = True  # a restarted process rebinds at once despite TIME_WAIT


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood stderr; failures are logged by Readiness."""


class HealthServer:
    """The HTTP server on a daemon thread; ``port`` 0 picks a free one (tests)."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], *, host: str = "0.0.0.0", port: int) -> None:
        self._server = make_server(
            host, port, wsgi_app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="observability-http", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("observability_serving", port=self.port, paths=["/healthz", "/readyz", "/metrics"])
        return self

    def close(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
