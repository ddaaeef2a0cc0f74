"""What runs on a delivery's worker thread: the handler, with the delivery bound to the logs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from infra.amqp.delivery import Dispatch
from infra.amqp.outcomes import Outcome, decide
from infra.amqp.reporting import log_handler_error
from infra.amqp.session import InFlight

REQUEUE_HOLD_CAP_S = 30.0


@dataclass(frozen=True)
class Policy:
    """The limits ``decide`` needs, fixed per runtime."""

    transient_retry_for_s: float
    delivery_limit: int
    retry_tiers: int
    requeue_delay_s: float


@contextlib.contextmanager
def delivery_logging(record: InFlight) -> Iterator[None]:
    """Bind the delivery's identity to structlog's contextvars for this thread's log lines.

    contextvars do not cross into a new thread, so this runs inside the worker thread.
    """
    delivery = record.delivery
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        message_id=delivery.message_id,
        command=delivery.type,
        queue=delivery.queue,
        delivery_tag=record.tag,
        redelivered=delivery.redelivered,
    )
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()


def run_handler(dispatch: Dispatch, record: InFlight, policy: Policy) -> Outcome:
    """Run ``dispatch`` on the delivery and decide what to do with it; never raises."""
    started = time.monotonic()
    error: Exception | None = None
    try:
        dispatch(record.delivery)
    except Exception as exc:
        error = exc
        log_handler_error(exc)
    record.duration_ms = int((time.monotonic() - started) * 1000)
    return decide(
        error,
        record.delivery,
        now=datetime.now(UTC),
        transient_retry_for_s=policy.transient_retry_for_s,
        delivery_limit=policy.delivery_limit,
        retry_tiers=policy.retry_tiers,
    )


def requeue_hold_s(delivery_count: int, base_s: float) -> float:
    """How long to hold a delivery before requeueing it: doubling per delivery, capped."""
    return min(REQUEUE_HOLD_CAP_S, base_s * 2 ** min(delivery_count, 16))
