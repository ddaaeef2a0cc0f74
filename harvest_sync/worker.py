"""`harvest-sync worker`: the consumer process. Thin: bootstrap, run the runtime, stop on SIGTERM."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

import structlog

from domain.commands import ONE_AT_A_TIME, consumed_queues
from harvest_sync.bootstrap import bootstrap
from infra.amqp.consumer import ConsumerRuntime
from infra.app import App
from infra.logging import configure_logging
from infra.observability.wiring import consumer_check, serve_observability
from infra.preflight import require_broker, require_database

log = structlog.get_logger(__name__)

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). A
# backfill part's thread is busy with CPU; each time a daily's thread comes back from a database
# or Harvest round trip it waits for the GIL up to this long, and a daily makes dozens of them.
GIL_SWITCH_S = 0.001


def build_runtime(
    app: App, queues: Sequence[str], *, prefetch: int | None = None, only_named: bool = False
) -> ConsumerRuntime:
    """The consumer of `queues` and what goes alongside them (domain.commands.consumed_queues):
    a worker of time_entries takes backfill parts too, one at a time, beside `prefetch` dailies."""
    s = app.settings
    return ConsumerRuntime(
        s.amqp_url,
        prefix=s.amqp_prefix,
        queues=list(consumed_queues(queues, only_named=only_named)),
        dispatch=app.dispatch,
        prefetch=prefetch or s.prefetch,
        prefetch_for=dict.fromkeys(ONE_AT_A_TIME, 1),
        delivery_limit=s.delivery_limit,
        retry_delays=s.retry_delays,
        transient_retry_for_s=s.transient_retry_for_s,
        on_event=app.metrics.on_event,  # messages by queue and outcome
    )


def run_worker(queues: Sequence[str], *, prefetch: int | None = None, only_named: bool = False) -> None:
    app = bootstrap()
    configure_logging(app.settings.log_level, app.settings.log_format)
    # Once running, the runtime rides out outages by reconnecting; at start, a missing service
    # is far more likely a setting to fix, so say which and stop.
    require_database(app.engine)
    require_broker(app.settings.amqp_url)
    runtime = build_runtime(app, queues, prefetch=prefetch, only_named=only_named)
    sys.setswitchinterval(GIL_SWITCH_S)

    def _stop(signum: int, _frame: object) -> None:
        log.info("worker_stopping", signal=signal.Signals(signum).name)
        runtime.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = serve_observability(app, broker=consumer_check(runtime))
    log.info("worker_started", queues=list(consumed_queues(queues, only_named=only_named)))
    try:
        runtime.run()
    finally:
        if server is not None:
            server.close()
    app.engine.dispose()
    log.info("worker_stopped")
