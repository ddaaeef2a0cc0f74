"""The metrics every process exports, and the recording functions the hooks call.

Each App gets a ``Metrics`` with its own ``CollectorRegistry`` (never the global default), so a
test process can build many Apps without "Duplicated timeseries" errors, and a scrape shows
only what this App did.

Label values are bounded: queues and outcomes come from fixed sets, Harvest paths are reduced
to templates (ids become ``{id}``), HTTP statuses are a few dozen at most. Per-account series
exist only for the sync ages, computed at scrape time (see ``infra.observability.database``).
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from domain.commands import QUEUES

# The events ConsumerRuntime reports through on_event (infra/amqp/reporting.py).
OUTCOMES = ("acked", "retry_scheduled", "dead_lettered", "requeued", "stale_dropped")
# Why the process waited before a Harvest request: Harvest's 429 Retry-After as given; a 429
# backoff (Retry-After missing, 0, or answered by another 429: someone else spends the token);
# Harvest unavailable (5xx, timeouts, refused connections); or the limit this service shares
# across processes (infra/harvest/ratelimit.py) saying "not yet". The first three draw on the
# client's patience budget (infra/harvest/patience.py).
WAIT_SOURCES = ("retry_after", "backoff", "unavailable", "shared_limit")
# Why a console sign-in failed: a wrong name or password, or an attempt while slowed down.
SIGN_IN_FAILURES = ("invalid", "throttled")
# A handler takes milliseconds (nothing to do) to many minutes (an account's first sync).
HANDLER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

_ID_SEGMENT = re.compile(r"\d+|[0-9a-fA-F-]{16,}")
_MAX_PATH_LABEL = 100


def path_template(path: str) -> str:
    """``/v2/projects/123/user_assignments`` -> ``/v2/projects/{id}/user_assignments``.

    Keeps the ``path`` label to one series per endpoint however many records are fetched.
    """
    segments = ("{id}" if _ID_SEGMENT.fullmatch(s) else s for s in path.split("/"))
    return "/".join(segments)[:_MAX_PATH_LABEL] or "/"


class Metrics:
    """Every metric of one App, on the App's own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "harvest_sync_messages",
            "Deliveries settled by the consumer runtime, by queue and outcome.",
            ["queue", "outcome"],
            registry=r,
        )
        self.handler_duration = Histogram(
            "harvest_sync_handler_duration_seconds",
            "Time to decode and handle one delivery; result is ok or error (the handler raised).",
            ["queue", "result"],
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        self.harvest_requests = Counter(
            "harvest_sync_harvest_requests",
            "Harvest API responses by HTTP status (error: no response) and path template.",
            ["status", "path"],
            registry=r,
        )
        self.harvest_rate_limited = Counter(
            "harvest_sync_harvest_rate_limited", "Harvest answers with status 429.", registry=r
        )
        self.rate_limit_waits = Counter(
            "harvest_sync_harvest_rate_limit_waits",
            "Waits before a Harvest request, by source: retry_after and backoff (after a 429),"
            " unavailable (5xx or no connection), shared_limit (this service's own limit).",
            ["source"],
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "harvest_sync_harvest_rate_limit_wait_seconds",
            "Seconds spent in those waits.",
            ["source"],
            registry=r,
        )
        self.entries_received = Counter(
            "harvest_sync_entries_received", "Time entries read from Harvest by actuals syncs.", registry=r
        )
        self.entries_upserted = Counter(
            "harvest_sync_entries_upserted",
            "Time entries written (new or changed) by actuals syncs.",
            registry=r,
        )
        self.scheduler_ticks = Counter(
            "harvest_sync_scheduler_ticks", "Scheduler ticks by result (ok, failed).", ["result"], registry=r
        )
        self.slots_published = Counter(
            "harvest_sync_scheduler_slots_published",
            "Scheduled commands this replica claimed and published.",
            registry=r,
        )
        self.console_sign_in_failures = Counter(
            "harvest_sync_console_sign_in_failures",
            "Failed console sign-ins: invalid (wrong name or password) or throttled (too soon).",
            ["reason"],
            registry=r,
        )
        self._watched: set[str] = set()
        # Series that exist from the start read 0 instead of being absent, so rate() and
        # "increase over 1h == 0" alerts work before the first event.
        for queue in QUEUES:
            for outcome in OUTCOMES:
                self.messages.labels(queue, outcome)
        for source in WAIT_SOURCES:
            self.rate_limit_waits.labels(source)
            self.rate_limit_wait_seconds.labels(source)
        for result in ("ok", "failed"):
            self.scheduler_ticks.labels(result)
        for reason in SIGN_IN_FAILURES:
            self.console_sign_in_failures.labels(reason)

    # -- consumer runtime ---------------------------------------------------------------

    def on_event(self, event: str, delivery: Any, fields: dict[str, Any]) -> None:
        """ConsumerRuntime's ``on_event`` hook: count each settled delivery."""
        queue = getattr(delivery, "queue", None) or "unknown"
        self.messages.labels(queue, event).inc()

    @contextmanager
    def time_handler(self, queue: str) -> Iterator[None]:
        """Observe how long the block takes, labelled ok or error by whether it raised."""
        started = time.perf_counter()
        result = "error"
        try:
            yield
            result = "ok"
        finally:
            self.handler_duration.labels(queue, result).observe(time.perf_counter() - started)

    def record_handler_result(self, result: object) -> None:
        """Count what a handler reports in its returned stats (actuals: entries read and written)."""
        if isinstance(result, collections.Counter):
            self.entries_received.inc(result.get("entries.received", 0))
            self.entries_upserted.inc(result.get("entries.changed", 0))

    # -- Harvest client -----------------------------------------------------------------

    def harvest_response(self, status: int, path: str) -> None:
        self.harvest_requests.labels(str(status) if status else "error", path_template(path)).inc()
        if status == 429:
            self.harvest_rate_limited.inc()

    def rate_limit_wait(self, source: str, seconds: float) -> None:
        self.rate_limit_waits.labels(source).inc()
        self.rate_limit_wait_seconds.labels(source).inc(max(seconds, 0.0))

    def harvest_hooks(self) -> HarvestHooks:
        """Hooks for one HarvestClient and its shared limits."""
        return HarvestHooks(self)

    # -- scheduler ----------------------------------------------------------------------

    def scheduler_tick(self, ok: bool, published: int) -> None:
        """The Scheduler's ``on_tick`` hook."""
        self.scheduler_ticks.labels("ok" if ok else "failed").inc()
        self.slots_published.inc(published)

    # -- console ------------------------------------------------------------------------

    def sign_in_failed(self, reason: str) -> None:
        self.console_sign_in_failures.labels(reason).inc()

    # -- database-derived gauges --------------------------------------------------------

    def watch(self, key: str, collector: Any) -> None:
        """Register a scrape-time collector once per key (a second server reuses the first)."""
        if key not in self._watched:
            self.registry.register(collector)
            self._watched.add(key)

    def watch_database(self, collector: Any) -> None:
        self.watch("database", collector)


class HarvestHooks:
    """``on_response`` and ``on_wait_source`` of one HarvestClient, and its shared limits'
    ``on_wait``. Each wait is counted before it starts, so a long one shows while it lasts."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_response(self, status: int, path: str) -> None:
        self._metrics.harvest_response(status, path)

    def harvest_wait(self, source: str, seconds: float) -> None:
        """HarvestClient's ``on_wait_source``: retry_after, backoff or unavailable."""
        self._metrics.rate_limit_wait(source, seconds)

    def shared_limit_wait(self, seconds: float) -> None:
        """SharedRateLimit's ``on_wait``: called with the seconds it is about to sleep."""
        self._metrics.rate_limit_wait("shared_limit", seconds)
